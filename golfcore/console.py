"""What every `golf` command shares: the consoles, the one way to fail, option parsing."""
from __future__ import annotations

import typer
from rich.console import Console
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
