"""A submission folder as the logs show it: every log parsed, then one result per seed."""
from __future__ import annotations

import os
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from .claims import Claims, claim_file, read_claims
from .logparse import ParsedLog, ParsedRun, Stage, parse_file

RECORD_TRACK = "track_10min_16mb"
NON_RECORD_TRACK = "track_non_record_16mb"
LOG_SUFFIXES = (".log", ".txt")
NOT_LOGS = re.compile(r"^(requirements|readme|license|notes?)\b", re.I)
FILENAME_SEED = re.compile(r"(?:seed|_s)[_\-]?(\d+)|_(\d+)\.(?:log|txt)$", re.I)


@dataclass
class LogRun:
    """One log file of a submission."""

    log: str  # path relative to the submission folder
    parsed: ParsedLog
    filename_seed: int | None

    @property
    def run(self) -> ParsedRun:
        return self.parsed.run

    def as_json(self) -> dict:
        run, score = self.run, self.run.score
        return {
            "log": self.log,
            "seed": run.seed,
            "val_bpb": score.val_bpb if score else None,
            "val_loss": score.val_loss if score else None,
            "score_stage": score.name if score else None,
            "bytes_total": run.bytes_total,
            "bytes_code": run.bytes_code,
            "bytes_model": run.bytes_model,
            "bytes_model_raw": run.bytes_model_raw,
            "train_time_s": _round(run.train_time_s),
            "artifact_time_s": _round(run.artifact_time_s),
            "eval_time_s": _round(run.eval_time_s),
            "steps": run.steps,
            "val_tokens": run.val_tokens,
            "stages": [
                {"name": s.name, "val_loss": s.val_loss, "val_bpb": s.val_bpb, "time_s": _round(s.time_s),
                 "after_artifact": s.after_artifact, "diagnostic": s.diagnostic, "failed": s.failed}
                for s in run.stages if not s.duplicate_of
            ],
            "world_size": run.world_size,
            "gpu": run.gpu_name,
            "warnings": self.parsed.warnings + run.warnings,
        }


@dataclass
class SeedResult:
    """The figures that count for one seed, possibly from two logs (training + eval-only re-run)."""

    seed: int | None
    score_log: LogRun
    training_log: LogRun
    notes: list[str] = field(default_factory=list)

    @property
    def score(self) -> Stage | None:
        return self.score_log.run.score

    @property
    def train(self) -> ParsedRun:
        return self.training_log.run

    @property
    def val_bpb(self) -> float | None:
        return self.score.val_bpb if self.score else None

    @property
    def val_loss(self) -> float | None:
        return self.score.val_loss if self.score else None

    @property
    def eval_run(self) -> ParsedRun:
        return self.score_log.run

    def as_json(self) -> dict:
        return {
            "seed": self.seed, "score_log": self.score_log.log, "training_log": self.training_log.log,
            "val_bpb": self.val_bpb, "val_loss": self.val_loss,
            "score_stage": self.score.name if self.score else None,
            "bytes_total": self.train.bytes_total, "steps": self.train.steps,
            "train_time_s": _round(self.train.train_time_s), "eval_time_s": _round(self.eval_run.eval_time_s),
            "notes": self.notes,
        }


@dataclass
class Submission:
    path: Path
    track: str
    name: str
    claims: Claims
    runs: list[LogRun]
    seeds: list[SeedResult]
    warnings: list[str] = field(default_factory=list)

    def mean(self, attr: str) -> float | None:
        values = [getattr(s, attr) for s in self.seeds if getattr(s, attr) is not None]
        return statistics.fmean(values) if values else None

    def std(self, attr: str) -> float | None:
        values = [getattr(s, attr) for s in self.seeds if getattr(s, attr) is not None]
        return statistics.stdev(values) if len(values) > 1 else None


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def filename_seed(name: str) -> int | None:
    m = FILENAME_SEED.search(name)
    return int(m.group(1) or m.group(2)) if m else None


def is_log_file(path: Path) -> bool:
    return path.suffix.lower() in LOG_SUFFIXES and not NOT_LOGS.match(path.name)


def is_inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
        return True
    except (ValueError, OSError):
        return False


def log_files(folder: Path, warnings: list[str]) -> list[Path]:
    """Log files in a folder and its subfolders; symlinks that leave the folder are skipped."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if not is_log_file(path):
                continue
            if path.is_symlink() and not is_inside(path, folder):
                warnings.append(f"{path.relative_to(folder)}: symlink pointing outside the folder, skipped")
                continue
            if path.is_file():
                found.append(path)
    return found


def is_submission_folder(folder: Path) -> bool:
    if claim_file(folder) is not None:
        return True
    has_logs = any(is_log_file(p) and p.is_file() for p in folder.iterdir())
    return has_logs


def find_submissions(root: Path) -> list[Path]:
    """The submission folders at or below root (a folder that is one is not searched further)."""
    if root.is_file():
        return []
    if is_submission_folder(root):
        return [root]
    found = []
    for dirpath, dirnames, _ in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))  # .git, golf's scratch
        here = Path(dirpath)
        if here != root and is_submission_folder(here):
            found.append(here)
            dirnames.clear()
    return found


def track_of(folder: Path, claims: Claims, warnings: list[str]) -> str:
    for part in reversed(folder.resolve().parts):
        if part in (RECORD_TRACK, NON_RECORD_TRACK):
            return part
    claimed = (claims.track or "").lower()
    if "non_record" in claimed or "non-record" in claimed:
        return NON_RECORD_TRACK
    if "10min" in claimed:
        return RECORD_TRACK
    warnings.append("track not given by the folder or submission.json; assuming the record track")
    return RECORD_TRACK


def group_seeds(runs: list[LogRun]) -> list[SeedResult]:
    groups: dict[object, list[LogRun]] = {}
    for r in runs:
        if not r.run.has_results:
            continue
        seed = r.run.seed if r.run.seed is not None else r.filename_seed
        groups.setdefault(seed if seed is not None else ("log", r.log), []).append(r)
    results = []
    for key, group in groups.items():
        seed = None if isinstance(key, tuple) else key
        training = [r for r in group if r.run.has_training]
        eval_only = [r for r in group if not r.run.has_training and r.run.complete]
        complete_training = [r for r in training if r.run.complete]
        score_log = eval_only[-1] if eval_only else (complete_training or training or group)[-1]
        training_log = (complete_training or training or [score_log])[-1]
        result = SeedResult(seed, score_log, training_log)
        if score_log is not training_log:
            own = training_log.run.score
            result.notes.append(
                f"score from the eval-only re-run {score_log.log}; its training log {training_log.log} "
                f"scored {own.val_bpb if own else 'nothing'}"
            )
        if len(training) > 1:
            result.notes.append(f"{len(training)} training logs for this seed; using {training_log.log}")
        results.append(result)
    return sorted(results, key=lambda s: (s.seed is None, s.seed if s.seed is not None else 0, s.score_log.log))


def analyze(folder: Path) -> Submission:
    folder = Path(folder)
    warnings: list[str] = []
    claims = read_claims(folder)
    runs = []
    for path in log_files(folder, warnings):
        rel = path.relative_to(folder).as_posix()
        runs.append(LogRun(rel, parse_file(path), filename_seed(path.name)))
    seeds = group_seeds(runs)
    for s in seeds:
        fs = s.training_log.filename_seed
        if fs is not None and s.training_log.run.seed is not None and fs != s.training_log.run.seed:
            warnings.append(f"{s.training_log.log}: file name says seed {fs} but the log says {s.training_log.run.seed}")
    if not seeds:
        warnings.append("no training or evaluation log found")
    track = track_of(folder, claims, warnings)
    return Submission(folder, track, claims.name or folder.name, claims, runs, seeds, warnings + claims.warnings)
