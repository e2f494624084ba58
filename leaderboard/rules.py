"""The challenge's rules as checks: each has an id, a status and a one-line reason."""
from __future__ import annotations

import statistics
from dataclasses import dataclass

from .significance import DEFAULT_ALPHA, DEFAULT_THRESHOLD_NATS, welch_improvement
from .submission import NON_RECORD_TRACK, RECORD_TRACK, Submission

ARTIFACT_LIMIT_BYTES = 16_000_000
TRAIN_LIMIT_S = 600.0
EVAL_LIMIT_S = 600.0
MIN_RECORD_SEEDS = 3
PLAUSIBLE_BPB_FLOOR = 1.0
CLAIM_BPB_TOLERANCE = 0.0005
FULL_VALIDATION_TOKENS = {"fineweb10B_sp1024": 62_021_632, "fineweb10B_sp8192": 40_538_112}

PASS, WARN, FAIL, UNKNOWN = "pass", "warn", "fail", "unknown"
# Checks that decide validity on every track; the rest decide record-track eligibility.
VALIDITY_CHECKS = ("artifact_size", "claims_match", "full_validation", "scored_artifact", "val_data_before_artifact")


@dataclass
class Check:
    id: str
    status: str
    message: str

    def as_dict(self) -> dict:
        return {"id": self.id, "status": self.status, "message": self.message}


@dataclass
class Reference:
    name: str
    val_losses: list[float]
    val_bpbs: list[float]


def _seed_label(seed) -> str:
    return f"seed {seed}" if seed is not None else "the unseeded log"


def check_artifact_size(sub: Submission) -> Check:
    sizes = [(s.seed, s.train.bytes_total) for s in sub.seeds]
    known = [(seed, b) for seed, b in sizes if b is not None]
    if not known:
        return Check("artifact_size", UNKNOWN, "no log states the artifact's total bytes")
    over = [(seed, b) for seed, b in known if b > ARTIFACT_LIMIT_BYTES]
    if over:
        return Check("artifact_size", FAIL, "; ".join(f"{_seed_label(seed)}: {b:,} bytes > 16,000,000" for seed, b in over))
    missing = [seed for seed, b in sizes if b is None]
    largest = max(b for _, b in known)
    if missing:
        return Check("artifact_size", WARN, f"largest {largest:,} bytes, but {', '.join(map(_seed_label, missing))} states no size")
    return Check("artifact_size", PASS, f"largest {largest:,} bytes ({ARTIFACT_LIMIT_BYTES - largest:,} to spare)")


def _time_check(check_id: str, problems: list[str], notes: list[str], worst: float, passed: str) -> Check:
    """Over a cap fails; doubts warn (or are unknown when no time was logged at all); else pass."""
    if problems:
        return Check(check_id, FAIL, "; ".join(problems))
    if notes:
        return Check(check_id, WARN if worst else UNKNOWN, "; ".join(notes))
    return Check(check_id, PASS, passed)


def check_train_time(sub: Submission) -> Check:
    problems, notes, worst = [], [], 0.0
    for s in sub.seeds:
        run = s.train
        if run.train_time_s is None:
            notes.append(f"{_seed_label(s.seed)}: no training time logged")
            continue
        step_avg = run.train_time_s / run.steps if run.steps else 0.0
        allowance = max(1.0, 3 * step_avg) if run.stopped_by_cap else 0.0
        worst = max(worst, run.train_time_s)
        if run.train_time_s > TRAIN_LIMIT_S + allowance:
            problems.append(f"{_seed_label(s.seed)}: trained {run.train_time_s:.1f}s > 600s")
        elif run.artifact_time_s and run.train_time_s + run.artifact_time_s > TRAIN_LIMIT_S + allowance:
            notes.append(
                f"{_seed_label(s.seed)}: {run.train_time_s:.1f}s training + at least {run.artifact_time_s:.1f}s "
                f"quantizing/calibrating before the artifact was written = {run.train_time_s + run.artifact_time_s:.1f}s"
            )
    return _time_check("train_time", problems, notes, worst,
                       f"longest {worst:.1f}s of training (last-step overshoot allowed when the cap stopped it)")


def check_eval_time(sub: Submission) -> Check:
    problems, notes, worst = [], [], 0.0
    for s in sub.seeds:
        run = s.eval_run
        if run.eval_time_s is None:
            notes.append(f"{_seed_label(s.seed)}: no evaluation time logged")
            continue
        worst = max(worst, run.eval_time_s)
        if run.eval_time_s > EVAL_LIMIT_S:
            problems.append(f"{_seed_label(s.seed)}: evaluation took {run.eval_time_s:.1f}s > 600s")
        elif run.eval_all_s and run.eval_all_s > EVAL_LIMIT_S:
            notes.append(
                f"{_seed_label(s.seed)}: the score's timer says {run.eval_time_s:.1f}s, but all logged eval-phase "
                f"work (diagnostics, compile warm-ups, timed stages) is {run.eval_all_s:.1f}s"
            )
    return _time_check("eval_time", problems, notes, worst, f"longest {worst:.1f}s from artifact load to score")


def check_seeds(sub: Submission, warnings: list[str]) -> Check:
    seeds = sorted({s.seed for s in sub.seeds if s.seed is not None})
    contradictions = [w for w in warnings if "file name says seed" in w]
    if len(seeds) < MIN_RECORD_SEEDS:
        status = FAIL if sub.track == RECORD_TRACK else WARN
        return Check("seeds", status, f"{len(seeds)} distinct logged seed(s) {seeds}; a record needs {MIN_RECORD_SEEDS}")
    if contradictions:
        return Check("seeds", WARN, "; ".join(contradictions))
    return Check("seeds", PASS, f"{len(seeds)} distinct seeds with logs: {seeds}")


def _printed_tolerance(printed: str) -> float:
    """Half a unit in the last printed decimal: 1.1194 stands for anything within 0.00005."""
    return 0.5 * 10 ** -(len(printed.split(".")[1]) if "." in printed else 0)


def _bpb_tolerance(claimed: float) -> float:
    return max(CLAIM_BPB_TOLERANCE, _printed_tolerance(repr(claimed)))


def check_claims(sub: Submission) -> Check:
    c = sub.claims
    if c.file is None:
        return Check("claims_match", WARN, "no submission.json to compare with")
    problems = []
    mean_bpb, mean_loss = sub.mean("val_bpb"), sub.mean("val_loss")
    if c.val_bpb is not None and mean_bpb is not None:
        if abs(c.val_bpb - mean_bpb) > _bpb_tolerance(c.val_bpb):
            problems.append(f"claimed val_bpb {c.val_bpb} differs from the log mean {mean_bpb:.8f} by {c.val_bpb - mean_bpb:+.5f}")
    if c.val_loss is not None and mean_loss is not None and mean_bpb:
        tolerance = max(CLAIM_BPB_TOLERANCE * mean_loss / mean_bpb, _printed_tolerance(repr(c.val_loss)))
        if abs(c.val_loss - mean_loss) > tolerance:
            problems.append(f"claimed val_loss {c.val_loss} differs from the log mean {mean_loss:.8f}")
    totals = [s.train.bytes_total for s in sub.seeds if s.train.bytes_total is not None]
    if c.bytes_total is not None and totals:
        accepted = set(totals) | {max(totals), round(statistics.fmean(totals))}
        if c.bytes_total not in accepted:
            problems.append(f"claimed bytes_total {c.bytes_total} matches no seed log ({sorted(set(totals))})")
    codes = {v for s in sub.seeds for v in s.train.code_sizes.values()}
    if c.bytes_code is not None and codes and c.bytes_code not in codes:
        problems.append(f"claimed bytes_code {c.bytes_code} != logged code size {sorted(codes)}")
    logged_seeds = {s.seed for s in sub.seeds if s.seed is not None}
    if c.seeds and logged_seeds and set(c.seeds) != logged_seeds:
        problems.append(f"claimed seeds {sorted(c.seeds)} != logged seeds {sorted(logged_seeds)}")
    by_seed = {s.seed: s for s in sub.seeds}
    for seed, claim in sorted(c.per_seed.items()):
        s = by_seed.get(seed)
        if s is None:
            continue
        if "val_bpb" in claim and s.val_bpb is not None and abs(claim["val_bpb"] - s.val_bpb) > _bpb_tolerance(claim["val_bpb"]):
            problems.append(f"seed {seed}: claimed val_bpb {claim['val_bpb']} vs log {s.val_bpb}")
        if "steps" in claim and s.train.steps is not None and claim["steps"] != s.train.steps:
            problems.append(f"seed {seed}: claimed steps {claim['steps']} vs log {s.train.steps}")
        if "bytes_total" in claim and s.train.bytes_total is not None and claim["bytes_total"] != s.train.bytes_total:
            problems.append(f"seed {seed}: claimed bytes {claim['bytes_total']} vs log {s.train.bytes_total}")
    if c.steps is not None and len(sub.seeds) == 1 and sub.seeds[0].train.steps not in (None, c.steps):
        problems.append(f"claimed steps {c.steps} vs log {sub.seeds[0].train.steps}")
    if problems:
        return Check("claims_match", FAIL, "; ".join(problems))
    if c.readme_numbers and mean_bpb is not None:
        seed_values = [s.val_bpb for s in sub.seeds if s.val_bpb is not None] + [mean_bpb]
        stated = any(abs(float(n) - v) <= _printed_tolerance(n) + 1e-12 for n in c.readme_numbers for v in seed_values)
        if not stated:
            return Check("claims_match", WARN, f"submission.json agrees with the logs, but the README never states the logged mean {mean_bpb:.5f}")
    return Check("claims_match", PASS, "submission.json agrees with the logs")


def check_full_validation(sub: Submission) -> Check:
    for s in sub.seeds:
        run = s.eval_run
        dataset = run.dataset or s.train.dataset or ""
        if dataset.startswith("embedded"):  # golf's own practice data: not cheating, but no FineWeb score
            return Check("full_validation", WARN, f"{s.score_log.log}: a practice run on golf's {dataset} data; "
                                                  "not a FineWeb score, so it cannot rank")
        if dataset and not dataset.startswith("fineweb"):
            return Check("full_validation", FAIL, f"{s.score_log.log}: scored on {dataset}, not the FineWeb validation split")
        cutoff = run.training_end_line or 0
        late = [text for line, text in run.subset_markers if line > cutoff]
        if late:
            return Check("full_validation", FAIL, f"{s.score_log.log}: the score is on a subset ({late[-1][:80]!r})")
        expected = FULL_VALIDATION_TOKENS.get(run.dataset or s.train.dataset or "")
        tokens = run.val_tokens or s.train.val_tokens
        if expected and tokens and tokens < expected:
            return Check("full_validation", FAIL, f"{s.score_log.log}: {tokens:,} validation tokens < the full split's {expected:,}")
    counts = sorted({(s.eval_run.val_tokens or s.train.val_tokens) for s in sub.seeds} - {None})
    detail = f"; {counts[0]:,} validation tokens" if len(counts) == 1 else ""
    return Check("full_validation", PASS, f"no subset marker in the evaluation{detail}")


def check_plausible(sub: Submission, floor: float = PLAUSIBLE_BPB_FLOOR) -> Check:
    mean_bpb = sub.mean("val_bpb")
    if mean_bpb is None:
        return Check("plausible_score", UNKNOWN, "no score")
    if mean_bpb < floor:
        return Check("plausible_score", WARN, f"mean val_bpb {mean_bpb:.5f} is below {floor}: far under every known record, needs review")
    return Check("plausible_score", PASS, f"mean val_bpb {mean_bpb:.5f}")


def check_scored_artifact(sub: Submission) -> Check:
    missing = [s for s in sub.seeds if s.score is None]
    pre = [s for s in sub.seeds if s.score is not None and not s.score.after_artifact]
    if pre:
        return Check("scored_artifact", FAIL, "; ".join(
            f"{s.score_log.log}: no evaluation of the written artifact; the only score is {s.score.name}" for s in pre))
    if missing or not sub.seeds:
        return Check("scored_artifact", FAIL, "; ".join(f"{s.score_log.log}: no final score" for s in missing) or "no logs")
    return Check("scored_artifact", PASS, "every seed is scored on the artifact after the round trip")


def check_val_data(sub: Submission) -> Check:
    hits = [(s.training_log.log, line, text) for s in sub.seeds for line, text in s.train.ttt_before_artifact]
    if hits:
        log, line, text = hits[0]
        return Check("val_data_before_artifact", FAIL,
                     f"{log} line {line}: test-time training before the artifact was written ({text[:80]!r})")
    return Check("val_data_before_artifact", PASS, "no adaptation on validation data before the artifact was written")


def check_significance(sub: Submission, reference: Reference | None, threshold: float, alpha: float) -> Check:
    if reference is None:
        return Check("significance", UNKNOWN, "no reference given (--against)")
    losses = [s.val_loss for s in sub.seeds if s.val_loss is not None]
    bpbs = [s.val_bpb for s in sub.seeds if s.val_bpb is not None]
    if not losses or not reference.val_losses:
        return Check("significance", UNKNOWN, f"no per-seed val_loss to compare with {reference.name}")
    sig = welch_improvement(losses, reference.val_losses, bpbs, reference.val_bpbs, threshold, alpha)
    bpb = f", {sig.delta_bpb:+.5f} bpb" if sig.delta_bpb is not None else ""
    if sig.p is None:
        return Check("significance", UNKNOWN, f"vs {reference.name}: {sig.delta_nats:+.5f} {sig.unit}{bpb}; need 2+ seeds on each side for a test")
    text = (f"vs {reference.name}: {sig.delta_nats:+.5f} {sig.unit}{bpb}, t={sig.t if sig.t is None else round(sig.t, 3)}, "
            f"df={sig.df:.1f}, p={sig.p:.2g} (improvement > {sig.threshold_nats:.5g} {sig.unit.split()[0]} at p < {alpha})")
    return Check("significance", PASS if sig.significant else FAIL, text)


def run_checks(sub: Submission, reference: Reference | None = None, threshold: float = DEFAULT_THRESHOLD_NATS,
               alpha: float = DEFAULT_ALPHA) -> list[Check]:
    return [
        check_artifact_size(sub), check_train_time(sub), check_eval_time(sub), check_seeds(sub, sub.warnings),
        check_claims(sub), check_full_validation(sub), check_plausible(sub), check_scored_artifact(sub),
        check_val_data(sub), check_significance(sub, reference, threshold, alpha),
    ]


def verdict(sub: Submission, checks: list[Check]) -> tuple[str, list[str]]:
    """(record | non-record | invalid | needs-review, reasons it is not a record)."""
    by_id = {c.id: c for c in checks}
    if any(by_id[i].status == FAIL for i in VALIDITY_CHECKS):
        return "invalid", [by_id[i].message for i in VALIDITY_CHECKS if by_id[i].status == FAIL]
    # significance without a reference cannot block or grant anything
    relevant = [c for c in checks if not (c.id == "significance" and c.status == UNKNOWN)]
    not_passing = [c for c in relevant if c.status != PASS]
    record_blockers = [f"{c.id}: {c.message}" for c in not_passing]
    if sub.track == NON_RECORD_TRACK:
        if any(c.status in (WARN, UNKNOWN) for c in relevant if c.id in VALIDITY_CHECKS + ("plausible_score",)):
            return "needs-review", record_blockers
        return "non-record", record_blockers
    if any(c.status == FAIL for c in relevant):
        failed_limits = [c for c in relevant if c.status == FAIL and c.id in ("train_time", "eval_time")]
        return ("invalid" if failed_limits else "non-record"), record_blockers
    if not_passing:
        return "needs-review", record_blockers
    return "record", []
