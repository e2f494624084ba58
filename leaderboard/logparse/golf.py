"""golf's own trainer logs: the grammar in golfcore.loggrammar, read event by event."""
from __future__ import annotations

from golfcore.loggrammar import Event, parse_event

from .community import STEP_AT_START, CommunityReader
from .model import Stage, Timer, bounded_append


class GolfReader(CommunityReader):
    """Events of the grammar; any other line (a user's own print) is read as the community's."""

    def read(self, n: int, line: str, stamp: float | None) -> None:
        event = parse_event(line)
        handler = getattr(self, f"on_{event.name}", None) if event is not None else None
        if handler is None:
            super().read(n, line, stamp)
            return
        handler(n, event, line, stamp)

    def on_golf_trainer(self, n: int, e: Event, line: str, stamp) -> None:
        run = self.run
        if e.integer("seed") is not None:
            bounded_append(run.seeds, (e.integer("seed"), n))
        run.world_size = e.integer("world_size") or run.world_size
        if run.world_size:
            run.note("world_size", n)
        name = (e.get("device_name") or "").replace("_", " ")
        run.gpu_name = name.removeprefix("NVIDIA ") if e.get("device") == "cuda" and name else run.gpu_name

    def on_config(self, n: int, e: Event, line: str, stamp) -> None:
        run = self.run
        cap = e.get("max_wallclock_seconds")
        if cap is not None:
            run.wallclock_cap_s = e.number("max_wallclock_seconds") or None
        run.iterations = e.integer("iterations") or run.iterations
        run.vocab_size = e.integer("vocab_size") or run.vocab_size

    def on_data(self, n: int, e: Event, line: str, stamp) -> None:
        run = self.run
        self.hints(n, line, line.lower(), {})  # the dataset name is in its path
        if e.integer("val_tokens"):
            run.val_tokens = e.integer("val_tokens")
            run.note("val_tokens", n)

    def on_code(self, n: int, e: Event, line: str, stamp) -> None:
        if e.integer("bytes_code") is not None:
            self.run.code_sizes["plain"] = e.integer("bytes_code")
            self.run.note("bytes_code_plain", n)

    def on_step(self, n: int, e: Event, line: str, stamp) -> None:
        m = STEP_AT_START.match(line)
        if m is not None:
            self.step(n, line, m, stamp)

    def on_stopping_early(self, n: int, e: Event, line: str, stamp) -> None:
        self.stop(n, line, stamp)

    def on_train_done(self, n: int, e: Event, line: str, stamp) -> None:
        run = self.run
        if e.seconds("train_time") is not None:
            run.train_time_s = e.seconds("train_time")
            run.note("train_time_s", n)
        if e.integer("steps") is not None:
            run.steps = e.integer("steps")
            run.note("steps", n)
        run.stopped_by_cap = e.get("stop") == "wallclock_cap"
        run.training_end_line = n
        if stamp is not None:
            run.timestamps["training_end"] = stamp
        self.end_training()

    def on_peak_memory(self, n: int, e: Event, line: str, stamp) -> None:
        self.end_training()

    def on_calibration(self, n: int, e: Event, line: str, stamp) -> None:
        seconds = e.seconds("calib_time")
        if seconds is not None:
            bounded_append(self.run.timers, Timer(n, seconds, line[:200]))

    def on_artifact(self, n: int, e: Event, line: str, stamp) -> None:
        run = self.run
        if e.integer("bytes_model") is not None:
            run.bytes_model = e.integer("bytes_model")
            run.note("bytes_model", n)
        if e.seconds("artifact_time") is not None:
            # logged on the artifact line itself: the work before that line
            bounded_append(run.timers, Timer(n - 1, e.seconds("artifact_time"), line[:200]))
        run.artifact_line = n
        if stamp is not None:
            run.timestamps["artifact"] = stamp
        self.end_training()

    def on_size(self, n: int, e: Event, line: str, stamp) -> None:
        run = self.run
        if e.integer("bytes_total") is not None:
            run.bytes_total = e.integer("bytes_total")
            run.note("bytes_total", n)
        if e.integer("bytes_code") is not None:
            run.code_sizes["plain"] = e.integer("bytes_code")
            run.note("bytes_code_plain", n)
        if run.artifact_line is None:
            run.artifact_line = n
        self.end_training()

    def on_eval(self, n: int, e: Event, line: str, stamp) -> None:
        self.end_training()
        self.run.stages.append(Stage(
            name=e.get("stage") or "eval", val_loss=e.number("val_loss"), val_bpb=e.number("val_bpb"),
            time_s=e.seconds("eval_time"), line=n, diagnostic=e.get("diagnostic") == "1", exact=True,
            tokens=e.integer("val_tokens")))

    def on_score(self, n: int, e: Event, line: str, stamp) -> None:
        run = self.run
        run.explicit_score_stage = e.get("stage")
        if e.seconds("eval_time") is not None:
            run.explicit_eval_total = e.seconds("eval_time")
            run.note("explicit_eval_total", n)
