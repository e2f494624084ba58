"""The log parser: one streaming pass over a log of any size, into runs with their figures.

    reader.py     bytes -> the lines worth reading (blocks, C-level skipping, prefixes, source code)
    golf.py       golf's own trainer (the grammar in golfcore.loggrammar)
    community.py  the baseline's key:value lines and their many descendants
    compact.py    the baseline's lines with every key cut short, written out in full before they are read
    sizes.py      every way a log states the artifact's size
    resolve.py    a run's figures: the score stage, seed, bytes, times, each with its line

Several runs appended in one file stay separate runs. Anything odd becomes a warning on the run or
the log, never an exception.
"""
from __future__ import annotations

import gc
import io
import re
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterable

from golfcore.loggrammar import parse_event

from . import compact
from .community import CommunityReader, is_loop_end, is_step_like, words
from .golf import GolfReader
from .model import CurvePoint, ParsedLog, Run, Stage, Timer
from .reader import MAX_LINE_CHARS, LineReader
from .resolve import finish

SEED_IN_TEXT = re.compile(r"""\bseed['"]?\s*[:=]?\s*(\d+)""", re.I)

__all__ = ["CurvePoint", "ParsedLog", "Run", "Stage", "Timer", "parse_file", "parse_lines", "parse_stream"]


def parse_file(path: str | Path) -> ParsedLog:
    try:
        with open(path, "rb") as fh:
            return parse_stream(fh, str(path))
    except OSError as exc:
        run = finish(Run())
        return ParsedLog(str(path), [run], 0, [f"cannot read {path}: {exc.strerror or exc}"])


def parse_lines(lines: Iterable[str], path: str = "<lines>") -> ParsedLog:
    text = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
    return parse_stream(io.BytesIO(text.encode("utf-8", errors="replace")), path)


def parse_stream(stream: IO[bytes], path: str = "<stream>") -> ParsedLog:
    with _no_cycle_collection():
        return _parse(stream, path)


_collection_lock = threading.Lock()
_parses = 0  # parses running in this process
_paused_collection = False


@contextmanager
def _no_cycle_collection():
    """The cyclic garbage collector paused while any parse runs. A parse allocates millions of
    short-lived objects and no cycles (reference counting frees them), so each collection it would
    trigger only rescans the line caches: a tenth of the time of a large log."""
    global _parses, _paused_collection
    with _collection_lock:
        _parses += 1
        if _parses == 1 and gc.isenabled():
            gc.disable()
            _paused_collection = True
    try:
        yield
    finally:
        with _collection_lock:
            _parses -= 1
            if _parses == 0 and _paused_collection:
                _paused_collection = False
                gc.enable()


def _parse(stream: IO[bytes], path: str) -> ParsedLog:
    reader = LineReader(stream, skip=_changes_nothing, rewrite=compact.expand)
    readers = [CommunityReader(Run(index=1, first_line=1))]
    for line in reader:
        current = readers[-1]
        run = current.run
        if line.kind == "steps":
            current.read_steps(line.lines)
            continue
        if line.kind == "result" and not run.has_training:
            continue  # an indented result outside a run that trained: a summary of runs, not an evaluation
        if line.kind == "code_start" or line.kind == "header":
            # a run with results, or a relaunch: a second source dump after this one's settings (the
            # attempt before it stopped before its first step and stays a run of its own, with no figures)
            if run.has_results or (line.kind == "code_start" and current.configured):
                if not run.has_results:
                    run.relaunched = True
                    run.warnings.append(f"stopped before its first training step; launched again at line {line.number}")
                current = _new_run(readers, line.number, reader.last_read)
            current.configured = current.configured or (current.dumped and line.kind == "header")
            current.dumped = current.dumped or line.kind == "code_start"
            if line.text.startswith("golf_trainer ") and not isinstance(current, GolfReader):
                readers[-1] = current = GolfReader(current.run)
            if line.kind == "code_start":
                continue
        elif (line.kind == "banner" or line.text[:1] in "[=#") and _evaluated(run) and _starts_another_seed(run, line):
            current = _new_run(readers, line.number, reader.last_read)  # a finished run, then a banner or header naming another seed
        elif line.text[:1] in "sStT" and _evaluated_after_its_loop(current) and is_loop_end(words(line.text).lower):
            current = _new_run(readers, line.number, reader.last_read)  # a second loop's end: runs appended with no header
        current.series = line.kind == "series"
        current.read(line.number, line.text, line.stamp)
    readers[-1].run.last_line = reader.last_read
    warnings = []
    if reader.garbage:
        warnings.append(f"{reader.garbage} lines are binary or undecodable and were skipped")
    if reader.cut:
        warnings.append(f"{reader.cut} lines longer than {MAX_LINE_CHARS} characters were cut")
    if reader.lines == 0:
        warnings.append("the log is empty")
    runs = [finish(r.run) for r in readers]
    runs = [r for r in runs if r.has_results or r.bytes_total is not None or r.relaunched] or runs[-1:]
    runs = _drop_repeated_summaries(runs, warnings)
    for i, r in enumerate(runs, 1):
        r.index = i
    if len(runs) > 1:
        spans = ", ".join(f"{r.first_line}-{r.last_line}" for r in runs)
        warnings.append(f"{len(runs)} runs appended in one file (lines {spans}); each is read on its own")
    return ParsedLog(path, runs, reader.lines, warnings)


def _evaluated(run: Run) -> bool:
    """The run has results after its training (an artifact, or an evaluation after its last step)."""
    return bool(run.stages) and (bool(run.size_lines) or not run.has_training or _scored_after_training(run))


def _scored_after_training(run: Run) -> bool:
    """Its last evaluation comes after its last training step (or the loop's end)."""
    return bool(run.stages) and run.training_end_line is not None and run.stages[-1].line > run.training_end_line


def _starts_another_seed(run: Run, line) -> bool:
    """`=== EVAL SEED 314 ===`, `[STAGE 1/4] ... 'seed': 7`: a header of the next run (a section banner
    such as `=== V6 + TTT ===` is not)."""
    m = SEED_IN_TEXT.search(line.text)
    if m is None:
        return False
    return not run.seeds or int(m.group(1)) != run.seeds[0][0]


def _evaluated_after_its_loop(reader: CommunityReader) -> bool:
    return not reader.in_training and _scored_after_training(reader.run)


def _drop_repeated_summaries(runs: list[Run], warnings: list[str]) -> list[Run]:
    """A run with no training whose results all repeat the run before it is that run's summary."""
    kept = runs[:1]
    for run in runs[1:]:
        before = {(s.val_bpb, s.val_loss) for s in kept[-1].stages}
        if not run.has_training and run.stages and all((s.val_bpb, s.val_loss) in before for s in run.stages):
            warnings.append(f"lines {run.first_line}-{run.last_line} repeat the results of lines "
                            f"{kept[-1].first_line}-{kept[-1].last_line}")
            kept[-1].last_line = run.last_line
            continue
        kept.append(run)
    return kept


def _changes_nothing(text: str) -> bool:
    """A line no reader takes anything from (see community.is_inert; golf's events are never skipped)."""
    return not is_step_like(text) and words(text).inert and parse_event(text) is None


def _new_run(readers: list[CommunityReader], first_line: int, last_read: int) -> CommunityReader:
    """The run that starts at first_line; the one before it ends at last_read."""
    readers[-1].run.last_line = last_read
    reader = CommunityReader(Run(index=len(readers) + 1, first_line=first_line))
    readers.append(reader)
    return reader
