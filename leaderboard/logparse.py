"""One streaming parser for training logs: ours and the community's many formats.

The parser reads a log line by line (bounded memory, any size), normalizes each line
(encoding, CR, ANSI codes, epoch-timestamp and rank prefixes, `key: value` spacing),
skips embedded source code, splits files that hold several appended runs, and turns
patterns into facts: eval stages, sizes, times, steps, seeds, curves. Anything odd
becomes a warning on the run, never an exception.
"""
from __future__ import annotations

import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Iterable, Iterator

MAX_LINE_CHARS = 8_192  # real log lines are far shorter; this bounds the work per line
MAX_CURVE_POINTS = 20_000  # per run; beyond this, points are thinned (every other one kept)
MAX_ITEMS = 2_000  # per list of stages, markers and timers: a hostile log cannot grow memory without bound
FAILED_STAGE_MARGIN_BPB = 0.02  # a later stage this much worse than an earlier one has diverged
SAME_RESULT_TOLERANCE = 6e-4  # two printed results within rounding of each other

CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1a\x1c-\x1f\ufffd]")
ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07]*\x07")
EPOCH_PREFIX = re.compile(r"^(\d{10}(?:\.\d+)?)\s+")
RANK_PREFIX = re.compile(r"^\[(?:rank\d+|default\d*)\]:\s*")
CLOCK_PREFIX = re.compile(r"^\[\d{1,2}:\d{2}:\d{2}\]\s+")
SPACED_VALUE = re.compile(r"\b([A-Za-z_][\w.\-]*): +(?=[-+]?\d)")
TOKEN = re.compile(r"(?<![\w\"'])([A-Za-z_][\w.\-]*)[:=]([^\s,;()\[\]{}|]+)")
NUMBER = re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
STEP_AT_START = re.compile(r"^(?:step[:\s]?)?(\d+)/(\d+)\b")
SIZE_PHRASE = re.compile(r"([A-Za-z][\w +\-()/.]{0,80}?)\s*:\s*(\d+)\s*bytes\b", re.I)
DURATION_IN_PARENS = re.compile(r"\((\d+(?:\.\d+)?)\s*s\)\s*$")
SEPARATOR = re.compile(r"^[=\-#*]{20,}$")
CODE_START = re.compile(r"^(?:import \w|from [\w.]+ import |def \w|class \w|@\w|if __name__|#!/)")
CODE_SIGNS = re.compile(r"""f["']|\bprint\(|\blog0?\(|\{[^}]*:[^}]*\}|\bself\.|\breturn\b|\blambda\b""")
LOG_LINE_OUTSIDE_CODE = re.compile(r"^[A-Za-z_][\w./\-]*:\S")
RUN_HEADER = re.compile(
    r"^(?:(?:model_)?params[:=]\s*\d|hyperparameters:?\s*$|-+ ?hyperparameters ?-+|golf_trainer |"
    r"# \[training-script source removed)", re.I,
)
SUBSET_MARKER = re.compile(r"\b(?:eval|val)\w*\b.*\b(?:limited|subset|partial)\b|\((?:limited|subset)\)", re.I)
DATASET_NAME = re.compile(r"\b(?:fineweb10B|embedded)_sp\d+\b")
TTT_WORD = re.compile(r"\bttt\b|test[-_ ]time[-_ ]train", re.I)
GPU_NAME = re.compile(r"NVIDIA ((?:H|A|B|L|GH|GB)\d+[\w ]*?(?:SXM|PCIe|HBM3e?|NVL)?(?: \d+GB)?(?: HBM3e?)?)\b")
GPU_SPEC = re.compile(r"\b(\d+)\s*x\s*(H100|H200|A100|B200|H20|L40S?|GH200)\b", re.I)
PROGRESS = re.compile(r"\[\s*\d+\s*/\s*\d+\s*\]|\[\s*\d+(?:\.\d+)?\s*%\s*\]")  # cumulative progress lines
STAGE_KEYS = ("val_loss", "val_bpb")
DIAGNOSTIC_WORDS = re.compile(r"diagnostic|pre[-_ ]?quant|prequant|post[-_ ]?ema|pre[-_ ]?ema", re.I)


def to_number(text: str) -> float | None:
    m = NUMBER.match(text)
    if not m:
        return None
    try:
        value = float(m.group(0))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def to_seconds(text: str) -> float | None:
    """'1401ms', '9.7m', '407.5s', '600' (seconds) -> seconds."""
    value = to_number(text)
    if value is None:
        return None
    unit = text[len(NUMBER.match(text).group(0)):].strip().lower()
    if unit.startswith("ms"):
        return value / 1000
    if unit in ("m", "min", "mins", "minutes"):
        return value * 60
    if unit in ("h", "hr", "hours"):
        return value * 3600
    return value


@dataclass
class Stage:
    name: str
    val_loss: float | None
    val_bpb: float | None
    time_s: float | None
    line: int
    after_artifact: bool
    diagnostic: bool
    exact: bool = False  # 8-decimal values seen
    failed: bool = False
    duplicate_of: str | None = None


@dataclass
class CurvePoint:
    step: int
    train_time_s: float | None
    train_loss: float | None = None
    val_loss: float | None = None
    val_bpb: float | None = None


@dataclass
class ParsedRun:
    first_line: int = 0
    last_line: int = 0
    seeds: list[int] = field(default_factory=list)
    stages: list[Stage] = field(default_factory=list)
    curve: list[CurvePoint] = field(default_factory=list)
    bytes_total: int | None = None
    bytes_model: int | None = None
    bytes_model_raw: int | None = None  # the model serialized before compression, when the log says
    code_sizes: dict[str, int] = field(default_factory=dict)  # plain / compressed / uncompressed
    train_time_s: float | None = None
    stopped_by_cap: bool = False
    steps: int | None = None
    iterations: int | None = None
    artifact_line: int | None = None
    training_end_line: int | None = None
    artifact_durations: list[tuple[int, float]] = field(default_factory=list)  # (line, seconds) after training
    post_training_timers: list[tuple[int, float]] = field(default_factory=list)  # (line, seconds), not stages
    explicit_eval_total: float | None = None
    explicit_score_stage: str | None = None
    val_tokens: int | None = None
    dataset: str | None = None  # e.g. fineweb10B_sp1024
    world_size: int | None = None
    gpu_name: str | None = None
    subset_markers: list[tuple[int, str]] = field(default_factory=list)
    ttt_lines: list[tuple[int, str]] = field(default_factory=list)  # adaptation activity after training
    ttt_before_artifact: list[tuple[int, str]] = field(default_factory=list)
    timestamps: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    # resolved by finish()
    score: Stage | None = None
    eval_time_s: float | None = None
    eval_all_s: float | None = None
    artifact_time_s: float | None = None
    seed: int | None = None
    bytes_code: int | None = None

    @property
    def has_training(self) -> bool:
        return self.steps is not None or bool(self.curve)

    @property
    def has_results(self) -> bool:
        return self.has_training or bool(self.stages)

    @property
    def complete(self) -> bool:
        return self.score is not None and self.score.after_artifact


@dataclass
class ParsedLog:
    path: str
    runs: list[ParsedRun]
    run: ParsedRun  # the run that counts: the last complete one
    lines: int
    warnings: list[str]


def normalize(raw: str) -> tuple[str, float | None]:
    """A clean line and its epoch timestamp prefix, if any."""
    line = raw.strip()
    if "\x1b" in line:
        line = ANSI.sub("", line)
    stamp = None
    m = EPOCH_PREFIX.match(line) if line[:1].isdigit() else None
    if m:
        stamp = float(m.group(1))
        line = line[m.end():]
    if line.startswith("["):
        line = CLOCK_PREFIX.sub("", RANK_PREFIX.sub("", line))
    if ": " in line:
        line = SPACED_VALUE.sub(r"\1:", line)
    return line.strip(), stamp


def tokens(line: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for key, value in TOKEN.findall(line):
        found.setdefault(key.lower(), value)
    return found


class _RunBuilder:
    def __init__(self, first_line: int):
        self.run = ParsedRun(first_line=first_line)
        self.in_training = True

    # -- events
    def on_line(self, n: int, line: str, stamp: float | None) -> None:
        run = self.run
        run.last_line = n
        kv = tokens(line)
        lower = line.lower()
        step_m = STEP_AT_START.match(line)
        if step_m and not lower.startswith("stopping"):
            self.on_step(n, line, kv, int(step_m.group(1)), int(step_m.group(2)), stamp)
            return  # step lines carry no sizes, seeds or hardware hints
        if lower.startswith("stopping_early") or lower.startswith("stopping early"):
            self.on_stop(n, kv, stamp)
        elif any(k in kv and to_number(kv[k]) is not None for k in STAGE_KEYS):
            self.on_stage(n, line, kv, stamp)
        else:
            self.on_other(n, line, kv, lower, stamp)
        self.hints(line, kv, lower)

    def on_step(self, n, line, kv, step, total, stamp) -> None:
        run = self.run
        t = to_seconds(kv["train_time"]) if "train_time" in kv else None
        if t is None and "t" in kv:
            t = to_seconds(kv["t"])
        point = CurvePoint(step=step, train_time_s=t)
        point.train_loss = to_number(kv.get("train_loss", kv.get("loss", "")))
        point.val_loss = to_number(kv.get("val_loss", ""))
        point.val_bpb = to_number(kv.get("val_bpb", ""))
        if point.train_loss is None and point.val_loss is None and point.val_bpb is None:
            return  # e.g. "warmup 3/20" progress
        if not self.in_training and run.artifact_line is not None:
            run.warnings.append(f"line {n}: a training step after the artifact was written")
        if len(run.curve) >= MAX_CURVE_POINTS:
            run.curve = run.curve[::2]
        run.curve.append(point)
        run.steps = max(run.steps or 0, step)
        run.iterations = total
        if "train_time" in kv and t is not None:
            run.train_time_s = max(run.train_time_s or 0.0, t)
        if stamp is not None:
            run.timestamps["training_end"] = stamp
        run.training_end_line = n

    def on_stop(self, n, kv, stamp) -> None:
        run = self.run
        run.stopped_by_cap = True
        t = to_seconds(kv.get("train_time", ""))
        if t is not None:
            run.train_time_s = t
        m = re.match(r"(\d+)/(\d+)", kv.get("step", ""))
        if m:
            run.steps, run.iterations = int(m.group(1)), int(m.group(2))
        run.training_end_line = n
        if stamp is not None:
            run.timestamps["training_end"] = stamp
        self.in_training = False

    def on_stage(self, n, line, kv, stamp) -> None:
        run = self.run
        if "stage" in kv and line.lower().startswith("score "):  # golf's own trainer names its score
            run.explicit_score_stage = kv["stage"]
            if "eval_time" in kv:
                run.explicit_eval_total = to_seconds(kv["eval_time"])
            return
        self.in_training = False
        name = kv.get("stage") or self.stage_name(line)
        exact = name.endswith("_exact")
        if exact:
            name = name[: -len("_exact")]
        time_s = None
        for key in ("eval_time", "elapsed", "time"):
            if key in kv:
                time_s = to_seconds(kv[key])
                break
        stage = Stage(
            name=name,
            val_loss=to_number(kv.get("val_loss", "")),
            val_bpb=to_number(kv.get("val_bpb", "")),
            time_s=time_s,
            line=n,
            after_artifact=False,  # decided in finish(), once the artifact's line is known
            diagnostic=bool(DIAGNOSTIC_WORDS.search(name)) or kv.get("diagnostic") == "1",
            exact=exact or all(len(kv.get(k, "").split(".")[-1]) >= 6 for k in STAGE_KEYS if k in kv),
        )
        prev = run.stages[-1] if run.stages else None
        if prev is not None and prev.name == stage.name and prev.line >= n - 3:
            # "name val_loss:2.0727 ..." then "name_exact val_loss:2.07269931 ...": one stage
            prev.val_loss = stage.val_loss if stage.val_loss is not None else prev.val_loss
            prev.val_bpb = stage.val_bpb if stage.val_bpb is not None else prev.val_bpb
            prev.time_s = prev.time_s if prev.time_s is not None else stage.time_s
            prev.exact = prev.exact or stage.exact
            return
        run.stages.append(stage)
        if len(run.stages) > MAX_ITEMS:
            del run.stages[: len(run.stages) - MAX_ITEMS]  # the newest stages are the ones that can score

    @staticmethod
    def stage_name(line: str) -> str:
        head = re.split(r"\bval_(?:loss|bpb)\s*[:=]", line, maxsplit=1)[0]
        head = re.sub(r"\b[\w.\-]+[:=]\S+", "", head)  # drop key:value tokens such as stride:64
        name = re.sub(r"[^\w\- ]", " ", head).strip()
        name = re.sub(r"\s+", " ", name)
        if not name:
            colon = line.split(":", 1)[0].strip()
            name = colon if colon and " " not in colon and not colon.startswith("val_") else "eval"
        return name

    def on_other(self, n, line, kv, lower, stamp) -> None:
        run = self.run
        self.sizes(n, line, kv, lower, stamp)
        if "total_eval_time" in kv:
            run.explicit_eval_total = to_seconds(kv["total_eval_time"])
            return
        duration = None
        for key in ("eval_time", "elapsed", "time"):
            if key in kv and not PROGRESS.search(line):
                duration = to_seconds(kv[key])
                break
        if duration is None:
            m = DURATION_IN_PARENS.search(line)
            if m and ("done" in lower or "warmup" in lower or "compile" in lower):
                duration = float(m.group(1))
        artifact_hint = re.search(r"\bin (\d+(?:\.\d+)?)s\b", line)
        if not self.in_training and artifact_hint:
            _append(run.artifact_durations, (n, float(artifact_hint.group(1))))
        if "artifact_time" in kv and to_seconds(kv["artifact_time"]) is not None:
            # golf's trainer logs this on the artifact line itself; count it as work before that line
            _append(run.artifact_durations, (n - 1, to_seconds(kv["artifact_time"])))
        if duration is not None and not self.in_training and "artifact_time" not in kv:
            _append(run.post_training_timers, (n, duration))
        if "peak memory" in lower or lower.startswith("peak_memory"):
            self.in_training = False

    def sizes(self, n, line, kv, lower, stamp) -> None:
        run = self.run
        found = False
        if "upload" in lower or "script size" in lower:
            return  # launcher wrappers report the script they send, not the artifact
        for label, number in SIZE_PHRASE.findall(line) if "bytes" in lower else ():
            label_l = label.lower().strip()
            value = int(number)
            if "total" in label_l:
                run.bytes_total = value
            elif "code" in label_l:
                kind = "uncompressed" if "uncompressed" in label_l else "compressed" if "compressed" in label_l else "plain"
                run.code_sizes[kind] = value
            elif "model" in label_l:
                if "raw" in label_l or re.fullmatch(r"(serialized )?model", label_l):
                    run.bytes_model_raw = value  # an unqualified "Serialized model" is the raw, uncompressed size
                else:
                    run.bytes_model = value
            else:
                continue
            found = found or "code" not in label_l
        for key, target in (("bytes_total", "bytes_total"), ("bytes_model", "bytes_model")):
            if key in kv and to_number(kv[key]) is not None:
                setattr(run, target, int(to_number(kv[key])))
                found = True
        if "bytes_code" in kv and to_number(kv["bytes_code"]) is not None:
            run.code_sizes["plain"] = int(to_number(kv["bytes_code"]))
        budget = re.search(r"\bbudget:(\d+)/(\d+)", line)
        if budget:
            run.bytes_total = int(budget.group(1))
            found = True
        if lower.startswith("artifact:") and "code" in kv and to_number(kv["code"]) is not None:
            run.code_sizes["plain"] = int(to_number(kv["code"]))
            found = True
        if found:
            run.artifact_line = n
            self.in_training = False
            if stamp is not None:
                run.timestamps["artifact"] = stamp

    def hints(self, line, kv, lower) -> None:
        run = self.run
        if "seed" in kv and to_number(kv["seed"]) is not None:
            _append(run.seeds, int(to_number(kv["seed"])))
        if re.match(r"^(?:model_)?params[:=]", lower) and "s" in kv and to_number(kv["s"]) is not None:
            _append(run.seeds, int(to_number(kv["s"])))  # compact headers: "params:N L:10 ... ws:8 s:42"
        for key in ("world_size", "ws"):
            if key in kv and to_number(kv[key]) is not None and (key == "world_size" or "params" in lower):
                run.world_size = int(to_number(kv[key]))
        spec = GPU_SPEC.search(line) if "x" in lower else None
        if spec:
            run.world_size = run.world_size or int(spec.group(1))
            run.gpu_name = run.gpu_name or spec.group(2).upper()
        gpu = GPU_NAME.search(line) if "NVIDIA" in line and run.gpu_name is None else None
        if gpu:
            run.gpu_name = gpu.group(1).strip()
        for key in ("val_tokens", "tokens"):
            if key in kv and to_number(kv[key]) is not None and ("val" in lower.split(":")[0] or key == "val_tokens"):
                run.val_tokens = int(to_number(kv[key]))
        dataset = DATASET_NAME.search(line) if "_sp" in line else None
        if dataset:
            run.dataset = dataset.group(0)
        m = re.match(r"^val tokens:\s*(\d+)", lower)
        if m:
            run.val_tokens = int(m.group(1))
        if ("limited" in lower or "subset" in lower or "partial" in lower) and SUBSET_MARKER.search(line):
            _append(run.subset_markers, (run.last_line, line[:200]))
        if not self.in_training and run.has_training and ("ttt" in lower or "test" in lower) and TTT_WORD.search(line):
            if re.search(r"\b(start|epoch|chunk|step|lr)\b", lower) and "warm" not in lower:
                _append(run.ttt_lines, (run.last_line, line[:200]))


def _append(items: list, item) -> None:
    if len(items) < MAX_ITEMS:
        items.append(item)


def _same_result(a: Stage, b: Stage) -> bool:
    pairs = [(a.val_bpb, b.val_bpb), (a.val_loss, b.val_loss)]
    compared = [(x, y) for x, y in pairs if x is not None and y is not None]
    return bool(compared) and all(abs(x - y) <= SAME_RESULT_TOLERANCE for x, y in compared)


def finish(run: ParsedRun) -> ParsedRun:
    """Resolve the score stage, times, seed and code bytes from what the lines said."""
    artifact = run.artifact_line

    def after_artifact(line: int) -> bool:  # an eval-only log has no artifact line: all of it is evaluation
        return (artifact is not None and line > artifact) or not run.has_training

    for s in run.stages:
        s.after_artifact = after_artifact(s.line)
    post_artifact_timers = [(line, t) for line, t in run.post_training_timers if after_artifact(line)]
    run.ttt_before_artifact = [(line, text) for line, text in run.ttt_lines if artifact is not None and line < artifact]
    stages = [s for s in run.stages if s.val_bpb is not None or s.val_loss is not None]
    # one result reported twice (a summary line, a compatibility alias): keep one
    for i, later in enumerate(stages):
        for earlier in stages[:i]:
            if earlier.duplicate_of or later.duplicate_of or earlier.after_artifact != later.after_artifact:
                continue
            if _same_result(earlier, later):
                keep_later = later.time_s is not None or earlier.time_s is None
                dropped, kept = (earlier, later) if keep_later else (later, earlier)
                dropped.duplicate_of = kept.name
                if kept.time_s is None:
                    kept.time_s = dropped.time_s
                if dropped.exact and not kept.exact:
                    kept.val_bpb, kept.val_loss, kept.exact = dropped.val_bpb, dropped.val_loss, True
    live = [s for s in stages if not s.duplicate_of]
    scored = [s for s in live if s.after_artifact and not s.diagnostic]
    best: Stage | None = None
    for s in scored:
        if best is not None and s.val_bpb is not None and best.val_bpb is not None \
                and s.val_bpb > best.val_bpb + FAILED_STAGE_MARGIN_BPB:
            s.failed = True
            run.warnings.append(
                f"stage {s.name} (val_bpb {s.val_bpb:.5f}) is {s.val_bpb - best.val_bpb:.5f} worse than "
                f"{best.name} ({best.val_bpb:.5f}): a failed stage, not the score"
            )
            continue
        if best is None or (s.val_bpb is not None and (best.val_bpb is None or s.val_bpb <= best.val_bpb)):
            best = s
    candidates = [s for s in scored if not s.failed]
    if run.explicit_score_stage:
        named = [s for s in candidates if s.name == run.explicit_score_stage]
        run.score = named[-1] if named else None
    elif candidates:
        run.score = candidates[-1]
    if run.score is None and run.curve:
        last_val = next((p for p in reversed(run.curve) if p.val_bpb is not None or p.val_loss is not None), None)
        if last_val is not None and run.steps is not None and last_val.step == run.steps:
            run.score = Stage("training_val_at_stop", last_val.val_loss, last_val.val_bpb, None,
                              run.training_end_line or run.last_line, after_artifact=False, diagnostic=False)
            run.warnings.append(
                "no evaluation after the artifact was written; the only score is the last in-training "
                f"validation at step {last_val.step} (pre-quantization)"
            )
    if run.score is None:
        run.warnings.append("no final evaluation found (truncated or unfinished log?)")
    # evaluation time: the script's own total, else the timed work from the artifact to the score
    if run.score is not None and run.score.after_artifact:
        upto = run.score.line
        timed = [s for s in live if s.after_artifact and not s.failed and s.line <= upto and s.time_s is not None]
        total = sum(s.time_s for s in timed) + sum(t for line, t in post_artifact_timers if line <= upto)
        run.eval_time_s = run.explicit_eval_total if run.explicit_eval_total is not None else (
            total if timed or post_artifact_timers else None)
    every_stage = [s.time_s for s in stages if not s.duplicate_of and s.time_s is not None and
                   (s.after_artifact or s.line > (run.training_end_line or 0))]
    run.eval_all_s = (sum(every_stage) + sum(t for _, t in run.post_training_timers)) or None
    if run.explicit_eval_total is not None and run.eval_all_s is not None:
        run.eval_all_s = max(run.eval_all_s, run.explicit_eval_total)
    if "training_end" in run.timestamps and "artifact" in run.timestamps:
        run.artifact_time_s = max(0.0, run.timestamps["artifact"] - run.timestamps["training_end"])
    else:
        before = [t for line, t in run.artifact_durations if artifact is not None and line < artifact]
        run.artifact_time_s = max(before) if before else None  # a lower bound: the longest step logged
    distinct = sorted(set(run.seeds))
    if len(distinct) == 1:
        run.seed = distinct[0]
    elif len(distinct) > 1:
        run.warnings.append(f"several seeds in one run: {distinct}")
    run.bytes_code = _pick_code_bytes(run)
    return run


def _pick_code_bytes(run: ParsedRun) -> int | None:
    sizes = run.code_sizes
    if not sizes:
        return None
    if run.bytes_total is not None and run.bytes_model is not None:
        for value in sizes.values():
            if value == run.bytes_total - run.bytes_model:
                return value
    return sizes.get("compressed", sizes.get("plain", sizes.get("uncompressed")))


def iter_lines(stream: IO[bytes]) -> Iterator[tuple[str, bool]]:
    """Decoded lines, each at most MAX_LINE_CHARS; (line, was_cut)."""
    text = io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline=None)
    while True:
        chunk = text.readline(MAX_LINE_CHARS)
        if not chunk:
            return
        if chunk.endswith("\n"):
            yield chunk, False
            continue
        yield chunk, True
        while chunk and not chunk.endswith("\n"):  # drain the rest of an overlong line
            chunk = text.readline(MAX_LINE_CHARS)


def parse_lines(lines: Iterable[str], path: str = "<lines>") -> ParsedLog:
    return _parse(((line, False) for line in lines), path)


def parse_file(path: str | Path) -> ParsedLog:
    try:
        with open(path, "rb") as fh:
            return _parse(iter_lines(fh), str(path))
    except OSError as exc:
        run = finish(ParsedRun())
        return ParsedLog(str(path), [run], run, 0, [f"cannot read {path}: {exc.strerror}"])


def _parse(lines: Iterable[tuple[str, bool]], path: str) -> ParsedLog:
    warnings: list[str] = []
    builders = [_RunBuilder(1)]
    in_code = False
    garbage = count = cut = 0
    for count, (raw, was_cut) in enumerate(lines, 1):
        cut += was_cut
        text = raw.rstrip("\r\n")
        if not (text.isprintable() and "\ufffd" not in text) and len(CONTROL_CHARS.findall(text)) > 8:
            garbage += 1
            continue
        line, stamp = normalize(raw)
        if not line:
            continue
        if in_code:
            if SEPARATOR.match(line) or (LOG_LINE_OUTSIDE_CODE.match(line) and not CODE_SIGNS.search(line)
                                         and not raw[:1].isspace()):
                in_code = False
            if in_code:
                continue
        if not raw[:1].isspace() and line[:1] in "ifdc@#" and CODE_START.match(line):
            in_code = True
            _maybe_new_run(builders, count)
            continue
        if line.startswith("#") and not RUN_HEADER.match(line):
            continue
        if _maybe_code(line) and CODE_SIGNS.search(line):
            continue  # a fragment of source code, e.g. an f-string template that looks like a result
        if RUN_HEADER.match(line):
            _maybe_new_run(builders, count)
        builders[-1].on_line(count, line, stamp)
    if garbage:
        warnings.append(f"{garbage} of {count} lines are binary or undecodable and were skipped")
    if cut:
        warnings.append(f"{cut} lines longer than {MAX_LINE_CHARS} characters were cut")
    if count == 0:
        warnings.append("the log is empty")
    runs = [finish(b.run) for b in builders]
    runs = [r for r in runs if r.has_results or r.bytes_total is not None] or runs[-1:]
    complete = [r for r in runs if r.complete]
    chosen = complete[-1] if complete else runs[-1]
    if len(runs) > 1:
        warnings.append(
            f"{len(runs)} runs appended in one file; using the "
            f"{'last complete' if complete else 'last'} one (lines {chosen.first_line}-{chosen.last_line})"
        )
    return ParsedLog(path, runs, chosen, count, warnings)


def _maybe_code(line: str) -> bool:
    return any(mark in line for mark in ('"', "'", "(", "{", "self.", "return", "lambda"))


def _maybe_new_run(builders: list[_RunBuilder], line_no: int) -> None:
    if builders[-1].run.has_results:
        builders.append(_RunBuilder(line_no))
