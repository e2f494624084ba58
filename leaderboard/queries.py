"""What the web pages and the JSON API show, read from the database: one function per view,
so a page and its API twin always carry the same numbers."""
from __future__ import annotations

import json
from bisect import bisect_left
from dataclasses import dataclass
from datetime import date
from typing import Callable

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from .db import LaunchPointRow, LaunchRow, MetricPointRow, PullRequestRow, RunRow, SubmissionRow, SyncStateRow
from golfcore.vocabulary import Track, Verdict

RECORD_TRACK, NON_RECORD_TRACK = Track.record.value, Track.non_record.value

BYTES_LIMIT = 16_000_000
SORTS = {"rank", "val_bpb", "date", "bytes", "name", "author", "seeds", "train_s", "eval_s", "ratio"}
VERDICTS = tuple(v.value for v in (Verdict.record, Verdict.valid, Verdict.needs_review, Verdict.invalid))
MAX_PER_PAGE = 200
DEFAULT_REPO = "openai/parameter-golf"


@dataclass
class Filters:
    track: str = RECORD_TRACK
    verdict: str | None = None
    status: str | None = None  # accepted | open | closed
    author: str | None = None
    q: str | None = None
    sort: str = "rank"
    order: str = "asc"
    page: int = 1
    per_page: int = 50


RANKED = (Verdict.record.value, Verdict.valid.value)  # only these hold a rank
STATUSES = ("accepted", "open", "closed")


@dataclass
class Standings:
    """A track's ranks (among `record` and `valid` submissions, by mean val_bpb, ties sharing one) and its
    current record. Copies of a stored submission are left out: one line per submission."""

    ranks: dict[int, int]
    record_id: int | None


def standings(session: Session, track: str) -> Standings:
    rows = session.execute(select(SubmissionRow.id, SubmissionRow.verdict, SubmissionRow.accepted,
                                  SubmissionRow.mean_val_bpb)
                           .where(SubmissionRow.track == track, SubmissionRow.copy_of_id.is_(None),
                                  SubmissionRow.mean_val_bpb.is_not(None))).all()
    means = sorted(r.mean_val_bpb for r in rows if r.verdict in RANKED)
    ranks = {r.id: bisect_left(means, r.mean_val_bpb) + 1 for r in rows if r.verdict in RANKED}
    stands = _standing(rows)
    standing = [r for r in rows if r.verdict != Verdict.invalid.value and stands(r)]
    record = min(standing, key=lambda r: (r.mean_val_bpb, r.id), default=None)
    return Standings(ranks, record.id if record is not None else None)


def _standing(rows) -> Callable[[object], bool]:
    """Which of a track's rows count as records that stood: the accepted ones (merged into main); with
    nothing accepted yet, those golf says are `record`."""
    if any(r.accepted for r in rows):
        return lambda r: bool(r.accepted)
    return lambda r: r.verdict == Verdict.record.value


def day(value: str | None) -> str | None:
    """A date as YYYY-MM-DD, whatever form it was given in ('2026-03-20T05:30:00Z' included); None if not one."""
    if not value or len(value) < 10:
        return None
    try:
        return date.fromisoformat(value[:10]).isoformat()
    except ValueError:
        return None


def status(accepted: bool, pr_state: str | None) -> str | None:
    """accepted (merged into main, or marked so), open (its pull request is open), closed (its pull request
    closed, or merged without this folder standing); None: neither accepted nor from a pull request."""
    if accepted:
        return "accepted"
    if pr_state is None:
        return None
    return "open" if pr_state == "open" else "closed"


def _status_filter(wanted: str):
    if wanted == "accepted":
        return SubmissionRow.accepted.is_(True)
    states = select(PullRequestRow.number).where(
        PullRequestRow.state == "open" if wanted == "open" else PullRequestRow.state != "open")
    return SubmissionRow.accepted.is_not(True) & SubmissionRow.pr_number.in_(states)


def frontier(session: Session, track: str = RECORD_TRACK) -> dict:
    """The record val_bpb by date: each standing record (accepted; with none accepted, each `record`) that
    beat every earlier one and breaks no rule; and the open pull requests' folders that would beat today's
    record if accepted now. Dates are the days golf judges on (a pull request's creation, else its own)."""
    rows = session.execute(
        select(SubmissionRow.id, SubmissionRow.name, SubmissionRow.verdict, SubmissionRow.accepted,
               func.coalesce(SubmissionRow.judged_on, SubmissionRow.date).label("on"), SubmissionRow.mean_val_bpb)
        .where(SubmissionRow.track == track, SubmissionRow.mean_val_bpb.is_not(None),
               SubmissionRow.copy_of_id.is_(None), SubmissionRow.verdict != Verdict.invalid.value)).all()
    stands = _standing(rows)
    standing = sorted((r for r in rows if stands(r)), key=lambda r: (day(r.on) or "", r.id))
    best, records = None, []
    for r in standing:
        if best is None or r.mean_val_bpb < best:
            best = r.mean_val_bpb
            records.append({"id": r.id, "name": r.name, "date": day(r.on), "val_bpb": r.mean_val_bpb})
    contenders = session.execute(
        select(SubmissionRow.id, SubmissionRow.name, SubmissionRow.pr_number, SubmissionRow.judged_on,
               SubmissionRow.mean_val_bpb)
        .where(SubmissionRow.track == track, SubmissionRow.would_be_record.is_(True),
               SubmissionRow.copy_of_id.is_(None), SubmissionRow.mean_val_bpb.is_not(None), SubmissionRow.pr_number.in_(
                   select(PullRequestRow.number).where(PullRequestRow.state == "open")))
        .order_by(SubmissionRow.mean_val_bpb, SubmissionRow.id)).all()
    return {"records": records,
            "open_prs": [{"id": c.id, "name": c.name, "pr": c.pr_number, "date": day(c.judged_on),
                          "val_bpb": c.mean_val_bpb} for c in contenders]}


def leaderboard(session: Session, f: Filters, ranking: Standings | None = None) -> dict:
    """One page of a track's submissions (copies of a stored one left out). In rank order the current
    record comes first, then the ranked ones by val_bpb, then those without a rank."""
    ranking = ranking or standings(session, f.track)
    query = (select(SubmissionRow.id, SubmissionRow.key, SubmissionRow.name, SubmissionRow.author,
                    SubmissionRow.github_id, SubmissionRow.date, SubmissionRow.track, SubmissionRow.verdict,
                    SubmissionRow.mean_val_bpb, SubmissionRow.std_val_bpb, SubmissionRow.mean_val_loss,
                    SubmissionRow.n_seeds, SubmissionRow.bytes_max, SubmissionRow.train_time_s,
                    SubmissionRow.eval_time_s, SubmissionRow.compression_ratio, SubmissionRow.accepted,
                    SubmissionRow.pr_number, SubmissionRow.significance_json, SubmissionRow.reasons_json)
             .where(SubmissionRow.track == f.track, SubmissionRow.copy_of_id.is_(None)))
    if f.verdict:
        query = query.where(SubmissionRow.verdict == f.verdict)
    if f.status:
        query = query.where(_status_filter(f.status))
    if f.author:
        query = query.where(or_(SubmissionRow.author == f.author, SubmissionRow.github_id == f.author))
    if f.q:
        like = f"%{f.q.replace('%', '').replace('_', '')}%"
        query = query.where(or_(SubmissionRow.name.ilike(like), SubmissionRow.author.ilike(like),
                                SubmissionRow.key.ilike(like)))
    total = session.scalar(select(func.count()).select_from(query.with_only_columns(SubmissionRow.id).subquery()))
    if f.sort == "rank":  # the current record, then val_bpb order with the unranked last
        keys = [SubmissionRow.id != (ranking.record_id or 0), SubmissionRow.verdict.not_in(RANKED) |
                SubmissionRow.mean_val_bpb.is_(None), SubmissionRow.mean_val_bpb]
        keys = [k.desc() for k in keys] if f.order == "desc" else keys
    else:
        column = {"val_bpb": SubmissionRow.mean_val_bpb, "date": SubmissionRow.date, "bytes": SubmissionRow.bytes_max,
                  "name": SubmissionRow.name, "author": SubmissionRow.author, "seeds": SubmissionRow.n_seeds,
                  "train_s": SubmissionRow.train_time_s, "eval_s": SubmissionRow.eval_time_s,
                  "ratio": SubmissionRow.compression_ratio}[f.sort]
        keys = [column.is_(None), column.desc() if f.order == "desc" else column.asc()]
    page = session.execute(query.order_by(*keys, SubmissionRow.mean_val_bpb, SubmissionRow.id)
                           .limit(f.per_page).offset((f.page - 1) * f.per_page)).all()

    judged = {sub.id: json.loads(sub.significance_json) for sub in page if sub.significance_json}
    ref_keys = {j["reference_key"] for j in judged.values() if j.get("reference_key")}
    ref_ids = dict(session.execute(select(SubmissionRow.key, SubmissionRow.id).where(
        SubmissionRow.key.in_(ref_keys))).all()) if ref_keys else {}
    numbers = {sub.pr_number for sub in page if sub.pr_number is not None}
    pulls = dict(session.execute(select(PullRequestRow.number, PullRequestRow.state).where(
        PullRequestRow.number.in_(numbers))).all()) if numbers else {}
    repo = github_repo(session) if numbers else None
    items = []
    for sub in page:
        item = submission_summary(sub, ranking.ranks.get(sub.id))
        item["best"] = sub.id == ranking.record_id
        item["reasons"] = json.loads(sub.reasons_json) if sub.reasons_json else []
        item["status"] = status(sub.accepted, pulls.get(sub.pr_number))
        item["pr"] = None if sub.pr_number is None else {
            "number": sub.pr_number, "state": pulls.get(sub.pr_number),
            "url": f"https://github.com/{repo}/pull/{sub.pr_number}"}
        j = judged.get(sub.id)
        item["previous_record"] = None if j is None else {  # as the stored analysis judged it: one verdict everywhere
            "id": ref_ids.get(j.get("reference_key")), "name": j["reference"],
            "delta_bpb": j.get("delta_bpb"), "significance": j}  # the record minus this: positive is better
        items.append(item)
    return {"track": f.track, "total": total, "page": f.page, "per_page": f.per_page,
            "pages": max(1, -(-total // f.per_page)), "items": items}


def github_repo(session: Session) -> str:
    """The repository `golf sync` follows (its pull requests' links point there)."""
    row = session.get(SyncStateRow, "repo")
    return row.value if row is not None and row.value else DEFAULT_REPO


def submission_summary(sub, rank: int | None) -> dict:
    """The columns every view of a submission shows (`sub`: a SubmissionRow or a row with its columns)."""
    return {
        "id": sub.id, "key": sub.key, "rank": rank, "name": sub.name, "author": sub.author,
        "github_id": sub.github_id, "date": sub.date, "day": day(sub.date), "track": sub.track, "verdict": sub.verdict,
        "mean_val_bpb": sub.mean_val_bpb, "std_val_bpb": sub.std_val_bpb, "mean_val_loss": sub.mean_val_loss,
        "n_seeds": sub.n_seeds, "bytes_max": sub.bytes_max,
        "headroom_bytes": BYTES_LIMIT - sub.bytes_max if sub.bytes_max is not None else None,
        "train_time_s": sub.train_time_s, "eval_time_s": sub.eval_time_s, "compression_ratio": sub.compression_ratio,
    }


def submission_detail(session: Session, sid: int, ranking: Standings | None = None) -> dict | None:
    """Everything about one submission; `ranking`: its track's standings, when the caller has them."""
    sub = session.get(SubmissionRow, sid)
    if sub is None:
        return None
    report = json.loads(sub.analysis_json)
    runs = session.scalars(select(RunRow).where(RunRow.submission_id == sid).order_by(RunRow.log_path)).all()
    ranking = ranking or standings(session, sub.track)
    summary = submission_summary(sub, ranking.ranks.get(sub.id))
    return {
        **summary,
        "readme": sub.readme, "submission_json": sub.submission_json,
        "claimed": report.get("claimed", {}), "seeds": report.get("seeds", []),
        "reasons": report.get("reasons", []), "warnings": report.get("warnings", []),
        "claims": sub.claims, "counted_because": report.get("counted_because", ""), "accepted": bool(sub.accepted),
        "copy_of_id": sub.copy_of_id, "pr_number": sub.pr_number,
        "reference": report.get("reference"), "significance": report.get("significance"),
        "checks": [{"id": c.check_id, "status": c.status, "kind": c.kind, "message": c.message} for c in sub.checks],
        "runs": [run_summary(r) for r in runs],
        "files": [{"path": a.path, "kind": a.kind, "bytes": a.bytes, "sha256": a.sha256} for a in sub.files],
    }


def run_summary(r: RunRow) -> dict:
    return {"id": r.id, "submission_id": r.submission_id, "log": r.log_path, "run": r.run_index,
            "first_line": r.first_line, "last_line": r.last_line, "counts": r.counts, "left_out": r.left_out,
            "seed": r.seed,
            "val_bpb": r.val_bpb, "val_loss": r.val_loss, "score_stage": r.score_stage, "bytes_total": r.bytes_total,
            "bytes_code": r.bytes_code, "bytes_model": r.bytes_model, "train_time_s": r.train_time_s,
            "artifact_time_s": r.artifact_time_s, "eval_time_s": r.eval_time_s, "steps": r.steps,
            "val_tokens": r.val_tokens, "world_size": r.world_size, "gpu": r.gpu, "calibration_s": r.calibration_s,
            "sources": json.loads(r.sources_json or "{}"), "warnings": json.loads(r.warnings_json or "[]")}


def run_detail(session: Session, rid: int) -> dict | None:
    run = session.get(RunRow, rid)
    if run is None:
        return None
    points = session.execute(select(MetricPointRow.step, MetricPointRow.train_time_s, MetricPointRow.train_loss,
                                    MetricPointRow.val_loss, MetricPointRow.val_bpb)
                             .where(MetricPointRow.run_id == rid).order_by(MetricPointRow.step)).all()
    sub = session.get(SubmissionRow, run.submission_id)
    return {**run_summary(run), "submission_name": sub.name, "source_path": sub.source_path,
            "stages": [{"name": s.name, "line": s.line, "val_loss": s.val_loss, "val_bpb": s.val_bpb, "time_s": s.time_s,
                        "after_artifact": s.after_artifact, "diagnostic": s.diagnostic, "failed": s.failed}
                       for s in run.stages],
            "curve": [dict(p._mapping) for p in points]}


def curves(session: Session, sids: list[int]) -> dict[int, list[dict]]:
    """Per submission, the counted runs' curves: [{seed, points}] (one query for all)."""
    runs = session.execute(select(RunRow.id, RunRow.submission_id, RunRow.seed)
                           .where(RunRow.submission_id.in_(sids), RunRow.counts.is_(True))
                           .order_by(RunRow.log_path)).all()
    by_run: dict[int, list] = {r.id: [] for r in runs}
    for p in session.execute(select(MetricPointRow).where(MetricPointRow.run_id.in_(list(by_run)))
                             .order_by(MetricPointRow.run_id, MetricPointRow.step)).scalars():
        by_run[p.run_id].append({"step": p.step, "train_loss": p.train_loss, "val_bpb": p.val_bpb})
    out: dict[int, list[dict]] = {sid: [] for sid in sids}
    for r in runs:
        out[r.submission_id].append({"run_id": r.id, "seed": r.seed, "points": by_run[r.id]})
    return out


def live_launches(session: Session) -> list[dict]:
    """Launches in progress, with each seed's live curve (the launcher streams them in)."""
    out = []
    for launch in session.scalars(select(LaunchRow).where(LaunchRow.state == "running")
                                  .order_by(LaunchRow.created_at.desc()).limit(20)):
        seeds = []
        for s in launch.seeds:
            points = session.execute(select(LaunchPointRow.step, LaunchPointRow.train_loss, LaunchPointRow.val_bpb)
                                     .where(LaunchPointRow.seed_id == s.id).order_by(LaunchPointRow.step)).all()
            seeds.append({"seed": s.seed, "state": s.state, "step": s.step, "total_steps": s.total_steps,
                          "val_bpb": s.val_bpb, "points": [dict(p._mapping) for p in points]})
        out.append({"group": launch.group, "backend": launch.backend, "gpus": launch.gpus, "seeds": seeds})
    return out


TRACKS = (RECORD_TRACK, NON_RECORD_TRACK)
