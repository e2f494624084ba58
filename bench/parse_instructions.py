"""Parser work counted in CPU instructions: steady where timings on a shared box swing by 5-10%.

    python bench/parse_instructions.py --corpus /tmp/pg/parameter-golf-records                  # this tree
    python bench/parse_instructions.py --corpus /tmp/pg/parameter-golf-records --against HEAD   # and a revision

Every --every-th corpus log (default: every 10th, about 23 MB) is joined into a temporary file. A child
Python parses it under `valgrind --tool=cachegrind --cache-sim=no` with PYTHONHASHSEED=0, and once more
an empty log; the difference is the parse's instructions. With --against, the same for the parser of
that git revision (its leaderboard/ and golfcore/ exported with `git archive`). Two runs of one tree agree
to 0.004%; an edit that does nothing (a comment, an unused name) moves the count by about 0.15%, so read
a change under 0.3% as none. Needs valgrind (Debian's `valgrind`).
"""
from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from parse_bench import write_joined  # noqa: E402

PARSE = "import sys; sys.path.insert(0, sys.argv[1]); from leaderboard.logparse import parse_file; parse_file(sys.argv[2])"
INSTRUCTIONS = re.compile(r"I\s+refs:\s+([\d,]+)")


def instructions(tree: Path, log: Path) -> int:
    """Instructions of one child Python that imports the parser from `tree` and parses `log`."""
    proc = subprocess.run(
        ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
         sys.executable, "-c", PARSE, str(tree), str(log)],
        capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"}, timeout=1800)
    m = INSTRUCTIONS.search(proc.stderr)
    if proc.returncode != 0 or m is None:
        sys.exit(f"valgrind failed (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")
    return int(m.group(1).replace(",", ""))


def parse_instructions(tree: Path, log: Path, empty: Path) -> int:
    return instructions(tree, log) - instructions(tree, empty)


def export(revision: str, dest: Path) -> Path:
    """The parser of a git revision (leaderboard/ and golfcore/), written under dest."""
    proc = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", revision, "leaderboard", "golfcore"],
                          capture_output=True, timeout=120)
    if proc.returncode != 0:
        sys.exit(f"git archive {revision}: {proc.stderr.decode(errors='replace').strip()}")
    with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as tar:
        tar.extractall(dest, filter="data")
    return dest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, required=True, help="an unpacked corpus (see ../shared/corpus)")
    parser.add_argument("--every", type=int, default=10, help="join every N-th log, in path order (default 10)")
    parser.add_argument("--against", metavar="REV", help="also count the parser of this git revision")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (Debian: apt-get install valgrind)")
    if not args.corpus.is_dir():
        sys.exit(f"no corpus at {args.corpus}")
    if args.every < 1:
        sys.exit("--every must be 1 or more")
    with tempfile.TemporaryDirectory() as tmp:
        log, empty = Path(tmp) / "joined.log", Path(tmp) / "empty.log"
        logs = write_joined(log, args.corpus, args.every)
        empty.write_bytes(b"")
        result = {"logs_joined": logs, "log_mb": round(log.stat().st_size / 1e6, 1),
                  "instructions": parse_instructions(ROOT, log, empty)}
        if args.against:
            theirs = parse_instructions(export(args.against, Path(tmp) / "against"), log, empty)
            result.update(against=args.against, against_instructions=theirs,
                          change_percent=round((result["instructions"] / theirs - 1) * 100, 2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
