"""What a reviewer needs beside the verdict, computed at import and stored with the submission: the
delta to the record of its day with the p-value under both significance policies, and for an open
pull request whether it would be a record if accepted now, against today's best accepted record."""
from __future__ import annotations

from golfcore.vocabulary import Verdict

from .rules import Context, Reference, judge, significance_against
from .significance import POLICIES
from .submission import Submission


def _against(sub: Submission, reference: Reference | None) -> dict | None:
    if reference is None:
        return None
    policies = {}
    for name, policy in POLICIES.items():
        sig = significance_against(sub, reference, policy)
        policies[name] = None if sig is None else sig.as_dict()
    first = next((p for p in policies.values() if p is not None), None)
    return {"reference": {"name": reference.name, "key": reference.key, "date": reference.date},
            "delta_bpb": first["delta_bpb"] if first else None, "delta_nats": first["delta_nats"] if first else None,
            "policies": policies}


def review(sub: Submission, day: Context, now: Context | None) -> dict:
    """{"day": against the record of its day, "now": against today's best (open PRs only)}. Deltas are
    the reference minus this submission: positive is better."""
    out: dict = {"day": _against(sub, day.reference), "now": None}
    if now is not None:
        judgement = judge(sub, now)
        out["now"] = {**(_against(sub, now.reference) or {"reference": None, "policies": {}}),
                      "policy": now.policy.name, "verdict": judgement.verdict,
                      "would_be_record": judgement.verdict == Verdict.record.value, "reasons": judgement.reasons}
    return out
