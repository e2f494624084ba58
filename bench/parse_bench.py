"""Log parser throughput and memory on a large synthetic log in the community's format.

    python bench/parse_bench.py            # 1024 MB
    python bench/parse_bench.py --mb 100

Writes the log to a temporary file (streamed), parses it with the streaming parser, and
prints MB/s and the process's peak RSS, which stays bounded however large the log is.
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from leaderboard.logparse import parse_file  # noqa: E402

TAIL = """stopping_early: wallclock_cap train_time:600038ms step:{step}/999999999
Serialized model int8+zlib: 15815847 bytes (payload:17178912 raw_torch:17224025 payload_ratio:3.91x)
Total submission size int8+zlib: 15863489 bytes
final_int8_zlib_roundtrip val_loss:2.0727 val_bpb:1.2244 eval_time:1401ms
final_int8_zlib_roundtrip_exact val_loss:2.07269931 val_bpb:1.22436570
"""


def write_log(path: Path, megabytes: int) -> int:
    target = megabytes * 1_000_000
    written, step = 0, 0
    with open(path, "w") as fh:
        fh.write("seed:1337\nmodel_params:17059912\nworld_size:8 grad_accum_steps:1\n")
        block = []
        while written < target:
            step += 1
            block.append(f"step:{step}/999999999 train_loss:{2 + (step % 997) / 1000:.4f} "
                         f"train_time:{step * 43}ms step_avg:43.54ms\n")
            if step % 200 == 0:
                block.append(f"step:{step}/999999999 val_loss:2.{step % 9999:04d} val_bpb:1.{step % 9999:04d} "
                             f"train_time:{step * 43}ms step_avg:43.54ms\n")
                chunk = "".join(block)
                fh.write(chunk)
                written += len(chunk)
                block = []
        fh.write(TAIL.format(step=step))
    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=1024, help="size of the synthetic log in MB (default 1024)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.log"
        steps = write_log(path, args.mb)
        size = path.stat().st_size
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        t0 = time.perf_counter()
        log = parse_file(path)
        seconds = time.perf_counter() - t0
        rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    run = log.run
    assert run.score is not None and run.score.val_bpb == 1.2243657 and run.steps == steps
    print(json.dumps({
        "log_mb": round(size / 1e6, 1), "lines": log.lines, "seconds": round(seconds, 2),
        "mb_per_s": round(size / 1e6 / seconds, 1), "lines_per_s": round(log.lines / seconds),
        "peak_rss_mib": round(rss_peak), "rss_before_parse_mib": round(rss_before),
        "curve_points_kept": len(run.curve), "score": run.score.val_bpb,
    }, indent=2))


if __name__ == "__main__":
    main()
