"""Pull requests as a reviewer sees them, read from the database `golf sync` filled: the review queue
(open pull requests: those breaking a rule first, then those in doubt, then the rest, each group newest
first) and everything golf knows about one pull request. Each folder
comes with its verdict and reasons, the delta to the record of its day with the p-value under both
significance policies, whether it would be a record if accepted now, and what to look at first:
failing checks, then contradicted claims, then warnings. Everything here was computed at import;
these functions only read and arrange it."""
from __future__ import annotations

import json
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, defer

from golfcore.vocabulary import Verdict

from .db import CheckRow, PullRequestRow, SubmissionRow, as_utc
from .queries import github_repo as _repo

MAX_WARNINGS = 10  # per folder, in the look-first list
SEVERITY_ORDER = ("fail", "contradicts", "warn")


def _iso(value: datetime | None) -> str | None:
    return as_utc(value).isoformat() if value is not None else None


def pr_summary(pr: PullRequestRow, repo: str) -> dict:
    return {
        "number": pr.number, "title": pr.title, "author": pr.author, "state": pr.state,
        "state_inferred": bool(pr.state_inferred), "created_at": _iso(pr.created_at), "merged_at": _iso(pr.merged_at),
        "closed_at": _iso(pr.closed_at), "head_sha": pr.head_sha, "synced_sha": pr.synced_sha,
        "synced_at": _iso(pr.synced_at), "url": f"https://github.com/{repo}/pull/{pr.number}",
    }


def look_first(sub: SubmissionRow, checks: list[CheckRow], analysis: dict) -> list[dict]:
    """What a reviewer should read first in this folder: failing checks (broken rules before the rest),
    then claims the logs contradict, then warnings."""
    def item(severity: str, check: str, message: str) -> dict:
        return {"severity": severity, "check": check, "message": message, "submission_id": sub.id, "key": sub.key}

    failing = [c for c in checks if c.status == "fail" and c.kind != "claims"]
    failing.sort(key=lambda c: c.kind != "rule")  # stable: broken rules first, each group in check order
    items = [item("fail", c.check_id, c.message) for c in failing]
    items += [item("contradicts", c.check_id, c.message) for c in checks if c.kind == "claims" and c.status == "fail"]
    warnings = [item("warn", c.check_id, c.message) for c in checks
                if c.status in ("warn", "unknown") and c.kind in ("rule", "doubt")]
    warnings += [item("warn", "parser", w) for w in analysis.get("warnings", [])]
    return items + warnings[:MAX_WARNINGS]


def _against(part: dict | None) -> dict | None:
    if not part:
        return None
    policies = part.get("policies") or {}
    return {"reference": part.get("reference"), "delta_bpb": part.get("delta_bpb"), "delta_nats": part.get("delta_nats"),
            "p": {name: (p or {}).get("p") for name, p in policies.items()},
            "significant": {name: (p or {}).get("significant") for name, p in policies.items()}}


def folder_summary(sub: SubmissionRow, checks: list[CheckRow], accepted_ids: set[int]) -> dict:
    analysis = json.loads(sub.analysis_json or "{}")
    review = json.loads(sub.review_json) if sub.review_json else {}
    now = review.get("now")
    prefix = f"pr{sub.pr_number}/"
    return {
        "id": sub.id, "key": sub.key, "path": sub.key.removeprefix(prefix), "name": sub.name, "track": sub.track,
        "author": sub.author, "github_id": sub.github_id, "date": sub.date, "judged_on": sub.judged_on,
        "verdict": sub.verdict, "claims": sub.claims, "reasons": analysis.get("reasons", []),
        "mean_val_bpb": sub.mean_val_bpb, "std_val_bpb": sub.std_val_bpb, "n_seeds": sub.n_seeds,
        "accepted": bool(sub.accepted) or sub.copy_of_id in accepted_ids, "copy_of_id": sub.copy_of_id,
        "in_main": not sub.key.startswith(prefix),
        "record_of_its_day": _against(review.get("day")),
        "if_accepted_now": None if now is None else {
            **(_against(now) or {}), "verdict": now.get("verdict"), "would_be_record": now.get("would_be_record"),
            "reasons": now.get("reasons", [])},
        "look_first": look_first(sub, checks, analysis),
    }


def _folders(session: Session, numbers: list[int]) -> dict[int, list[dict]]:
    subs = session.scalars(select(SubmissionRow).where(SubmissionRow.pr_number.in_(numbers))
                           .options(defer(SubmissionRow.readme), defer(SubmissionRow.submission_json))
                           .order_by(SubmissionRow.key)).all() if numbers else []
    ids = [s.id for s in subs]
    checks: dict[int, list[CheckRow]] = {i: [] for i in ids}
    for check in session.scalars(select(CheckRow).where(CheckRow.submission_id.in_(ids))
                                 .order_by(CheckRow.submission_id, CheckRow.position)) if ids else []:
        checks[check.submission_id].append(check)
    copied = {s.copy_of_id for s in subs if s.copy_of_id is not None}
    accepted_ids = set(session.scalars(select(SubmissionRow.id).where(
        SubmissionRow.id.in_(copied), SubmissionRow.accepted.is_(True)))) if copied else set()
    out: dict[int, list[dict]] = {n: [] for n in numbers}
    for sub in subs:
        out[sub.pr_number].append(folder_summary(sub, checks[sub.id], accepted_ids))
    return out


def _look_first_of(folders: list[dict]) -> list[dict]:
    items = [i for f in folders for i in f["look_first"]]
    return sorted(items, key=lambda i: SEVERITY_ORDER.index(i["severity"]))  # stable within a severity


CONCERNS = ("breaks a rule", "needs review", "no rule broken")  # the queue's groups, in order


def _concern(verdicts: list[str]) -> int:
    if Verdict.invalid.value in verdicts:
        return 0
    return 1 if Verdict.needs_review.value in verdicts else 2


def queue_order(session: Session) -> list[tuple[int, int]]:
    """(number, concern) of each open pull request that adds records folders, in the queue's order: what
    breaks a rule first (a reviewer closes those), then what needs review, then the rest; newest first in each."""
    rows = session.execute(
        select(PullRequestRow.number, PullRequestRow.created_at, SubmissionRow.key, SubmissionRow.verdict)
        .join(SubmissionRow, SubmissionRow.pr_number == PullRequestRow.number)
        .where(PullRequestRow.state == "open")).all()
    pulls: dict[int, tuple] = {}
    for number, created, key, verdict in rows:
        _, verdicts = pulls.setdefault(number, (as_utc(created), []))
        if key.startswith(f"pr{number}/"):  # proposed by it, not a folder of main linked to it
            verdicts.append(verdict)
    newest_first = sorted(pulls.items(), key=lambda p: (p[1][0] is None, -(p[1][0].timestamp() if p[1][0] else 0),
                                                        -p[0]))
    return sorted(((n, _concern(verdicts)) for n, (_, verdicts) in newest_first), key=lambda p: p[1])


def review_queue(session: Session, limit: int | None = None, offset: int = 0,
                 order: list[tuple[int, int]] | None = None) -> list[dict]:
    """Open pull requests that add records folders, in the queue's order (`order`: queue_order's, when the
    caller has it)."""
    order = (order if order is not None else queue_order(session))[offset:None if limit is None else offset + limit]
    concern = dict(order)
    pulls = {p.number: p for p in session.scalars(select(PullRequestRow).where(
        PullRequestRow.number.in_(list(concern))))} if order else {}
    repo = _repo(session)
    folders = _folders(session, list(concern))
    queue = []
    for number, _ in order:
        pr = pulls[number]
        mine = [f for f in folders[number] if not f["in_main"]]
        queue.append({**pr_summary(pr, repo), "concern": CONCERNS[concern[number]], "folders": mine,
                      "look_first": _look_first_of(mine),
                      "would_be_record": any(f["if_accepted_now"] and f["if_accepted_now"]["would_be_record"]
                                             for f in mine)})
    return queue


def pr_detail(session: Session, number: int) -> dict | None:
    """Everything golf knows about one pull request: its metadata, the folders it proposes, and for a
    merged one the folders of main it brought (accepted)."""
    pr = session.get(PullRequestRow, number)
    if pr is None:
        return None
    folders = _folders(session, [number])[number]
    proposed = [f for f in folders if not f["in_main"]]
    return {**pr_summary(pr, _repo(session)), "base_sha": pr.base_sha,
            "folders": proposed, "in_main": [f for f in folders if f["in_main"]],
            "look_first": _look_first_of(proposed)}
