"""PostgreSQL as golf's database: a plain postgresql:// URL is driven by psycopg, a password never shows,
text PostgreSQL would refuse (NUL characters, over-long values) is stored anyway."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

from sqlalchemy import select

from conftest import RECORDS, REPO, free_port
from leaderboard.db import SubmissionRow, open_database
from leaderboard.importer import import_folder


def golf(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "launcher.cli", *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(REPO)})


def test_a_plain_postgresql_url_works(postgres_server):
    url = postgres_server.new_database().replace("postgresql+psycopg://", "postgresql://")
    proc = golf("import", str(RECORDS / "track_10min_16mb" / "2026-03-17_NaiveBaseline"), "--db", url)
    assert proc.returncode == 0 and "1 imported" in proc.stdout, proc.stderr


def test_a_password_never_shows_when_the_server_is_unreachable():
    url = f"postgresql://golf:hunter2-secret@127.0.0.1:{free_port()}/golf"
    proc = golf("import", str(RECORDS / "track_10min_16mb" / "2026-03-17_NaiveBaseline"), "--db", url)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "hunter2-secret" not in proc.stdout + proc.stderr and "golf:***@" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_text_postgresql_would_refuse_is_stored(tmp_path, db_url):
    folder = tmp_path / "track_10min_16mb" / "2026-03-17_NaiveBaseline"
    shutil.copytree(RECORDS / "track_10min_16mb" / folder.name, folder)
    (folder / "README.md").write_text("a NUL \x00 inside\n")
    claims = (folder / "submission.json").read_text()
    (folder / "submission.json").write_text(claims.replace('"date"', '"date": "' + "9" * 5000 + '", "old_date"', 1))
    sessions = open_database(db_url)
    outcome = import_folder(sessions, folder)
    assert outcome.status == "imported", outcome.reason
    with sessions() as s:
        row = s.scalar(select(SubmissionRow))
        assert row.readme == "a NUL \ufffd inside\n" and len(row.date) == 64
