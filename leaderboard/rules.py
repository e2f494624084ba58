"""The challenge's rules as checks, and the verdict they add up to (see DESIGN, "Verdicts").

Each check is pass / warn / fail / unknown with a reason a person can act on, and belongs to one
kind: a `rule` check that fails makes the submission invalid; a `doubt` (a warn or unknown where a
rule is left open by the logs) makes it need review; a `record` check that does not pass keeps it
from being a record. Claims are their own axis (agree / minor / contradict): a contradiction needs
review, a minor difference is reported and changes nothing.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from golfcore.vocabulary import (
    ARTIFACT_LIMIT_BYTES, EVAL_LIMIT_S, MIN_RECORD_SEEDS, TRAIN_LIMIT_S, Status, Track, Verdict,
)

from .claims import Claims
from .significance import POLICIES, Policy, Significance, welch_improvement
from .submission import SeedResult, Submission, loop_allowance

RULES_VERSION = 7  # bump when a check, the verdict or how a log is read changes: stored analyses are re-derived on import
PASS, WARN, FAIL, UNKNOWN = (s.value for s in Status)
CLAIM_BPB_TOLERANCE = 0.0005
NEAR_CAP_S = 5.0  # a lower bound this close under a cap leaves the rule in doubt
EVAL_GAIN_LIMIT_BPB = 0.06  # the accepted records' sliding window / score-first TTT gained at most ~0.035
IMPLAUSIBLE_MARGIN = 0.08  # a mean this far (relative) under the accepted record needs review (no record took a step over 5%)
# known full validation splits, in tokens (DESIGN); logs print the loaded count, sometimes a little off.
# sp1024 also as the official baseline's own log (2026-03-17) loaded it: 63,779,840.
VALIDATION_SPLITS = {"sp1024": (62_021_632, 63_779_840), "sp4096": (45_508_608,), "sp8192": (40_540_160,),
                     "sp8192-caseops": (47_851_520,)}
SPLIT_TOLERANCE = 0.001
ARTIFACT_FILE = re.compile(r"(?:^|/)final_model[^/]*$|\.(?:ptz|brotli|lzma|zlib|zst|xz|int\d)$", re.I)
SEED_IN_PATH = re.compile(r"seed[_\-]?(\d+)", re.I)
VALIDITY, DOUBT, RECORD = "rule", "doubt", "record"


@dataclass
class Check:
    id: str
    status: str
    message: str
    kind: str = VALIDITY
    evidence: list[dict] = field(default_factory=list)  # {"log", "line", "what"}: where to look

    def as_dict(self) -> dict:
        return {"id": self.id, "status": self.status, "message": self.message, "kind": self.kind,
                "evidence": self.evidence}


@dataclass
class Reference:
    """What a submission is compared with: the accepted record of its day, or a given folder."""

    name: str
    val_losses: list[float]
    val_bpbs: list[float]
    key: str | None = None  # source key in the database, when it came from there
    content_hash: str | None = None
    date: str | None = None


@dataclass
class Context:
    """What the checks need beyond the folder: the reference and how to judge significance."""

    reference: Reference | None = None
    policy: Policy = field(default_factory=lambda: POLICIES["readme"])
    frontier_bpb: float | None = None  # the best accepted record's mean val_bpb at the submission's date


def _label(s: SeedResult) -> str:
    return f"seed {s.seed}" if s.seed is not None else s.score_run.label


def _where(run_ref, figure: str) -> dict:
    return {"log": run_ref.log, "line": run_ref.run.sources.get(figure), "what": figure}


# ---- size

def _artifact_files(sub: Submission) -> dict[int | None, int]:
    """Artifact files in the folder: seed (from the path, or the only seed) -> bytes."""
    found = [(rel, size) for rel, size, _ in sub.files if ARTIFACT_FILE.search(rel)]
    out: dict[int | None, int] = {}
    for rel, size in found:
        m = SEED_IN_PATH.search(rel)
        seed = int(m.group(1)) if m else (sub.seeds[0].seed if len(found) == 1 and len(sub.seeds) == 1 else None)
        out[seed] = max(size, out.get(seed, 0))
    return out


def _code_file(sub: Submission) -> int | None:
    return next((size for rel, size, _ in sub.files if rel == "train_gpt.py"), None)


def check_artifact_size(sub: Submission) -> Check:
    files = _artifact_files(sub)
    code_file = _code_file(sub)
    over, missing, notes, evidence, largest = [], [], [], [], 0
    for s in sub.seeds:
        run = s.train
        total = run.bytes_total
        on_disk = files.get(s.seed)
        if on_disk is not None:
            code = run.bytes_code if run.bytes_code is not None else code_file
            if code is None:
                notes.append(f"{_label(s)}: the artifact file holds {on_disk:,} bytes; no code size is known")
            real = on_disk + (code or 0)
            if run.bytes_model is not None and run.bytes_model != on_disk:
                notes.append(f"{_label(s)}: the log says the model is {run.bytes_model:,} bytes, the artifact file "
                             f"holds {on_disk:,}")
            total = real if total is None else max(total, real)
        elif total is not None and code_file is not None and run.bytes_code is not None and code_file > run.bytes_code \
                and run.bytes_model is not None and run.bytes_model + code_file > total:
            notes.append(f"{_label(s)}: train_gpt.py here is {code_file:,} bytes, the log counted {run.bytes_code:,}")
        if total is None:
            missing.append(_label(s))
            continue
        evidence.append(_where(s.training_run, "bytes_total"))
        largest = max(largest, total)
        if total > ARTIFACT_LIMIT_BYTES:
            over.append(f"{_label(s)}: {total:,} bytes > 16,000,000")
    if over:
        return Check("artifact_size", FAIL, "; ".join(over + notes), VALIDITY, evidence)
    if not largest:
        return Check("artifact_size", UNKNOWN, "no log states the artifact's total bytes", DOUBT)
    if missing:
        return Check("artifact_size", WARN, f"largest {largest:,} bytes, but {', '.join(missing)} states no size",
                     DOUBT, evidence)
    if notes:
        return Check("artifact_size", WARN, f"largest {largest:,} bytes; " + "; ".join(notes), DOUBT, evidence)
    return Check("artifact_size", PASS, f"largest {largest:,} bytes ({ARTIFACT_LIMIT_BYTES - largest:,} to spare)",
                 VALIDITY, evidence)


# ---- time

def check_train_time(sub: Submission) -> Check:
    if sub.track != Track.record.value:
        return Check("train_time", PASS, "the non-record track has no time cap", VALIDITY)
    problems, doubts, worst, evidence = [], [], 0.0, []
    for s in sub.seeds:
        run = s.train
        if run.train_time_s is None:
            doubts.append(f"{_label(s)}: no training time logged")
            continue
        capped = run.train_time_s + (run.calibration_s or 0.0)
        limit = TRAIN_LIMIT_S + loop_allowance(run)
        worst = max(worst, capped)
        evidence.append(_where(s.training_run, "train_time_s"))
        what = f"{run.train_time_s:.1f}s loop" + (f" + {run.calibration_s:.1f}s on training data before the artifact"
                                                 if run.calibration_s else "")
        if capped > limit:
            problems.append(f"{_label(s)}: {what} = {capped:.1f}s > 600s")
        elif capped > limit - NEAR_CAP_S and run.calibration_s is None and run.artifact_line is not None \
                and run.serialization_s is None and not run.stopped_by_cap:
            doubts.append(f"{_label(s)}: {what}, within {NEAR_CAP_S:.0f}s of the cap, and the log does not time "
                          "what ran before the artifact")
    serial = [s.train.serialization_s for s in sub.seeds if s.train.serialization_s]
    tail = f"; serialization after training (not capped) up to {max(serial):.1f}s" if serial else ""
    if problems:
        return Check("train_time", FAIL, "; ".join(problems) + tail, VALIDITY, evidence)
    if doubts:
        return Check("train_time", WARN if worst else UNKNOWN, "; ".join(doubts), DOUBT, evidence)
    return Check("train_time", PASS, f"longest {worst:.1f}s of training (loop + calibration on training data){tail}",
                 VALIDITY, evidence)


def check_eval_time(sub: Submission) -> Check:
    if sub.track != Track.record.value:
        return Check("eval_time", PASS, "the non-record track has no time cap", VALIDITY)
    problems, doubts, worst, evidence, outside = [], [], 0.0, [], []
    for s in sub.seeds:
        run = s.eval_run
        if run.eval_time_s is None:
            if s.score is not None:
                doubts.append(f"{_label(s)}: no evaluation time logged")
            continue
        worst = max(worst, run.eval_time_s)
        evidence.append(_where(s.score_run, "eval_time_s"))
        if run.diagnostics_s or run.warmup_s:
            outside.append((run.diagnostics_s or 0.0) + (run.warmup_s or 0.0))
        if run.eval_time_s > EVAL_LIMIT_S:
            problems.append(f"{_label(s)}: the timed scoring took {run.eval_time_s:.1f}s > 600s")
    tail = (f"; outside the score's timer, diagnostics and compile warm-ups (accepted, #1855) up to "
            f"{max(outside):.1f}s more" if outside else "")
    if problems:
        return Check("eval_time", FAIL, "; ".join(problems) + tail, VALIDITY, evidence)
    if doubts:
        return Check("eval_time", WARN if worst else UNKNOWN, "; ".join(doubts), DOUBT, evidence)
    return Check("eval_time", PASS, f"longest {worst:.1f}s of timed scoring from artifact load to score{tail}",
                 VALIDITY, evidence)


# ---- what was scored

def check_scored_artifact(sub: Submission) -> Check:
    if not sub.seeds:  # nothing to check the claims against: a reviewer must look, not a broken rule
        return Check("scored_artifact", UNKNOWN, "no log with a training or evaluation run", DOUBT)
    problems = []
    for s in sub.seeds:
        if s.score is not None:
            continue
        pre = s.train.last_training_val
        problems.append(f"{s.score_run.label}: no evaluation of the written artifact" +
                        (f"; the only score is the in-training validation ({pre.val_bpb})" if pre else ""))
    if problems:
        return Check("scored_artifact", FAIL, "; ".join(problems), VALIDITY)
    assumed = [s for s in sub.seeds if s.score_run.run.artifact_assumed]
    if assumed:
        return Check("scored_artifact", UNKNOWN, "; ".join(
            f"{s.score_run.label}: no line states the artifact; the evaluation after the training "
            f"(val_bpb {s.val_bpb}) is taken as the artifact's" for s in assumed), DOUBT, [_where(s.score_run, "val_bpb") for s in assumed])
    return Check("scored_artifact", PASS, "every seed is scored on the artifact after its round trip", VALIDITY,
                 [_where(s.score_run, "val_bpb") for s in sub.seeds])


def _split(dataset: str | None, vocab: int | None) -> tuple[str, tuple[int, ...]] | None:
    key = None
    if dataset:
        m = re.search(r"sp(\d+)", dataset)
        key = (f"sp{m.group(1)}" if m else None)
        if key and "caseops" in dataset:
            key += "-caseops"
    elif vocab:
        key = f"sp{vocab}"
    return (key, VALIDATION_SPLITS[key]) if key in VALIDATION_SPLITS else None


def check_full_validation(sub: Submission) -> Check:
    doubts = []
    for s in sub.seeds:
        run, train = s.eval_run, s.train
        dataset = run.dataset or train.dataset or ""
        if dataset.startswith("embedded"):  # golf's own practice data: not cheating, but no FineWeb score
            return Check("full_validation", FAIL, f"{s.score_run.label}: a practice run on golf's {dataset} data, "
                                                  "not a FineWeb score; it cannot rank", RECORD)
        cutoff = run.training_end_line or 0
        late = [(line, text) for line, text in run.subset_markers if line > cutoff]
        if late:
            return Check("full_validation", FAIL, f"{s.score_run.label} line {late[-1][0]}: the score is on a subset "
                                                  f"({late[-1][1][:80]!r})", VALIDITY,
                         [{"log": s.score_run.log, "line": late[-1][0], "what": "subset"}])
        tokens = (s.score.tokens if s.score else None) or run.val_tokens or train.val_tokens
        if not tokens:
            continue
        split = _split(dataset, run.vocab_size or train.vocab_size)
        sizes = split[1] if split else tuple(size for sizes in VALIDATION_SPLITS.values() for size in sizes)
        if any(abs(tokens - size) <= SPLIT_TOLERANCE * size for size in sizes):
            continue
        if split and tokens < (1 - 0.01) * min(sizes):
            return Check("full_validation", FAIL, f"{s.score_run.label}: {tokens:,} validation tokens < the full "
                                                  f"{split[0]} split's {sizes[0]:,}", VALIDITY,
                         [_where(s.score_run, "val_tokens")])
        doubts.append(f"{s.score_run.label}: {tokens:,} validation tokens match no known split"
                      + (f" (the {split[0]} split has {sizes[0]:,})" if split else ""))
    if doubts:
        return Check("full_validation", WARN, "; ".join(doubts), DOUBT)
    counts = sorted({(s.score.tokens if s.score else None) or s.eval_run.val_tokens or s.train.val_tokens
                     for s in sub.seeds} - {None})
    detail = f"; {counts[0]:,} validation tokens" if len(counts) == 1 else ""
    return Check("full_validation", PASS, f"no subset marker in the evaluation{detail}", VALIDITY)


def check_val_data(sub: Submission) -> Check:
    hits = [(s.training_run, line, text) for s in sub.seeds for line, text in s.train.val_loop_lines]
    if hits:
        ref, line, text = hits[0]
        end = ref.run.training_end_line
        return Check("val_data_before_artifact", FAIL,
                     f"{ref.label} line {line}: an optimizer loop after the training loop stopped (line {end}) and "
                     f"before the artifact was written (line {ref.run.artifact_line}): training on validation data "
                     f"({text[:80]!r})", VALIDITY,
                     [{"log": r.log, "line": ln, "what": "optimizer loop before the artifact"} for r, ln, _ in hits[:6]])
    return Check("val_data_before_artifact", PASS, "no optimizer loop between the end of training and the artifact",
                 VALIDITY)


def check_score_first(sub: Submission) -> Check:
    hits = [(s.score_run, line, text) for s in sub.seeds for line, text in s.eval_run.unscored_adaptation_lines]
    if hits:
        ref, line, text = hits[0]
        return Check("score_first", FAIL,
                     f"{ref.label} line {line}: epochs of an optimizer over the validation set after the artifact and "
                     f"before the score: its tokens are trained on before they are scored ({text[:80]!r}; C3, #1017)",
                     VALIDITY,
                     [{"log": r.log, "line": ln, "what": "adaptation before scoring"} for r, ln, _ in hits[:6]])
    return Check("score_first", PASS, "no adaptation on the validation set before it is scored", VALIDITY)


def check_eval_adaptation(sub: Submission) -> Check:
    """What evaluation-time processing adds over the artifact's own score. Legal score-first adaptation
    and sliding windows gained at most ~0.035 bpb in the accepted records; far more is the mark of
    adaptation on the positions being scored, caches keyed on the target or a second pass (#677, #1017)."""
    gains = []
    for s in sub.seeds:
        if s.score is None:
            continue
        own = [st.val_bpb for st in s.eval_run.stages if st.after_artifact and not st.diagnostic and not st.failed
               and not st.duplicate_of and st.val_bpb is not None and st.line < s.score.line]
        if own and s.score.val_bpb is not None:
            gains.append((min(own) - s.score.val_bpb, s))
    big = [(g, s) for g, s in gains if g > EVAL_GAIN_LIMIT_BPB]
    if big:
        g, s = max(big, key=lambda item: item[0])
        return Check("eval_adaptation", WARN, f"{_label(s)}: {s.score.name} gains {g:.4f} bpb over the artifact's own "
                                              f"evaluation; legal adaptation gained at most ~0.035 in the accepted "
                                              "records: check that each token is scored before any update that uses "
                                              "it (C1-C4, #1017)", DOUBT, [_where(s.score_run, "val_bpb")])
    best = max((g for g, _ in gains), default=None)
    return Check("eval_adaptation", PASS, "no evaluation-time processing beyond the artifact's own score" if best is None
                 else f"evaluation-time processing gains at most {best:.4f} bpb over the artifact's own score", VALIDITY)


def check_plausible(sub: Submission, context: Context) -> Check:
    mean_bpb = sub.mean("val_bpb")
    if mean_bpb is None:
        return Check("plausible_score", UNKNOWN, "no score", RECORD)
    best = context.frontier_bpb
    if best is None:
        return Check("plausible_score", PASS, f"mean val_bpb {mean_bpb:.5f} (no accepted record to compare with)", RECORD)
    if mean_bpb < best * (1 - IMPLAUSIBLE_MARGIN):
        return Check("plausible_score", WARN, f"mean val_bpb {mean_bpb:.5f} is {best - mean_bpb:.4f} under the best "
                                              f"accepted record of its date ({best:.5f}): far beyond any step the "
                                              "records took, needs review", DOUBT)
    return Check("plausible_score", PASS, f"mean val_bpb {mean_bpb:.5f} (best accepted record then: {best:.5f})", RECORD)


# ---- claims

def _printed_tolerance(printed: str) -> float:
    """Half a unit in the last printed decimal: 1.1194 stands for anything within 0.00005."""
    return 0.5 * 10 ** -(len(printed.split(".")[1]) if "." in printed else 0)


def _bpb_tolerance(claimed: float) -> float:
    return max(CLAIM_BPB_TOLERANCE, _printed_tolerance(repr(claimed)))


def check_claims(sub: Submission) -> Check:
    """agree (pass) / minor (warn) / contradict (fail, needs review): never invalid by itself."""
    c: Claims = sub.claims
    if c.file is None:
        return Check("claims_match", WARN, "minor: no submission.json to compare with", "claims")
    minor, contradict = [], []
    bpbs = sub.values("val_bpb")
    mean_bpb, mean_loss = sub.mean("val_bpb"), sub.mean("val_loss")
    if c.val_bpb is not None and mean_bpb is not None and abs(c.val_bpb - mean_bpb) > _bpb_tolerance(c.val_bpb):
        if c.val_bpb < min(bpbs) - _bpb_tolerance(c.val_bpb):
            contradict.append(f"claimed val_bpb {c.val_bpb} is better than every counted log ({min(bpbs):.5f} at best)")
        elif any(abs(c.val_bpb - b) <= _printed_tolerance(repr(c.val_bpb)) + 1e-9 for b in bpbs):
            minor.append(f"claimed val_bpb {c.val_bpb} is one seed's score, not the mean {mean_bpb:.5f}")
        else:
            minor.append(f"claimed val_bpb {c.val_bpb} differs from the log mean {mean_bpb:.5f} by {c.val_bpb - mean_bpb:+.5f}")
    if c.val_loss is not None and mean_loss is not None and mean_bpb:
        tolerance = max(CLAIM_BPB_TOLERANCE * mean_loss / mean_bpb, _printed_tolerance(repr(c.val_loss)))
        if abs(c.val_loss - mean_loss) > tolerance:
            minor.append(f"claimed val_loss {c.val_loss} differs from the log mean {mean_loss:.5f}")
    totals = [s.train.bytes_total for s in sub.seeds if s.train.bytes_total is not None]
    if c.bytes_total is not None and totals and c.bytes_total not in set(totals) | {max(totals), round(sum(totals) / len(totals))}:
        minor.append(f"claimed bytes_total {c.bytes_total:,} matches no counted log ({', '.join(f'{t:,}' for t in sorted(set(totals)))})")
    codes = {v for s in sub.seeds for v in s.train.code_sizes.values()} | ({s.train.bytes_code for s in sub.seeds} - {None})
    if c.bytes_code is not None and codes and c.bytes_code not in codes:
        minor.append(f"claimed bytes_code {c.bytes_code:,} != logged code size {sorted(codes)}")
    logged = {s.seed for s in sub.seeds if s.seed is not None}
    every_logged = {r.seed for r in sub.runs if r.seed is not None}
    if c.seeds and logged and set(c.seeds) != logged:
        unlogged = sorted(set(c.seeds) - every_logged)
        if unlogged:
            contradict.append(f"claimed seed(s) {unlogged} have no log")
        else:
            minor.append(f"claimed seeds {sorted(c.seeds)} != counted seeds {sorted(logged)}")
    by_seed = {s.seed: s for s in sub.seeds}
    for seed, claim in sorted(c.per_seed.items()):
        s = by_seed.get(seed)
        if s is None:
            continue
        if "val_bpb" in claim and s.val_bpb is not None and abs(claim["val_bpb"] - s.val_bpb) > _bpb_tolerance(claim["val_bpb"]):
            minor.append(f"seed {seed}: claimed val_bpb {claim['val_bpb']} vs log {s.val_bpb}")
        if "steps" in claim and s.train.steps is not None and claim["steps"] != s.train.steps:
            minor.append(f"seed {seed}: claimed steps {claim['steps']} vs log {s.train.steps}")
        if "bytes_total" in claim and s.train.bytes_total is not None and claim["bytes_total"] != s.train.bytes_total:
            minor.append(f"seed {seed}: claimed bytes {claim['bytes_total']:,} vs log {s.train.bytes_total:,}")
    if c.steps is not None and len(sub.seeds) == 1 and sub.seeds[0].train.steps not in (None, c.steps):
        minor.append(f"claimed steps {c.steps} vs log {sub.seeds[0].train.steps}")
    for warning in sub.warnings:
        if "the file name says seed" in warning:
            minor.append(warning)
    if contradict:
        return Check("claims_match", FAIL, "contradict: " + "; ".join(contradict + minor), "claims")
    if minor:
        return Check("claims_match", WARN, "minor: " + "; ".join(minor), "claims")
    if c.readme_numbers and mean_bpb is not None:
        values = bpbs + [mean_bpb]
        if not any(abs(float(n) - v) <= _printed_tolerance(n) + 1e-12 for n in c.readme_numbers for v in values):
            return Check("claims_match", WARN, f"minor: submission.json agrees with the logs, but the README never "
                                               f"states the logged mean {mean_bpb:.5f}", "claims")
    return Check("claims_match", PASS, "agree: submission.json agrees with the logs", "claims")


def claims_axis(check: Check) -> str:
    return {PASS: "agree", WARN: "minor", FAIL: "contradict"}.get(check.status, "minor")


# ---- record eligibility

def check_seeds(sub: Submission) -> Check:
    seeds = sorted({s.seed for s in sub.seeds if s.seed is not None and s.score is not None})
    if len(seeds) < MIN_RECORD_SEEDS:
        return Check("seeds", FAIL, f"{len(seeds)} distinct scored seed(s) {seeds}; a record needs {MIN_RECORD_SEEDS}",
                     RECORD)
    return Check("seeds", PASS, f"{len(seeds)} distinct seeds with logs: {seeds}", RECORD)


def significance_against(sub: Submission, reference: Reference, policy: Policy) -> Significance | None:
    losses, bpbs = sub.values("val_loss"), sub.values("val_bpb")
    if not losses or not reference.val_losses or len(bpbs) != len(losses):
        return None
    return welch_improvement(losses, reference.val_losses, bpbs, reference.val_bpbs, policy.threshold_nats, policy.alpha)


def check_significance(sub: Submission, context: Context) -> tuple[Check, Significance | None]:
    reference, policy = context.reference, context.policy
    if reference is None:
        return Check("significance", UNKNOWN, "no reference: no accepted record known for its date (import the "
                                              "records, or pass --against)", RECORD), None
    sig = significance_against(sub, reference, policy)
    if sig is None:
        return Check("significance", UNKNOWN, f"no per-seed val_loss to compare with {reference.name}", RECORD), None
    text = (f"vs {reference.name} ({policy.name} policy: > {sig.threshold_nats:.4g} {sig.unit.split()[0]} at "
            f"p < {policy.alpha}): {sig.delta_nats:+.5f} {sig.unit}"
            + (f", {sig.delta_bpb:+.5f} bpb" if sig.delta_bpb is not None else ""))
    if sig.p is None:
        return Check("significance", UNKNOWN, f"{text}; need 2+ seeds on each side for a test", RECORD), sig
    text += f", t={sig.t:.3f}" if sig.t is not None else ""
    text += f", df={sig.df:.1f}, p={sig.p:.3g}" if sig.df is not None else f", p={sig.p:.3g}"
    return Check("significance", PASS if sig.significant else FAIL, text, RECORD), sig


# ---- all of it

@dataclass
class Judgement:
    checks: list[Check]
    verdict: str
    reasons: list[str]  # why it is not a record (or why invalid / in review)
    claims: str  # agree | minor | contradict
    significance: Significance | None


def judge(sub: Submission, context: Context | None = None) -> Judgement:
    context = context or Context()
    significance, sig = check_significance(sub, context)
    checks = [
        check_artifact_size(sub), check_train_time(sub), check_eval_time(sub), check_scored_artifact(sub),
        check_full_validation(sub), check_val_data(sub), check_score_first(sub), check_eval_adaptation(sub), check_plausible(sub, context),
        check_claims(sub), check_seeds(sub), significance,
    ]
    claims = claims_axis(next(c for c in checks if c.id == "claims_match"))
    broken = [c for c in checks if c.kind == VALIDITY and c.status == FAIL]
    if broken:
        return Judgement(checks, Verdict.invalid.value, [f"{c.id}: {c.message}" for c in broken], claims, sig)
    doubts = [c for c in checks if c.kind == DOUBT and c.status in (WARN, UNKNOWN, FAIL)]
    if claims == "contradict":
        doubts.append(next(c for c in checks if c.id == "claims_match"))
    if doubts:
        return Judgement(checks, Verdict.needs_review.value, [f"{c.id}: {c.message}" for c in doubts], claims, sig)
    blockers = [f"{c.id}: {c.message}" for c in checks if c.kind == RECORD and c.status != PASS]
    if sub.track != Track.record.value:
        blockers.insert(0, "the non-record track")
    if blockers:
        return Judgement(checks, Verdict.valid.value, blockers, claims, sig)
    return Judgement(checks, Verdict.record.value, [], claims, sig)

