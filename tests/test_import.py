"""`golf import` into a real SQLite file: keyed by source, idempotent, atomic per folder, safe to kill and
to run twice at once, upgradable in place with every id kept."""
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time

from sqlalchemy import create_engine, select, text

from conftest import RECORDS, REPO
from leaderboard import importer
from leaderboard.db import SCHEMA_VERSION, SubmissionRow, migrate, open_database

VOLATILE = {"imported_at", "updated_at", "at", "id", "submission_id", "run_id", "source_path"}


def golf(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "launcher.cli", *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=timeout)


def dump(db_path, volatile=VOLATILE) -> dict:
    """Every table's rows, without the `volatile` columns (ids, timestamps, paths), in a stable order."""
    con = sqlite3.connect(db_path)
    out = {}
    for (table,) in con.execute("SELECT name FROM sqlite_master WHERE type='table' AND name != 'events'"):
        cur = con.execute(f"SELECT * FROM {table}")
        cols = [d[0] for d in cur.description]
        rows = [tuple(v for c, v in zip(cols, row) if c not in volatile) for row in cur]
        out[table] = sorted(rows, key=repr)
    con.close()
    return out


def test_import_twice_leaves_the_same_database(tmp_path):
    db = tmp_path / "golf.db"
    first = golf("import", str(RECORDS), "--db", f"sqlite:///{db}")
    assert first.returncode == 0, first.stderr
    assert "13 imported, 0 updated, 0 unchanged, 0 failed" in first.stdout
    before = dump(db, volatile=set())  # every column, ids and timestamps included
    second = golf("import", str(RECORDS), "--db", f"sqlite:///{db}")
    assert "0 imported, 0 updated, 13 unchanged, 0 failed" in second.stdout
    assert dump(db, volatile=set()) == before  # no row changed, every id kept: permalinks hold
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 35  # MixedQuant's log holds 3 runs
    assert con.execute("SELECT COUNT(*) FROM metric_points").fetchone()[0] > 1000
    keys = {k for (k,) in con.execute("SELECT key FROM submissions")}
    assert "track_10min_16mb/2026-04-09_A2_Muon097_3Seed" in keys  # keyed by the path under the imported root
    # nothing was imported as accepted, so there is no reference and no record
    assert con.execute("SELECT verdict FROM submissions WHERE key LIKE '%A2_Muon097_3Seed'").fetchone()[0] == "valid"


def test_accepted_records_are_the_reference_of_their_day(tmp_path):
    db = f"sqlite:///{tmp_path / 'golf.db'}"
    assert golf("import", str(RECORDS), "--accepted", "--db", db).returncode == 0
    con = sqlite3.connect(tmp_path / "golf.db")
    rows = dict(con.execute("SELECT key, reference_key FROM submissions"))
    a2 = "track_10min_16mb/2026-04-09_A2_Muon097_3Seed"
    assert rows[a2] == "track_10min_16mb/2026-04-04_SP4096_DepthRecurrence_ParallelResid_MuonEqR"  # the best before it
    assert rows["track_10min_16mb/2026-03-17_NaiveBaseline"] is None  # nothing stood before the first record
    assert con.execute("SELECT verdict FROM submissions WHERE key = ?", (a2,)).fetchone()[0] == "record"
    assert all(key != ref for key, ref in rows.items())  # never judged against itself


def test_a_changed_folder_is_replaced(tmp_path):
    folder = tmp_path / "track_10min_16mb" / "2026-04-09_A2_Muon097_3Seed"
    shutil.copytree(RECORDS / "track_10min_16mb" / folder.name, folder)
    sessions = open_database(f"sqlite:///{tmp_path / 'g.db'}")
    assert importer.import_folder(sessions, folder).status == "imported"
    with sessions() as s:
        first_id = s.scalar(select(SubmissionRow.id))
    (folder / "train_seed0.log").unlink()
    assert importer.import_folder(sessions, folder).status == "updated"
    with sessions() as s:
        sub = s.scalar(select(SubmissionRow))
        assert sub.n_seeds == 2 and sorted(r.seed for r in sub.runs) == [42, 1234]
        assert s.query(SubmissionRow).count() == 1
        assert sub.id == first_id  # re-derived in place: the permalink holds


def test_a_failing_folder_leaves_no_partial_row_and_keeps_the_old_one(tmp_path, monkeypatch):
    folder = tmp_path / "track_10min_16mb" / "2026-03-17_NaiveBaseline"
    shutil.copytree(RECORDS / "track_10min_16mb" / folder.name, folder)
    sessions = open_database(f"sqlite:///{tmp_path / 'g.db'}")
    assert importer.import_folder(sessions, folder).status == "imported"
    (folder / "README.md").write_text("changed")
    real_build = importer.build_rows

    def broken(*args, **kwargs):
        rows = real_build(*args, **kwargs)
        rows.runs[0].log_path = None  # NOT NULL: the insert fails after the old runs were dropped
        return rows

    monkeypatch.setattr(importer, "build_rows", broken)
    outcome = importer.import_folder(sessions, folder)
    assert outcome.status == "failed" and "IntegrityError" in outcome.reason
    with sessions() as s:
        sub = s.scalar(select(SubmissionRow))
        assert sub.readme != "changed" and len(sub.runs) == 1 and sub.runs[0].log_path == "train.log"
        assert s.execute(text("SELECT COUNT(*) FROM events WHERE kind='import_failed'")).scalar() == 1


def test_killing_an_import_leaves_a_consistent_database(tmp_path):
    tree = tmp_path / "records"
    for copy in range(6):  # many folders, so the kill lands mid-way
        for track in RECORDS.iterdir():
            if track.is_dir():
                for folder in track.iterdir():
                    shutil.copytree(folder, tree / track.name / f"{folder.name}_{copy}")
    db = tmp_path / "golf.db"
    proc = subprocess.Popen([sys.executable, "-m", "launcher.cli", "import", str(tree), "--db", f"sqlite:///{db}"],
                            env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline:
        if db.exists():
            try:
                if sqlite3.connect(db, timeout=0.1).execute("SELECT COUNT(*) FROM submissions").fetchone()[0] >= 3:
                    break
            except sqlite3.Error:
                pass
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    imported = con.execute("SELECT COUNT(*) FROM submissions").fetchone()[0]
    assert 3 <= imported < 78
    # every stored submission is whole: at least one run row per log file it holds
    for sub_id, n_logs in con.execute(
            "SELECT s.id, (SELECT COUNT(*) FROM artifacts a WHERE a.submission_id = s.id AND a.kind = 'log') FROM submissions s"):
        logs = con.execute("SELECT COUNT(DISTINCT log_path) FROM runs WHERE submission_id = ?", (sub_id,)).fetchone()[0]
        assert logs == n_logs
    con.close()
    resumed = golf("import", str(tree), "--db", f"sqlite:///{db}")
    assert resumed.returncode == 0 and f"{imported} unchanged" in resumed.stdout
    clean = tmp_path / "clean.db"
    golf("import", str(tree), "--db", f"sqlite:///{clean}")
    assert dump(db) == dump(clean)


def test_an_older_database_is_upgraded_in_place(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    assert migrate(engine, target=1) == 1
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO submissions (key, source_path, content_hash, track, name, verdict, n_seeds, analysis_json, "
            "imported_at, updated_at) VALUES ('t/x', '/x', 'h', 't', 'old one', 'record', 0, '{}', "
            "'2026-01-01', '2026-01-01')"))
        assert not conn.execute(text("SELECT name FROM sqlite_master WHERE name='artifacts'")).fetchall()
    sessions = open_database(url)
    with sessions() as s:
        assert s.execute(text("SELECT version FROM schema_version")).scalar() == SCHEMA_VERSION
        assert s.scalar(select(SubmissionRow.name)) == "old one"
        assert s.execute(text("SELECT COUNT(*) FROM artifacts")).scalar() == 0


V4_COLUMNS = ("id INTEGER PRIMARY KEY, key VARCHAR(500) UNIQUE, source_path TEXT, content_hash VARCHAR(64), "
              "track VARCHAR(64), name TEXT, author TEXT, github_id VARCHAR(200), date VARCHAR(64), verdict VARCHAR(32), "
              "mean_val_bpb FLOAT, std_val_bpb FLOAT, mean_val_loss FLOAT, n_seeds INTEGER, bytes_max INTEGER, "
              "train_time_s FLOAT, eval_time_s FLOAT, compression_ratio FLOAT, readme TEXT, submission_json TEXT, "
              "report_json TEXT, imported_at DATETIME, updated_at DATETIME")


def old_database(db, version: int) -> sqlite3.Connection:
    """A database whose submissions table has the shape it had at `version` (3 or 4)."""
    open_database(f"sqlite:///{db}")
    con = sqlite3.connect(db)
    columns = V4_COLUMNS
    if version == 3:
        columns = columns.replace("train_time_s FLOAT, eval_time_s FLOAT, compression_ratio FLOAT, ", "")
    con.execute("PRAGMA foreign_keys=OFF")
    con.execute("DROP TABLE submissions")
    con.execute(f"CREATE TABLE submissions ({columns})")
    con.execute("UPDATE schema_version SET version = ?", (version,))
    con.commit()
    return con


def test_v4_rows_keyed_by_track_and_name_are_adopted_with_their_ids(tmp_path):
    """v5 keys a submission by its source; the next import finds a v4 row by its folder and keeps its id."""
    folder = tmp_path / "records" / "track_10min_16mb" / "2026-03-17_NaiveBaseline"
    shutil.copytree(RECORDS / "track_10min_16mb" / folder.name, folder)
    db = tmp_path / "v4.db"
    con = old_database(db, 4)
    con.execute("INSERT INTO submissions (id, key, source_path, content_hash, track, name, verdict, n_seeds, "
                "report_json, imported_at, updated_at) VALUES (7, 'track_10min_16mb/2026-03-17_NaiveBaseline', ?, "
                "'h', 'track_10min_16mb', 'old', 'non-record', 1, '{}', '2026-01-01', '2026-01-01')",
                (str(folder.resolve()),))
    con.commit()
    con.close()
    proc = golf("import", str(tmp_path / "records" / "track_10min_16mb"), "--db", f"sqlite:///{db}")
    assert proc.returncode == 0 and "0 imported, 1 updated" in proc.stdout, proc.stdout + proc.stderr
    con = sqlite3.connect(db)
    assert con.execute("SELECT id, verdict, rules_version > 0 FROM submissions").fetchall() == [(7, "valid", 1)]


def test_a_newer_database_is_refused_clearly(tmp_path):
    db = tmp_path / "new.db"
    open_database(f"sqlite:///{db}")
    con = sqlite3.connect(db)
    con.execute("UPDATE schema_version SET version = 99")
    con.commit()
    proc = golf("import", str(RECORDS), "--db", f"sqlite:///{db}")
    assert proc.returncode == 2 and "newer than this golf" in proc.stderr


def test_v3_to_v4_backfills_times_and_marks_folders_for_re_derivation(tmp_path):
    db = tmp_path / "v3.db"
    con = old_database(db, 3)
    con.execute("INSERT INTO submissions (id, key, source_path, content_hash, track, name, verdict, n_seeds, "
                "report_json, imported_at, updated_at) VALUES (1, 't/x', '/x', 'h', 't', 'x', 'record', 2, '{}', "
                "'2026-01-01', '2026-01-01')")
    for seed, train, evaluation in ((1, 590.0, 80.0), (2, 599.5, 75.0)):
        con.execute("INSERT INTO runs (submission_id, log_path, counts, seed, train_time_s, eval_time_s, warnings_json) "
                    "VALUES (1, ?, 1, ?, ?, ?, '[]')", (f"s{seed}.log", seed, train, evaluation))
    con.commit()
    con.close()
    sessions = open_database(f"sqlite:///{db}")
    with sessions() as s:
        row = s.get(SubmissionRow, 1)
        assert (row.train_time_s, row.eval_time_s, row.compression_ratio, row.content_hash) == (599.5, 80.0, None, "")


def test_two_imports_at_once_both_succeed(tmp_path):
    db = f"sqlite:///{tmp_path / 'golf.db'}"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-m", "launcher.cli", "import", str(RECORDS), "--db", db],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    results = [p.communicate(timeout=300) + (p.returncode,) for p in procs]
    assert all(code == 0 for _, _, code in results), results
    assert all("IntegrityError" not in out + err for out, err, _ in results)
    con = sqlite3.connect(tmp_path / "golf.db")
    assert con.execute("SELECT COUNT(*) FROM submissions").fetchone()[0] == 13
    assert con.execute("SELECT COUNT(*), COUNT(DISTINCT submission_id) FROM runs").fetchone() == (35, 13)


def test_copies_are_linked_and_same_names_from_different_sources_never_overwrite(tmp_path):
    """A PR re-adding a merged folder is stored as a copy; two PRs with one folder name keep both."""
    corpus = tmp_path / "corpus"
    a2 = RECORDS / "track_10min_16mb" / "2026-04-09_A2_Muon097_3Seed"
    shutil.copytree(a2, corpus / "merged" / "records" / "track_10min_16mb" / a2.name)
    shutil.copytree(a2, corpus / "pr7" / "records" / "track_10min_16mb" / a2.name)  # an identical copy
    other = corpus / "pr8" / "records" / "track_10min_16mb" / a2.name  # same name, other content
    shutil.copytree(a2, other)
    (other / "train_seed0.log").unlink()
    sessions = open_database(f"sqlite:///{tmp_path / 'g.db'}")
    importer.import_paths(sessions, [corpus / "merged"], accepted=True)
    importer.import_paths(sessions, [corpus / "pr7"], pr=7)
    importer.import_paths(sessions, [corpus / "pr8"], pr=8)
    with sessions() as s:
        rows = {r.key: r for r in s.scalars(select(SubmissionRow))}
        assert set(rows) == {f"records/track_10min_16mb/{a2.name}", f"pr7/records/track_10min_16mb/{a2.name}",
                             f"pr8/records/track_10min_16mb/{a2.name}"}
        merged = rows[f"records/track_10min_16mb/{a2.name}"]
        assert rows[f"pr7/records/track_10min_16mb/{a2.name}"].copy_of_id == merged.id
        assert rows[f"pr8/records/track_10min_16mb/{a2.name}"].copy_of_id is None
        assert rows[f"pr8/records/track_10min_16mb/{a2.name}"].n_seeds == 2 and merged.n_seeds == 3
        assert merged.accepted and rows[f"pr7/records/track_10min_16mb/{a2.name}"].pr_number == 7
        # a copy of the accepted record is never judged against it
        assert rows[f"pr7/records/track_10min_16mb/{a2.name}"].reference_key != merged.key


def test_a_damaged_database_is_said_to_be_damaged_and_nothing_is_imported(tmp_path):
    db = tmp_path / "golf.db"
    assert golf("import", str(RECORDS / "track_10min_16mb"), "--db", f"sqlite:///{db}").returncode == 0
    data = bytearray(db.read_bytes())
    for page in range(2, len(data) // 4096):  # scribble over the b-tree pages, keep the header
        data[page * 4096 + 8: page * 4096 + 64] = b"\xff" * 56
    db.write_bytes(bytes(data))
    for args in (("import", str(RECORDS)), ("check", str(RECORDS / "track_10min_16mb"), "--against", "best")):
        proc = golf(*args, "--db", f"sqlite:///{db}")
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        assert "damaged" in proc.stderr or "cannot read the database" in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1  # one line
        assert "imported" not in proc.stdout


def test_a_database_in_a_read_only_folder_is_served(tmp_path):
    """A database on a read-only mount: SQLite can make no -wal / -shm file there. (The folder is made
    immutable with chattr: root, who runs these tests, writes through plain permissions.)"""
    from fastapi.testclient import TestClient

    from leaderboard.web import create_app

    folder = tmp_path / "readonly"
    folder.mkdir()
    db = folder / "golf.db"
    assert golf("import", str(RECORDS / "track_10min_16mb"), "--db", f"sqlite:///{db}").returncode == 0
    before = db.read_bytes()
    subprocess.run(["chattr", "+i", str(folder)], check=True)
    try:
        client = TestClient(create_app(f"sqlite:///{db}"))
        assert client.get("/").status_code == 200 and client.get("/api/leaderboard").json()["total"] == 10
        served = subprocess.run([sys.executable, "-m", "launcher.cli", "check", str(RECORDS / "track_10min_16mb"),
                                 "--db", f"sqlite:///{db}", "--json"], capture_output=True, text=True, timeout=300,
                                env={**os.environ, "PYTHONPATH": str(REPO)})
        assert json.loads(served.stdout)["submissions"] and "Traceback" not in served.stderr
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    assert db.read_bytes() == before
