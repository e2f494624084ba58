"""Sizes as logs state them: labelled phrases, tokens, and the summary forms of wrappers.

    Total submission size int8+zlib: 15,863,489 bytes        Serialized model: 67224983 bytes
    bytes_total:15863489 bytes_model:15815847                 budget:15863489/16000000
    artifact: 15567435B model + 51283B code = 15618718B       model:13015808 code:102886 total:13118694
    [RESULT] seed=42 score=1.1773 | size=15,708,798B          int8+zlib artifact: 7488519 bytes
    total=15.93MB/16.00MB (15931279 / 16000000 bytes)

Each size is a (kind, bytes) pair: total, model, model_raw, artifact (total or model: a label
that does not say), code_plain, code_compressed, code_uncompressed.
"""
from __future__ import annotations

import re

from .values import GROUPED_INT, MEAN_WORD, to_int

SIZE_VALUE = re.compile(r":\s*(\d[\d,]*)\s*(?:bytes\b|B\b)", re.I)  # the label is what precedes the colon
LABEL_START = re.compile(r".*[|,;\]]\s*")
SUM_FORM = re.compile(r"(\d[\d,]*)\s*B\s+model\s*\+\s*(\d[\d,]*)\s*B\s+code\s*=\s*(\d[\d,]*)\s*B", re.I)
SIZE_TOKEN = re.compile(r"\b(size|total|model|code)\s*[:=]\s*(\d[\d,]*)(?!\.\d)\s*B?\b", re.I)  # not total=15.93MB
UNIT = re.compile(r"\d\s*(?:B|bytes|MB)\b")  # a line of sizes says them in bytes somewhere
SUMMARY_WORDS = re.compile(r"\b(?:code|model)\s*[:=]|\|")
# budget:15863489/16000000, total:991210/16000000, ARTIFACT TOTAL:   15,478,013 / 16,000,000 bytes
BUDGET = re.compile(r"\b(?:budget|total)\s*:\s*(\d[\d,]*)\s*/\s*(\d[\d,]*)", re.I)
AGAINST_THE_CAP = re.compile(r"\((\d[\d,]*)\s*/\s*16,?000,?000\s*bytes\)")  # (15931279 / 16000000 bytes)
CODE_WORD = re.compile(r"(?<![a-z])code(?![a-z])")  # not `Decoded val shard`, `model codebook+brotli`
CODE_LABEL = re.compile(r"(?:total[ _])?code(?![a-z])")  # `code total`, `Total code size`, `total_code_bytes`: the code's own size
SUMMARY_LABEL = re.compile(MEAN_WORD)  # `mean artifact`: over seeds, no artifact's own
# a key's word that says it is no artifact's size (a word: `wrapper_code_bytes` is the code's)
KEY_NOT_THE_ARTIFACT = re.compile(r"(?<![a-z])(?:cap|estimat|limit|headroom|budget|payload|val_|train_|per_|sidecar|piece)")
NOT_THE_ARTIFACT = ("upload", "script size", "payload", "estimat", "limit", "headroom", "remaining", "budget left")


def _code_kind(label: str) -> str:
    if "uncompressed" in label or "raw" in label:
        return "code_uncompressed"
    if "compressed" in label or "lzma" in label or "minif" in label or "packed" in label:
        return "code_compressed"
    return "code_plain"


def _model_kind(label: str) -> str:
    if "raw" in label or "uncompressed" in label or re.fullmatch(r"(serialized )?model", label.strip()):
        return "model_raw"  # an unqualified "Serialized model" is the raw, uncompressed size
    return "model"


def _names_the_code(name: str) -> bool:
    """A label or key for the code's size: `Code size`, `code total`, `total_code_bytes`, `code_bytes_lzma`
    (a total that merely mentions code, `Total size incl. code`, is the artifact's)."""
    return CODE_LABEL.match(name) is not None or ("total" not in name and CODE_WORD.search(name) is not None)


def _has_total(found: list[tuple[str, int]]) -> bool:
    return any(kind == "total" for kind, _ in found)


def _with_separators(key: str, value: str, lower: str) -> str:
    """A token's value ends at a comma: `total_bytes: 15,011,468` gives 15. A size is never a list,
    so it is read again with its thousands separators."""
    if not (value.isdigit() and len(value) <= 3):
        return value
    m = re.search(rf"(?<![\w.\-]){re.escape(key)}\s*[:=]\s*", lower)
    grouped = GROUPED_INT.match(lower[m.end():]) if m else None
    return grouped.group(0) if grouped else value


def _phrases(line: str):
    """(label, number) of each `<label>: <number> bytes` (or `...B`) in the line."""
    start = 0
    for m in SIZE_VALUE.finditer(line):
        head = line[start:m.start()]
        cut = LABEL_START.match(head)
        yield head[cut.end():] if cut else head, m.group(1)
        start = m.end()


def read_sizes(line: str, lower: str, kv: dict[str, str]) -> list[tuple[str, int]]:
    if any(word in lower for word in NOT_THE_ARTIFACT[:2]):
        return []  # launcher wrappers report the script they send, not the artifact
    found: list[tuple[str, int]] = []
    m = SUM_FORM.search(line) if " + " in line else None
    if m:
        model, code, total = (to_int(g) for g in m.groups())
        return [(k, v) for k, v in (("model", model), ("code_plain", code), ("total", total)) if v is not None]
    if "bytes" in lower or "B" in line:
        for label, number in _phrases(line):
            label_l = label.lower().strip()
            value = to_int(number)
            if value is None or any(word in label_l for word in NOT_THE_ARTIFACT) or SUMMARY_LABEL.match(label_l):
                continue
            if _names_the_code(label_l):
                found.append((_code_kind(label_l), value))
            elif "total" in label_l:
                found.append(("total_raw" if "raw" in label_l or "uncompressed" in label_l else "total", value))
            elif "model" in label_l:
                found.append((_model_kind(label_l), value))
            elif "artifact" in label_l or label_l.endswith("size"):
                found.append(("artifact", value))
    for key, text in kv.items():  # bytes_total, artifact_total_bytes, model_bytes, code_bytes...
        if "bytes" not in key or KEY_NOT_THE_ARTIFACT.search(key):
            continue
        value = to_int(_with_separators(key, text, lower))
        if value is None:
            continue
        if _names_the_code(key):
            found.append((_code_kind(key), value))
        elif "total" in key:
            found.append(("total", value))
        elif "model" in key or "compressed" in key:
            found.append(("model_raw" if "raw" in key or "uncompressed" in key else "model", value))
        elif "artifact" in key:
            found.append(("artifact", value))
    if "code" in kv and not found and ("artifact" in lower or "budget" in lower):
        value = to_int(kv["code"])  # artifact:15.92MB ternary:... code:70853
        if value is not None:
            found.append(("code_plain", value))
    budget = (BUDGET.search(line) or AGAINST_THE_CAP.search(line)) if ("budget" in lower or "total" in lower) and "/" in line \
        else None
    if budget and not _has_total(found) and (total := to_int(budget.group(1))) is not None:
        found.append(("total", total))
    if not found and ("size" in lower or "total" in lower) and (UNIT.search(line) or "bytes" in lower) \
            and SUMMARY_WORDS.search(lower):  # model:13015808 code:102886 total:13118694, smoke_pack_bytes: code=...
        words = {k.lower(): to_int(v) for k, v in SIZE_TOKEN.findall(line)}
        for word, kind in (("total", "total"), ("size", "total"), ("model", "model"), ("code", "code_plain")):
            if words.get(word) is not None and not (kind == "total" and _has_total(found)):
                found.append((kind, words[word]))
    if found and "total" in kv and not _has_total(found):
        total = next((to_int(v) for k, v in SIZE_TOKEN.findall(line) if k.lower() == "total"), None)
        # artifact_bytes:16132620 code_bytes:49461 total:16182081 (in `code total: 72,296 bytes` it names the code's size)
        if total is not None and all(total != value for _, value in found):
            found.append(("total", total))
    return found
