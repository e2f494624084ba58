"""What the web pages and the JSON API show, read from the database: one function per view,
so a page and its API twin always carry the same numbers."""
from __future__ import annotations

import json
from bisect import bisect_left
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, defer

from .db import CheckRow, LaunchPointRow, LaunchRow, MetricPointRow, RunRow, SubmissionRow
from golfcore.vocabulary import Track, Verdict

RECORD_TRACK, NON_RECORD_TRACK = Track.record.value, Track.non_record.value

BYTES_LIMIT = 16_000_000
SORTS = {"rank", "val_bpb", "date", "bytes", "name", "author", "seeds", "train_s", "eval_s", "ratio"}
VERDICTS = tuple(v.value for v in (Verdict.record, Verdict.valid, Verdict.needs_review, Verdict.invalid))
MAX_PER_PAGE = 200


@dataclass
class Filters:
    track: str = RECORD_TRACK
    verdict: str | None = None
    author: str | None = None
    q: str | None = None
    sort: str = "rank"
    order: str = "asc"
    page: int = 1
    per_page: int = 50


def _rankable_means(session: Session, track: str) -> list[float]:
    """The sorted mean val_bpb of every ranked submission of a track: rank = place in this list."""
    return list(session.scalars(select(SubmissionRow.mean_val_bpb).where(
        SubmissionRow.track == track, SubmissionRow.verdict != "invalid", SubmissionRow.mean_val_bpb.is_not(None))
        .order_by(SubmissionRow.mean_val_bpb)))


def rank_of(means: list[float], sub: SubmissionRow) -> int | None:
    if sub.verdict == "invalid" or sub.mean_val_bpb is None:
        return None
    return bisect_left(means, sub.mean_val_bpb) + 1  # ties share a rank


def frontier(session: Session, track: str = RECORD_TRACK) -> list[dict]:
    """The record val_bpb over time: each accepted record (or, with none marked accepted, each `record`)
    that beat every earlier one."""
    accepted = session.scalar(select(func.count()).where(SubmissionRow.accepted.is_(True), SubmissionRow.track == track))
    standing = SubmissionRow.accepted.is_(True) if accepted else SubmissionRow.verdict == Verdict.record.value
    rows = session.execute(
        select(SubmissionRow.id, SubmissionRow.name, SubmissionRow.date, SubmissionRow.mean_val_bpb)
        .where(SubmissionRow.track == track, standing, SubmissionRow.mean_val_bpb.is_not(None),
               SubmissionRow.copy_of_id.is_(None))
        .order_by(SubmissionRow.date, SubmissionRow.id)).all()
    best, points = None, []
    for sid, name, date, bpb in rows:
        if best is None or bpb < best:
            best = bpb
            points.append({"id": sid, "name": name, "date": date, "val_bpb": bpb})
    return points


def leaderboard(session: Session, f: Filters) -> dict:
    query = (select(SubmissionRow).where(SubmissionRow.track == f.track)
             .options(defer(SubmissionRow.readme), defer(SubmissionRow.submission_json), defer(SubmissionRow.analysis_json)))
    if f.verdict:
        query = query.where(SubmissionRow.verdict == f.verdict)
    if f.author:
        query = query.where(or_(SubmissionRow.author == f.author, SubmissionRow.github_id == f.author))
    if f.q:
        like = f"%{f.q.replace('%', '').replace('_', '')}%"
        query = query.where(or_(SubmissionRow.name.ilike(like), SubmissionRow.author.ilike(like),
                                SubmissionRow.key.ilike(like)))
    total = session.scalar(select(func.count()).select_from(query.with_only_columns(SubmissionRow.id).subquery()))
    unranked = (SubmissionRow.verdict == "invalid") | SubmissionRow.mean_val_bpb.is_(None)
    if f.sort == "rank":  # rank order is val_bpb order with the unranked last
        keys = [unranked, SubmissionRow.mean_val_bpb]
        keys = [k.desc() for k in keys] if f.order == "desc" else keys
    else:
        column = {"val_bpb": SubmissionRow.mean_val_bpb, "date": SubmissionRow.date, "bytes": SubmissionRow.bytes_max,
                  "name": SubmissionRow.name, "author": SubmissionRow.author, "seeds": SubmissionRow.n_seeds,
                  "train_s": SubmissionRow.train_time_s, "eval_s": SubmissionRow.eval_time_s,
                  "ratio": SubmissionRow.compression_ratio}[f.sort]
        keys = [column.is_(None), column.desc() if f.order == "desc" else column.asc()]
    query = query.order_by(*keys, SubmissionRow.mean_val_bpb, SubmissionRow.id)
    page = session.scalars(query.limit(f.per_page).offset((f.page - 1) * f.per_page)).all()
    means = _rankable_means(session, f.track)

    ids = [sub.id for sub in page]
    checks: dict[int, list[dict]] = {i: [] for i in ids}
    for sid, check_id, status, message in session.execute(  # plain rows: ORM objects cost more than the query
            select(CheckRow.submission_id, CheckRow.check_id, CheckRow.status, CheckRow.message)
            .where(CheckRow.submission_id.in_(ids)).order_by(CheckRow.submission_id, CheckRow.position)):
        checks[sid].append({"id": check_id, "status": status, "message": message})
    best = session.scalar(select(func.min(SubmissionRow.mean_val_bpb)).where(  # the standing record, highlighted
        SubmissionRow.track == f.track, SubmissionRow.verdict != Verdict.invalid.value,
        or_(SubmissionRow.accepted.is_(True), SubmissionRow.verdict == Verdict.record.value)))
    judged = {sub.id: json.loads(sub.significance_json) for sub in page if sub.significance_json}
    ref_ids = dict(session.execute(select(SubmissionRow.key, SubmissionRow.id).where(
        SubmissionRow.key.in_({j["reference_key"] for j in judged.values() if j.get("reference_key")}))).all())
    items = []
    for sub in page:
        item = submission_summary(sub, rank_of(means, sub))
        item["checks"] = checks[sub.id]
        item["best"] = best is not None and sub.mean_val_bpb == best and sub.verdict != Verdict.invalid.value
        j = judged.get(sub.id)
        item["previous_record"] = None if j is None else {  # as the stored analysis judged it: one verdict everywhere
            "id": ref_ids.get(j.get("reference_key")), "name": j["reference"], "delta_bpb": -(j["delta_bpb"] or 0.0)
            if j.get("delta_bpb") is not None else None, "significance": j}
        items.append(item)
    return {"track": f.track, "total": total, "page": f.page, "per_page": f.per_page,
            "pages": max(1, -(-total // f.per_page)), "items": items}


def submission_summary(sub: SubmissionRow, rank: int | None) -> dict:
    return {
        "id": sub.id, "key": sub.key, "rank": rank, "name": sub.name, "author": sub.author,
        "github_id": sub.github_id, "date": sub.date, "track": sub.track, "verdict": sub.verdict,
        "mean_val_bpb": sub.mean_val_bpb, "std_val_bpb": sub.std_val_bpb, "mean_val_loss": sub.mean_val_loss,
        "n_seeds": sub.n_seeds, "bytes_max": sub.bytes_max,
        "headroom_bytes": BYTES_LIMIT - sub.bytes_max if sub.bytes_max is not None else None,
        "train_time_s": sub.train_time_s, "eval_time_s": sub.eval_time_s, "compression_ratio": sub.compression_ratio,
    }


def submission_detail(session: Session, sid: int) -> dict | None:
    sub = session.get(SubmissionRow, sid)
    if sub is None:
        return None
    report = json.loads(sub.analysis_json)
    runs = session.scalars(select(RunRow).where(RunRow.submission_id == sid).order_by(RunRow.log_path)).all()
    summary = submission_summary(sub, rank_of(_rankable_means(session, sub.track), sub))
    return {
        **summary,
        "readme": sub.readme, "submission_json": sub.submission_json,
        "claimed": report.get("claimed", {}), "seeds": report.get("seeds", []),
        "reasons": report.get("reasons", []), "warnings": report.get("warnings", []),
        "claims": sub.claims, "counted_because": report.get("counted_because", ""),
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
