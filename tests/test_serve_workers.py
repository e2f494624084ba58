"""`golf serve --workers N`: uvicorn worker processes, each building the app from the environment
(leaderboard.serving), serving one database: SQLite (WAL) or PostgreSQL."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import httpx
import psutil

from conftest import RECORDS, REPO, free_port
from leaderboard.db import open_database
from leaderboard.importer import import_paths


def test_worker_processes_serve_one_database(tmp_path, db_url):
    records = tmp_path / "records" / "track_10min_16mb"
    for name in ("2026-03-17_NaiveBaseline", "2026-04-09_A2_Muon097_3Seed"):
        shutil.copytree(RECORDS / "track_10min_16mb" / name, records / name)
    assert [o.status for o in import_paths(open_database(db_url), [tmp_path / "records"])] == ["imported"] * 2
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "launcher.cli", "serve", "--workers", "2", "--port", str(port),
                             "--db", db_url], env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline, answer = time.time() + 90, None
        while time.time() < deadline and answer is None:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/api/leaderboard", timeout=5)
            except httpx.HTTPError:
                assert proc.poll() is None, proc.communicate()
                time.sleep(0.3)
        assert answer is not None and answer.status_code == 200 and answer.json()["total"] == 2
        workers = [p for p in psutil.Process(proc.pid).children(recursive=True) if "python" in p.name().lower()]
        assert len(workers) >= 2  # the worker processes (and uvicorn's own helper)
        with httpx.Client(timeout=10) as client:
            pages = [client.get(f"http://127.0.0.1:{port}/") for _ in range(20)]
        assert all(p.status_code == 200 for p in pages)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            for child in psutil.Process(proc.pid).children(recursive=True):
                child.kill()
            proc.kill()
            out, err = proc.communicate()
    assert "2 worker processes" in out and "Traceback" not in err, out + err
