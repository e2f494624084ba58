"""Web latency under load: the whole corpus plus synthetic submissions, served by `golf serve` on loopback.

    python bench/web_bench.py --db /tmp/golf-web-bench/bench.db          # built once (corpus + 5,000), then reused
    python bench/web_bench.py --db /tmp/small.db --synthetic 500 --requests 300
    python bench/web_bench.py --db /tmp/golf-web-bench/bench.db --workers 2

The database (a SQLite file, --db) is built when missing: every folder of the unpacked corpus
(--corpus; merged/ as accepted, prs/prN/ under their pull request) imported as `golf import` does
(about two minutes), a pull request row for each PR (merged when one of its folders is a copy of an
accepted one, else open), then --synthetic submissions written in bulk, each with three seeds and
their curves, twelve checks, the stored analysis and review, and its own open pull request.

Then `golf serve` runs as its own process and, for a static file and for /, /prs, /api/leaderboard
and a submission page (the current record's), prints p50/p99 latency and requests/s at
--concurrency, all from the same run; and, for each page, the time of its first request after
the database generation moved (the page rendered, not taken from the cache).
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sqlalchemy import func, select, text  # noqa: E402

from leaderboard.db import (  # noqa: E402
    CheckRow, MetricPointRow, PullRequestRow, RunRow, SubmissionRow, bump_generation, open_database,
)
from leaderboard.importer import import_paths  # noqa: E402

CHECKS = ("artifact_size", "train_time", "eval_time", "scored_artifact", "full_validation", "val_data_before_artifact",
          "score_first", "eval_adaptation", "plausible_score", "claims_match", "seeds", "significance")
VERDICTS = ("record", "valid", "needs-review", "invalid")
FIRST_SYNTHETIC_PR = 100_000


def import_corpus(sessions, root: Path) -> int:
    outcomes = import_paths(sessions, [root / "merged"], accepted=True)
    for pr_dir in sorted((root / "prs").iterdir(), key=lambda p: int(p.name[2:]) if p.name[2:].isdigit() else 0):
        if pr_dir.name.startswith("pr") and pr_dir.name[2:].isdigit():
            outcomes += import_paths(sessions, [pr_dir], pr=int(pr_dir.name[2:]))
    return sum(o.status != "failed" for o in outcomes)


def corpus_pulls(sessions) -> int:
    """A pull request row for each PR the corpus holds folders of (the corpus has no metadata)."""
    with sessions.begin() as session:
        accepted = set(session.scalars(select(SubmissionRow.id).where(SubmissionRow.accepted.is_(True))))
        by_pr: dict[int, list] = {}
        for number, copy_of, day in session.execute(select(SubmissionRow.pr_number, SubmissionRow.copy_of_id,
                                                           SubmissionRow.date).where(SubmissionRow.pr_number.is_not(None))):
            by_pr.setdefault(number, []).append((copy_of, day))
        known = set(session.scalars(select(PullRequestRow.number)))
        for number, folders in by_pr.items():
            if number in known:
                continue
            days = sorted(d[:10] for _, d in folders if d and d[:4].isdigit() and len(d) >= 10)
            created = _utc(days[0]) if days else None
            merged = any(c in accepted for c, _ in folders)
            session.add(PullRequestRow(number=number, title=f"corpus PR {number}", author=None,
                                       state="merged" if merged else "open", state_inferred=True, created_at=created,
                                       folders_json="[]"))
    return len(by_pr)


def _utc(day: str) -> datetime | None:
    try:
        return datetime.fromisoformat(day).replace(tzinfo=timezone.utc)
    except ValueError:
        return None


def synthetic(sessions, n: int, points: int = 20) -> None:
    """n submissions as the import would store them, each from its own open pull request."""
    rng = random.Random(0)
    engine = sessions.kw["bind"]
    with engine.begin() as conn:
        first_id = (conn.execute(select(func.max(SubmissionRow.id))).scalar() or 0) + 1
        first_run = (conn.execute(select(func.max(RunRow.id))).scalar() or 0) + 1
        subs, runs, checks, curve, pulls = [], [], [], [], []
        start = datetime(2026, 3, 18, tzinfo=timezone.utc)
        for i in range(n):
            sid, pr = first_id + i, FIRST_SYNTHETIC_PR + i
            created = start + timedelta(minutes=rng.randrange(60 * 24 * 60))
            track = "track_10min_16mb" if i % 5 else "track_non_record_16mb"
            verdict = rng.choice(VERDICTS)
            bpbs = [rng.uniform(1.06, 1.3) for _ in range(3)]
            statuses = [rng.choice(("pass", "pass", "pass", "warn", "fail")) for _ in CHECKS]
            reasons = [f"{c}: synthetic reason {k}" for k, (c, st) in enumerate(zip(CHECKS, statuses)) if st != "pass"]
            sig = {"delta_nats": rng.uniform(-0.02, 0.02), "delta_bpb": rng.uniform(-0.01, 0.01), "p": rng.random(),
                   "significant": verdict == "record", "threshold_nats": 0.005, "unit": "nats per token"}
            seeds = [{"seed": s, "val_bpb": b, "val_loss": b * 1.7, "bytes_total": 15_900_000, "train_time_s": 599.0,
                      "eval_time_s": 300.0, "score_stage": "final", "steps": 5000} for s, b in zip((42, 314, 999), bpbs)]
            name = f"Synthetic {i}: " + " + ".join(rng.sample(("LeakyReLU", "Muon", "TTT", "GPTQ", "SP8192", "EMA",
                                                                "Depth Recurrence", "QK-Gain", "Parallel Residuals"), 3))
            day = created.date().isoformat()
            against = {"reference": {"name": "a record", "key": "records/x", "date": day}, "delta_bpb": sig["delta_bpb"],
                       "delta_nats": sig["delta_nats"], "policies": {"readme": sig, "practice": {**sig, "p": sig["p"] / 2}}}
            subs.append({
                "id": sid, "key": f"pr{pr}/records/{track}/{day}_Synthetic{i}", "source_path": f"/nowhere/synthetic{i}",
                "content_hash": f"{i:064x}", "accepted": False, "pr_number": pr, "track": track, "name": name,
                "author": f"author{i % 300}", "github_id": None, "date": day, "verdict": verdict, "claims": "agree",
                "rules_version": 0, "reference_key": "records/x",
                "significance_json": json.dumps({"reference": "a record", "reference_key": "records/x",
                                                 "policy": "readme", **sig}),
                "mean_val_bpb": statistics.fmean(bpbs), "std_val_bpb": statistics.stdev(bpbs),
                "mean_val_loss": statistics.fmean(bpbs) * 1.7, "n_seeds": 3,
                "bytes_max": rng.randint(14_000_000, 16_100_000), "train_time_s": rng.uniform(590, 600),
                "eval_time_s": rng.uniform(100, 500), "compression_ratio": rng.uniform(2.5, 4.0),
                "readme": "# A synthetic submission\n\n" + "Some words. " * 200, "submission_json": json.dumps({"name": name}),
                "analysis_json": json.dumps({"claimed": {}, "seeds": seeds, "reasons": reasons, "warnings": [],
                                             "counted_because": "", "reference": None, "significance": sig}),
                "reasons_json": json.dumps(reasons), "judged_on": day,
                "review_json": json.dumps({"day": against, "now": {**against, "policy": "readme", "verdict": verdict,
                                                                   "would_be_record": False, "reasons": reasons}}),
                "would_be_record": False, "imported_at": created, "updated_at": created})
            pulls.append({"number": pr, "title": f"Record: {name}", "author": f"author{i % 300}", "state": "open",
                          "state_inferred": False, "created_at": created, "folders_json": "[]", "updated_at": created})
            for seed, bpb in zip((42, 314, 999), bpbs):
                run_id = first_run + len(runs)
                runs.append({"id": run_id, "submission_id": sid, "log_path": f"train_seed{seed}.log", "counts": True,
                             "seed": seed, "val_bpb": bpb, "val_loss": bpb * 1.7, "train_time_s": rng.uniform(590, 600),
                             "eval_time_s": rng.uniform(100, 500), "bytes_total": rng.randint(14_000_000, 16_000_000),
                             "warnings_json": "[]", "sources_json": "{}"})
                curve += [{"run_id": run_id, "step": s * 100, "train_loss": 4 - s * 0.1, "val_bpb": None}
                          for s in range(points)]
            checks += [{"submission_id": sid, "position": k, "check_id": c, "status": st, "kind": "rule",
                        "message": f"{c}: synthetic reason {k}"} for k, (c, st) in enumerate(zip(CHECKS, statuses))]
        conn.execute(SubmissionRow.__table__.insert(), subs)
        conn.execute(PullRequestRow.__table__.insert(), pulls)
        conn.execute(RunRow.__table__.insert(), runs)
        conn.execute(CheckRow.__table__.insert(), checks)
        conn.execute(MetricPointRow.__table__.insert(), curve)
        bump_generation(conn)


def build(path: Path, corpus: Path, n: int) -> None:
    url = f"sqlite:///{path}"
    sessions = open_database(url)
    t0 = time.perf_counter()
    if corpus.is_dir():
        stored = import_corpus(sessions, corpus)
        print(f"corpus: {stored} folders imported in {time.perf_counter() - t0:.0f}s; "
              f"{corpus_pulls(sessions)} pull requests", flush=True)
    else:
        print(f"no corpus at {corpus}: synthetic submissions only (unpack it, see bench/corpus_bench.py)")
    t0 = time.perf_counter()
    synthetic(sessions, n)
    print(f"synthetic: {n} submissions x 3 seeds in {time.perf_counter() - t0:.1f}s", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Client:
    """One keep-alive connection per thread, as a browser holds them."""

    def __init__(self, port: int):
        self.port = port
        self.local = threading.local()

    def get(self, path: str) -> float:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        t0 = time.perf_counter()
        try:
            conn.request("GET", path)
            response = conn.getresponse()
        except (http.client.RemoteDisconnected, ConnectionError):  # the server closed an idle connection
            conn.close()
            t0 = time.perf_counter()
            conn.request("GET", path)
            response = conn.getresponse()
        response.read()
        elapsed = time.perf_counter() - t0
        if response.status != 200:
            raise RuntimeError(f"{path}: HTTP {response.status}")
        return elapsed


def load(client: Client, path: str, requests: int, concurrency: int) -> dict:
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(client.get, [path] * concurrency))  # warm: every connection open, the answer kept
        t0 = time.perf_counter()
        latencies = sorted(pool.map(client.get, [path] * requests))
        wall = time.perf_counter() - t0
    return {"p50_ms": 1000 * latencies[len(latencies) // 2],
            "p99_ms": 1000 * latencies[max(0, -(-len(latencies) * 99 // 100) - 1)], "req_per_s": requests / wall}


def first_render(url: str, client: Client, path: str, times: int = 3) -> float:
    """Median ms of the first request after the generation moved (the page rendered, not kept)."""
    sessions = open_database(url)
    engine = sessions.kw["bind"]
    took = []
    for _ in range(times):
        with engine.begin() as conn:
            bump_generation(conn)
        took.append(client.get(path))
    engine.dispose()
    return 1000 * statistics.median(took)


def describe(path: Path) -> str:
    sessions = open_database(f"sqlite:///{path}")
    with sessions() as session:
        subs = session.scalar(select(func.count()).select_from(SubmissionRow))
        prs = session.scalar(select(func.count()).select_from(PullRequestRow))
        runs = session.scalar(select(func.count()).select_from(RunRow))
        open_prs = session.scalar(select(func.count()).where(PullRequestRow.state == "open"))
        session.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    sessions.kw["bind"].dispose()
    return (f"{subs:,} submissions, {runs:,} runs, {prs:,} pull requests ({open_prs:,} open); "
            f"{path.stat().st_size / 2**20:.0f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", type=Path, default=Path("/tmp/golf-web-bench/bench.db"),
                        help="the SQLite file to serve: built when missing, reused when present")
    parser.add_argument("--corpus", type=Path, default=Path("/tmp/pg/parameter-golf-records"))
    parser.add_argument("--synthetic", type=int, default=5000, help="synthetic submissions added when building")
    parser.add_argument("--requests", type=int, default=800, help="requests per URL")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1, help="golf serve --workers")
    args = parser.parse_args()
    if not args.db.exists():
        args.db.parent.mkdir(parents=True, exist_ok=True)
        build(args.db, args.corpus, args.synthetic)
    url = f"sqlite:///{args.db}"
    print(f"database: {args.db}: {describe(args.db)}")
    with open_database(url)() as session:
        best = session.scalar(select(SubmissionRow.id).where(SubmissionRow.track == "track_10min_16mb")
                              .order_by(SubmissionRow.accepted.desc(), (SubmissionRow.verdict == "record").desc(),
                                        SubmissionRow.mean_val_bpb).limit(1))  # the current record, with a corpus
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "launcher", "serve", "--port", str(port), "--db", url,
                               "--workers", str(args.workers)],
                              cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                              stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    client = Client(port)
    try:
        for _ in range(600):
            try:
                client.get("/static/style.css")
                break
            except OSError:
                client.local.conn = None
                time.sleep(0.1)
        paths = ["/static/style.css", "/", "/prs", "/api/leaderboard", f"/submissions/{best}"]
        print(f"golf serve, {args.workers} worker(s); {args.requests} requests per URL, {args.concurrency} at once")
        for path in paths:
            r = load(client, path, args.requests, args.concurrency)
            print(f"  {path:22s} p50 {r['p50_ms']:6.1f} ms   p99 {r['p99_ms']:6.1f} ms   {r['req_per_s']:7.0f} req/s",
                  flush=True)
        print("first request after the generation moved (rendered, not kept), median of 3:")
        for path in paths[1:]:
            print(f"  {path:22s} {first_render(url, client, path):6.1f} ms", flush=True)
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
