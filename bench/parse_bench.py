"""Log parser throughput and memory, on real logs joined from the corpus or on a synthetic log.

    python bench/parse_bench.py --corpus /tmp/pg/parameter-golf-records   # every corpus log, joined
    python bench/parse_bench.py --mb 1024                                 # a synthetic 1 GB log

The log is written to a temporary file first (streamed), then parsed in one pass; prints MB/s by
wall and by CPU time, the lines and runs found, and the process's peak RSS, which stays flat however
large the log is (the parser reads in blocks and keeps bounded state per run).
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
from leaderboard.submission import is_log_file  # noqa: E402

TAIL = """stopping_early: wallclock_cap train_time:600038ms step:{step}/999999999
Serialized model int8+zlib: 15815847 bytes (payload:17178912 raw_torch:17224025 payload_ratio:3.91x)
Total submission size int8+zlib: 15863489 bytes
final_int8_zlib_roundtrip val_loss:2.0727 val_bpb:1.2244 eval_time:1401ms
final_int8_zlib_roundtrip_exact val_loss:2.07269931 val_bpb:1.22436570
"""


def write_synthetic(path: Path, megabytes: int) -> None:
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


def write_joined(path: Path, corpus: Path, every: int = 1) -> int:
    """Every log of the corpus (or every `every`-th, in path order), one after the other, as one file;
    returns how many."""
    count = 0
    with open(path, "wb") as out:
        for log in sorted(p for p in corpus.rglob("*") if p.is_file() and is_log_file(p))[::every]:
            out.write(log.read_bytes())
            out.write(b"\n")
            count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--corpus", type=Path, help="an unpacked corpus: parse all its logs, joined")
    source.add_argument("--mb", type=int, default=1024, help="size of the synthetic log in MB (default 1024)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "joined.log"
        logs = write_joined(path, args.corpus) if args.corpus else None
        if not args.corpus:
            write_synthetic(path, args.mb)
        size = path.stat().st_size
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        wall, cpu = time.perf_counter(), time.process_time()
        log = parse_file(path)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if not args.corpus:
        assert log.run.score is not None and log.run.score.val_bpb == 1.2243657
    print(json.dumps({
        "source": str(args.corpus) if args.corpus else "synthetic", "logs_joined": logs,
        "log_mb": round(size / 1e6, 1), "lines": log.lines, "runs": len(log.runs),
        "wall_s": round(wall, 2), "cpu_s": round(cpu, 2),
        "mb_per_s_wall": round(size / 1e6 / wall, 1), "mb_per_s_cpu": round(size / 1e6 / cpu, 1),
        "peak_rss_mib": round(rss_peak), "rss_before_parse_mib": round(rss_before),
    }, indent=2))


if __name__ == "__main__":
    main()
