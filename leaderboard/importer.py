"""`golf import`: record folders into the database, one transaction per folder.

A folder whose files hash the same as last time is skipped; a changed one replaces its
rows; a folder that fails leaves nothing behind and keeps what was there before.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from .claims import claim_file, read_claims
from .db import (
    ArtifactRow, CheckRow, EvalStageRow, EventRow, MetricPointRow, RunRow, SubmissionRow, utcnow,
)
from .report import submission_report
from .submission import is_inside, analyze, find_submissions, is_log_file, track_of

MAX_TEXT_BYTES = 1_000_000  # README and submission.json kept for the web pages


@dataclass
class ImportOutcome:
    folder: Path
    status: str  # imported | updated | unchanged | failed
    reason: str = ""


def file_kind(path: Path) -> str:
    name = path.name.lower()
    if is_log_file(path):
        return "log"
    if name.endswith(".py"):
        return "code"
    if name.startswith("final_model") or path.suffix in (".ptz", ".pt", ".bin", ".brotli", ".lzma", ".zlib"):
        return "model"
    if path.suffix == ".json":
        return "json"
    if path.suffix == ".md":
        return "readme"
    return "other"


def inventory(folder: Path) -> tuple[str, list[tuple[str, str, int, str]]]:
    """(content hash of the folder, [(relative path, kind, bytes, sha256)])."""
    files = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if (path.is_symlink() and not is_inside(path, folder)) or not path.is_file():
                continue
            digest = hashlib.sha256()
            with open(path, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
            files.append((path.relative_to(folder).as_posix(), file_kind(path), path.stat().st_size, digest.hexdigest()))
    folder_digest = hashlib.sha256("\n".join(f"{p}\t{sha}" for p, _, _, sha in files).encode()).hexdigest()
    return folder_digest, files


def _read_text(path: Path | None) -> str | None:
    if path is None or not path.is_file():
        return None
    return path.read_bytes()[:MAX_TEXT_BYTES].decode("utf-8", errors="replace")


def submission_key(folder: Path) -> str:
    return f"{track_of(folder, read_claims(folder), [])}/{folder.name}"


def build_rows(folder: Path, key: str, digest: str, files: list[tuple[str, str, int, str]]) -> SubmissionRow:
    sub = analyze(folder)
    report = submission_report(sub)
    claims = sub.claims
    counted = {s.score_log.log for s in sub.seeds}
    totals = [s.train.bytes_total for s in sub.seeds if s.train.bytes_total is not None]
    seed_times = report["seeds"]
    counted_runs = [r for r in report["runs"] if r["log"] in counted]
    ratios = [r["bytes_model_raw"] / r["bytes_model"] for r in counted_runs if r["bytes_model_raw"] and r["bytes_model"]]
    row = SubmissionRow(
        key=key, source_path=str(folder.resolve()), content_hash=digest, track=sub.track,
        name=sub.name, author=claims.author, github_id=claims.github_id, date=claims.date or folder.name[:10],
        verdict=report["verdict"], mean_val_bpb=sub.mean("val_bpb"), std_val_bpb=sub.std("val_bpb"),
        mean_val_loss=sub.mean("val_loss"), n_seeds=len(sub.seeds), bytes_max=max(totals) if totals else None,
        train_time_s=max((s["train_time_s"] for s in seed_times if s["train_time_s"] is not None), default=None),
        eval_time_s=max((s["eval_time_s"] for s in seed_times if s["eval_time_s"] is not None), default=None),
        compression_ratio=sum(ratios) / len(ratios) if ratios else None,
        readme=_read_text(folder / "README.md"), submission_json=_read_text(claim_file(folder)),
        report_json=json.dumps(report), updated_at=utcnow(),
    )
    sha_by_path = {p: sha for p, _, _, sha in files}
    for log_run, run_json in zip(sub.runs, report["runs"]):
        run = RunRow(
            log_path=log_run.log, log_sha256=sha_by_path.get(log_run.log), counts=log_run.log in counted,
            seed=run_json["seed"], val_bpb=run_json["val_bpb"], val_loss=run_json["val_loss"],
            score_stage=run_json["score_stage"], bytes_total=run_json["bytes_total"], bytes_code=run_json["bytes_code"],
            bytes_model=run_json["bytes_model"], train_time_s=run_json["train_time_s"],
            artifact_time_s=run_json["artifact_time_s"], eval_time_s=run_json["eval_time_s"], steps=run_json["steps"],
            val_tokens=run_json["val_tokens"], world_size=run_json["world_size"], gpu=run_json["gpu"],
            warnings_json=json.dumps(run_json["warnings"]),
        )
        run.stages = [
            EvalStageRow(position=i, name=s["name"][:200], val_loss=s["val_loss"], val_bpb=s["val_bpb"], time_s=s["time_s"],
                         after_artifact=s["after_artifact"], diagnostic=s["diagnostic"], failed=s["failed"])
            for i, s in enumerate(run_json["stages"])
        ]
        run.points = [
            MetricPointRow(step=p.step, train_time_s=p.train_time_s, train_loss=p.train_loss, val_loss=p.val_loss,
                           val_bpb=p.val_bpb)
            for p in log_run.run.curve
        ]
        row.runs.append(run)
    row.checks = [CheckRow(position=i, check_id=c["id"], status=c["status"], message=c["message"])
                  for i, c in enumerate(report["checks"])]
    row.files = [ArtifactRow(path=p, kind=kind, bytes=size, sha256=sha) for p, kind, size, sha in files]
    return row


def import_folder(sessions: sessionmaker[Session], folder: Path) -> ImportOutcome:
    try:
        key = submission_key(folder)
        digest, files = inventory(folder)
        with sessions() as session:
            existing = session.scalar(select(SubmissionRow).where(SubmissionRow.key == key))
            if existing is not None and existing.content_hash == digest:
                return ImportOutcome(folder, "unchanged")
        row = build_rows(folder, key, digest, files)
        with sessions.begin() as session:  # one transaction: the old rows go only if the new ones land
            existing = session.scalar(select(SubmissionRow).where(SubmissionRow.key == key))
            status = "imported"
            if existing is not None:
                row.imported_at = existing.imported_at
                session.delete(existing)
                session.flush()
                status = "updated"
            session.add(row)
            session.add(EventRow(kind=f"submission_{status}", subject=key, message=f"{row.verdict}: {row.name}"[:500]))
        return ImportOutcome(folder, status)
    except Exception as exc:  # one bad folder must not stop the others; the reason is reported and logged
        reason = f"{type(exc).__name__}: {exc}"[:500]
        try:
            with sessions.begin() as session:
                session.add(EventRow(kind="import_failed", subject=str(folder), message=reason))
        except Exception:
            pass
        return ImportOutcome(folder, "failed", reason)


def import_paths(sessions: sessionmaker[Session], paths: list[Path],
                 on_folder: Callable[[ImportOutcome], None] | None = None,
                 on_found: Callable[[int], None] | None = None) -> list[ImportOutcome]:
    folders: list[Path] = []
    outcomes: list[ImportOutcome] = []
    for path in paths:
        if not path.is_dir():
            outcomes.append(ImportOutcome(path, "failed", "not a folder"))
            continue
        found = find_submissions(path)
        if not found:
            outcomes.append(ImportOutcome(path, "failed", "no submission folder (submission.json or logs) found"))
        folders.extend(found)
    if on_found:
        on_found(len(folders))
    for folder in folders:
        outcome = import_folder(sessions, folder)
        outcomes.append(outcome)
        if on_folder:
            on_folder(outcome)
    return outcomes
