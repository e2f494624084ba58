"""From bytes to the lines worth reading, fast.

A log is read in blocks. One compiled regex finds, in C, the lines that can carry a fact: those
that start at the left margin, and indented `key: value` lines of a settings dump. Everything
else (the indented body of embedded source code, blank lines) never reaches Python. The lines
found are normalized (CR, ANSI colours, timestamp / rank / logger prefixes, `key: value`
spacing) and embedded source code at the left margin is skipped with a small state machine.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import IO, Iterator

BLOCK_BYTES = 8 << 20
MAX_LINE_CHARS = 8_192  # real log lines are far shorter; this bounds the work per line

_LINES = r"^(?:[^\s]|  ?[A-Za-z_][\w.]*[ \t]*:[ \t]*[\w./+\-]+[ \t]*$"
CANDIDATE = re.compile(_LINES + r")[^\n]*", re.M)
# the same, with indented lines that say the evaluation is partial (used when a block has those words)
CANDIDATE_WITH_SUBSETS = re.compile(_LINES + r"|[ \t]+[^\n]*\b(?:limited|subset|partial)\b)[^\n]*", re.M)
ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\n]*\x07")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f]")
# prefixes a logger or a launcher puts before the text: epoch seconds, ISO / bracketed dates and
# clocks, [rank0]:, INFO:, `train.py:123]`
PREFIX = re.compile(
    r"^(?:(?:\d{10}(?:\.\d+)?|\[(?:rank\s*\d+|default\d*|\d{4}-\d\d-\d\d[ T][\d:.,]+|\d{1,2}:\d\d:\d\d(?:[.,]\d+)?|"
    r"INFO|DEBUG|WARNING|WARN|ERROR)\]:?|\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?|"
    r"\d{1,2}:\d\d:\d\d(?:[.,]\d+)?|(?:INFO|DEBUG|WARNING|WARN|ERROR)(?::|\s+-|\s+(?=\S))|rank\s*\d+:|"
    r"[\w\-]+\.py:\d+\])\s*)+")
STAMP = re.compile(r"(\d{10}(?:\.\d+)?)|(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d:\d\d(?:[.,]\d+)?)")
SPACED_VALUE = re.compile(r"\b([A-Za-z_][\w.\-]*)(?::| =) +(?=[-+]?\.?\d)")
SEPARATOR = re.compile(r"^[=\-#*~_]{10,}\s*$")
CODE_START = re.compile(r"^(?:import \w|from [\w.]+ import |def \w|class \w|@\w|if __name__|#!/)")
# a left-margin line inside source code: a statement, a closing bracket, an assignment or a call
CODE_LINE = re.compile(
    r"^(?:import |from \S+ import |def |class |@\w|if |elif |else\b|for |while |try:|except\b|finally:|with |"
    r"return\b|raise\b|assert |global |del |pass\b|async |await |lambda\b|[)\]}\"']|#|"
    r"[A-Za-z_][\w.]*(?:\[[^\]]*\])?(?:\s*,\s*[A-Za-z_][\w.]*)*\s*(?:[+\-*/|&%]?=)(?!=)|[A-Za-z_][\w.]*\()")
CODE_SIGNS = re.compile(r"""\bf["']|\bprint\(|\blog0?\(|\{[^}]*:[^}]*\}|\bself\.|\breturn\b|\blambda\b|\.format\(""")
LOG_TOKEN = re.compile(r"(?:^|\s)[A-Za-z_][\w.\-]*[:=]\s?[-+]?\.?\d")
RUN_HEADER = re.compile(
    r"^(?:(?:model_)?params[:=]\s*\d|hyperparameters:?\s*$|-+ ?hyperparameters ?-+|golf_trainer |"
    r"# \[training-script source removed)", re.I)
BANNER = re.compile(r"^[=#*\-]{2,}\s.*\s[=#*\-]{2,}$")


@dataclass(slots=True)
class Line:
    number: int
    text: str
    stamp: float | None
    kind: str  # "text" | "code_start" | "header" | "banner"


class LineReader:
    """Iterate the lines worth reading of a byte stream; counts what it skipped or cut."""

    def __init__(self, stream: IO[bytes]):
        self.stream = stream
        self.lines = 0  # every line of the file
        self.cut = 0
        self.garbage = 0
        self.in_code = False

    def __iter__(self) -> Iterator[Line]:
        number = 0
        rest = b""
        while True:
            chunk = self.stream.read(BLOCK_BYTES)
            if not chunk and not rest:
                break
            data = rest + chunk
            end = data.rfind(b"\n") + 1
            if not chunk:
                end = len(data)
            elif end == 0:  # one line longer than a block: keep its head, drop the rest of it
                rest = self._skip_overlong(data)
                continue
            block, rest = data[:end], data[end:]
            text = block.decode("utf-8", errors="replace")
            if "\r" in text:
                text = text.replace("\r\n", "\n").replace("\r", "\n")
            if "\x1b" in text:
                text = ANSI.sub("", text)
            scan_control = CONTROL.search(text) is not None
            position = 0
            candidates = CANDIDATE_WITH_SUBSETS if ("limited" in text or "subset" in text or "partial" in text) \
                else CANDIDATE
            for m in candidates.finditer(text):
                number += text.count("\n", position, m.start())
                position = m.start()
                raw = m.group()
                if len(raw) > MAX_LINE_CHARS:
                    raw = raw[:MAX_LINE_CHARS]
                    self.cut += 1
                if scan_control and len(CONTROL.findall(raw)) > 8:
                    self.garbage += 1
                    continue
                line = self._classify(number + 1, raw)
                if line is not None:
                    yield line
            number += text.count("\n", position)
            if not text.endswith("\n") and text:
                number += 1
        self.lines = number

    def _skip_overlong(self, data: bytes) -> bytes:
        """Yield nothing for a line longer than a block: read on to its end."""
        self.cut += 1
        while True:
            chunk = self.stream.read(BLOCK_BYTES)
            if not chunk:
                return b""
            newline = chunk.find(b"\n")
            if newline >= 0:
                return chunk[newline + 1:]

    def _classify(self, number: int, raw: str) -> Line | None:
        indented = raw[0] in " \t"
        text = raw.strip()
        stamp = None
        if text[0] in "0123456789[IDWErt" or text[:5].isalpha():
            m = PREFIX.match(text)
            if m and m.end() < len(text):
                stamp = _stamp(m.group())
                text = text[m.end():]
        if ": " in text or " = " in text:
            text = SPACED_VALUE.sub(r"\1:" if ": " in text else r"\1=", text)
        if self.in_code:
            if SEPARATOR.match(text) or RUN_HEADER.match(text):
                self.in_code = False
            elif indented or CODE_LINE.match(text) or CODE_SIGNS.search(text) or not LOG_TOKEN.search(text):
                return None
            else:
                self.in_code = False
        if not indented and text[:1] in "ifdc@#" and CODE_START.match(text):
            self.in_code = True
            return Line(number, text, stamp, "code_start")
        if text[:1] == "#" and not RUN_HEADER.match(text):
            return None
        if ("(" in text or "{" in text or "'" in text or '"' in text) and CODE_SIGNS.search(text):
            return None  # a fragment of source code, e.g. an f-string template that looks like a result
        if RUN_HEADER.match(text):
            return Line(number, text, stamp, "header")
        if BANNER.match(text):
            return Line(number, text, stamp, "banner")
        return Line(number, text, stamp, "text")


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
