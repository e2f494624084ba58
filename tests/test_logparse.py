"""The log parser on hostile, broken and odd input: warnings, never exceptions."""
import io
import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leaderboard.claims import read_claims
from leaderboard.logparse import parse_file, parse_lines
from leaderboard.submission import analyze, find_submissions

BASELINE_TAIL = """\
step:13780/20000 val_loss:2.0606 val_bpb:1.2172 train_time:600038ms step_avg:43.54ms
stopping_early: wallclock_cap train_time:600038ms step:13780/20000
Serialized model: 67224983 bytes
Code size: 47642 bytes
Total submission size: 67272625 bytes
Serialized model int8+zlib: 15815847 bytes (payload:17178912 raw_torch:17224025 payload_ratio:3.91x)
Total submission size int8+zlib: 15863489 bytes
final_int8_zlib_roundtrip val_loss:2.0727 val_bpb:1.2244 eval_time:1401ms
final_int8_zlib_roundtrip_exact val_loss:2.07269931 val_bpb:1.22436570
"""

SOURCE = '''import os
import torch
def main():
    log0(f"final_int8_zlib_roundtrip val_loss:{q_val_loss:.4f} val_bpb:{q_val_bpb:.4f} eval_time:{1000*t:.0f}ms")
    print("Total submission size: 99 bytes")
# a comment with val_bpb:0.5000
    x = {"val_bpb": 0.1}
====================================================================================================
'''


def test_source_code_in_the_log_is_never_a_result():
    run = parse_lines((SOURCE + "seed:7\n" + BASELINE_TAIL).splitlines()).run
    assert run.score.name == "final_int8_zlib_roundtrip" and run.score.val_bpb == 1.2243657
    assert run.bytes_total == 15863489 and run.seed == 7
    source_only = parse_lines(SOURCE.splitlines()).run
    assert source_only.score is None and source_only.bytes_total is None


def test_crlf_ansi_and_prefixes_are_normalized():
    lines = ["\x1b[32m1776142360.5 [rank0]: seed: 42\x1b[0m\r\n"] + [
        f"1776142360.5 {line}\r\n" for line in BASELINE_TAIL.splitlines()]
    run = parse_lines(lines).run
    assert run.seed == 42 and run.score.val_bpb == 1.2243657 and run.train_time_s == pytest.approx(600.038)


def test_truncated_log_has_no_score_and_says_so():
    lines = BASELINE_TAIL.splitlines()[:4]
    log = parse_lines(lines)
    assert log.run.score is None or log.run.score.name == "training_val_at_stop"
    assert any("in-training validation" in w or "no final evaluation" in w for w in log.run.warnings)


def test_empty_binary_and_huge_line_files(tmp_path):
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    assert "the log is empty" in parse_file(empty).warnings
    garbage = tmp_path / "garbage.log"
    garbage.write_bytes(os.urandom(200_000))
    log = parse_file(garbage)
    assert log.run.score is None and any("binary" in w for w in log.warnings)
    huge = tmp_path / "huge.log"
    huge.write_bytes(b"x" * 300_000 + b"\n" + BASELINE_TAIL.encode())
    log = parse_file(huge)
    assert log.run.score.val_bpb == 1.2243657 and any("longer than" in w for w in log.warnings)


def test_missing_file_is_a_warning(tmp_path):
    log = parse_file(tmp_path / "nope.log")
    assert log.run.score is None and "cannot read" in log.warnings[0]


line_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=120)
keyish = st.sampled_from(["val_loss", "val_bpb", "step", "train_time", "seed", "Total submission size", "eval_time",
                          "stopping_early", "Code size", "final_x", "bytes_total", "budget", "total_eval_time"])
value = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(str), st.integers().map(str), line_text)
mutated = st.builds(lambda k, sep, v, tail: f"{k}{sep}{v}{tail}", keyish, st.sampled_from([":", ": ", "=", " "]), value, line_text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(line_text, mutated, st.sampled_from(BASELINE_TAIL.splitlines())), max_size=60))
def test_random_and_mutated_lines_never_crash(lines):
    log = parse_lines(lines)
    run = log.run
    assert run.score is None or run.score.val_bpb is None or run.score.val_bpb == run.score.val_bpb  # not NaN
    json.dumps(run.warnings)


def test_bad_submission_json_is_a_warning(tmp_path):
    (tmp_path / "submission.json").write_text("{not json")
    assert "not valid JSON" in read_claims(tmp_path).warnings[0]
    (tmp_path / "submission.json").write_text('{"val_bpb": "fast", "bytes_total": [1], "name": 5, "seeds": {"x": 1}}')
    claims = read_claims(tmp_path)
    assert claims.val_bpb is None and claims.bytes_total is None and claims.name is None and claims.seeds is None
    assert any("val_bpb is not a number" in w for w in claims.warnings)


def test_folders_with_odd_names_and_escaping_symlinks(tmp_path):
    outside = tmp_path / "outside.log"
    outside.write_text(BASELINE_TAIL)
    folder = tmp_path / "records" / "track_10min_16mb" / "2026-01-01 My Run .."
    folder.mkdir(parents=True)
    (folder / "train_seed1.log").write_text("seed:1\n" + BASELINE_TAIL)
    (folder / "stolen.log").symlink_to(outside)
    assert find_submissions(tmp_path / "records") == [folder]
    sub = analyze(folder)
    assert [r.log for r in sub.runs] == ["train_seed1.log"]
    assert any("symlink pointing outside" in w for w in sub.warnings)


def test_the_cycle_collector_is_paused_during_a_parse_and_restored_after(tmp_path):
    import gc
    import threading

    from leaderboard.logparse import parse_stream

    seen = []

    class Stream:  # reports whether the collector runs while the parser reads
        def __init__(self, data: bytes):
            self.data = data

        def read(self, size: int) -> bytes:
            seen.append(gc.isenabled())
            chunk, self.data = self.data[:size], self.data[size:]
            return chunk

    text = b"step:1/10 train_loss:2.0 train_time:10ms step_avg:10ms\n"
    assert gc.isenabled()
    parse_stream(Stream(text))
    assert seen and not any(seen) and gc.isenabled()
    threads = [threading.Thread(target=parse_stream, args=(Stream(text * 50_000),)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert gc.isenabled()  # however the parses overlapped
    gc.disable()
    try:
        parse_stream(Stream(text))
        assert not gc.isenabled()  # a caller's own choice is kept
    finally:
        gc.enable()


ending = st.sampled_from(["\n", "\r\n", "\r", "\x1b[0m\n"])
numbered_line = st.one_of(st.just(""), st.sampled_from(BASELINE_TAIL.splitlines()),
                          st.sampled_from(["seed:7", "world_size:8 grad_accum_steps:1", "tttg: c1/213 lr:0.005 t:1.9s"]))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(numbered_line, ending), min_size=1, max_size=40), st.booleans(),
       st.sampled_from([128, 131, 257, 1000]))  # longer than any line: a longer one is cut
def test_line_numbers_do_not_depend_on_where_blocks_end(pairs, last_ends, block_bytes):
    """CRLF, a lone CR (a progress bar redrawn) and a newline each end one line, wherever the reader's
    blocks are cut: the same lines, counted the same, with any block size."""
    from leaderboard.logparse import parse_stream, reader

    text = "".join(line + end for line, end in pairs)
    if not last_ends:
        text = text.rstrip("\r\n")
    normalized = text.replace("\r\n", "\n").replace("\r", "\n")
    expected_lines = normalized.count("\n") + (0 if normalized.endswith("\n") or not normalized else 1)
    whole = parse_stream(io.BytesIO(text.encode()))
    saved = reader.BLOCK_BYTES
    reader.BLOCK_BYTES = block_bytes
    try:
        blocks = parse_stream(io.BytesIO(text.encode()))
    finally:
        reader.BLOCK_BYTES = saved
    assert whole.lines == blocks.lines == expected_lines
    assert [(r.first_line, r.last_line, r.sources, r.score and r.score.val_bpb) for r in whole.runs] == \
        [(r.first_line, r.last_line, r.sources, r.score and r.score.val_bpb) for r in blocks.runs]
