"""The community's logs: the official baseline's `key:value` lines and everything derived from
them (hundreds of scripts, each printing a little differently). Each line becomes facts on the run
being built: curve points, evaluation stages, sizes, timers, hints about the experiment."""
from __future__ import annotations

import re
from typing import NamedTuple

from .model import CurvePoint, MAX_CURVE_POINTS, Run, Stage, Timer, bounded_append
from .sizes import read_sizes
from .values import MEAN_WORD, leading_word, to_int, to_number, to_seconds, tokens

# words that may say what kind of experiment a line is about; found by substring tests (see hints_at_the_experiment)
HINT_WORDS = ("seed", "world", "nproc", "gpu", "ws:", "nvidia", "h20", "h100", "b200", "a10", "l4", "rtx", "token", "fineweb",
              "embedded", "vocab", "wallclock", "iterations", "limited", "subset", "partial")
SP_DIGIT = re.compile(r"_sp\d")
# Literal words first: a pattern that starts with a literal is scanned for in C, one that starts with
# a class or a lookbehind is tried at every position (several times slower)
SIZE_WORDS = re.compile(r"byte|size|total|budget|artifact|model:|code:|b(?<=\db)\b")
STEP_AT_START = re.compile(r"^(?:step[:\s#]*)?(\d+)\s*/\s*(\d+)\b", re.I)
NUMBER_TEXT = r"(-?\d+(?:\.\d+)?)"
BASELINE_STEP = re.compile(  # step:200/20000 train_loss:2.6148 train_time:28346ms step_avg:141.73ms
    rf"step:(\d+)/(\d+) (?:train_loss:{NUMBER_TEXT}|val_loss:{NUMBER_TEXT} val_bpb:{NUMBER_TEXT}) "
    rf"train_time:(\d+)ms step_avg:\d+(?:\.\d+)?ms$")
STEP_NO_TOTAL = re.compile(r"^step[:\s#]*(\d+)\b(?!\s*/)", re.I)
# train_loss|loss|val_loss|val_bpb|train_time|time|t|elapsed, not after a word character or a dot; each key's first
# letter comes before the lookbehind so that the scan skips in C to the next t, l, v or e
STEP_FIELD = re.compile(r"(t(?<![\w.].)(?:rain_loss|rain_time|ime|)|l(?<![\w.].)oss|v(?<![\w.].)al_(?:loss|bpb)|e(?<![\w.].)lapsed)"
                        r"(?:[:=] ?|~)(-?\d[\d.]*(?:[eE][-+]?\d+)?)((?:ms|s|m|h)(?:\d+(?:\.\d+)?s)?)?")
STAGE_KEYS = ("val_loss", "val_bpb")
SUFFIXED_SCORE = re.compile(r"^([A-Za-z][\w\-]*?)_(val_bpb|val_loss)\s*[:=]\s*(-?\d[\d.]*(?:[eE][-+]?\d+)?)\s*$")
PROGRESS = re.compile(r"\[\s*\d+\s*/\s*\d+\s*\]|\[\s*\d+(?:\.\d+)?\s*%\s*\]|\brunning_|\b(?:chunk|batch|window)s?\s*[:#]?\s*\d+\s*/\s*\d+",
                      re.I)
SCORE_KEY = re.compile(r"\bval_(?:loss|bpb)\s*[:=]")
KEY_VALUE = re.compile(r"\b[\w.\-]+[:=] ?\S+")
NOT_A_NAME = re.compile(r"[^\w\- ]")
# `Mean val_bpb: 1.19617 (std 0.0005)`, `Seed 7: val_bpb=1.13871882`: a summary of several runs, not an evaluation
SUMMARY_STAGE = re.compile(rf"^{MEAN_WORD}|^seed[\s_]*(\d+)$", re.I)
DIAGNOSTIC_WORDS = re.compile(r"diagnostic|pre[-_ ]?quant|post[-_ ]?ema|pre[-_ ]?ema|rescore|temp_search|candidate|"
                              r"best_ckpt|sanity|baseline_eval|\bdiag\b", re.I)
LOOP_COUNTER = re.compile(r"(?<![a-z])(?:epoch|ep|step|iter(?:ation)?)\s*[:#]?\s*(\d+)\s*/\s*(\d+)", re.I)
LOOP_SIGNAL = re.compile(r"(?<![a-z])(?:loss|lr)\s*[:=]\s*[-+.\d]", re.I)
IN_SECONDS = re.compile(r"(?:i(?<!\wi)n|t(?<!\wt)ook|a(?<!\wa)fter)\s+(\d+(?:\.\d+)?)\s*(ms|s|sec|seconds|m|min)\b")  # lower case
DURATION_IN_PARENS = re.compile(r"\((\d+(?:\.\d+)?)\s*s\)\s*$")
# `Quantized BPB (XSA-all): 1.031403`: a result named in words (a best-so-far is not one)
NAMED_BPB = re.compile(r"^(?![Bb]est\b)([A-Za-z][\w\-]*(?: [A-Za-z][\w\-]*){0,3}) BPB(?: \(([^)]{1,40})\))?:\s*(\d+\.\d+)\s*$")
# `Evaluation time: 497 seconds`, `Training time: 589 seconds`, `Total time: ...`: a summary's times in words
SUMMARY_TIME = re.compile(r"^(evaluation|eval|training|train|total) time\s*:\s*(\d+(?:\.\d+)?\s*(?:ms|s|sec|seconds|m|min|minutes)?)\s*$")
# `Training complete in 590s (1858 steps)`, `Training complete: 562.25s`: the loop's end in words (lower case)
TRAINING_DONE = re.compile(r"^training (?:complete|completed|finished|done)\b(?:.*?\bin |:\s*)(\d+(?:\.\d+)?\s*(?:ms|s|sec|m|min))\b"
                           r"(?:.*?\((\d+) steps?\))?")
STEPS_IN_WORDS = re.compile(r"^total (?:number of )?steps(?: is|:)\s*(\d+)\s*$")  # Total number of steps is 3426 (lower case)
TRAIN_TIME_WORDS = re.compile(r"\btrain(?:ing)?[_ ]time\s*[:=]\s*(\d+(?:\.\d+)?\s*(?:ms|s|m|min)?)\b")  # (Train time: 594.7s)
TIMER_KEYS = ("eval_time", "elapsed", "time", "calib_time")
# a summary's training loop in seconds: `train_time_s: 590.110`, autoresearch's `training_seconds: 300.6`
STATED_TRAIN_SECONDS = ("train_time_s", "training_seconds")
SUBSET_MARKER = re.compile(r"\b(?:eval|val)\w*\b.*\b(?:limited|subset|partial)\b|\((?:limited|subset)\)", re.I)
DATASET_NAME = re.compile(r"\b(?:fineweb10B|fineweb|embedded)_sp\d+\w*\b|\bfineweb10B_byte\d+\b")
TOKENIZER_NAME = re.compile(r"\bfineweb_(\d+)_bpe(\w*?)(?:\.model\b|$|\s)")
GPU_NAME = re.compile(r"NVIDIA ((?:GeForce )?(?:RTX )?(?:H|A|B|L|GH|GB)?\d+[\w ]*?(?:SXM\d?|PCIe|HBM3e?|NVL)?(?: \d+GB)?(?: HBM3e?)?)\b")
GPU_SPEC = re.compile(r"\b(\d+)\s*[x×]\s*(H100|H200|A100|B200|H20|L40S?|GH200|A10G?|L4|RTX ?\d{4})\b", re.I)
GPU_SPEC_WORDS = ("h1", "h2", "a10", "b200", "l4", "rtx")  # one of them is in every GPU that GPU_SPEC names
SEED_WORD = re.compile(r"(?<![\w/.\-])seed[\s:=#]+(\d{1,12})\b", re.I)  # not seed314 inside a path
COMPACT_SEED = re.compile(r"^(?:model_)?params[:=]\S+.*\bs:(\d+)\b", re.I)  # "params:N L:10 ... ws:8 s:42"
WORLD_SIZE_WORDS = ("world_size", "nproc_per_node", "num_gpus", "n_gpus", "gpus")


def _float(field: tuple[str, str] | None) -> float | None:
    if field is None:
        return None
    try:
        value = float(field[0])
    except ValueError:
        return None
    return value if value == value and abs(value) != float("inf") else None


def _seconds(field: tuple[str, str]) -> float | None:
    value = _float(field)
    if value is None:
        return None
    unit = field[1]
    if len(unit) > 2:  # 4m44s
        return to_seconds(field[0] + unit)
    return {"ms": value / 1000, "m": value * 60, "h": value * 3600}.get(unit, value)


def hints_at_the_experiment(lower: str) -> bool:
    """A word that may say what kind of experiment this is (seed, world size, GPU, tokens, dataset...)."""
    for word in HINT_WORDS:  # substring tests: sre tries an alternation of 21 literals at every position
        if word in lower:
            return True
    return "_sp" in lower and SP_DIGIT.search(lower) is not None


def is_progress(line: str) -> bool:
    return ("[" in line or "/" in line or "unning_" in line.lower()) and PROGRESS.search(line) is not None


def stated_eval_total(kv: dict[str, str]) -> str | None:
    """The key of a script's own evaluation total: total_eval_time, eval_time_s, final_eval_time_seconds."""
    return next((key for key in kv if key == "total_eval_time" or key.endswith(("eval_time_s", "eval_time_seconds"))), None)


def is_loop_end(lower: str) -> bool:
    """`stopping_early: ...`, `Training complete: 562.25s`: the training loop's end."""
    return lower[:14] in ("stopping_early", "stopping early") or \
        (lower.startswith("training") and TRAINING_DONE.match(lower) is not None)


def is_loop_line(line: str, lower: str) -> bool:
    """`epoch 3/21 loss=2.80`: a counter with a loss or a learning rate."""
    return "/" in line and ("loss" in lower or "lr" in lower) and LOOP_COUNTER.search(line) is not None \
        and LOOP_SIGNAL.search(line) is not None


def is_step_like(line: str) -> bool:
    """`step:200/20000 ...`, `1/20000 ...`, `step 1000 ...`: a line `read` hands to `step` before anything else."""
    first = line[0]
    return (first.isdigit() or first in "sS") and (STEP_AT_START.match(line) is not None or
                                                   (first in "sS" and STEP_NO_TOTAL.match(line) is not None))


def is_stage_line(kv: dict[str, str], line: str) -> bool:
    if "val_" not in line:
        return False
    loss, bpb = kv.get("val_loss"), kv.get("val_bpb")
    if (loss is None or to_number(loss) is None) and (bpb is None or to_number(bpb) is None):
        return False
    return not is_progress(line)


def stage_name(line: str) -> str:
    head = SCORE_KEY.split(line, maxsplit=1)[0]
    head = KEY_VALUE.sub("", head)  # drop key:value tokens such as stride:64
    name = " ".join(NOT_A_NAME.sub(" ", head).split())
    if not name:
        colon = line.split(":", 1)[0].strip()
        name = colon if colon and " " not in colon and not colon.startswith("val_") else "eval"
    return name[:200]


KNOWN_LINES = 50_000  # distinct lines remembered (short ones): logs repeat settings dumps and library chatter
KNOWN_LINE_CHARS = 256


def is_inert(line: str, lower: str, kv: dict[str, str], hinted: bool, sizes: list) -> bool:
    """True when reading the line can change no run, whatever the run's state (its timestamp aside):
    the checks of `CommunityReader.read`, each answered the way that keeps the line when in doubt."""
    first = line[0]
    if is_step_like(line):
        return False
    if first in "sStT" and is_loop_end(lower):
        return False
    if hinted or sizes or "peak memory" in lower or lower.startswith("peak_memory"):
        return False
    if is_stage_line(kv, line) or ("_val_" in line and SUFFIXED_SCORE.match(line)) or "score" in kv:
        return False
    if "stop_step" in kv or not kv.keys().isdisjoint(STATED_TRAIN_SECONDS) or (("time" in lower or "elapsed" in lower) and any(
            key in TIMER_KEYS or key.endswith(("_time", "_time_s", "_time_seconds", "elapsed_seconds")) for key in kv)):
        return False  # a timer, or a summary's total_eval_time / eval_time_s / train_time_s / training_seconds
    if first in "tT" and STEPS_IN_WORDS.match(lower):
        return False
    if is_loop_line(line, lower):
        return False
    if " BPB" in line and NAMED_BPB.match(line):
        return False
    return not (IN_SECONDS.search(lower) or DURATION_IN_PARENS.search(line))


class Words(NamedTuple):
    """What a line says whatever the state: lower-cased, its key:value tokens, whether it is inert,
    whether it may hint at the experiment, and the sizes it states."""

    lower: str
    kv: dict[str, str]
    inert: bool
    hinted: bool
    sizes: list[tuple[str, int]]


_known: dict[str, Words] = {}


def words(line: str) -> Words:
    """The line's Words, remembered for the lines seen last (the tokens are never modified)."""
    known = _known.get(line)
    if known is None:
        lower, kv = line.lower(), tokens(line)
        hinted = hints_at_the_experiment(lower)
        sizes = read_sizes(line, lower, kv) if SIZE_WORDS.search(lower) else []
        known = Words(lower, kv, is_inert(line, lower, kv, hinted, sizes), hinted, sizes)
        if len(line) <= KNOWN_LINE_CHARS:
            if len(_known) >= KNOWN_LINES:
                _known.clear()
            _known[line] = known
    return known


class CommunityReader:
    """Turns lines into facts on one run. `in_training` is True until the training loop ends."""

    def __init__(self, run: Run):
        self.run = run
        self.in_training = True
        self.series = False  # the line read is the first or last of a series (its time is a running clock)
        self.dumped = False  # the run has printed its source code
        self.configured = False  # ... and its settings after it: another source dump is a relaunch

    # ---- one line
    def read(self, n: int, line: str, stamp: float | None) -> None:
        first = line[0]
        if first.isdigit() or first in "sS":  # a step line first: its words are never needed
            m = STEP_AT_START.match(line)
            if m is not None:
                self.step(n, line, m, stamp)
                return
            if first in "sS" and (m := STEP_NO_TOTAL.match(line)) is not None and self.step(n, line, m, stamp):
                return
        lower, kv, inert, hinted, sizes = words(line)
        if inert:
            if stamp is not None and not self.in_training:
                self.run.timestamps["last"] = stamp
            return
        if first in "sS" and lower[:14] in ("stopping_early", "stopping early"):
            self.stop(n, line, stamp)
            self.hints(n, line, lower, kv, hinted)
            return
        if is_stage_line(kv, line):
            self.stage(n, line, kv, stamp)
        elif "_val_" in line and self.suffixed_stage(n, line, stamp):
            pass
        elif " BPB" in line and (m := NAMED_BPB.match(line)) is not None:
            name = f"{m.group(1)} ({m.group(2)})" if m.group(2) else m.group(1)
            self.stage(n, line, {"val_bpb": m.group(3), "stage": name}, stamp)
        elif first in "tT" and (m := TRAINING_DONE.match(lower)) is not None:
            self.training_done(n, m, stamp)
        else:
            if "score" in kv and ("|" in line or "size" in kv):  # [RESULT] run=... | score=1.1773 | size=15,708,798B
                score = to_number(kv["score"])
                if score is not None and 0 < score < 20:
                    self.stage(n, line, {"val_bpb": kv["score"], "stage": "result"}, stamp)
            self.other(n, line, kv, lower, stamp, sizes)
        self.hints(n, line, lower, kv, hinted)

    def suffixed_stage(self, n: int, line: str, stamp: float | None) -> bool:
        """`final_int6_sliding_window_val_bpb: 1.09503234`: a stage named by the key's prefix."""
        m = SUFFIXED_SCORE.match(line)
        if m is None:
            return False
        self.stage(n, line, {m.group(2): m.group(3), "stage": m.group(1)}, stamp)
        return True

    # ---- training steps
    def read_steps(self, lines: list[tuple[int, str]]) -> None:
        """A series of step lines (see reader.StepLines): each is a curve point. The baseline's own
        form is read by one match, `step:N/M ...` by `step` (as `read` would: a step line is never inert),
        any other (`step N (P%) ...`) by `read`."""
        run = self.run
        self.series = False
        for n, line in lines:
            c = BASELINE_STEP.match(line) if self.in_training else None
            if c is None:
                m = STEP_AT_START.match(line)
                if m is not None:
                    self.step(n, line, m, None)
                else:
                    self.read(n, line, None)
                continue
            step, total, loss, val_loss, val_bpb, ms = c.groups()
            point = CurvePoint(int(step), int(ms) / 1000, loss and float(loss), val_loss and float(val_loss),
                               val_bpb and float(val_bpb))
            self.add_point(n, point)
            run.iterations = int(total)
            if run.train_time_s is None or point.train_time_s >= run.train_time_s:
                run.train_time_s = point.train_time_s
                run.sources["train_time_s"] = n
            run.training_end_line = n

    def add_point(self, n: int, point: CurvePoint) -> None:
        """A point of the training curve (halved when full); the furthest step is the run's."""
        run = self.run
        if len(run.curve) >= MAX_CURVE_POINTS:
            run.curve = run.curve[::2]
        run.curve.append(point)
        if run.steps is None or point.step >= run.steps:
            run.steps = point.step
            run.sources["steps"] = n

    def step(self, n: int, line: str, m: re.Match, stamp: float | None) -> bool:
        """A step line: a curve point and the loop's clock. False when it is only a counter."""
        run = self.run
        fields: dict[str, tuple[str, str]] = {}
        for key, value, unit in STEP_FIELD.findall(line, m.end()):
            fields.setdefault(key, (value, unit))
        if not ("train_loss" in fields or "loss" in fields or "val_loss" in fields or "val_bpb" in fields):
            if not self.in_training and LOOP_SIGNAL.search(line):
                bounded_append(run.loop_lines, (n, line[:200]))
            return False  # e.g. "warmup 3/20" progress
        if not self.in_training:
            # a counter with a loss after the loop ended: another optimizer loop, not the training curve
            bounded_append(run.loop_lines, (n, line[:200]))
            return True
        clock = fields.get("train_time") or fields.get("time") or fields.get("t") or fields.get("elapsed")
        t = _seconds(clock) if clock else None
        loss = fields.get("train_loss") or fields.get("loss")
        point = CurvePoint(int(m.group(1)), t, _float(loss), _float(fields.get("val_loss")), _float(fields.get("val_bpb")))
        self.add_point(n, point)
        if m.lastindex and m.lastindex >= 2 and m.group(2):
            run.iterations = int(m.group(2))
        if "train_time" in fields and t is not None and (run.train_time_s is None or t >= run.train_time_s):
            run.train_time_s = t
            run.sources["train_time_s"] = n
        if stamp is not None:
            run.timestamps["training_end"] = stamp
        run.training_end_line = n
        return True

    def stop(self, n: int, line: str, stamp: float | None) -> None:
        run = self.run
        lower, kv = words(line)[:2]
        run.stopped_by_cap = True
        clock = kv.get("train_time") or ((m := TRAIN_TIME_WORDS.search(lower)) and m.group(1))
        t = to_seconds(clock) if clock else None
        if t is not None:
            run.train_time_s = t
            run.note("train_time_s", n)
        m = re.search(r"(\d+)\s*/\s*(\d+)", kv.get("step", "")) or re.search(r"\bstep[:\s]*(\d+)\s*/\s*(\d+)", line)
        if m:
            run.steps, run.iterations = int(m.group(1)), int(m.group(2))
            run.note("steps", n)
        elif (m := re.search(r"\bstep[:\s]+(\d+)\b", line)) is not None:  # step:7883, at step 1858
            run.steps = int(m.group(1))
            run.note("steps", n)
        self.loop_ended(n, stamp)

    def training_done(self, n: int, m: re.Match, stamp: float | None) -> None:
        """`Training complete in 590s (1858 steps)`: the loop's own clock and count, when the steps said neither."""
        run = self.run
        if run.train_time_s is None:
            run.train_time_s = to_seconds(m.group(1))
            run.note("train_time_s", n)
        if m.group(2) and (run.steps is None or int(m.group(2)) > run.steps):
            run.steps = int(m.group(2))
            run.note("steps", n)
        self.loop_ended(n, stamp)

    def loop_ended(self, n: int, stamp: float | None) -> None:
        """The training loop ended at line n (a stop line, or its end said in words)."""
        self.run.training_end_line = n
        if stamp is not None:
            self.run.timestamps["training_end"] = stamp
        self.in_training = False

    # ---- evaluation results
    def stage(self, n: int, line: str, kv: dict[str, str], stamp: float | None) -> None:
        """An evaluation result; during the loop (`*** NEW BEST val_loss:1.48 ***`) it does not end it."""
        run = self.run
        name = kv.get("stage") or stage_name(line)
        summary = SUMMARY_STAGE.match(name)
        if summary and not (summary.group(1) and run.seeds and int(summary.group(1)) == run.seeds[0][0]):
            return  # a mean over seeds, or another seed's result in a summary table
        exact = name.endswith("_exact")
        if exact:
            name = name[: -len("_exact")]
        time_s = None
        timed = [k for k in ("eval_time", "elapsed", "time") if k in kv] or \
            [k for k in kv if k.endswith(("_time", "elapsed_seconds")) and "train" not in k]  # ngram_eval_time:895349ms, ttt_time:...
        if timed:
            time_s = to_seconds(kv[timed[0]])
        stage = Stage(
            name=name, val_loss=to_number(kv.get("val_loss", kv.get("val_nats", ""))),  # the loss in nats, named so
            val_bpb=to_number(kv.get("val_bpb", kv.get("val_var_bpb", ""))),  # a diffusion model's bound on it
            time_s=time_s, line=n,
            diagnostic=bool(DIAGNOSTIC_WORDS.search(name)) or kv.get("diagnostic") == "1",
            exact=exact or all(len(kv.get(k, "").split(".")[-1]) >= 6 for k in STAGE_KEYS if k in kv),
            tokens=to_int(kv["val_tokens"]) if "val_tokens" in kv else (to_int(kv["tokens"]) if "tokens" in kv else None),
            subject=leading_word(line)[:100],
        )
        prev = run.stages[-1] if run.stages else None
        if prev is not None and prev.name == stage.name and prev.line >= n - 3:
            # "name val_loss:2.0727 ..." then "name_exact val_loss:2.07269931 ...": one stage
            if stage.exact or not prev.exact:
                prev.val_loss = stage.val_loss if stage.val_loss is not None else prev.val_loss
                prev.val_bpb = stage.val_bpb if stage.val_bpb is not None else prev.val_bpb
                prev.line = n
            prev.time_s = prev.time_s if prev.time_s is not None else stage.time_s
            prev.exact = prev.exact or stage.exact
            return
        if stamp is not None:
            run.timestamps["last"] = stamp
        run.stages.append(stage)
        if len(run.stages) > 2 * 2000:
            del run.stages[:2000]  # the newest stages are the ones that can score

    # ---- everything else: sizes, timers, loops after training
    def other(self, n: int, line: str, kv: dict[str, str], lower: str, stamp: float | None,
              sizes: list[tuple[str, int]]) -> None:
        run = self.run
        if sizes:
            self.sizes(n, sizes, stamp)
        if "eval_time" in lower and (key := stated_eval_total(kv)) is not None:  # a script's own total, or a summary's
            run.explicit_eval_total = to_seconds(kv[key])
            run.note("explicit_eval_total", n)
            return
        if lower[:5] == "total" and (m := STEPS_IN_WORDS.match(lower)) is not None \
                and (run.steps is None or int(m.group(1)) >= run.steps):
            run.steps = int(m.group(1))
            run.note("steps", n)
            return
        if " time" in lower and (m := SUMMARY_TIME.match(lower)) is not None:
            what, seconds = m.group(1), to_seconds(m.group(2))
            if what.startswith("eval") and seconds is not None:
                run.explicit_eval_total = seconds
                run.note("explicit_eval_total", n)
            elif what.startswith("train") and run.train_time_s is None and seconds is not None:
                run.train_time_s = seconds
                run.note("train_time_s", n)
            return
        if run.train_time_s is None:
            for key in STATED_TRAIN_SECONDS:
                if key in kv:
                    run.train_time_s = to_number(kv[key])
                    run.note("train_time_s", n)
                    break
        if "stop_step" in kv and run.steps is None:
            m = re.match(r"(\d+)\s*/\s*(\d+)", kv["stop_step"])
            if m:
                run.steps, run.iterations = int(m.group(1)), int(m.group(2))
                run.note("steps", n)
        if "peak memory" in lower or lower.startswith("peak_memory"):
            self.end_training()
        if self.in_training:
            return
        if is_loop_line(line, lower):
            bounded_append(run.loop_lines, (n, line[:200]))
        if "total_train_time" in kv:  # a script's own sum of the loop and what it ran on training data after it
            total = to_seconds(kv["total_train_time"])
            if total is not None:
                run.stated_train_total_s = total
                run.note("stated_train_total_s", n)
        duration = None
        for key in TIMER_KEYS:
            if key in kv:
                duration = to_seconds(kv[key])
                break
        if duration is None and "_time" in lower:  # any other `<what>_time:44771ms` with a unit
            key = next((k for k in kv if k.endswith("_time") and k not in ("train_time", "total_train_time")
                        and kv[k][-1:] == "s" and kv[k][:1].isdigit()), None)
            if key is not None:
                duration = to_seconds(kv[key])
        if duration is None:
            m = IN_SECONDS.search(lower)
            if m:
                value, unit = float(m.group(1)), m.group(2)
                duration = value / 1000 if unit == "ms" else value * 60 if unit in ("m", "min") else value
        if duration is None:
            m = DURATION_IN_PARENS.search(line)
            if m:
                duration = float(m.group(1))
        if duration is not None:
            bounded_append(run.timers, Timer(n, duration, line[:200],
                                             cumulative=self.series or is_progress(line)
                                             or ("/" in line and LOOP_COUNTER.search(line) is not None)))
        if stamp is not None:
            run.timestamps["last"] = stamp

    def sizes(self, n: int, sizes: list[tuple[str, int]], stamp: float | None) -> None:
        run = self.run
        artifact = False
        for kind, value in sizes:
            if kind == "total":
                run.bytes_total = value
                run.note("bytes_total", n)
                artifact = True
            elif kind == "artifact":
                if "artifact_bytes" not in run.sources or run.sources["artifact_bytes"] < n:
                    run.code_sizes["artifact"] = value
                    run.note("artifact_bytes", n)
                artifact = True
            elif kind == "model":
                run.bytes_model = value
                run.note("bytes_model", n)
                artifact = True
            elif kind == "model_raw":
                run.bytes_model_raw = value
                bounded_append(run.other_size_lines, n)
            elif kind.startswith("code_"):
                run.code_sizes[kind[5:]] = value
                run.note(f"bytes_code_{kind[5:]}", n)
                bounded_append(run.other_size_lines, n)
        if artifact:
            bounded_append(run.size_lines, n)
            if stamp is not None:
                run.timestamps.setdefault(f"size@{n}", stamp)
            if run.has_training:  # a size stated before any step (a parameter count, a budget) ends nothing
                self.end_training()

    def end_training(self) -> None:
        self.in_training = False

    # ---- what kind of experiment this is
    def hints(self, n: int, line: str, lower: str, kv: dict[str, str], hinted: bool | None = None) -> None:
        if not (hints_at_the_experiment(lower) if hinted is None else hinted):
            return
        run = self.run
        if "seed" in kv:
            seed = to_int(kv["seed"])
            # after the loop, a seed is some component's (`spinquant:baked seed:20260416`) unless none was seen
            if seed is not None and seed >= 0 and (self.in_training or not run.seeds):
                bounded_append(run.seeds, (seed, n))
        elif "seed" in lower:
            m = SEED_WORD.search(line) if ("=" in line[:2] or "#" in line[:2] or not kv) else None
            if m:
                bounded_append(run.seeds, (int(m.group(1)), n))
        if lower.startswith(("params", "model_params")):
            m = COMPACT_SEED.match(line)
            if m:
                bounded_append(run.seeds, (int(m.group(1)), n))
            if "ws" in kv and to_int(kv["ws"]):
                run.world_size = to_int(kv["ws"])
        for key in WORLD_SIZE_WORDS:
            if key in kv:
                value = to_int(kv[key])
                if value is not None and 0 < value <= 4096:
                    run.world_size = value
                    run.note("world_size", n)
                break
        if ("x" in lower or "×" in lower) and any(gpu in lower for gpu in GPU_SPEC_WORDS):
            spec = GPU_SPEC.search(line)
            if spec:
                run.world_size = run.world_size or int(spec.group(1))
                run.gpu_name = run.gpu_name or spec.group(2).upper()
        if run.gpu_name is None and "NVIDIA" in line:
            gpu = GPU_NAME.search(line)
            if gpu:
                run.gpu_name = gpu.group(1).strip()
        for key in ("val_tokens", "tokens"):
            if key in kv and (key == "val_tokens" or "val" in lower.split(":")[0]):
                value = to_int(kv[key])
                if value:
                    run.val_tokens = value
                    run.note("val_tokens", n)
        if lower.startswith("val tokens:") or lower.startswith("val_tokens:"):
            value = to_int(line.split(":", 1)[1].strip())
            if value:
                run.val_tokens = value
                run.note("val_tokens", n)
        if ("_sp" in line or "fineweb" in lower or "embedded" in lower) and not lower.startswith("default"):
            dataset = DATASET_NAME.search(line)
            if dataset:
                run.dataset = dataset.group(0)
            elif run.dataset is None:
                tokenizer = TOKENIZER_NAME.search(line)  # fineweb_8192_bpe_lossless_caps_caseops_v1.model
                if tokenizer:
                    run.dataset = f"fineweb10B_sp{tokenizer.group(1)}{tokenizer.group(2)}"
        if "vocab_size" in kv:
            run.vocab_size = to_int(kv["vocab_size"]) or run.vocab_size
        if "max_wallclock_seconds" in kv:
            cap = to_number(kv["max_wallclock_seconds"])
            run.wallclock_cap_s = cap if cap and cap > 0 else None
        if "iterations" in kv and self.in_training:
            run.iterations = to_int(kv["iterations"]) or run.iterations
        if ("limited" in lower or "subset" in lower or "partial" in lower) and SUBSET_MARKER.search(line):
            bounded_append(run.subset_markers, (n, line[:200]))
