"""`golf import` into a real SQLite file and a real PostgreSQL database: keyed by source, idempotent, atomic
per folder, safe to kill and to run twice at once, upgradable in place with every id kept."""
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time

import pytest
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.pool import NullPool

from conftest import RECORDS, REPO
from leaderboard import importer, migrations
from leaderboard.db import SubmissionRow, open_database
from leaderboard.migrations import legacy

VOLATILE = {"imported_at", "updated_at", "at", "id", "submission_id", "run_id", "source_path", "copy_of_id"}


def golf(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "launcher.cli", *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=timeout)


def sql(url: str, query: str, **params) -> list[tuple]:
    """The rows of one query, on a connection of its own (SQLite or PostgreSQL)."""
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(query), params)]
    finally:
        engine.dispose()


def dump(url: str, volatile=VOLATILE) -> dict:
    """Every table's rows, without the `volatile` columns (ids, timestamps, paths), in a stable order."""
    engine = create_engine(url, poolclass=NullPool)
    out = {}
    with engine.connect() as conn:
        for table in inspect(conn).get_table_names():
            if table in ("events", "generation"):  # a log of what happened and a count of writes, not content
                continue
            result = conn.execute(text(f'SELECT * FROM "{table}"'))
            cols = list(result.keys())
            rows = [tuple(v for c, v in zip(cols, row) if c not in volatile) for row in result]
            out[table] = sorted(rows, key=repr)
        if "copy_of_id" in volatile:  # ids differ (PostgreSQL spends them on rolled-back inserts): the original's key
            out["copies"] = sorted(conn.execute(text(
                "SELECT s.key, o.key FROM submissions s JOIN submissions o ON o.id = s.copy_of_id")).all())
    engine.dispose()
    return out


def another_database(db_url: str, request, tmp_path) -> str:
    """A second empty database on the same backend as `db_url`."""
    if db_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'another.db'}"
    return request.getfixturevalue("postgres_server").new_database()


def test_import_twice_leaves_the_same_database(db_url):
    first = golf("import", str(RECORDS), "--db", db_url)
    assert first.returncode == 0, first.stderr
    assert "13 imported, 0 updated, 0 unchanged, 0 failed" in first.stdout
    before = dump(db_url, volatile=set())  # every column, ids and timestamps included
    second = golf("import", str(RECORDS), "--db", db_url)
    assert "0 imported, 0 updated, 13 unchanged, 0 failed" in second.stdout
    assert dump(db_url, volatile=set()) == before  # no row changed, every id kept: permalinks hold
    if db_url.startswith("sqlite"):
        assert sql(db_url, "PRAGMA journal_mode") == [("wal",)]
    assert sql(db_url, "SELECT COUNT(*) FROM runs") == [(35,)]  # MixedQuant's log holds 3 runs
    assert sql(db_url, "SELECT COUNT(*) FROM metric_points")[0][0] > 1000
    keys = {k for (k,) in sql(db_url, "SELECT key FROM submissions")}
    assert "track_10min_16mb/2026-04-09_A2_Muon097_3Seed" in keys  # keyed by the path under the imported root
    # nothing was imported as accepted, so there is no reference and no record
    assert sql(db_url, "SELECT verdict FROM submissions WHERE key LIKE '%A2_Muon097_3Seed'") == [("valid",)]


def test_accepted_records_are_the_reference_of_their_day(db_url):
    assert golf("import", str(RECORDS), "--accepted", "--db", db_url).returncode == 0
    rows = dict(sql(db_url, "SELECT key, reference_key FROM submissions"))
    a2 = "track_10min_16mb/2026-04-09_A2_Muon097_3Seed"
    assert rows[a2] == "track_10min_16mb/2026-04-04_SP4096_DepthRecurrence_ParallelResid_MuonEqR"  # the best before it
    assert rows["track_10min_16mb/2026-03-17_NaiveBaseline"] is None  # nothing stood before the first record
    assert sql(db_url, "SELECT verdict FROM submissions WHERE key = :k", k=a2) == [("record",)]
    assert all(key != ref for key, ref in rows.items())  # never judged against itself


def test_a_changed_folder_is_replaced(tmp_path, db_url):
    folder = tmp_path / "track_10min_16mb" / "2026-04-09_A2_Muon097_3Seed"
    shutil.copytree(RECORDS / "track_10min_16mb" / folder.name, folder)
    sessions = open_database(db_url)
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


def test_a_failing_folder_leaves_no_partial_row_and_keeps_the_old_one(tmp_path, monkeypatch, db_url):
    folder = tmp_path / "track_10min_16mb" / "2026-03-17_NaiveBaseline"
    shutil.copytree(RECORDS / "track_10min_16mb" / folder.name, folder)
    sessions = open_database(db_url)
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


def test_killing_an_import_leaves_a_consistent_database(tmp_path, db_url, request):
    tree = tmp_path / "records"
    for copy in range(6):  # many folders, so the kill lands mid-way
        for track in RECORDS.iterdir():
            if track.is_dir():
                for folder in track.iterdir():
                    shutil.copytree(folder, tree / track.name / f"{folder.name}_{copy}")
    proc = subprocess.Popen([sys.executable, "-m", "launcher.cli", "import", str(tree), "--db", db_url],
                            env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if sql(db_url, "SELECT COUNT(*) FROM submissions")[0][0] >= 3:
                break
        except Exception:  # not created yet, or locked
            pass
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    if db_url.startswith("sqlite"):
        assert sql(db_url, "PRAGMA integrity_check") == [("ok",)]
    imported = sql(db_url, "SELECT COUNT(*) FROM submissions")[0][0]
    assert 3 <= imported < 78
    # every stored submission is whole: at least one run row per log file it holds
    for sub_id, n_logs in sql(db_url, "SELECT s.id, (SELECT COUNT(*) FROM artifacts a WHERE a.submission_id = s.id "
                                      "AND a.kind = 'log') FROM submissions s"):
        logs = sql(db_url, "SELECT COUNT(DISTINCT log_path) FROM runs WHERE submission_id = :i", i=sub_id)[0][0]
        assert logs == n_logs
    resumed = golf("import", str(tree), "--db", db_url)
    assert resumed.returncode == 0 and f"{imported} unchanged" in resumed.stdout
    clean = another_database(db_url, request, tmp_path)
    golf("import", str(tree), "--db", clean)
    assert dump(db_url) == dump(clean)


def legacy_database(url: str, version: int) -> None:
    """A database exactly as a golf of hand-kept schema `version` (1-5) made it."""
    engine = create_engine(url, poolclass=NullPool)
    with engine.begin() as conn:
        legacy.build(conn, version)
    engine.dispose()


def test_an_older_database_is_upgraded_in_place(db_url):
    legacy_database(db_url, 1)
    engine = create_engine(db_url, poolclass=NullPool)
    with engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO submissions (key, source_path, content_hash, track, name, verdict, n_seeds, analysis_json, "
            "imported_at, updated_at) VALUES ('t/x', '/x', 'h', 't', 'old one', 'record', 0, '{}', "
            "'2026-01-01', '2026-01-01')"))
        assert not inspect(conn).has_table("artifacts")
    engine.dispose()
    sessions = open_database(db_url)
    with sessions() as s:
        assert s.execute(text("SELECT version_num FROM alembic_version")).scalar() == migrations.head()
        assert s.execute(text("SELECT version FROM schema_version")).scalar() == legacy.FENCE  # older golfs refuse it
        assert s.scalar(select(SubmissionRow.name)) == "old one"
        assert s.execute(text("SELECT COUNT(*) FROM artifacts")).scalar() == 0
        assert s.execute(text("SELECT COUNT(*) FROM pull_requests")).scalar() == 0


@pytest.mark.parametrize("version", [1, 2, 3, 4, 5])
def test_every_hand_kept_version_reaches_the_models_schema(tmp_path, version):
    """A golf.db of any version before Alembic ends with every table and column the models have, and
    a new database has exactly the models' schema (Alembic's autogenerate finds nothing to add)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from leaderboard.db import Base

    old, new = f"sqlite:///{tmp_path / 'old.db'}", f"sqlite:///{tmp_path / 'new.db'}"
    legacy_database(old, version)
    for url in (old, new):
        engine = open_database(url).kw["bind"]
        with engine.connect() as conn:
            have = {t: {c["name"] for c in inspect(conn).get_columns(t)} for t in inspect(conn).get_table_names()}
            diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        for table in Base.metadata.sorted_tables:
            assert {c.name for c in table.columns} <= have[table.name], table.name
        if url == new:
            assert [d[0] for d in diffs] == ["remove_table"] and diffs[0][1].name == "schema_version"


def test_opening_a_new_file_another_golf_is_writing_waits_for_its_lock(tmp_path):
    """Switching a file to WAL while another connection holds its write lock is a deadlock SQLite answers
    with "database is locked" at once, busy timeout or not (the race CI met with four golfs at once)."""
    db = tmp_path / "golf.db"
    writer = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    writer.execute("CREATE TABLE other_tool (x)")
    writer.execute("BEGIN IMMEDIATE")
    threading.Timer(0.5, writer.execute, ["COMMIT"]).start()
    started = time.monotonic()
    sessions = open_database(f"sqlite:///{db}")
    assert time.monotonic() - started >= 0.4
    with sessions() as session:
        assert session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert session.execute(text("SELECT version_num FROM alembic_version")).scalar() == migrations.head()
    writer.close()


def test_two_golfs_opening_a_new_database_at_once_both_succeed(db_url):
    script = ("import sys; from leaderboard.db import open_database; s = open_database(sys.argv[1]); "
              "print(s().execute(__import__('sqlalchemy').text('SELECT version_num FROM alembic_version')).scalar())")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-c", script, db_url], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env) for _ in range(4)]
    results = [p.communicate(timeout=120) + (p.returncode,) for p in procs]
    assert all(code == 0 and out.strip() == migrations.head() for out, _, code in results), results
    assert sql(db_url, "SELECT COUNT(*) FROM alembic_version") == [(1,)]


def test_a_reader_writes_nothing_when_nothing_needs_migrating(tmp_path):
    db = tmp_path / "golf.db"
    open_database(f"sqlite:///{db}").kw["bind"].dispose()  # the last connection closed: the WAL is folded in
    before = db.read_bytes()
    sessions = open_database(f"sqlite:///{db}", write=False)
    with sessions() as s:
        assert s.execute(text("SELECT COUNT(*) FROM submissions")).scalar() == 0
    sessions.kw["bind"].dispose()
    assert db.read_bytes() == before


V4_COLUMNS = ("id INTEGER PRIMARY KEY, key VARCHAR(500) UNIQUE, source_path TEXT, content_hash VARCHAR(64), "
              "track VARCHAR(64), name TEXT, author TEXT, github_id VARCHAR(200), date VARCHAR(64), verdict VARCHAR(32), "
              "mean_val_bpb FLOAT, std_val_bpb FLOAT, mean_val_loss FLOAT, n_seeds INTEGER, bytes_max INTEGER, "
              "train_time_s FLOAT, eval_time_s FLOAT, compression_ratio FLOAT, readme TEXT, submission_json TEXT, "
              "report_json TEXT, imported_at DATETIME, updated_at DATETIME")


def old_database(db, version: int) -> sqlite3.Connection:
    """A SQLite database whose submissions table has the shape it had at `version` (3 or 4)."""
    legacy_database(f"sqlite:///{db}", version)
    con = sqlite3.connect(db)
    columns = V4_COLUMNS
    if version == 3:
        columns = columns.replace("train_time_s FLOAT, eval_time_s FLOAT, compression_ratio FLOAT, ", "")
    con.execute("PRAGMA foreign_keys=OFF")
    con.execute("DROP TABLE submissions")
    con.execute(f"CREATE TABLE submissions ({columns})")
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


@pytest.mark.parametrize("newer", ["UPDATE alembic_version SET version_num = '9999_from_the_future'",
                                   "UPDATE schema_version SET version = 99"])
def test_a_newer_database_is_refused_clearly(db_url, newer):
    open_database(db_url)
    engine = create_engine(db_url, poolclass=NullPool)
    with engine.begin() as conn:
        conn.execute(text(newer))
    engine.dispose()
    before = dump(db_url, volatile=set())
    proc = golf("import", str(RECORDS), "--db", db_url)
    assert proc.returncode == 2 and "newer than this golf" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert dump(db_url, volatile=set()) == before


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


def test_two_imports_at_once_both_succeed(db_url):
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [subprocess.Popen([sys.executable, "-m", "launcher.cli", "import", str(RECORDS), "--db", db_url],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    results = [p.communicate(timeout=300) + (p.returncode,) for p in procs]
    assert all(code == 0 for _, _, code in results), results
    assert all("IntegrityError" not in out + err for out, err, _ in results)
    assert sql(db_url, "SELECT COUNT(*) FROM submissions") == [(13,)]
    assert sql(db_url, "SELECT COUNT(*), COUNT(DISTINCT submission_id) FROM runs") == [(35, 13)]


def test_copies_are_linked_and_same_names_from_different_sources_never_overwrite(tmp_path, db_url):
    """A PR re-adding a merged folder is stored as a copy; two PRs with one folder name keep both."""
    corpus = tmp_path / "corpus"
    a2 = RECORDS / "track_10min_16mb" / "2026-04-09_A2_Muon097_3Seed"
    shutil.copytree(a2, corpus / "merged" / "records" / "track_10min_16mb" / a2.name)
    shutil.copytree(a2, corpus / "pr7" / "records" / "track_10min_16mb" / a2.name)  # an identical copy
    other = corpus / "pr8" / "records" / "track_10min_16mb" / a2.name  # same name, other content
    shutil.copytree(a2, other)
    (other / "train_seed0.log").unlink()
    sessions = open_database(db_url)
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
