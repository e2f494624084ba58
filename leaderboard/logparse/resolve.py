"""From a run's facts to its figures: which stage is the score, the seed, the bytes, and the
times the rules cap, each with the line it came from."""
from __future__ import annotations

import re

from .model import Run, Stage, Timer
from .values import leading_word

FAILED_STAGE_MARGIN_BPB = 0.02  # a later stage this much worse than an earlier one has diverged
SAME_RESULT_TOLERANCE = 6e-4  # two printed results within rounding of each other
WARMUP_WORDS = re.compile(r"warm[-_ ]?up|compil", re.I)
CALIBRATION_WORDS = re.compile(r"calib|hessian|gptq.*(?:collect|batch|sample)|activation stat", re.I)
VALIDATION_WORDS = re.compile(r"(?<![a-z])(?:ttt|val|valid|validation|test[-_ ]time)(?![a-z])|prequant|pre_quant|eval", re.I)
TRAINING_WORDS = re.compile(r"train_loss|train data|training data|train_time|post_qat|qat", re.I)
EPOCH = re.compile(r"(?<![a-z])(?:epoch|ep)\s*[:#]?\s*\d+\s*/\s*\d+", re.I)


def _same_result(a: Stage, b: Stage) -> bool:
    pairs = [(a.val_bpb, b.val_bpb), (a.val_loss, b.val_loss)]
    compared = [(x, y) for x, y in pairs if x is not None and y is not None]
    return bool(compared) and all(abs(x - y) <= SAME_RESULT_TOLERANCE for x, y in compared)


def _two_evaluations(a: Stage, b: Stage) -> bool:
    """Close results, each with its own duration (stride 256, then stride 64; a sliding pass, then TTT):
    two evaluations that both ran. The same figures to the last digit under an inner and an outer timer
    are one evaluation said twice."""
    timed_apart = a.time_s is not None and b.time_s is not None \
        and abs(a.time_s - b.time_s) > max(1.0, 0.01 * max(a.time_s, b.time_s))
    pairs = [(a.val_bpb, b.val_bpb), (a.val_loss, b.val_loss)]
    return timed_apart and not all(_same_when_printed(x, y) for x, y in pairs if x is not None and y is not None)


def _decimals(x: float) -> int:
    text = repr(x)
    return len(text.split(".", 1)[1]) if "." in text and "e" not in text else 0


def _more_precise(kept: float | None, other: float | None) -> float | None:
    if kept is None or other is None:
        return kept if other is None else other
    return other if _decimals(other) > _decimals(kept) and _same_when_printed(kept, other) else kept


def _same_when_printed(x: float, y: float) -> bool:
    """0.033797 and 0.03379742: one figure, printed to 6 and to 8 decimals."""
    places = min(_decimals(x), _decimals(y))
    return abs(round(x, places) - round(y, places)) < 0.5 * 10.0 ** -places


def _same_clock(t: Timer, earlier: Timer) -> bool:
    """One clock read twice: the same value, or the total just after a running clock's last reading
    (the last `ttt_epoch:3/3 ... time:43.0s`, then `ttt:done elapsed=43.1s`)."""
    if abs(t.seconds - earlier.seconds) <= 0.001 * t.seconds + 0.05:
        return True
    return earlier.cumulative and not t.cumulative and 0 <= t.seconds - earlier.seconds <= max(0.5, 0.01 * t.seconds)


def _mark_duplicates(stages: list[Stage]) -> None:
    """One result reported twice (a summary line, a compatibility alias): keep one."""
    for i, later in enumerate(stages):
        for earlier in stages[:i]:
            if earlier.duplicate_of or later.duplicate_of or earlier.after_artifact != later.after_artifact:
                continue
            if earlier.diagnostic != later.diagnostic or not _same_result(earlier, later) \
                    or _two_evaluations(earlier, later):
                continue
            keep_later = later.time_s is not None or earlier.time_s is None
            dropped, kept = (earlier, later) if keep_later else (later, earlier)
            dropped.duplicate_of = kept.name
            if kept.time_s is None:
                kept.time_s = dropped.time_s
            if dropped.exact and not kept.exact:
                kept.val_bpb, kept.val_loss, kept.exact = dropped.val_bpb, dropped.val_loss, True
            elif dropped.exact:  # both precise: each figure as printed to the most decimals
                kept.val_bpb = _more_precise(kept.val_bpb, dropped.val_bpb)
                kept.val_loss = _more_precise(kept.val_loss, dropped.val_loss)


def _choose_score(run: Run, live: list[Stage]) -> None:
    # a stage labelled diagnostic is the score only when it is the artifact's one evaluation (an eval-only
    # rerun that reloads the artifact and prints `diagnostic quantized ...`)
    scored = [s for s in live if s.after_artifact and not s.diagnostic] or \
        [s for s in live if s.after_artifact]
    best: Stage | None = None
    for s in scored:
        if best is not None and s.val_bpb is not None and best.val_bpb is not None \
                and s.val_bpb > best.val_bpb + FAILED_STAGE_MARGIN_BPB:
            s.failed = True
            run.warnings.append(
                f"line {s.line}: stage {s.name} (val_bpb {s.val_bpb:.5f}) is {s.val_bpb - best.val_bpb:.5f} worse than "
                f"{best.name} ({best.val_bpb:.5f}): a failed stage, not the score")
            continue
        if best is None or (s.val_bpb is not None and (best.val_bpb is None or s.val_bpb <= best.val_bpb)):
            best = s
    candidates = [s for s in scored if not s.failed]
    if run.explicit_score_stage:
        named = [s for s in candidates if s.name == run.explicit_score_stage]
        run.score = named[-1] if named else None
    elif candidates:
        run.score = candidates[-1]
    if run.score is not None:
        run.note("val_bpb", run.score.line)
        if run.artifact_assumed:
            run.warnings.append(f"no line states the artifact's size; the evaluation at line {run.score.line}, "
                                f"after the training, is taken as the artifact's")
        return
    last_val = next((p for p in reversed(run.curve) if p.val_bpb is not None or p.val_loss is not None), None)
    if last_val is not None and run.steps is not None and last_val.step == run.steps:
        run.last_training_val = Stage("training_val_at_stop", last_val.val_loss, last_val.val_bpb, None,
                                      run.training_end_line or run.last_line)
        run.warnings.append(f"no evaluation after the artifact was written; the only score is the in-training "
                            f"validation at step {last_val.step} (before quantization)")
    elif run.has_training or run.stages:
        run.warnings.append("no final evaluation of the artifact found (truncated or unfinished log?)")


def _series_key(text: str) -> str:
    return leading_word(text).lower()


def _mark_series(run: Run) -> None:
    """Timers of one series (the same leading word, values that never shrink) are a cumulative clock:
    `tttg: c1/213 ... t:1.9s`, `tttg: c2/213 ... t:2.1s`... only the last value is a duration."""
    by_key: dict[str, list[Timer]] = {}
    for t in run.timers:
        by_key.setdefault(_series_key(t.text), []).append(t)
    for series in by_key.values():
        if len(series) >= 3 and all(b.seconds >= a.seconds for a, b in zip(series, series[1:])):
            for t in series:
                t.cumulative = True


def _restates_a_stage(timer: Timer, stages: list[Stage]) -> bool:
    """`ttt_sliding:done ... time=266s` beside `legal_ttt ... eval_time:266351ms`: one duration said twice."""
    return any(s.time_s is not None and abs(s.line - timer.line) <= 5
               and abs(s.time_s - timer.seconds) <= max(1.0, 0.01 * s.time_s) for s in stages)


GENERIC_WORDS = frozenset({"final", "eval", "done", "total", "time", "exact", "val", "stage", "phase", "progress"})


def _words(text: str) -> set[str]:
    return {w for w in re.split(r"[^a-z0-9]+", text.lower()) if len(w) >= 3 and w not in GENERIC_WORDS}


def _timer_inside_next_stage(timer: Timer, stages: list[Stage]) -> bool:
    """`ttt:long_docs time=558962ms` before `final_ttt_lora ... eval_time:581205ms`: a part of the stage
    that follows, timed again by it (its subject among the stage's words, and no longer than it)."""
    after = next((s for s in stages if s.line > timer.line and s.time_s is not None), None)
    words = _words(_series_key(timer.text))
    return after is not None and timer.seconds <= after.time_s * 1.01 + 0.5 \
        and bool(words) and words <= (_words(after.name) | _words(after.subject))


def _mark_parts(stages: list[Stage]) -> None:
    """`ngram_two_pass: Pass 1 done val_bpb=... time=99.1s`, `... Pass 2 done ... time=26.0s`, then
    `ngram_two_pass ... eval_time:162023ms`: passes of one evaluation, whose total is the last line under
    the same leading word, with nothing else between; neither a result of their own nor a second duration."""
    for i, part in enumerate(stages):
        if part.time_s is None or not part.subject:
            continue
        for whole in stages[i + 1:]:
            if whole.subject != part.subject or whole.after_artifact != part.after_artifact:
                break
            if whole.time_s is not None and whole.time_s >= part.time_s * 0.99:
                part.part_of = whole.name
                break


def _eval_time(run: Run, live: list[Stage], after_artifact) -> None:
    """`eval_time_s`, what the rule caps: the timed scoring from the artifact to the score (the script's
    own total when it prints one, else its scoring stages and the timers between them). Reported beside
    it, not capped: diagnostic evaluations of other weights or of the artifact (`diagnostics_s`) and
    compile warm-ups (`warmup_s`, accepted outside the timer, #1855)."""
    if run.score is None or not run.score.after_artifact:
        return
    upto = run.score.line
    timed_stages = [s for s in live if s.time_s is not None]
    window = [s for s in timed_stages if s.after_artifact and s.line <= upto]  # a worse pass before the score ran too
    series_last: dict[str, float] = {}  # a cumulative series counts once, by its last value
    plain, warmup = 0.0, 0.0
    # one duration stated twice in a row (`ttt:done elapsed=...`, `ttt:elapsed=...`; the last of `ttt_epoch:3/3 ... time:43.0s`
    # then `ttt:done elapsed=43.1s`)
    said: list[Timer] = []
    for t in run.timers:
        if not after_artifact(t.line) or t.line > upto or _restates_a_stage(t, timed_stages):
            continue
        if any(abs(t.line - u.line) <= 3 and _same_clock(t, u) for u in said):
            continue
        said.append(t)
        if WARMUP_WORDS.search(t.text):
            warmup += t.seconds
        elif _timer_inside_next_stage(t, window):
            continue
        elif t.cumulative:
            series_last[_series_key(t.text)] = t.seconds
        else:
            plain += t.seconds
    scoring = [s for s in window if not s.diagnostic or s is run.score]
    if run.explicit_eval_total is not None:
        run.eval_time_s = run.explicit_eval_total
    elif scoring or plain or series_last:
        run.eval_time_s = sum(s.time_s for s in scoring) + plain + sum(series_last.values())
        run.note("eval_time_s", upto)
    run.diagnostics_s = sum(s.time_s for s in window if s.diagnostic and s is not run.score) or None
    run.warmup_s = warmup or None


def _untimed_loop_end(run: Run) -> None:
    """A clock last printed at step 500 of a loop that went on to step 12000 times only the start."""
    if run.train_time_s is None or run.steps is None or run.stopped_by_cap:
        return
    clock_line = run.sources.get("train_time_s")
    if clock_line is not None and clock_line == run.sources.get("steps"):
        return  # one line states the loop's steps and its clock together (golf's train_done)
    timed = max((p.step for p in run.curve if p.train_time_s is not None), default=None)
    if timed is not None and timed < run.steps:
        run.warnings.append(f"the training clock is last printed at step {timed} ({run.train_time_s:.1f}s) of "
                            f"{run.steps} steps: the loop's end is not timed")
        run.train_time_s = None
        run.sources.pop("train_time_s", None)


def _before_artifact_work(run: Run) -> None:
    """Split what happened between the loop's end and the artifact: calibration on training data
    (capped with training), optimizer loops (on validation data unless the log says training),
    and serialization (reported, not capped)."""
    end = run.training_end_line or run.first_line
    artifact = run.artifact_line
    if artifact is None:
        return
    between = [t for t in run.timers if end < t.line < artifact]
    calibration = [t.seconds for t in between if CALIBRATION_WORDS.search(t.text) and not t.cumulative]
    loops = [(line, text) for line, text in run.loop_lines if end < line < artifact]
    val_loops = [(line, text) for line, text in loops
                 if EPOCH.search(text) or (VALIDATION_WORDS.search(text) and not TRAINING_WORDS.search(text))]
    train_loops = [(line, text) for line, text in loops if (line, text) not in val_loops]
    loop_lines = {line for line, _ in loops}
    train_loop_time = max((t.seconds for t in between if t.line in {line for line, _ in train_loops}), default=0.0)
    run.calibration_s = (sum(calibration) + train_loop_time) or (0.0 if between or loops else None)
    if run.stated_train_total_s is not None and run.train_time_s is not None:
        run.calibration_s = max(run.calibration_s or 0.0, run.stated_train_total_s - run.train_time_s)
    serializing = [t for t in between if not CALIBRATION_WORDS.search(t.text) and t.line not in loop_lines
                   and not t.cumulative]
    if "training_end" in run.timestamps and "artifact" in run.timestamps:
        run.serialization_s = max(0.0, run.timestamps["artifact"] - run.timestamps["training_end"] - (run.calibration_s or 0.0))
    elif serializing:
        run.serialization_s = max(t.seconds for t in serializing)  # a lower bound: the longest step logged
    # a validation score that keeps improving after the last training step and before the artifact: the
    # weights are being fitted to the validation set, whatever the lines are called
    before = [s for s in run.stages if end < s.line < artifact and s.val_bpb is not None and not s.duplicate_of]
    improving = [b for a, b in zip(before, before[1:]) if b.val_bpb < a.val_bpb - 1e-4]
    if len(improving) >= 2:
        val_loops += [(s.line, f"{s.name} val_bpb:{s.val_bpb}") for s in improving]
    run.val_loop_lines = val_loops
    # epochs of an optimizer over a fixed set after the artifact and before the score: the validation set
    # trained on before the scoring pass that counts (C3, #1017); score-first adaptation prints its running
    # score as it goes, per chunk or document, and never whole epochs without one
    scored_at = run.score.line if run.score is not None else run.last_line + 1
    run.unscored_adaptation_lines = [(line, text) for line, text in run.loop_lines
                                     if artifact < line < scored_at and EPOCH.search(text) and "bpb" not in text]


def _bytes(run: Run) -> None:
    sizes = run.code_sizes
    artifact = sizes.pop("artifact", None)
    if sizes:
        if run.bytes_total is not None and run.bytes_model is not None:
            run.bytes_code = next((v for v in sizes.values() if v == run.bytes_total - run.bytes_model), None)
        if run.bytes_code is None:
            run.bytes_code = sizes.get("compressed", sizes.get("plain", sizes.get("uncompressed")))
    if run.bytes_total is None and artifact is not None:
        if run.bytes_code is not None and run.bytes_model is None and artifact > run.bytes_code:
            run.bytes_total = artifact
        elif run.bytes_model is None or artifact != run.bytes_model:
            run.bytes_total = artifact
        if run.bytes_total is not None:
            run.note("bytes_total", run.sources.get("artifact_bytes", 0))
    if run.bytes_total is None and run.bytes_model is not None and run.bytes_code is not None:
        run.bytes_total = run.bytes_model + run.bytes_code
        run.note("bytes_total", run.sources.get("bytes_model", 0))
        run.warnings.append("total bytes not stated; the sum of the logged model and code sizes")


def _artifact_line(run: Run) -> int | None:
    """Where the artifact was written: the last size statement before the first evaluation after
    training (a raw size, then calibration, then the compressed size all come before it). A log that
    states only the raw model or the code is taken at those lines; one that sums its sizes up after all
    its evaluations wrote the artifact before them (evaluations of the float weights before the sizes, and
    of the artifact after them, are not a summary)."""
    end = run.training_end_line or 0
    sizes = [n for n in run.size_lines if n > end] or run.size_lines or \
        [n for n in run.other_size_lines if n > end]
    if not sizes:
        return None
    evals = [s for s in run.stages if s.line > end and not s.diagnostic]
    first_eval = evals[0].line if evals else None
    if first_eval is not None and run.has_training and sizes[0] > first_eval:
        before_sizes = [s for s in evals if s.line < sizes[0]]
        fresh_after = [s for s in evals if s.line > sizes[0] and not any(_same_result(s, b) for b in before_sizes)]
        if not fresh_after and any(s.line < sizes[0] for s in _evaluations_of_the_artifact(run, end)):
            return first_eval - 1  # the sizes are a summary after the evaluations
        first_eval = fresh_after[0].line if fresh_after else None  # before them, only the float weights'
    before = [n for n in sizes if first_eval is None or n < first_eval]
    return before[-1] if before else sizes[0]


def _evaluations_of_the_artifact(run: Run, after: int) -> list[Stage]:
    """The evaluations after line `after` that are not of the float weights: not a diagnostic one, and not
    a line that repeats the figures of one (`final_int6_roundtrip_exact ... skipped_packaging:1`) or of the
    last validation in the loop (`FINAL val_bpb: 1.2146`)."""
    floats = {(s.val_bpb, s.val_loss) for s in run.stages if s.diagnostic}
    last_val = next((p.val_bpb for p in reversed(run.curve) if p.val_bpb is not None), None)
    return [s for s in run.stages if s.line > after and not s.diagnostic and (s.val_bpb, s.val_loss) not in floats
            and not (last_val is not None and s.val_bpb is not None and _same_when_printed(s.val_bpb, last_val))]


def _evaluates_an_unstated_artifact(run: Run) -> bool:
    """An evaluation after the training that is not of the float weights."""
    return run.has_training and run.training_end_line is not None and \
        bool(_evaluations_of_the_artifact(run, run.training_end_line))


def finish(run: Run) -> Run:
    if run.artifact_line is None:
        run.artifact_line = _artifact_line(run)
        stamp = run.timestamps.pop(f"size@{run.artifact_line}", None)
        if stamp is not None:
            run.timestamps["artifact"] = stamp
    for key in [k for k in run.timestamps if k.startswith("size@")]:
        del run.timestamps[key]
    artifact = run.artifact_line
    # an eval-only log, or a summary of a run without its step lines, may state the sizes after its scores
    summary = not run.curve and run.stages and all(s.line <= (artifact or 0) for s in run.stages)
    if summary:
        artifact = None
    elif artifact is None and _evaluates_an_unstated_artifact(run):
        artifact = run.training_end_line  # stated nowhere, the artifact can only come after the training
        run.artifact_assumed = True

    def after_artifact(line: int) -> bool:  # an eval-only log with no size line is evaluation throughout
        return line > artifact if artifact is not None else (summary or not run.has_training)

    for s in run.stages:
        s.after_artifact = after_artifact(s.line)
    stages = [s for s in run.stages if s.val_bpb is not None or s.val_loss is not None]
    _mark_parts(stages)
    stages = [s for s in stages if not s.part_of]
    _mark_duplicates(stages)
    _mark_series(run)
    live = [s for s in stages if not s.duplicate_of]
    _choose_score(run, live)
    _eval_time(run, live, after_artifact)
    _untimed_loop_end(run)
    _before_artifact_work(run)
    distinct = list(dict.fromkeys(seed for seed, _ in run.seeds))
    if len(distinct) == 1 or (distinct and run.has_results):
        run.seed = distinct[0]
        run.note("seed", next(line for seed, line in run.seeds if seed == run.seed))
        if len(distinct) > 1:
            run.warnings.append(f"several seeds in one run: {distinct}; using the first, {run.seed}")
    elif distinct:
        run.warnings.append(f"several seeds and no run of its own: {distinct}; a summary of other runs?")
    _bytes(run)
    return run
