"""Import and check the whole wild corpus; print what golf makes of it and what it cost.

    mkdir -p /tmp/pg && tar -xJf ../shared/corpus/parameter-golf-records.tar.xz -C /tmp/pg
    python bench/corpus_bench.py /tmp/pg/parameter-golf-records [--db sqlite:///corpus.db] [--json]

Imports the merged records as accepted (they are the references), then every pull request's
folders under their PR number, into a fresh SQLite file (or --db); prints: folders stored, verdict
counts (all, and the organizers' merged records), the checks that fail and warn most, the runs
with no score / no bytes / no train time, the seconds taken and the peak RSS. A second import
of the same tree is timed too: it must change nothing.
"""
from __future__ import annotations

import argparse
import collections
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import func, select  # noqa: E402

from leaderboard.db import CheckRow, RunRow, SubmissionRow, open_database  # noqa: E402
from leaderboard.importer import import_paths  # noqa: E402


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def summarize(sessions) -> dict:
    with sessions() as s:
        subs = s.execute(select(SubmissionRow.id, SubmissionRow.source_path, SubmissionRow.verdict)).all()
        merged_ids = {i for i, path, _ in subs if "/merged/" in path}
        verdicts = collections.Counter(v for _, _, v in subs)
        merged = collections.Counter(v for i, _, v in subs if i in merged_ids)
        checks = collections.defaultdict(collections.Counter)
        for check_id, status in s.execute(select(CheckRow.check_id, CheckRow.status)):
            checks[status][check_id] += 1
        runs = s.execute(select(RunRow.val_bpb, RunRow.bytes_total, RunRow.train_time_s, RunRow.counts)).all()
        n_runs = s.scalar(select(func.count()).select_from(RunRow))
    return {
        "folders_stored": len(subs),
        "verdicts": dict(verdicts.most_common()),
        "merged_verdicts": dict(merged.most_common()),
        "fail_most": dict(checks["fail"].most_common(8)),
        "warn_most": dict(checks["warn"].most_common(8)),
        "runs": n_runs,
        "runs_no_score": sum(r.val_bpb is None for r in runs),
        "runs_no_bytes": sum(r.bytes_total is None for r in runs),
        "runs_no_train_time": sum(r.train_time_s is None for r in runs),
    }


def import_corpus(sessions, root: Path) -> list:
    outcomes = import_paths(sessions, [root / "merged"], accepted=True)
    for pr_dir in sorted((root / "prs").iterdir(), key=lambda p: int(p.name[2:]) if p.name[2:].isdigit() else 0):
        number = int(pr_dir.name[2:]) if pr_dir.name.startswith("pr") and pr_dir.name[2:].isdigit() else None
        outcomes += import_paths(sessions, [pr_dir], pr=number)
    return outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("root", type=Path, help="the unpacked corpus (parameter-golf-records/)")
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file in a temporary folder)")
    parser.add_argument("--json", action="store_true", help="one JSON document instead of text")
    args = parser.parse_args()
    if not args.root.is_dir():
        parser.error(f"{args.root} is not a folder; unpack the corpus first (see the docstring)")
    with tempfile.TemporaryDirectory() as tmp:
        sessions = open_database(args.db or f"sqlite:///{Path(tmp) / 'corpus.db'}")
        t0 = time.perf_counter()
        first = import_corpus(sessions, args.root)
        first_s = time.perf_counter() - t0
        rss_first = peak_rss_mib()
        t0 = time.perf_counter()
        second = import_corpus(sessions, args.root)
        second_s = time.perf_counter() - t0
        report = {
            "first_import": {"seconds": round(first_s, 1), **collections.Counter(o.status for o in first)},
            "second_import": {"seconds": round(second_s, 1), **collections.Counter(o.status for o in second)},
            "peak_rss_mib": round(max(rss_first, peak_rss_mib())),
            **summarize(sessions),
            "failed": [f"{o.folder}: {o.reason}" for o in first if o.status == "failed"][:20],
        }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    for key, value in report.items():
        if isinstance(value, dict):
            print(f"{key}:")
            for k, v in value.items():
                print(f"  {k:<28} {v}")
        elif isinstance(value, list):
            print(f"{key}: {len(value)}")
            for item in value:
                print(f"  {item}")
        else:
            print(f"{key}: {value}")


if __name__ == "__main__":
    main()
