"""The reference trainer's log grammar, defined once: the trainer writes with `format_event`,
the log parser, the worker and the packager read with `parse_event`.

One line per event: the event word, then space-separated `key:value` fields whose values hold
no spaces. Two events carry a head, `step:i/N ...` and `warmup_step:i/N` (the community's form).
Times end in `ms`; sizes are bytes. The README's "log grammar" section lists the same events.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass

# event -> its fields, in the order the trainer writes them; "config" takes every setting
GRAMMAR: dict[str, tuple[str, ...]] = {
    "golf_trainer": ("version", "run_id", "preset", "seed", "device", "device_name", "world_size", "torch", "compile"),
    "config": (),
    "data": ("dataset", "tokenizer", "train_shards", "val_tokens", "grad_accum_steps"),
    "code": ("bytes_code", "packing"),
    "model": ("params", "layers", "dim", "heads", "kv_heads", "vocab", "attention"),
    "warmup_step": (),
    "step": ("train_loss", "val_loss", "val_bpb", "train_time", "step_avg", "lr_mul", "tok_s", "eval_time"),
    "stopping_early": ("reason", "train_time", "step"),
    "recurrence": ("step", "frac", "order"),  # depth recurrence switched on: the block order from then on
    "train_done": ("steps", "train_time", "step_avg", "stop", "tok_s"),
    "peak_memory": ("mib", "kind"),
    # the EMA of the weights replaces the trained weights before calibration and quantization
    "ema": ("decay", "updates"),
    # work on training data after the loop and before the artifact (GPTQ Hessians): capped with training
    "calibration": ("source", "batches", "tokens", "calib_time"),
    "artifact": ("path", "quant", "embed_quant", "codec", "bytes_model", "artifact_time", "method", "lqer"),
    "size": ("bytes_total", "bytes_model", "bytes_code", "limit"),
    "eval": ("stage", "val_loss", "val_bpb", "eval_time", "val_tokens", "val_bytes", "diagnostic"),
    # score-first test-time training: a segment scored, then (trained_tokens > 0) trained on
    "ttt": ("stage", "segment", "scored_tokens", "trained_tokens", "lr"),
    "score": ("stage", "val_loss", "val_bpb", "eval_time"),
    "result": ("path",),
}
HEADED = frozenset({"step", "warmup_step"})
ARTIFACT_EVENTS = frozenset({"artifact", "size"})  # the artifact is on disk once one of these is logged
FREE_FIELDS = frozenset({"config"})
_HEAD = re.compile(r"^(\w+):(\S+)")
_FIELD = re.compile(r"([A-Za-z_][\w.]*):(\S*)")
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


class GrammarError(ValueError):
    pass


@dataclass(frozen=True)
class Event:
    name: str
    head: str | None
    fields: dict[str, str]

    def get(self, key: str) -> str | None:
        return self.fields.get(key)

    def number(self, key: str) -> float | None:
        text = self.fields.get(key)
        m = _NUMBER.match(text) if text else None
        if not m:
            return None
        value = float(m.group(0))
        return value if math.isfinite(value) else None

    def integer(self, key: str) -> int | None:
        value = self.number(key)
        return int(value) if value is not None and value.is_integer() else None

    def seconds(self, key: str) -> float | None:
        """A time field: `1234ms` is 1.234 s; a bare number is seconds."""
        value = self.number(key)
        if value is None:
            return None
        return value / 1000 if self.fields[key].endswith("ms") else value

    def fraction(self) -> tuple[int, int] | None:
        """The head `i/N` of a step line as (i, N)."""
        if self.head is None or "/" not in self.head:
            return None
        done, _, total = self.head.partition("/")
        return (int(done), int(total)) if done.isdigit() and total.isdigit() else None


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f}ms"


def format_event(name: str, head: str | None = None, /, **fields: object) -> str:
    """One log line. Unknown events or fields are a programming error; None values are left out."""
    if name not in GRAMMAR:
        raise GrammarError(f"{name!r} is not an event of the log grammar")
    if (head is not None) != (name in HEADED):
        raise GrammarError(f"{name!r} {'needs' if name in HEADED else 'takes no'} head")
    allowed = GRAMMAR[name]
    parts = [f"{name}:{head}" if head is not None else name]
    for key, value in fields.items():
        if name not in FREE_FIELDS and key not in allowed:
            raise GrammarError(f"{key!r} is not a field of {name!r} (fields: {', '.join(allowed)})")
        if value is None:
            continue
        text = "_".join(str(value).split()) or "_"
        parts.append(f"{key}:{text}")
    return " ".join(parts)


def parse_event(line: str) -> Event | None:
    """The event on a line of the grammar, or None for any other line."""
    word, _, rest = line.strip().partition(" ")
    head = None
    m = _HEAD.match(word)
    if m and m.group(1) in HEADED:
        name, head = m.group(1), m.group(2)
    else:
        name = word.rstrip(":")  # `stopping_early: wallclock_cap ...` as older golf logs and the baseline write it
    if name not in GRAMMAR:
        return None
    fields = dict(_FIELD.findall(rest))
    if name == "stopping_early" and "reason" not in fields and rest[:1].isalpha() and ":" not in rest.split(" ", 1)[0]:
        fields["reason"] = rest.split(" ", 1)[0]
    return Event(name, head, fields)
