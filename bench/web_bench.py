"""Web leaderboard latency under load: 5,000 submissions x 3 seeds, served by uvicorn on loopback.

    python bench/web_bench.py                       # 5000 submissions, 400 requests per URL, 8 at once
    python bench/web_bench.py --submissions 1000 --requests 200 --concurrency 4

Builds the database with bulk inserts (submissions, seeds with curves, checks), starts
`golf serve` as a separate process, and prints p50/p99 latency and requests/s for `/` and
`/api/leaderboard` (first page, and a deep page sorted by date).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from leaderboard.db import CheckRow, MetricPointRow, RunRow, SubmissionRow, open_database  # noqa: E402

CHECKS = ("artifact_size", "train_time", "eval_time", "seeds", "claims_match", "full_validation", "plausible_score",
          "scored_artifact", "val_data_before_artifact", "significance")


def build(url: str, n: int, points: int) -> None:
    rng = random.Random(0)
    sessions = open_database(url)
    engine = sessions.kw["bind"]
    with engine.begin() as conn:
        subs, runs, checks, curve = [], [], [], []
        run_id = 0
        for i in range(1, n + 1):
            track = "track_10min_16mb" if i % 5 else "track_non_record_16mb"
            verdict = rng.choice(("record", "non-record", "needs-review", "invalid"))
            bpbs = [rng.uniform(1.05, 1.3) for _ in range(3)]
            subs.append({"id": i, "key": f"{track}/sub{i}", "source_path": f"/nowhere/sub{i}", "content_hash": "0" * 64,
                         "track": track, "name": f"Submission {i}", "author": f"author{i % 300}", "github_id": None,
                         "date": f"2026-{1 + i % 12:02d}-{1 + i % 28:02d}", "verdict": verdict,
                         "mean_val_bpb": statistics.fmean(bpbs), "std_val_bpb": statistics.stdev(bpbs),
                         "mean_val_loss": statistics.fmean(bpbs) * 1.7, "n_seeds": 3,
                         "bytes_max": rng.randint(14_000_000, 16_100_000), "readme": "# hi", "submission_json": "{}",
                         "train_time_s": rng.uniform(590, 600), "eval_time_s": rng.uniform(100, 500),
                         "report_json": json.dumps({"claimed": {}, "seeds": []})})
            for seed, bpb in zip((42, 314, 999), bpbs):
                run_id += 1
                runs.append({"id": run_id, "submission_id": i, "log_path": f"train_seed{seed}.log", "counts": True,
                             "seed": seed, "val_bpb": bpb, "val_loss": bpb * 1.7, "train_time_s": rng.uniform(590, 600),
                             "eval_time_s": rng.uniform(100, 500), "bytes_total": rng.randint(14_000_000, 16_000_000),
                             "warnings_json": "[]"})
                curve += [{"run_id": run_id, "step": s * 100, "train_loss": 4 - s * 0.1, "val_bpb": None}
                          for s in range(points)]
            checks += [{"submission_id": i, "position": k, "check_id": c, "status": rng.choice(("pass", "warn", "fail")),
                        "message": f"{c} reason"} for k, c in enumerate(CHECKS)]
        conn.execute(SubmissionRow.__table__.insert(), subs)
        conn.execute(RunRow.__table__.insert(), runs)
        conn.execute(CheckRow.__table__.insert(), checks)
        conn.execute(MetricPointRow.__table__.insert(), curve)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def hit(url: str) -> float:
    t0 = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as response:
        response.read()
        assert response.status == 200
    return time.perf_counter() - t0


def load(url: str, requests: int, concurrency: int) -> dict:
    hit(url)  # warm
    t0 = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        latencies = sorted(pool.map(hit, [url] * requests))
    wall = time.perf_counter() - t0
    return {"p50_ms": 1000 * latencies[len(latencies) // 2], "p99_ms": 1000 * latencies[int(len(latencies) * 0.99) - 1],
            "req_per_s": requests / wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--submissions", type=int, default=5000)
    parser.add_argument("--points", type=int, default=20, help="curve points per seed")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        t0 = time.perf_counter()
        build(url, args.submissions, args.points)
        print(f"database: {args.submissions} submissions x 3 seeds in {time.perf_counter() - t0:.1f}s")
        port = free_port()
        server = subprocess.Popen([sys.executable, "-m", "launcher", "serve", "--port", str(port), "--db", url],
                                  cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                                  stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(200):
                try:
                    hit(base + "/openapi.json")
                    break
                except OSError:
                    time.sleep(0.1)
            deep = args.submissions // 5 * 4 // 50
            for path in ("/", "/api/leaderboard", f"/api/leaderboard?sort=date&order=desc&page={deep}",
                         "/?q=Submission%2049&verdict=record"):
                r = load(base + path, args.requests, args.concurrency)
                print(f"{path:45s} p50 {r['p50_ms']:7.1f} ms   p99 {r['p99_ms']:7.1f} ms   {r['req_per_s']:7.1f} req/s")
        finally:
            server.terminate()
            server.wait()


if __name__ == "__main__":
    main()
