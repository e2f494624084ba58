"""The challenge's words and numbers, defined once: tracks, verdicts, limits."""
from __future__ import annotations

from enum import Enum

ARTIFACT_LIMIT_BYTES = 16_000_000  # code + compressed model, decimal bytes
TRAIN_LIMIT_S = 600.0  # record track, 8xH100 SXM
EVAL_LIMIT_S = 600.0
MIN_RECORD_SEEDS = 3


class Track(str, Enum):
    """A records/ subfolder; the value is the folder name."""

    record = "track_10min_16mb"
    non_record = "track_non_record_16mb"

    @property
    def short(self) -> str:  # the name submission.json and the command line use
        return self.value.removeprefix("track_")

    @classmethod
    def parse(cls, text: str) -> "Track":
        """`track_10min_16mb`, `10min_16mb`, `record`, `non_record_16mb`, `non-record`..."""
        t = text.strip().lower().replace("-", "_")
        if "non_record" in t or t in ("nonrecord", "non_record"):
            return cls.non_record
        if "10min" in t or t == "record":
            return cls.record
        raise ValueError(f"unknown track {text!r} (10min_16mb or non_record_16mb)")


class Verdict(str, Enum):
    """What a submission is, as DESIGN defines it (worst first)."""

    invalid = "invalid"  # a rule is broken
    needs_review = "needs-review"  # the logs leave a rule in doubt, or the claims contradict them
    valid = "valid"  # every rule holds, but it is not a record
    record = "record"  # valid, record track, significant against the record of its day


class Status(str, Enum):
    """One check's outcome."""

    passed = "pass"
    warn = "warn"
    fail = "fail"
    unknown = "unknown"
