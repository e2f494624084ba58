"""Issue 11 (hardening), the points no other test pins down: a symlinked README or submission.json never
reaches the database or the pages; the sizes golf holds beside the log are findings of their own; a
database URL's password is masked in the import summary and the serve banner, not only in errors; a
database damaged where opening it does not look is said to be damaged, in one line."""
from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient

from conftest import RECORDS, REPO, free_port
from golfcore.loggrammar import format_event, ms
from leaderboard.db import open_database
from leaderboard.importer import import_paths
from leaderboard.report import check_paths
from leaderboard.web import create_app

GOOD = RECORDS / "track_10min_16mb" / "2026-03-17_NaiveBaseline"
SECRET = "rp_live_supersecret"


def test_symlinked_claims_never_reach_the_database_or_the_pages(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(f'runpod_api_key = "{SECRET}"\n')
    records = tmp_path / "records"
    folder = records / "track_10min_16mb" / "2026-05-02_Links"
    folder.mkdir(parents=True)
    (folder / "train.log").write_bytes((GOOD / "train.log").read_bytes())
    (folder / "submission.json").symlink_to(config)
    (folder / "README.md").symlink_to("/etc/passwd")
    db = tmp_path / "golf.db"
    sessions = open_database(f"sqlite:///{db}")
    assert [o.status for o in import_paths(sessions, [records])] == ["imported"]
    sessions.kw["bind"].dispose()
    with sqlite3.connect(db) as con:  # every text cell of every table
        tables = [t for (t,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        cells = [str(v) for t in tables for row in con.execute(f'SELECT * FROM "{t}"') for v in row if v is not None]
        readme, claims = con.execute("SELECT readme, submission_json FROM submissions").fetchone()
    assert (readme, claims) == (None, None)
    assert not any(SECRET in c or "root:x:0" in c for c in cells)
    client = TestClient(create_app(f"sqlite:///{db}"))
    sid = client.get("/api/leaderboard").json()["items"][0]["id"]
    for url in (f"/submissions/{sid}", f"/api/submissions/{sid}", f"/submissions/{sid}/files/submission.json",
                f"/submissions/{sid}/files/README.md"):
        response = client.get(url)
        assert SECRET not in response.text and "root:x:0" not in response.text, url


def sized_folder(tmp_path: Path) -> Path:
    """A seed whose log states model 15,000,000 + code 50,000 = 15,050,000 bytes."""
    folder = tmp_path / "records" / "track_10min_16mb" / "2026-05-04_Sizes"
    folder.mkdir(parents=True)
    lines = [format_event("golf_trainer", version="x", seed="1", device="cpu", world_size=1),
             format_event("step", "5/5", train_loss="3.0", train_time=ms(1.0)),
             format_event("train_done", steps=5, train_time=ms(1.0), stop="iterations"),
             format_event("artifact", path="final_model.int8.brotli", bytes_model=15_000_000, artifact_time=ms(0.1)),
             format_event("size", bytes_total=15_050_000, bytes_model=15_000_000, bytes_code=50_000, limit=16_000_000),
             format_event("eval", stage="roundtrip", val_loss="2.0", val_bpb="1.2", eval_time=ms(1.0), diagnostic=0),
             format_event("score", stage="roundtrip", val_loss="2.0", val_bpb="1.2", eval_time=ms(1.0))]
    (folder / "train_seed1.log").write_text("\n".join(lines) + "\n")
    return folder


def artifact_size(folder: Path) -> dict:
    checks = check_paths([folder])["submissions"][0]["checks"]
    return next(c for c in checks if c["id"] == "artifact_size")


def test_an_artifact_file_that_disagrees_with_the_log_is_a_finding_under_the_cap_too(tmp_path):
    folder = sized_folder(tmp_path)
    assert artifact_size(folder)["status"] == "pass"
    with open(folder / "final_model.int8.brotli", "wb") as fh:
        fh.truncate(15_500_000)
    check = artifact_size(folder)
    assert check["status"] == "warn" and "largest 15,550,000 bytes" in check["message"]  # the file's size counts
    assert "the log says the model is 15,000,000 bytes, the artifact file holds 15,500,000" in check["message"]


def test_a_train_gpt_py_larger_than_the_counted_code_is_a_finding(tmp_path):
    """The folder's train_gpt.py beside a log that counted less code: a warning, not a failure (counting a
    minified or compressed form of the code is accepted, #1855)."""
    folder = sized_folder(tmp_path)
    (folder / "train_gpt.py").write_bytes(b"#" * 1_200_000)
    check = artifact_size(folder)
    assert check["status"] == "warn", check
    assert "train_gpt.py here is 1,200,000 bytes, the log counted 50,000" in check["message"]


def test_the_password_is_masked_in_the_import_summary_and_the_serve_banner(postgres_server, tmp_path):
    """The success paths print the URL too (the test server trusts any password)."""
    password = "hunter2-summary-pw"
    url = postgres_server.new_database().replace("golf@", f"golf:{password}@")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    imported = subprocess.run([sys.executable, "-m", "launcher.cli", "import", str(GOOD), "--db", url],
                              capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path)
    assert imported.returncode == 0 and "1 imported" in imported.stdout, imported.stderr
    assert password not in imported.stdout + imported.stderr and "golf:***@" in imported.stdout
    server = subprocess.Popen([sys.executable, "-m", "launcher.cli", "serve", "--port", str(free_port()), "--db", url],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=tmp_path)
    try:
        banner = server.stdout.readline()
    finally:
        server.terminate()
        rest = server.communicate(timeout=30)[0]
    assert banner.startswith("golf leaderboard on http://") and "golf:***@" in banner, banner + rest
    assert password not in banner + rest


def test_a_damaged_database_that_still_opens_is_said_to_be_damaged_in_one_line(tmp_path):
    """Only the runs' metric points are scribbled over: the schema reads fine and the folder is unchanged,
    so without SQLite's quick check the import would say `1 unchanged`."""
    db = tmp_path / "golf.db"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    golf = [sys.executable, "-m", "launcher.cli", "import", str(GOOD), "--db", f"sqlite:///{db}"]
    assert subprocess.run(golf, capture_output=True, env=env, timeout=300).returncode == 0
    with sqlite3.connect(db) as con:
        size = con.execute("PRAGMA page_size").fetchone()[0]
        leaves = con.execute("SELECT pageno, ncell FROM dbstat WHERE name = 'metric_points' AND pagetype = 'leaf'").fetchall()
    con.close()
    data = bytearray(db.read_bytes())
    for page, cells in leaves:  # every cell pointer of each leaf (after its 8-byte header) out of range
        start = (page - 1) * size + 8
        data[start:start + 2 * cells] = b"\xff" * (2 * cells)
    db.write_bytes(bytes(data))
    proc = subprocess.run(golf, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 2 and "the database file is damaged" in proc.stderr, proc.stdout + proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "unchanged" not in proc.stdout, proc.stderr


def test_package_still_takes_a_folder_path(tmp_path):
    """`golf package GROUP` takes a launch's name (tests/test_launch_output.py) and, as before, a folder."""
    a2 = RECORDS / "track_10min_16mb" / "2026-04-09_A2_Muon097_3Seed"
    proc = subprocess.run([sys.executable, "-m", "launcher.cli", "package", str(a2), "--name", "again", "--author", "A",
                           "--github-id", "a", "--out", str(tmp_path / "out"), "--date", "2026-11-23"],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.returncode == 0, proc.stderr
    folder = tmp_path / "out" / "2026-11-23_again"
    assert sorted(p.name for p in folder.glob("train_seed*.log")) == sorted(p.name for p in a2.glob("train_seed*.log"))
