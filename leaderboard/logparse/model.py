"""What a log says: runs, their evaluation stages, curves and figures, each figure with the line
it came from."""
from __future__ import annotations

from dataclasses import dataclass, field

MAX_CURVE_POINTS = 20_000  # per run; beyond this, points are thinned (every other one kept)
MAX_ITEMS = 2_000  # per list of stages, seeds, timers, markers: a hostile log cannot grow memory without bound


def bounded_append(items: list, item) -> None:
    if len(items) < MAX_ITEMS:
        items.append(item)


@dataclass(slots=True)
class Stage:
    """An evaluation result printed by the log: `final_int8_zlib_roundtrip val_loss:... val_bpb:...`."""

    name: str
    val_loss: float | None
    val_bpb: float | None
    time_s: float | None
    line: int
    after_artifact: bool = False  # decided once the run's artifact line is known
    diagnostic: bool = False
    exact: bool = False  # 6+ decimals printed
    tokens: int | None = None
    failed: bool = False
    duplicate_of: str | None = None
    subject: str = ""  # the line's leading word (`ngram_two_pass` in `ngram_two_pass: Pass 1 done ...`)
    part_of: str | None = None  # a pass of a later stage under the same leading word, timed again by it


@dataclass(slots=True)
class CurvePoint:
    step: int
    train_time_s: float | None
    train_loss: float | None = None
    val_loss: float | None = None
    val_bpb: float | None = None


@dataclass(slots=True)
class Timer:
    """A duration the log states outside an evaluation stage: `in 3.5s`, `time=51.5s`, `calib_time:...`."""

    line: int
    seconds: float
    text: str
    cumulative: bool = False  # one of a series whose values grow (a progress line's elapsed time)


@dataclass
class Run:
    """One training and/or evaluation run: a log file holds one or several (appended)."""

    index: int = 1  # 1-based position in its file
    first_line: int = 0
    last_line: int = 0
    seeds: list[tuple[int, int]] = field(default_factory=list)  # (seed, line)
    stages: list[Stage] = field(default_factory=list)
    curve: list[CurvePoint] = field(default_factory=list)
    bytes_total: int | None = None
    bytes_model: int | None = None
    bytes_model_raw: int | None = None  # the model serialized before compression, when the log says
    code_sizes: dict[str, int] = field(default_factory=dict)  # plain / compressed / uncompressed
    train_time_s: float | None = None  # the training loop's own clock when it stopped
    stopped_by_cap: bool = False
    relaunched: bool = False  # stopped before its first step, and the script was started again below it
    steps: int | None = None
    iterations: int | None = None  # the step budget (the N of step:i/N)
    wallclock_cap_s: float | None = None  # MAX_WALLCLOCK_SECONDS as the log states it
    training_end_line: int | None = None
    artifact_line: int | None = None  # set by an explicit event, else resolved from size_lines
    artifact_assumed: bool = False  # no line states the artifact: the evaluations after training are taken as its
    size_lines: list[int] = field(default_factory=list)  # lines stating the artifact's (or model's) size
    other_size_lines: list[int] = field(default_factory=list)  # the raw model's or the code's size
    timers: list[Timer] = field(default_factory=list)  # after the training loop, outside stages
    loop_lines: list[tuple[int, str]] = field(default_factory=list)  # epoch/step lines with loss or lr after the loop
    explicit_eval_total: float | None = None
    stated_train_total_s: float | None = None  # the script's own loop + work on training data before the artifact
    explicit_score_stage: str | None = None
    val_tokens: int | None = None
    dataset: str | None = None  # e.g. fineweb10B_sp1024
    vocab_size: int | None = None
    world_size: int | None = None
    gpu_name: str | None = None
    subset_markers: list[tuple[int, str]] = field(default_factory=list)
    timestamps: dict[str, float] = field(default_factory=dict)  # training_end / artifact / last, epoch seconds
    sources: dict[str, int] = field(default_factory=dict)  # figure -> the line it came from
    warnings: list[str] = field(default_factory=list)
    # resolved by resolve.finish()
    score: Stage | None = None  # the evaluation of the artifact that counts
    last_training_val: Stage | None = None  # the in-training validation at the last step, for runs never scored
    seed: int | None = None
    bytes_code: int | None = None
    eval_time_s: float | None = None
    diagnostics_s: float | None = None  # diagnostic evaluations after the artifact, outside the score's timer
    warmup_s: float | None = None  # compile warm-ups after the artifact, outside the score's timer
    calibration_s: float | None = None  # work on training data after the loop and before the artifact
    serialization_s: float | None = None  # from the last training-data access to the artifact on disk
    val_loop_lines: list[tuple[int, str]] = field(default_factory=list)  # an optimizer loop before the artifact
    unscored_adaptation_lines: list[tuple[int, str]] = field(default_factory=list)  # epochs before the first score

    @property
    def has_training(self) -> bool:
        return self.steps is not None or bool(self.curve)

    @property
    def has_results(self) -> bool:
        return self.has_training or bool(self.stages)

    @property
    def complete(self) -> bool:
        return self.score is not None and self.score.after_artifact

    def note(self, figure: str, line: int) -> None:
        self.sources[figure] = line


@dataclass
class ParsedLog:
    path: str
    runs: list[Run]
    lines: int
    warnings: list[str]

    @property
    def run(self) -> Run:
        """The run a single-run reader wants: the last complete one, else the last."""
        complete = [r for r in self.runs if r.complete]
        return complete[-1] if complete else self.runs[-1]
