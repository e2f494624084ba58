"""What every `golf` command shares: the consoles, the one way to fail, option parsing, and tables
that never cut a figure or a name."""
from __future__ import annotations

import typer
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text
from typer.core import TyperOption

from .vocabulary import Track

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


def _flags_take_no_value() -> None:
    """Typer's rich help prints a type after every flag (`--json <bool>`), as if it took a value;
    its plain help does not. Show flags as the plain help does."""
    shown = TyperOption.display_type_rich

    def display_type_rich(self, ctx):
        return None if self.is_flag else shown(self, ctx)

    TyperOption.display_type_rich = display_type_rich


_flags_take_no_value()


class Fit:
    """A table when it fits the width without cutting a cell; otherwise one block per row: the first
    `key_columns` cells as its heading, then `header value` pairs, as many to a line as fit. Nothing
    is ever cut: a line wider than the width is printed whole when the console soft-wraps (a name
    stays one line, to copy), else wrapped (inside a live display, which would crop it)."""

    def __init__(self, table: Table, key_columns: int = 1, title: str | None = None):
        self.table = table
        self.key_columns = key_columns
        self.title = title  # a line above, whole (never a table title, which is cut to the table's width)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if self.title is not None:
            yield self._whole(Text(self.title, style="bold"), options)
        unbounded = options.update_width(1 << 16)  # the table's own minimum, not clamped to the width
        if Measurement.get(console, unbounded, self.table).minimum <= options.max_width:
            yield self.table
            return
        headers = [str(c.header) for c in self.table.columns]
        rows = zip(*(list(c.cells) for c in self.table.columns))
        for row in rows:
            cells = [Text.from_markup(c) if isinstance(c, str) else Text(str(c)) for c in row]
            heading = Text(" ").join(Text.assemble(Text(h, style="bold"), " ", c)
                                     for h, c in zip(headers[:self.key_columns], cells))
            yield self._whole(heading, options)
            line: list[Text] = []
            for header, cell in zip(headers[self.key_columns:], cells[self.key_columns:]):
                pair = Text.assemble((header, "dim"), " ", cell)
                if line and cell_len("  " + " · ".join(t.plain for t in (*line, pair))) > options.max_width:
                    yield self._whole(Text("  ") + Text(" · ").join(line), options)
                    line = []
                line.append(pair)
            if line:
                yield self._whole(Text("  ") + Text(" · ").join(line), options)

    @staticmethod
    def _whole(text: Text, options: ConsoleOptions) -> Text:
        text.no_wrap = options.no_wrap
        text.overflow = "ignore" if options.no_wrap else "fold"
        return text


def plural(n: int, word: str) -> str:
    """`1 GPU`, `8 GPUs`."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def fail(message: str, code: int = 2) -> None:
    err_console.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(code)


def parse_env(pairs: list[str]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key or not key.replace("_", "").isalnum():
            fail(f"--env expects KEY=VALUE, got {pair!r}")
        env[key] = value
    return env


def parse_track(text: str) -> Track:
    """A --track option: 10min_16mb, non_record_16mb, or the records/ folder names."""
    try:
        return Track.parse(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
