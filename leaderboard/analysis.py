"""One analysis of a folder: its runs, the seeds that count, every check and the verdict, as a
JSON document. `golf check`, `golf import`, the launcher and the web pages all show this document,
computed once (and stored by the import); nothing derives a second verdict on the side."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from .rules import RULES_VERSION, Context, Judgement, Reference, judge
from .submission import Submission, analyze


def reference_from_folder(path: Path) -> Reference:
    sub = analyze(path)
    return Reference(name=sub.name, val_losses=sub.values("val_loss"), val_bpbs=sub.values("val_bpb"),
                     date=sub.claims.date)


def document(sub: Submission, judgement: Judgement, context: Context) -> dict:
    counted = {(s.score_run.log, s.score_run.run.index) for s in sub.seeds} | \
              {(s.training_run.log, s.training_run.run.index) for s in sub.seeds}
    left_out = {(r.log, r.run.index): reason for r, reason in sub.left_out}
    runs = []
    for r in sub.runs:
        entry = r.as_json()
        entry["counts"] = (r.log, r.run.index) in counted
        entry["left_out"] = left_out.get((r.log, r.run.index))
        runs.append(entry)
    reference = context.reference
    return {
        "rules_version": RULES_VERSION,
        "path": str(sub.path),
        "track": sub.track,
        "name": sub.name,
        "date": sub.claims.date or _date_from_name(sub.path.name),
        "claimed": sub.claims.as_dict(),
        "claims": judgement.claims,
        "runs": runs,
        "seeds": [s.as_json() for s in sub.seeds],
        "counted_because": sub.counted_because,
        "summary": {
            "n_seeds": len(sub.seeds),
            "mean_val_bpb": sub.mean("val_bpb"), "std_val_bpb": sub.std("val_bpb"),
            "mean_val_loss": sub.mean("val_loss"), "std_val_loss": sub.std("val_loss"),
        },
        "checks": [c.as_dict() for c in judgement.checks],
        "verdict": judgement.verdict,
        "reasons": judgement.reasons,
        "policy": context.policy.name,
        "reference": None if reference is None else {
            "name": reference.name, "key": reference.key, "date": reference.date,
            "val_bpbs": reference.val_bpbs, "val_losses": reference.val_losses},
        "significance": judgement.significance.as_dict() if judgement.significance else None,
        "warnings": sub.warnings,
    }


ContextFor = Callable[[Submission], Context]


def analyze_folder(folder: Path, context_for: ContextFor | None = None) -> tuple[Submission, dict]:
    """The folder's analysis; `context_for` gives the reference of the submission's day."""
    sub = analyze(folder)
    context = context_for(sub) if context_for is not None else Context()
    return sub, document(sub, judge(sub, context), context)


def _date_from_name(name: str) -> str | None:
    head = name[:10]
    return head if len(head) == 10 and head[4] == "-" and head[7] == "-" and head.replace("-", "").isdigit() else None
