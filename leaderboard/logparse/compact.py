"""Logs in the compact dialect: the baseline's lines with every key cut to a letter or two (a family of
scripts in several PRs prints `s:0/20000 vl:6.9301 bpb:4.1044 tt:0ms`, `stop tt:600028ms s:4648/20000`,
`q_sw vl:1.9226 bpb:1.1387 s:64 t:94699ms`, `total:15875857B`). Each such line is written out in the
baseline's words before anything reads it, so the other readers need to know nothing of the dialect.

    prs/pr803/records/track_10min_16mb/2026-03-26_ComplementaryBackoff_0.4416/train_seed42.log
"""
from __future__ import annotations

import re

# a cheap first test: only lines that start like the dialect are looked at again
COMPACT_START = re.compile(r"s:\d|stop tt:|[a-z][\w:]{0,24}(?: (?:vl|bpb):|:vl=)\d|(?:total|q|code|eval:qsize):\d+B$")
STEP = re.compile(r"^s:(\d+/\d+)((?: (?:tl|vl|bpb|tt|sa):[\d.]+(?:ms)?)+)\s*$")
SEED = re.compile(r"^s:(\d+)\s*$")
STOP = re.compile(r"^stop tt:(\d+)ms s:(\d+/\d+)\s*$")
RESULT = re.compile(r"^([a-z][\w:]{0,24}) (?:vl:([\d.]+) )?bpb:([\d.]+)(?: s:(\d+))?(?: t:(\d+)ms)?\s*$")
RESULT_EQ = re.compile(r"^([a-z]\w{0,24}):vl=([\d.]+) bpb=([\d.]+) t=([\d.]+)s\s*$")  # ttt:vl=0.745589 bpb=0.441581 t=457.2s
SIZE = re.compile(r"^(total|q|code|eval:qsize):(\d+)B\s*$")
STEP_KEYS = {"tl": "train_loss", "vl": "val_loss", "bpb": "val_bpb", "tt": "train_time", "sa": "step_avg"}
SIZE_WORDS = {"total": "Total submission size: {} bytes", "q": "Serialized model quantized: {} bytes",
              "eval:qsize": "Serialized model quantized: {} bytes", "code": "Code size: {} bytes"}


def expand(text: str) -> str | None:
    """The line in the baseline's words, or None when it is not in the compact dialect."""
    if COMPACT_START.match(text) is None:
        return None
    if (m := STEP.match(text)) is not None:
        fields = " ".join(f"{STEP_KEYS[key]}:{value}" for key, value in
                          (field.split(":", 1) for field in m.group(2).split()))
        return f"step:{m.group(1)} {fields}"
    if (m := SEED.match(text)) is not None:
        return f"seed:{m.group(1)}"
    if (m := STOP.match(text)) is not None:
        return f"stopping_early: wallclock_cap train_time:{m.group(1)}ms step:{m.group(2)}"
    if (m := RESULT.match(text)) is not None:
        name, loss, bpb, stride, ms = m.groups()
        return " ".join(part for part in (
            _stage_name(name), loss and f"val_loss:{loss}", f"val_bpb:{bpb}", stride and f"stride:{stride}",
            ms and f"eval_time:{ms}ms") if part)
    if (m := RESULT_EQ.match(text)) is not None:
        name, loss, bpb, seconds = m.groups()
        return f"{_stage_name(name)} val_loss:{loss} val_bpb:{bpb} eval_time:{seconds}s"
    if (m := SIZE.match(text)) is not None:
        return SIZE_WORDS[m.group(1)].format(m.group(2))
    return None


def _stage_name(name: str) -> str:
    """`q_sw_x` -> `q_sw_exact` (the same evaluation printed to 8 decimals), `eval:sw` -> `eval_sw`."""
    name = name.replace(":", "_")
    return name[:-2] + "_exact" if name.endswith("_x") else name
