"""A submission folder as its logs show it: every run of every log, grouped into experiments,
and the runs that count toward the score, each choice with its reason.

Runs that differ in world size, dataset, wallclock cap or step budget are different experiments
and are never pooled. A seed may have several complete runs (an original and a rerun): all are
kept, and the claims decide which set the submission describes. An eval-only run of a seed
supersedes the score of its training run.
"""
from __future__ import annotations

import itertools
import os
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path

from golfcore.vocabulary import EVAL_LIMIT_S, TRAIN_LIMIT_S, Track

from .claims import Claims, read_claims
from .logparse import ParsedLog, Run, Stage, parse_file
from .safefiles import inventory

LOG_SUFFIXES = (".log", ".txt")
NOT_LOGS = re.compile(r"^(requirements|readme|license|notes?|manifest|sha\d*sums?|checksums?)\b", re.I)
FILENAME_SEED = re.compile(r"(?:seed|(?<![a-z])s)[_\-]?(\d+)|_(\d+)\.(?:log|txt)$", re.I)
CAP_TOLERANCE = 0.05  # wallclock caps within 5% are one experiment (588 s reserving GPTQ time vs 600 s)
MAX_COMBINATIONS = 512  # choices of one run per seed tried against the claims
CLAIM_BPB_TOLERANCE = 0.0005


@dataclass
class LogRun:
    """One run of one log file in the folder."""

    log: str  # path relative to the submission folder
    parsed: ParsedLog
    run: Run
    filename_seed: int | None
    digest: str  # of the whole log file: identical copies are one log

    @property
    def label(self) -> str:
        if len(self.parsed.runs) == 1:
            return self.log
        return f"{self.log} (run {self.run.index} of {len(self.parsed.runs)}, lines {self.run.first_line}-{self.run.last_line})"

    @property
    def seed(self) -> int | None:
        return self.run.seed if self.run.seed is not None else self.filename_seed

    @property
    def cap_s(self) -> float | None:
        run = self.run
        if run.wallclock_cap_s:
            return run.wallclock_cap_s
        if run.stopped_by_cap and run.train_time_s:
            return run.train_time_s
        return None

    def experiment(self) -> tuple:
        """(world size, dataset, cap, step budget); None where the log does not say."""
        run = self.run
        dataset = run.dataset or (f"sp{run.vocab_size}" if run.vocab_size else None)
        return (run.world_size, _dataset_family(dataset), self.cap_s, run.iterations)

    def as_json(self) -> dict:
        run, score = self.run, self.run.score
        return {
            "log": self.log, "run": run.index, "runs_in_log": len(self.parsed.runs),
            "first_line": run.first_line, "last_line": run.last_line,
            "seed": run.seed, "filename_seed": self.filename_seed,
            "val_bpb": score.val_bpb if score else None, "val_loss": score.val_loss if score else None,
            "score_stage": score.name if score else None,
            "training_val_at_stop": None if run.last_training_val is None else {
                "val_bpb": run.last_training_val.val_bpb, "val_loss": run.last_training_val.val_loss},
            "bytes_total": run.bytes_total, "bytes_code": run.bytes_code, "bytes_model": run.bytes_model,
            "bytes_model_raw": run.bytes_model_raw,
            "train_time_s": _round(run.train_time_s), "calibration_s": _round(run.calibration_s),
            "serialization_s": _round(run.serialization_s), "eval_time_s": _round(run.eval_time_s),
            "diagnostics_s": _round(run.diagnostics_s), "warmup_s": _round(run.warmup_s),
            "steps": run.steps, "iterations": run.iterations, "wallclock_cap_s": _round(self.cap_s),
            "val_tokens": run.val_tokens, "dataset": run.dataset, "world_size": run.world_size, "gpu": run.gpu_name,
            "stages": [
                {"name": s.name, "val_loss": s.val_loss, "val_bpb": s.val_bpb, "time_s": _round(s.time_s), "line": s.line,
                 "after_artifact": s.after_artifact, "diagnostic": s.diagnostic, "failed": s.failed}
                for s in run.stages if not s.duplicate_of
            ],
            "sources": dict(run.sources),
            "warnings": self.parsed.warnings + run.warnings,
        }


@dataclass
class SeedResult:
    """The figures that count for one seed: its score from `score_run`, its training from
    `training_run` (the same run unless an eval-only run re-scored the artifact)."""

    seed: int | None
    score_run: LogRun
    training_run: LogRun
    notes: list[str] = field(default_factory=list)

    @property
    def score(self) -> Stage | None:
        return self.score_run.run.score

    @property
    def train(self) -> Run:
        return self.training_run.run

    @property
    def eval_run(self) -> Run:
        return self.score_run.run

    @property
    def val_bpb(self) -> float | None:
        return self.score.val_bpb if self.score else None

    @property
    def val_loss(self) -> float | None:
        return self.score.val_loss if self.score else None

    def as_json(self) -> dict:
        return {
            "seed": self.seed, "score_log": self.score_run.label, "training_log": self.training_run.label,
            "val_bpb": self.val_bpb, "val_loss": self.val_loss,
            "score_stage": self.score.name if self.score else None,
            "score_line": self.score.line if self.score else None,
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
    counted_because: str = ""
    left_out: list[tuple[LogRun, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    files: list[tuple[str, int, str]] = field(default_factory=list)  # (relative path, bytes, sha256), every safe file
    digest: str = ""  # of the folder's content
    def values(self, attr: str) -> list[float]:
        return [getattr(s, attr) for s in self.seeds if getattr(s, attr) is not None]

    def mean(self, attr: str) -> float | None:
        values = self.values(attr)
        return statistics.fmean(values) if values else None

    def std(self, attr: str) -> float | None:
        values = self.values(attr)
        return statistics.stdev(values) if len(values) > 1 else None


def loop_allowance(run: Run) -> float:
    """The last step's overshoot when the cap stopped the loop."""
    if not run.stopped_by_cap or not run.steps or not run.train_time_s:
        return 0.0
    return max(1.0, 3 * run.train_time_s / run.steps)


def trains_within_cap(run: Run) -> bool:
    """The loop plus the calibration on training data before the artifact, within 600 s (when logged)."""
    return run.train_time_s is None or \
        run.train_time_s + (run.calibration_s or 0.0) <= TRAIN_LIMIT_S + loop_allowance(run)


def evaluates_within_cap(run: Run) -> bool:
    return run.eval_time_s is None or run.eval_time_s <= EVAL_LIMIT_S


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def _dataset_family(name: str | None) -> str | None:
    if not name:
        return None
    m = re.search(r"sp(\d+)", name)
    family = f"sp{m.group(1)}" if m else name
    return f"{family}-caseops" if "caseops" in name else family


def filename_seed(name: str) -> int | None:
    m = FILENAME_SEED.search(name)
    return int(m.group(1) or m.group(2)) if m else None


def is_log_file(path: Path) -> bool:
    return path.suffix.lower() in LOG_SUFFIXES and not NOT_LOGS.match(path.name)


def is_submission_folder(folder: Path) -> bool:
    """A folder right under a track folder, or one with a submission*.json or a log directly in it;
    never a container of track folders."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return False
    if any(e.is_dir(follow_symlinks=False) and e.name in (Track.record.value, Track.non_record.value) for e in entries):
        return False  # records/: holds track folders, even with a stray log beside them
    if folder.parent.name in (Track.record.value, Track.non_record.value):
        return True  # proposed as a records folder, whatever it holds (a README alone, say)
    return any(e.is_file(follow_symlinks=False) and (
        (e.name.startswith("submission") and e.name.endswith(".json")) or is_log_file(Path(e.name))) for e in entries)


def find_submissions(root: Path, warnings: list[str] | None = None) -> list[Path]:
    """The submission folders at or below root (a folder that is one is not searched further)."""
    if not root.is_dir():
        return []
    if is_submission_folder(root):
        return [root]
    found = []
    for dirpath, dirnames, _ in os.walk(root, followlinks=False, onerror=lambda e: warnings is not None and
                                        warnings.append(f"{e.filename}: {e.strerror}")):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))  # .git, golf's scratch
        here = Path(dirpath)
        if here != root and is_submission_folder(here):
            found.append(here)
            dirnames.clear()
        elif len(here.relative_to(root).parts) > 64:
            dirnames.clear()
            if warnings is not None:
                warnings.append(f"{here}: more than 64 folders deep; not searched further")
    return found


def track_of(folder: Path, claims: Claims, warnings: list[str]) -> str:
    for part in reversed(folder.resolve().parts):
        if part in (Track.record.value, Track.non_record.value):
            return part
    claimed = (claims.track or "").lower()
    if "non_record" in claimed or "non-record" in claimed:
        return Track.non_record.value
    if "10min" in claimed:
        return Track.record.value
    warnings.append("track not given by the folder or submission.json; assuming the record track")
    return Track.record.value


# ---- runs -> seed results

def _compatible(a: tuple, b: tuple) -> bool:
    for i, (x, y) in enumerate(zip(a, b)):
        if x is None or y is None:
            continue
        if i == 2:  # wallclock cap
            if abs(x - y) > CAP_TOLERANCE * max(x, y):
                return False
        elif x != y:
            return False
    return True


def _describe(experiment: tuple) -> str:
    world, dataset, cap, budget = experiment
    parts = []
    if world:
        parts.append(f"{world} GPU{'s' if world != 1 else ''}")
    if dataset:
        parts.append(dataset)
    if cap:
        parts.append(f"{cap:.0f} s cap")
    if budget:
        parts.append(f"{budget} steps budget")
    return ", ".join(parts) or "setup not stated"


def _options(runs: list[LogRun]) -> list[SeedResult]:
    """One option per complete run (eval-only runs paired with their seed's training run), plus
    seeds that trained but were never scored."""
    training = [r for r in runs if r.run.has_training]
    options: list[SeedResult] = []
    scored_seeds = set()
    for r in runs:
        if not r.run.complete:
            continue
        if r.run.has_training:
            options.append(SeedResult(r.seed, r, r))
        else:
            partners = [t for t in training if t.seed is not None and t.seed == r.seed]
            partner = partners[-1] if partners else r
            result = SeedResult(r.seed, r, partner)
            own = partner.run.score if partner is not r else None
            if partner is not r:
                result.notes.append(f"score from the eval-only run {r.label}; its training run {partner.label} "
                                    f"scored {own.val_bpb if own else 'nothing'}")
            options.append(result)
        scored_seeds.add(r.seed)
    for t in training:
        if not t.run.complete and (t.seed not in scored_seeds or t.seed is None):
            options.append(SeedResult(t.seed, t, t, ["trained, but its artifact was never scored"]))
    return options


def _agreement(candidate: list[SeedResult], claims: Claims) -> float:
    score = 0.0
    bpbs = [s.val_bpb for s in candidate if s.val_bpb is not None]
    if claims.val_bpb is not None and bpbs:
        gap = abs(statistics.fmean(bpbs) - claims.val_bpb)
        score += 4 if gap <= CLAIM_BPB_TOLERANCE else (2 if any(abs(b - claims.val_bpb) <= 1e-4 for b in bpbs) else 0)
    seeds = {s.seed for s in candidate}
    if claims.seeds:
        score += 3 * len(seeds & set(claims.seeds)) / max(len(set(claims.seeds)), 1)
        score -= 0.5 * len(seeds - set(claims.seeds))
    for s in candidate:
        claim = claims.per_seed.get(s.seed) if s.seed is not None else None
        if claim and s.val_bpb is not None and "val_bpb" in claim and abs(claim["val_bpb"] - s.val_bpb) <= 1e-4:
            score += 1
        if claim and "bytes_total" in claim and claim["bytes_total"] == s.train.bytes_total:
            score += 0.5
    if claims.bytes_total is not None and any(s.train.bytes_total == claims.bytes_total for s in candidate):
        score += 1
    return score


def _within_caps(option: SeedResult) -> bool:
    return trains_within_cap(option.train) and evaluates_within_cap(option.eval_run)


def _choose(options: list[SeedResult], claims: Claims, capped: bool) -> tuple[list[SeedResult], str]:
    """The set of seed results that counts: one experiment, one run per seed; on the record track the
    runs within the time caps first (a compliance rerun beats the original it replaces), then the set
    the claims describe."""
    if not options:
        return [], ""
    clusters: list[list[SeedResult]] = []
    for option in options:
        exp = option.training_run.experiment()
        home = next((c for c in clusters if all(_compatible(exp, o.training_run.experiment()) for o in c)), None)
        if home is None:
            clusters.append([option])
        else:
            home.append(option)
    best: tuple | None = None
    for order, cluster in enumerate(clusters):
        by_seed: dict[object, list[SeedResult]] = {}
        for o in cluster:
            by_seed.setdefault(o.seed if o.seed is not None else ("log", o.score_run.label), []).append(o)
        choices = list(by_seed.values())
        if any(o.score is not None for o in cluster):  # unscored runs only fill seeds nothing else scored
            choices = [[o for o in c if o.score is not None] or c for c in choices]
        combos = itertools.islice(itertools.product(*choices), MAX_COMBINATIONS)
        for combo in combos:
            candidate = list(combo)
            scored = sum(o.score is not None for o in candidate)
            latest = sum(o.score_run.run.index + o.score_run.run.first_line / 1e9 for o in candidate)
            world = max((o.training_run.run.world_size or 0) for o in candidate)
            compliant = sum(_within_caps(o) for o in candidate) if capped else 0
            key = (compliant, _agreement(candidate, claims), scored, world == 8, len(candidate), latest, -order)
            if best is None or key > best[0]:
                best = (key, candidate, cluster)
    _, chosen, cluster = best
    experiment = next((o.training_run.experiment() for o in chosen if o.training_run.run.has_training),
                      chosen[0].training_run.experiment())
    reason = f"{len(chosen)} run(s) of one experiment ({_describe(experiment)})"
    if capped and any(not _within_caps(o) for o in options if o.seed in {c.seed for c in chosen}) \
            and all(_within_caps(o) for o in chosen):
        reason += ", the runs within the time caps"
    elif best[0][1] > 0:
        reason += ", the set submission.json describes"
    elif len(clusters) > 1:
        reason += ", the experiment with the most scored seeds"
    return sorted(chosen, key=lambda s: (s.seed is None, s.seed if s.seed is not None else 0, s.score_run.label)), reason


def _left_out(runs: list[LogRun], chosen: list[SeedResult], duplicates: dict[str, str]) -> list[tuple[LogRun, str]]:
    used = {id(s.score_run) for s in chosen} | {id(s.training_run) for s in chosen}
    experiments = [s.training_run.experiment() for s in chosen]
    out = []
    for r in runs:
        if id(r) in used:
            continue
        if r.log in duplicates:
            out.append((r, f"an identical copy of {duplicates[r.log]}"))
        elif not r.run.has_results:
            out.append((r, "no training steps and no evaluation"))
        elif experiments and not any(_compatible(r.experiment(), e) for e in experiments):
            out.append((r, f"a different experiment ({_describe(r.experiment())})"))
        elif not r.run.complete:
            out.append((r, "its artifact was never scored" if r.run.has_training else "no final score"))
        elif any(s.seed == r.seed for s in chosen):
            counted = next(s for s in chosen if s.seed == r.seed)
            if not (trains_within_cap(r.run) and evaluates_within_cap(r.run)) and _within_caps(counted):
                out.append((r, f"another run of seed {r.seed} that breaks a time cap; the counted one keeps within it"))
            else:
                out.append((r, f"another run of seed {r.seed}; the counted one agrees better with the claims or is later"))
        else:
            out.append((r, "not part of the set the claims describe"))
    return out


def analyze(folder: Path, files: tuple[str, list[tuple[str, int, str]]] | None = None) -> Submission:
    """The folder's runs and the seeds that count; `files` is its inventory when the caller has it."""
    folder = Path(folder)
    warnings: list[str] = []
    claims = read_claims(folder)
    digest, listing = files if files is not None else inventory(folder, warnings)
    runs: list[LogRun] = []
    seen: dict[str, str] = {}
    duplicates: dict[str, str] = {}
    for rel, _, sha in listing:
        if not is_log_file(Path(rel)):
            continue
        if sha in seen:
            duplicates[rel] = seen[sha]
        else:
            seen[sha] = rel
        parsed = parse_file(folder / rel)
        for run in parsed.runs:
            runs.append(LogRun(rel, parsed, run, filename_seed(rel.rsplit("/", 1)[-1]), sha))
    unique = [r for r in runs if r.log not in duplicates]
    track = track_of(folder, claims, warnings)
    seeds, reason = _choose(_options(unique), claims, capped=track == Track.record.value)
    left_out = _left_out(runs, seeds, duplicates)
    for s in seeds:
        fs, logged = s.training_run.filename_seed, s.training_run.run.seed
        if fs is not None and logged is not None and fs != logged:
            warnings.append(f"{s.training_run.log}: the file name says seed {fs} but the log says {logged}")
    if not runs:
        warnings.append("no training or evaluation log found")
    return Submission(folder, track, claims.name or folder.name, claims, runs, seeds, reason, left_out,
                      warnings + claims.warnings, listing, digest)



