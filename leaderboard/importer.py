"""`golf import`: record folders into the database, one transaction per folder.

Each folder is keyed by its source: its path under the imported root (with the track folder,
whatever root was given). A folder whose files, rules and reference are unchanged is not touched;
a changed one is re-derived in place and keeps its id; a folder that fails leaves what was there
before. Content identical to a stored submission is linked as a copy of it, never dropped.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from golfcore.vocabulary import Track

from .analysis import _date_from_name, document
from .claims import claim_file, read_claims
from .db import (
    AcceptanceOverrideRow, ArtifactRow, CheckRow, EvalStageRow, EventRow, MetricPointRow, PullRequestRow, RunRow,
    SubmissionRow, as_utc, utcnow,
)
from .references import DatabaseReferences
from .review import review
from .rules import RULES_VERSION, judge
from .safefiles import inventory, read_text, safe_path
from .submission import Submission, analyze, find_submissions, is_log_file

MAX_TEXT_BYTES = 1_000_000  # README and submission.json kept for the web pages
MAX_KEY_CHARS = 500  # a source key longer than this is refused (the key column's width)
TRACK_FOLDERS = (Track.record.value, Track.non_record.value)


@dataclass
class ImportJob:
    """One folder to import: under which key, whether it is accepted, from which pull request."""

    folder: Path
    key: str
    accepted: bool = False
    pr: int | None = None


@dataclass
class ImportOutcome:
    folder: Path
    status: str  # imported | updated | unchanged | failed
    reason: str = ""
    key: str = ""


def file_kind(path: str) -> str:
    name = path.rsplit("/", 1)[-1].lower()
    if is_log_file(Path(name)):
        return "log"
    if name.endswith(".py"):
        return "code"
    if name.startswith("final_model") or name.endswith((".ptz", ".pt", ".brotli", ".lzma", ".zlib")):
        return "model"
    if name.endswith(".json"):
        return "json"
    if name.endswith(".md"):
        return "readme"
    return "other"


def source_key(folder: Path, root: Path) -> str:
    """The folder's path under the imported root, always with its track folder: importing records/,
    records/track_10min_16mb or the folder itself gives one key."""
    base = root.resolve()
    folder = folder.resolve()
    while base == folder or base.name in TRACK_FOLDERS:
        base = base.parent
    return folder.relative_to(base).as_posix()


def _text(path: Path | None) -> str | None:
    if path is None:
        return None
    try:
        return read_text(path, MAX_TEXT_BYTES)[0]
    except OSError:
        return None


@dataclass
class Rows:
    """What one analysed folder becomes: the submission's columns and its child rows (not yet in a session)."""

    columns: dict
    runs: list[RunRow]
    checks: list[CheckRow]
    files: list[ArtifactRow]


def build_rows(sub: Submission, analysis: dict, files: list[tuple[str, int, str]]) -> Rows:
    summary = analysis["summary"]
    counted = analysis["seeds"]
    by_run = {(r.log, r.run.index): r for r in sub.runs}
    ratios = [r["bytes_model_raw"] / r["bytes_model"] for r in analysis["runs"]
              if r["counts"] and r["bytes_model_raw"] and r["bytes_model"]]
    totals = [s.train.bytes_total for s in sub.seeds if s.train.bytes_total is not None]
    columns = dict(
        track=sub.track, name=sub.name[:500], author=sub.claims.author, github_id=sub.claims.github_id,
        date=analysis["date"], verdict=analysis["verdict"], claims=analysis["claims"], rules_version=RULES_VERSION,
        reference_key=(analysis["reference"] or {}).get("key"),
        significance_json=json.dumps({"reference": analysis["reference"]["name"], "reference_key": analysis["reference"]["key"],
                                      "policy": analysis["policy"], **analysis["significance"]})
        if analysis["reference"] and analysis["significance"] else None,
        mean_val_bpb=summary["mean_val_bpb"], std_val_bpb=summary["std_val_bpb"], mean_val_loss=summary["mean_val_loss"],
        n_seeds=summary["n_seeds"], bytes_max=max(totals) if totals else None,
        train_time_s=max((s["train_time_s"] for s in counted if s["train_time_s"] is not None), default=None),
        eval_time_s=max((s["eval_time_s"] for s in counted if s["eval_time_s"] is not None), default=None),
        compression_ratio=sum(ratios) / len(ratios) if ratios else None,
        readme=_text(safe_path(sub.path, "README.md")), submission_json=_text(claim_file(sub.path)),
        analysis_json=json.dumps(analysis), reasons_json=json.dumps(analysis["reasons"]), updated_at=utcnow(),
    )
    runs = []
    sha_by_path = {p: sha for p, _, sha in files}
    for entry in analysis["runs"]:
        log_run = by_run[(entry["log"], entry["run"])]
        run = RunRow(
            log_path=entry["log"], run_index=entry["run"], first_line=entry["first_line"], last_line=entry["last_line"],
            log_sha256=sha_by_path.get(entry["log"]), counts=entry["counts"], left_out=entry["left_out"],
            seed=entry["seed"], val_bpb=entry["val_bpb"], val_loss=entry["val_loss"], score_stage=entry["score_stage"],
            bytes_total=entry["bytes_total"], bytes_code=entry["bytes_code"], bytes_model=entry["bytes_model"],
            train_time_s=entry["train_time_s"], artifact_time_s=entry["serialization_s"],
            calibration_s=entry["calibration_s"], eval_time_s=entry["eval_time_s"], steps=entry["steps"],
            val_tokens=entry["val_tokens"], world_size=entry["world_size"], gpu=entry["gpu"],
            warnings_json=json.dumps(entry["warnings"]), sources_json=json.dumps(entry["sources"]),
        )
        run.stages = [
            EvalStageRow(position=i, name=s["name"][:200], line=s["line"], val_loss=s["val_loss"], val_bpb=s["val_bpb"],
                         time_s=s["time_s"], after_artifact=s["after_artifact"], diagnostic=s["diagnostic"],
                         failed=s["failed"])
            for i, s in enumerate(entry["stages"])
        ]
        run.points = [
            MetricPointRow(step=p.step, train_time_s=p.train_time_s, train_loss=p.train_loss, val_loss=p.val_loss,
                           val_bpb=p.val_bpb)
            for p in log_run.run.curve
        ]
        runs.append(run)
    checks = [CheckRow(position=i, check_id=c["id"], status=c["status"], kind=c["kind"], message=c["message"])
              for i, c in enumerate(analysis["checks"])]
    artifacts = [ArtifactRow(path=p, kind=file_kind(p), bytes=size, sha256=sha) for p, size, sha in files]
    return Rows(columns, runs, checks, artifacts)


def _store(session: Session, rows: Rows, key: str, folder: Path, digest: str, accepted: bool, pr: int | None,
           judging: dict) -> str:
    existing = _find(session, key, folder)
    row = existing if existing is not None else SubmissionRow()
    for name, value in {**rows.columns, **judging}.items():
        setattr(row, name, value)
    row.key, row.source_path, row.content_hash = key, str(folder.resolve()), digest
    row.accepted, row.pr_number = accepted, pr
    # in place: a stored submission keeps its id (permalinks hold); its runs and checks are re-derived
    row.runs, row.checks, row.files = rows.runs, rows.checks, rows.files
    if existing is None:
        session.add(row)
        session.flush()
    row.copy_of_id = _original(session, digest, row.id)
    status = "updated" if existing is not None else "imported"
    session.add(EventRow(kind=f"submission_{status}", subject=key, message=f"{row.verdict}: {row.name}"[:500]))
    return status


def _find(session: Session, key: str, folder: Path) -> SubmissionRow | None:
    row = session.scalar(select(SubmissionRow).where(SubmissionRow.key == key))
    if row is None:  # a row of an older golf, keyed by track/name: adopt it by its source path
        row = session.scalar(select(SubmissionRow).where(SubmissionRow.source_path == str(folder.resolve()),
                                                         SubmissionRow.rules_version == 0))
    return row


def _original(session: Session, digest: str, own_id: int) -> int | None:
    """The first stored submission with this content, when this one is a copy of it."""
    return session.scalar(select(SubmissionRow.id).where(SubmissionRow.content_hash == digest,
                                                         SubmissionRow.id < own_id).order_by(SubmissionRow.id).limit(1))


@dataclass
class _Judging:
    """What a folder is judged against: the date its reference stood on, that record, and for an open
    pull request today's best."""

    accepted: bool
    judged_on: str | None
    context: object
    now: object | None

    def columns(self) -> dict:
        return {"judged_on": self.judged_on,
                "now_reference_key": self.now.reference.key if self.now is not None and self.now.reference else None}


def _judging(sessions: sessionmaker[Session], references: DatabaseReferences, key: str, digest: str,
             own_date: str | None, accepted: bool, pr: int | None) -> _Judging:
    with sessions() as session:
        override = session.get(AcceptanceOverrideRow, key)
        pull = session.get(PullRequestRow, pr) if pr is not None else None
        created, state = (pull.created_at, pull.state) if pull is not None else (None, None)
    if override is not None:  # a person's word over what main says
        accepted = override.accepted
    judged_on = as_utc(created).date().isoformat() if created is not None else own_date
    now = references.context(None, digest, key) if state == "open" else None
    return _Judging(accepted, judged_on, references.context(judged_on, digest, key), now)


def import_folder(sessions: sessionmaker[Session], folder: Path, key: str | None = None, accepted: bool = False,
                  pr: int | None = None, references: DatabaseReferences | None = None) -> ImportOutcome:
    """Import one folder under `key` (default: its own source key, track/name). It is judged against
    the accepted record standing on its pull request's creation date (its own date without one); an
    open pull request's folder is also weighed against today's best."""
    key = key or source_key(folder, folder)
    if len(key) > MAX_KEY_CHARS:
        return ImportOutcome(folder, "failed", f"its path is longer than {MAX_KEY_CHARS} characters", key[:MAX_KEY_CHARS])
    try:
        warnings: list[str] = []
        digest, files = inventory(folder, warnings)
        claims = read_claims(folder)
        date = claims.date or _date_from_name(folder.name)
        references = references or DatabaseReferences(sessions)
        judging = _judging(sessions, references, key, digest, date, accepted, pr)
        accepted, context = judging.accepted, judging.context
        reference_key = context.reference.key if context.reference else None
        with sessions() as session:
            existing = _find(session, key, folder)
            was_accepted = existing is not None and bool(existing.accepted)
            if existing is not None and existing.content_hash == digest and existing.rules_version == RULES_VERSION \
                    and existing.accepted == accepted and existing.pr_number == pr \
                    and existing.reference_key == reference_key and existing.key == key \
                    and existing.review_json is not None \
                    and all(getattr(existing, name) == value for name, value in judging.columns().items()):
                return ImportOutcome(folder, "unchanged", key=key)
        sub = analyze(folder, (digest, files))
        sub.warnings.extend(warnings)
        analysis = document(sub, judge(sub, context), context)
        reviewed = review(sub, context, judging.now)
        columns = {**judging.columns(), "review_json": json.dumps(reviewed),
                   "would_be_record": reviewed["now"]["would_be_record"] if reviewed["now"] else None}
        for attempt in range(3):  # another import may insert the same key between our read and write
            try:
                with sessions.begin() as session:  # one transaction: the old rows go only if the new ones land
                    status = _store(session, build_rows(sub, analysis, files), key, folder, digest, accepted, pr,
                                    columns)
                break
            except IntegrityError:
                if attempt == 2:
                    raise
        if accepted or was_accepted:  # the accepted records changed: the references of what follows may too
            references.invalidate()
        return ImportOutcome(folder, status, key=key)
    except OperationalError as exc:
        return ImportOutcome(folder, "failed", f"the database refused the write: {str(exc.orig)[:200]}", key)
    except Exception as exc:  # one bad folder must not stop the others; the reason is reported and logged
        reason = f"{type(exc).__name__}: {exc}"[:500]
        try:
            with sessions.begin() as session:
                session.add(EventRow(kind="import_failed", subject=str(folder), message=reason))
        except Exception:
            pass
        return ImportOutcome(folder, "failed", reason, key)


def stored_analysis(sessions: sessionmaker[Session], key: str) -> dict | None:
    """The analysis the database holds for a source key."""
    with sessions() as session:
        text = session.scalar(select(SubmissionRow.analysis_json).where(SubmissionRow.key == key))
    return json.loads(text) if text else None


def import_paths(sessions: sessionmaker[Session], paths: list[Path], accepted: bool = False, pr: int | None = None,
                 on_folder: Callable[[ImportOutcome], None] | None = None,
                 on_found: Callable[[int], None] | None = None, policy: str = "readme") -> list[ImportOutcome]:
    jobs: list[ImportJob] = []
    outcomes: list[ImportOutcome] = []
    for path in paths:
        if not path.is_dir():
            outcomes.append(ImportOutcome(path, "failed", "not a folder"))
            continue
        found = find_submissions(path)
        if not found:
            outcomes.append(ImportOutcome(path, "failed", "no submission folder (submission.json or logs) found"))
        prefix = f"pr{pr}/" if pr is not None else ""
        jobs.extend(ImportJob(f, prefix + source_key(f, path), accepted, pr) for f in found)
    if on_found:
        on_found(len(jobs))
    return outcomes + import_jobs(sessions, jobs, DatabaseReferences(sessions, policy), on_folder)


def import_jobs(sessions: sessionmaker[Session], jobs: list[ImportJob], references: DatabaseReferences,
                on_folder: Callable[[ImportOutcome], None] | None = None) -> list[ImportOutcome]:
    """Import each job's folder; one outcome per job, in order."""
    outcomes = []
    for job in jobs:
        outcome = import_folder(sessions, job.folder, job.key, job.accepted, job.pr, references)
        outcomes.append(outcome)
        if on_folder:
            on_folder(outcome)
    if any(job.accepted for job in jobs):
        # an accepted folder dated earlier than its place in the list changes the reference of those before
        # it: one more pass re-derives exactly those (a reference depends only on accepted means and dates).
        # Each keeps the outcome of its first pass: imported stays imported.
        for job, outcome in zip(jobs, outcomes):
            if outcome.status != "failed":
                import_folder(sessions, job.folder, job.key, job.accepted, job.pr, references)
    return outcomes
