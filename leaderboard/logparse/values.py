"""Numbers, durations and `key:value` tokens as logs print them."""
from __future__ import annotations

import math
import re

# key:value, key=value, and `key: 42` / `key:    42` (a summary's aligned column) / `key = 42` where the value is a number
# possessive: a key is never followed by a character of its own class, so giving some back never matches
# a key does not follow a word character or a quote; its first letter comes before that lookbehind so that the scan
# skips in C to the next letter
TOKEN = re.compile(r"([A-Za-z_](?<![\w\"'].)[\w.\-]*+)(?:[:=]|: ++(?=[-+.]?\d)| = (?=[-+.]?\d))([^\s,;()\[\]{}|]++)")
QUOTED_TOKEN = re.compile(r"""['"]([A-Za-z_]\w*)['"]\s*:\s*([-+]?\d[\w.+\-]*)""")  # {'seed': 1337, ...}
NUMBER = re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
NUMBER_START = frozenset("+-.0123456789")
GROUPED_INT = re.compile(r"^\d{1,3}(?:,\d{3})+(?!\d)")  # 15,852,125
WORD_END = re.compile(r"[\s:=\[(]")
MEAN_WORD = r"(?:mean|average|avg|median)\b"  # a figure over several runs (seeds), not one run's
DURATION = re.compile(r"^\s*(?:(\d+)h)?\s*(?:(\d+)m(?!s))?\s*(?:(\d+(?:\.\d+)?)s)?\s*$")  # 1h2m3s, 4m44s


def to_number(text: str) -> float | None:
    if text[:1] in NUMBER_START and text[-1:].isdigit() and "_" not in text:
        try:  # the whole text a number, as most are: float() reads it as NUMBER would (float also takes `1_000`)
            value = float(text)
        except ValueError:
            pass
        else:
            return value if math.isfinite(value) else None
    m = NUMBER.match(text)
    if not m:
        return None
    try:
        value = float(m.group(0))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def to_int(text: str) -> int | None:
    """An integer, also with thousands separators (`15,852,125`); None for fractions."""
    grouped = GROUPED_INT.match(text)
    if grouped:
        return int(grouped.group(0).replace(",", ""))
    value = to_number(text)
    if value is None or not value.is_integer() or abs(value) > 1e18:
        return None
    return int(value)


def to_seconds(text: str) -> float | None:
    """'1401ms', '9.7m', '407.5s', '4m44s', '600' (seconds) -> seconds."""
    value = to_number(text)
    if value is None:
        return None
    unit = text[len(NUMBER.match(text).group(0)):].strip().lower()
    if unit.startswith("ms"):
        return value / 1000
    if unit in ("m", "min", "mins", "minutes"):
        return value * 60
    if unit in ("h", "hr", "hours"):
        return value * 3600
    if unit[:1] in ("m", "h") and unit != "ms":  # 4m44s
        compound = DURATION.match(text)
        if compound and any(compound.groups()):
            hours, minutes, seconds = compound.groups()
            return int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds or 0)
    return value


def leading_word(text: str) -> str:
    """What a line is about: `ngram_two_pass` in `ngram_two_pass: Pass 1 done ...`, `ttt` in `ttt:batch 5/62`."""
    return WORD_END.split(text, maxsplit=1)[0]


def tokens(line: str) -> dict[str, str]:
    """The line's `key:value` / `key=value` tokens, first occurrence of each key, keys lower-cased."""
    found: dict[str, str] = {}
    for key, value in TOKEN.findall(line):
        found.setdefault(key.lower(), value)
    if "{" in line:
        for key, value in QUOTED_TOKEN.findall(line):
            found.setdefault(key.lower(), value)
    return found
