"""From bytes to the lines worth reading, fast.

A log is read in blocks of bytes, and most of it never reaches Python:

- embedded source code that ends at a separator row (the baseline prints its code, then `=` * 100)
  is found with plain substring searches and skipped whole;
- one compiled regex finds, in C, the lines that can carry a fact: those at the left margin,
  indented `key: value` lines of a settings dump, indented sizes in bytes, indented `key: ...`
  lines that say an evaluation is limited, a subset or partial, and indented results
  (`  int8_roundtrip val_loss:2.2658  val_bpb:1.3419`, kind "result": read only in a run that trained,
  since a summary of several runs indents theirs); the indented body of source code never matches;
- a series of 7 or more consecutive lines that start with the same word and the word after it (progress
  lines: `tttg: c1/213`, `ttt_chunk [12/1893]`, `dttt:epoch 3/10`) or the same 24 characters (a library's warnings and tracebacks under one
  prefix) is read by its first and last line only, both marked as a series so that their times are
  taken as a cumulative clock;
- a series of training step lines (`step:N/M ...`, `N/M ...`, `step N (P%) ...`) is read by its first
  and last line, every validation line, and enough lines between to draw the curve (at most
  CURVE_SAMPLES of them), handed over in one piece.

The lines that remain are normalized (timestamp / rank / logger prefixes) and source code at the left
margin outside those regions is skipped with a small state machine. Logs repeat themselves (settings
dumps, a library's chatter, the same script's banners): a short line without a timestamp is
classified once, and a line the parser says changes nothing (`skip`) is not handed over again.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import IO, Callable, Iterator, NamedTuple

BLOCK_BYTES = 2 << 20
MAX_LINE_CHARS = 8_192  # real log lines are far shorter; this bounds the work per line
SERIES_MIN_LINES = 7
CURVE_SAMPLES = 100  # training lines kept from one series of step lines (validation lines are all kept)

# an indented size in bytes, in a summary: `  Total artifact: 8,853,380 bytes`, `  model int8+zlib: 15,405,717 bytes`,
# `  ARTIFACT TOTAL: 15,478,013 / 16,000,000 bytes`, `  rans_compressed_bytes: 12,807,948`
INDENTED_SIZE = (rb"[A-Za-z_][\w.\-+]*+(?: [A-Za-z_(][\w.\-+()]*+){0,3}+[ \t]*+:[ \t]*+\d[\d,]*+"
                 rb"(?:[ \t]*+/[ \t]*+\d[\d,]*+)?+[ \t]*+(?:bytes|B)\b|"
                 rb"[A-Za-z_][\w.\-]*?bytes[\w.\-]*+[ \t]*+:[ \t]*+\d[\d,]*+[ \t]*+$")
# an indented result: `  int8_roundtrip val_loss:2.2658  val_bpb:1.3419  eval_time:38.6s` (kind "result")
INDENTED_RESULT = rb"[A-Za-z_][\w.\-]*+[ \t]++val_loss:[ \t]*+\d"
# in bytes, one byte a character however exotic the rest of the log: the scan runs in C
CANDIDATE = re.compile(  # possessive quantifiers: no backtracking over a line that does not match
    # a match starts at the newline before its line: a literal first byte lets the scan skip in C
    rb"\n(?:(?P<steps>(?:[Ss]tep[: \t#]*+\d|\d++ ?/ ?\d++\b)[^\n]*+(?:\n(?:[Ss]tep[: \t#]*+\d|\d++ ?/ ?\d++\b)[^\n]*+){%d,}+)"
    rb"|(?P<series>(?![Ss]tep|\d)(?:([A-Za-z][\w.\-]{2,30}+[:\s\[] ?+[A-Za-z_]*+)[^\n]*+(?:\n\3(?![A-Za-z_])[^\n]*+){%d,}+"
    rb"|(\S[^\n]{23})[^\n]*+(?:\n\4[^\n]*+){%d,}+))"
    rb"|(?:(?![|+](?![^\n]*NVIDIA))[^\s]|  ?(?:[A-Za-z_][\w.]*+[ \t]*+:[ \t]*+"
    rb"(?:[\w./+\-]++[ \t]*+$|[^\n]*?\b(?:limited|subset|partial)\b)|%s"
    rb"|%s))[^\n]*+)"
    % (SERIES_MIN_LINES - 1, SERIES_MIN_LINES - 1, SERIES_MIN_LINES - 1, INDENTED_SIZE, INDENTED_RESULT), re.M)
RESULT_LINE = re.compile(INDENTED_RESULT.decode())  # the same, on a line stripped of its indent
SOURCE_END = b"\n" + b"=" * 20  # the separator row after the source
RESULTS_AT_MARGIN = re.compile(rb"\n(?:step:|final_|stopping_early|Total submission|Serialized model)")
ANSI = re.compile(rb"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\n]*\x07")
CONTROL_BYTES = bytes(range(0, 9)) + b"\x0b\x0c" + bytes(range(0x0e, 0x1b)) + bytes(range(0x1c, 0x20))
# prefixes a logger or a launcher puts before the text: epoch seconds, ISO / bracketed dates and
# clocks, [rank0]:, INFO:, `train.py:123]`
PREFIX = re.compile(
    r"^(?:(?:\d{10}(?:\.\d+)?|\[(?:rank\s*\d+|default\d*|\d{4}-\d\d-\d\d[ T][\d:.,]+|\d{1,2}:\d\d:\d\d(?:[.,]\d+)?|"
    r"INFO|DEBUG|WARNING|WARN|ERROR)\]:?|\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?|"
    r"\d{1,2}:\d\d:\d\d(?:[.,]\d+)?|(?:INFO|DEBUG|WARNING|WARN|ERROR)(?::|\s+-|\s+(?=\S))|rank\s*\d+:|"
    r"[\w\-]+\.py:\d+\])\s*)+")
PREFIX_FIRST = frozenset("0123456789[")
PREFIX_WORDS = ("INFO", "DEBUG", "WARN", "ERROR", "rank")
HEADER_FIRST = frozenset("pPmMhH-g#")
STAMP = re.compile(r"(\d{10}(?:\.\d+)?)|(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d:\d\d(?:[.,]\d+)?)")
SEPARATOR = re.compile(r"^[=\-#*~_]{10,}\s*$")
# a script's first line: an import, a definition, a shebang, or the module docstring that opens it (`"""` alone)
CODE_START = re.compile(r"^(?:import \w|from [\w.]+ import |def \w|class \w|@\w|if __name__|#!/|\"\"\"\s*$)")
# a left-margin line inside source code: a statement, a closing bracket, an assignment or a call
CODE_LINE = re.compile(
    r"^(?:import |from \S+ import |def |class |@\w|if |elif |else\b|for |while |try:|except\b|finally:|with |"
    r"return\b|raise\b|assert |global |del |pass\b|async |await |lambda\b|[)\]}\"']|#|"
    r"[A-Za-z_][\w.]*(?:\[[^\]]*\])?(?:\s*,\s*[A-Za-z_][\w.]*)*\s*(?:[+\-*/|&%]?=)(?!=)|[A-Za-z_][\w.]*\()")
# f-strings, calls, a format field such as {val_loss:.4f} (a printed dict, {'seed': 42}, is not one)
CODE_SIGNS = re.compile(r"""\bf["']|\bprint\(|\blog0?\(|\{[A-Za-z_][\w.\[\]()]*(?:![rsa])?:[^}]*\}|\bself\.|\breturn\b|"""
                        r"""\blambda\b|\.format\(""")
LOG_TOKEN = re.compile(r"(?:^|\s)[A-Za-z_][\w.\-]*[:=]\s?[-+]?\.?\d")
RUN_HEADER = re.compile(
    r"^(?:(?:model_)?params[:=]\s*\d|hyperparameters:?\s*$|-+ ?hyperparameters ?-+|golf_trainer |"
    r"# \[training-script source removed)", re.I)
BANNER = re.compile(r"^[=#*\-]{2,}\s.*\s[=#*\-]{2,}$")


class Line(NamedTuple):
    number: int
    text: str
    stamp: float | None
    kind: str  # "text" | "series" | "result" | "code_start" | "header" | "banner"


CACHED_LINE_BYTES = 256  # lines this short are remembered: a log repeats its settings and its library's chatter
CACHED_LINES = 50_000
_classified: dict[bytes, tuple[str, str, bool]] = {}  # a line's bytes -> (text, kind, skip); kind "" when dropped


def _remember(raw: bytes, classified: tuple[str, str, bool]) -> None:
    if len(_classified) >= CACHED_LINES:
        _classified.clear()
    _classified[raw] = classified


class StepLines(NamedTuple):
    """A series of training step lines, sampled: (line number, text) pairs, read in one call."""

    number: int
    lines: list[tuple[int, str]]
    kind: str = "steps"


class LineReader:
    """Iterate the lines worth reading of a byte stream; counts what it skipped or cut.

    `skip(text)` says a line changes nothing whatever comes before it: such a line is not yielded,
    though it still counts in `last_read`, the last line read or skipped before the one yielded
    (after the loop: the last of all; the start of source code is not counted). `rewrite(text)` gives
    a line in other words (a dialect's), or None to keep it as it is."""

    def __init__(self, stream: IO[bytes], skip: Callable[[str], bool] | None = None,
                 rewrite: Callable[[str], str | None] | None = None):
        self.stream = stream
        self.skip = skip
        self.rewrite = rewrite
        self.lines = 0  # every line of the file
        self.last_read = 0
        self.cut = 0
        self.garbage = 0
        self.in_code = False

    def __iter__(self) -> Iterator[Line | StepLines]:
        number = 0
        rest = b"\n"  # the line break before the first line (see CANDIDATE); then the break and the unfinished line
        while True:
            chunk = self.stream.read(BLOCK_BYTES)
            if chunk:
                data = rest + chunk
                end = _last_break(data)
                if end == -1 and len(data) <= BLOCK_BYTES:  # the line goes on in the next chunk
                    rest = data
                    continue
                if end == -1:  # one line longer than a block: drop it, counted as cut
                    rest = self._skip_overlong()
                    number += 1
                    continue
                block, rest = data[:end], data[end:]  # no copy of the block beyond this one
            elif len(rest) > _first_break_length(rest):
                block, rest = rest, b"\n"  # the last line, with no line break after it
            else:
                break
            block = _normalized(block)
            position = 1
            for start, raw, kind in _candidates(block):
                number += block.count(b"\n", position, start)
                position = start
                if kind == "steps":
                    steps = self._steps(number + 1, raw)
                    if steps.lines:
                        yield steps
                        self.last_read = steps.lines[-1][0]
                    continue
                if kind == "source":  # a whole region of embedded source code, skipped in C
                    self.in_code = False
                    yield Line(number + 1, raw.decode("utf-8", "replace"), None, "code_start")
                    continue
                cacheable = kind == "text" and not self.in_code and len(raw) <= CACHED_LINE_BYTES
                known = _classified.get(raw) if cacheable else None
                if known is not None:
                    text, line_kind, skip = known
                    if line_kind:
                        if skip and self.skip is not None:
                            self.last_read = number + 1
                            continue
                        self.in_code = line_kind == "code_start"
                        yield Line(number + 1, text, None, line_kind)
                        if line_kind != "code_start":
                            self.last_read = number + 1
                    continue
                text = self._decoded(raw)
                if text is None:
                    continue
                line = self._classify(number + 1, text, kind)
                if line is None:
                    if cacheable:
                        _remember(raw, ("", "", False))
                    continue
                if cacheable and line.stamp is None:
                    skip = line.kind == "text" and self.skip is not None and self.skip(line.text)
                    _remember(raw, (line.text, line.kind, skip))
                    if skip:
                        self.last_read = line.number
                        continue
                yield line
                if line.kind != "code_start":
                    self.last_read = line.number
            number += block.count(b"\n", position) + 1  # the block's last line has its newline in `rest`
        self.lines = number

    def _skip_overlong(self) -> bytes:
        """A line longer than a block is not read: read on to its end."""
        self.cut += 1
        while True:
            chunk = self.stream.read(BLOCK_BYTES)
            if not chunk:
                return b"\n"
            breaks = [at for at in (chunk.find(b"\n"), chunk.find(b"\r")) if at != -1]
            if breaks:
                return chunk[min(breaks):]

    def _decoded(self, raw: bytes) -> str | None:
        """The line as text, cut to MAX_LINE_CHARS (counted); None for a binary one (counted)."""
        if len(raw) > MAX_LINE_CHARS:
            raw = raw[:MAX_LINE_CHARS]
            self.cut += 1
        text = raw.decode("utf-8", errors="replace")
        if not text.isprintable() and _is_garbage(raw):  # bytes counted only for a line with a tab or a control byte
            self.garbage += 1
            return None
        return text

    def _steps(self, first: int, sampled: list[tuple[int, bytes]]) -> StepLines:
        self.in_code = False
        raws = [raw for _, raw in sampled]
        joined = b"\n".join(raws)
        if max(map(len, raws), default=0) <= MAX_LINE_CHARS and not _is_garbage(joined):
            texts = joined.decode("utf-8", errors="replace").split("\n")  # no line is cut or binary: decoded at once
            return StepLines(first, [(first + index, text.rstrip()) for (index, _), text in zip(sampled, texts)])
        lines = []
        for index, raw in sampled:
            text = self._decoded(raw)
            if text is not None:
                lines.append((first + index, text.rstrip()))
        return StepLines(first, lines)

    def _classify(self, number: int, raw: str, kind: str) -> Line | None:
        indented = raw[0] in " \t"
        text = raw.strip()
        if not text:  # str.strip() also removes \x1c-\x1f, which the byte scan let through
            return None
        stamp = None
        if text[0] in PREFIX_FIRST or text.startswith(PREFIX_WORDS) or ".py:" in text[:64]:
            m = PREFIX.match(text)
            if m and m.end() < len(text):
                stamp = _stamp(m.group())
                text = text[m.end():]
        if self.in_code:
            if indented:
                return None
            if text[0] in "=-#*~_hH" and (SEPARATOR.match(text) or RUN_HEADER.match(text)):
                self.in_code = False
            elif CODE_LINE.match(text) or not LOG_TOKEN.search(text) or CODE_SIGNS.search(text):
                return None
            else:
                self.in_code = False
        first = text[0]
        if not indented and first in "ifdc@#\"" and CODE_START.match(text):
            self.in_code = True
            return Line(number, text, stamp, "code_start")
        if first == "#" and not RUN_HEADER.match(text):
            return None
        if ('f"' in text or "f'" in text or "print(" in text or "log(" in text or "log0(" in text or "self." in text
                or "return" in text or "lambda" in text or ".format(" in text or "{" in text) and CODE_SIGNS.search(text):
            return None  # a fragment of source code, e.g. an f-string template that looks like a result
        if first in HEADER_FIRST and not indented and RUN_HEADER.match(text):
            return Line(number, text, stamp, "header")
        if first in "=#*-" and BANNER.match(text):
            return Line(number, text, stamp, "banner")
        if indented and "val_loss:" in text and RESULT_LINE.match(text):
            return Line(number, text, stamp, "result")
        if self.rewrite is not None:
            text = self.rewrite(text) or text
        return Line(number, text, stamp, kind)


def _code_regions(block: bytes) -> list[tuple[int, int]]:
    """Embedded source code that ends at a separator row: (start, end) spans to skip, when nothing in
    them looks like a result. Plain substring searches: they run at memory speed."""
    regions = []
    position = 0
    next_import, next_from = block.find(b"\nimport "), block.find(b"\nfrom ")
    while True:
        if -1 < next_import < position:
            next_import = block.find(b"\nimport ", position)
        if -1 < next_from < position:
            next_from = block.find(b"\nfrom ", position)
        starts = [at for at in (next_import, next_from) if at != -1]
        if not starts:
            return regions
        start = min(starts) + 1
        end = block.find(SOURCE_END, start)
        if end == -1:
            return regions
        if RESULTS_AT_MARGIN.search(block, start, end) is None:
            regions.append((start, end + 1))
        position = block.find(b"\n", end + 1)
        if position == -1:
            return regions


def _first_break_length(data: bytes) -> int:
    return 2 if data.startswith(b"\r\n") else 1


def _last_break(data: bytes) -> int:
    """Where the last line break in data starts, after the one data starts with; -1 if none. A line
    break is LF, CRLF or CR alone (a progress bar redrawn)."""
    start = _first_break_length(data)
    end = max(data.rfind(b"\n", start), data.rfind(b"\r", start))
    if end > start and data[end - 1:end + 1] == b"\r\n":
        end -= 1
    return end


def _normalized(block: bytes) -> bytes:
    """Every line break a newline, and no terminal escapes. The replacements run only over the span
    that has carriage returns: a pass over a whole block costs half as much as the scan for candidates."""
    first = block.find(b"\r")
    if first != -1:
        last = block.rfind(b"\r") + 2  # with the newline after it
        block = block[:first] + block[first:last].replace(b"\r\n", b"\n").replace(b"\r", b"\n") + block[last:]
    if b"\x1b" in block:
        block = ANSI.sub(b"", block)
    return block


def _is_garbage(raw: bytes) -> bool:
    """A line with more than 8 control characters is binary, not text."""
    return len(raw) - len(raw.translate(None, CONTROL_BYTES)) > 8


def _sampled_steps(run: bytes) -> list[tuple[int, bytes]]:
    """The first and last step line, every validation line, and evenly spaced training lines, as
    (index in the series, line)."""
    lines = run.split(b"\n")
    picked = set(range(0, len(lines), -(-len(lines) // CURVE_SAMPLES)))
    picked.add(len(lines) - 1)
    line, position = 0, 0
    at = run.find(b"val")
    while at != -1:  # the validation lines, found in C: a series can hold a million lines
        line += run.count(b"\n", position, at)
        picked.add(line)
        position = run.find(b"\n", at)
        if position == -1:
            break
        at = run.find(b"val", position)
    return [(i, lines[i]) for i in sorted(picked)]


def _lines_of(block: bytes, start: int, end: int) -> list[tuple[int, bytes, str]]:
    out = []
    for m in CANDIDATE.finditer(block, start, end):
        group = m.lastgroup
        first = m.start() + 1  # a match starts at the newline before its line
        if group is None:
            out.append((first, block[first:m.end()], "text"))
        elif group == "steps":
            out.append((first, _sampled_steps(block[first:m.end()]), "steps"))
        else:
            last = block.rfind(b"\n", first, m.end()) + 1
            out.append((first, block[first:block.find(b"\n", first)], "series"))
            out.append((last, block[last:m.end()], "series"))
    return out


def _candidates(block: bytes) -> list[tuple[int, bytes | list, str]]:
    """(start, line, kind) of every candidate line in order: kind "source" for a skipped region of
    code, "steps" for a sampled series of step lines (see _sampled_steps)."""
    out: list[tuple[int, bytes | list, str]] = []
    position = 1  # the block starts with the newline before its first line
    for start, end in [*_code_regions(block), (len(block), len(block))]:
        out.extend(_lines_of(block, position - 1, start))
        if start < len(block):
            out.append((start, block[start:block.find(b"\n", start)], "source"))
        position = end
    return out


def _stamp(prefix: str) -> float | None:
    m = STAMP.search(prefix)
    if m is None:
        return None
    if m.group(1):
        return float(m.group(1))
    try:
        moment = datetime.fromisoformat(f"{m.group(2)}T{m.group(3).replace(',', '.')}")
    except ValueError:
        return None
    return moment.replace(tzinfo=timezone.utc).timestamp()
