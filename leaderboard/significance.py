"""Is a new submission better than a reference by more than a threshold?

A one-sided Welch t-test on per-seed val_loss (nats per token): H1 is
mean(reference) - mean(new) > threshold. Two policies (DESIGN, "Significance"):
`readme`, the published rule, 0.005 nats at p < 0.01; `practice`, how the organizers
ranked records, a one-sided Welch test at p < 0.25 against the previous record.
"""
from __future__ import annotations

import math
import statistics
import warnings
from dataclasses import dataclass

from scipy import stats

DEFAULT_THRESHOLD_NATS = 0.005
DEFAULT_ALPHA = 0.01


@dataclass(frozen=True)
class Policy:
    name: str
    threshold_nats: float
    alpha: float


POLICIES = {
    "readme": Policy("readme", DEFAULT_THRESHOLD_NATS, DEFAULT_ALPHA),
    "practice": Policy("practice", 0.0, 0.25),
}


@dataclass
class Significance:
    delta_nats: float  # reference minus new: positive is an improvement
    delta_bpb: float | None
    t: float | None
    df: float | None
    p: float | None
    threshold_nats: float
    alpha: float
    n_new: int
    n_ref: int
    unit: str = "nats/token"

    @property
    def significant(self) -> bool:
        return self.p is not None and self.p < self.alpha

    def as_dict(self) -> dict:
        return {
            "delta_nats": self.delta_nats, "delta_bpb": self.delta_bpb, "t": self.t, "df": self.df, "p": self.p,
            "threshold_nats": self.threshold_nats, "alpha": self.alpha, "n_new": self.n_new, "n_ref": self.n_ref,
            "unit": self.unit, "significant": self.significant,
        }


def welch_improvement(new_losses: list[float], ref_losses: list[float], new_bpb: list[float] | None = None,
                      ref_bpb: list[float] | None = None, threshold_nats: float = DEFAULT_THRESHOLD_NATS,
                      alpha: float = DEFAULT_ALPHA) -> Significance:
    if not new_losses or not ref_losses:
        raise ValueError("both sides need at least one seed with a val_loss")
    unit = "nats/token"
    if new_bpb and ref_bpb and len(new_bpb) == len(new_losses) and len(ref_bpb) == len(ref_losses):
        tokens_per_byte_new = statistics.fmean(b * math.log(2) / l for b, l in zip(new_bpb, new_losses))
        tokens_per_byte_ref = statistics.fmean(b * math.log(2) / l for b, l in zip(ref_bpb, ref_losses))
        if abs(tokens_per_byte_new / tokens_per_byte_ref - 1) > 0.01:
            # different tokenizers: per-token losses are not comparable, per-byte ones are
            new_losses = [b * math.log(2) for b in new_bpb]
            ref_losses = [b * math.log(2) for b in ref_bpb]
            threshold_nats *= tokens_per_byte_ref
            unit = "nats/byte (different tokenizers)"
    delta = statistics.fmean(ref_losses) - statistics.fmean(new_losses)
    delta_bpb = statistics.fmean(ref_bpb) - statistics.fmean(new_bpb) if new_bpb and ref_bpb else None
    t = df = p = None
    if len(new_losses) >= 2 and len(ref_losses) >= 2:
        shifted = [x - threshold_nats for x in ref_losses]
        with warnings.catch_warnings():  # near-identical seeds: scipy warns, the answer stands
            warnings.simplefilter("ignore", RuntimeWarning)
            result = stats.ttest_ind(shifted, new_losses, equal_var=False, alternative="greater")
        t, p = float(result.statistic), float(result.pvalue)
        df = float(result.df)
        if t != t:  # nan: both sides have zero variance
            t, p, df = None, (0.0 if delta > threshold_nats else 1.0), None
    return Significance(delta, delta_bpb, t, df, p, threshold_nats, alpha, len(new_losses), len(ref_losses), unit)
