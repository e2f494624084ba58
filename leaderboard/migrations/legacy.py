"""The bridge from golf's hand-kept schema versions (a `schema_version` table, 1 to 5) to Alembic.

A database made before Alembic is brought to version 5 by the migrations golf ran then, each kept
here as it was (on the frozen version-5 tables), then stamped with the baseline revision. Golf
keeps `schema_version` at FENCE afterwards: a golf from before Alembic reads a version newer than
its own and refuses the database instead of writing to it.
"""
from __future__ import annotations

from typing import Callable

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from . import schema_v5

LAST_VERSION = 5  # the schema the baseline revision corresponds to
FENCE = 6  # `schema_version` of a database that Alembic manages


def version(conn: Connection) -> int | None:
    """The hand-kept version, or None when the database has no `schema_version` table."""
    if not inspect(conn).has_table("schema_version"):
        return None
    return int(conn.execute(text("SELECT MAX(version) FROM schema_version")).scalar() or 0)


def set_fence(conn: Connection) -> None:
    conn.execute(text("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"))
    conn.execute(text("DELETE FROM schema_version"))
    conn.execute(text("INSERT INTO schema_version (version) VALUES (:v)"), {"v": FENCE})


def _v1_initial(conn: Connection) -> None:
    schema_v5.metadata.create_all(conn, tables=schema_v5.tables(schema_v5.NOW_TABLES))


def _v2_artifacts(conn: Connection) -> None:
    """v2 records each file of a submission folder (bytes, sha256)."""
    schema_v5.metadata.create_all(conn, tables=schema_v5.tables(schema_v5.ARTIFACT_TABLES))


def _v3_launches(conn: Connection) -> None:
    """v3 records launches: seeds, backend handles, live progress."""
    schema_v5.metadata.create_all(conn, tables=schema_v5.tables(schema_v5.LAUNCH_TABLES))


def _v4_submission_times(conn: Connection) -> None:
    """v4 keeps each submission's longest train and eval time and its compression ratio on its row
    (the leaderboard sorts by them) and indexes the ranking. The ratio comes from the logs: the next
    import re-derives every folder."""
    columns = {c["name"] for c in inspect(conn).get_columns("submissions")}
    for name in ("train_time_s", "eval_time_s"):
        if name not in columns:
            conn.execute(text(f"ALTER TABLE submissions ADD COLUMN {name} FLOAT"))
            conn.execute(text(f"UPDATE submissions SET {name} = (SELECT MAX(runs.{name}) FROM runs "
                              f"WHERE runs.submission_id = submissions.id AND runs.counts)"))
    if "compression_ratio" not in columns:
        conn.execute(text("ALTER TABLE submissions ADD COLUMN compression_ratio FLOAT"))
        conn.execute(text("UPDATE submissions SET content_hash = ''"))  # the next import re-derives every folder
    conn.execute(text("CREATE INDEX IF NOT EXISTS ix_submissions_track_bpb ON submissions (track, mean_val_bpb)"))


def _add_columns(conn: Connection, table: str, columns: dict[str, str]) -> None:
    have = {c["name"] for c in inspect(conn).get_columns(table)}
    for name, ddl in columns.items():
        if name not in have:
            conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {name} {ddl}"))


def _v5_sources_and_runs(conn: Connection) -> None:
    """v5: a submission is keyed by its source and may be a copy of another; every run of a log is
    its own row with its lines; the stored analysis has rules of its own version. Every folder is
    re-derived by the next import (a row is matched by its source path and keeps its id)."""
    false = "false" if conn.dialect.name == "postgresql" else "0"
    _add_columns(conn, "submissions", {
        "copy_of_id": "INTEGER REFERENCES submissions(id) ON DELETE SET NULL",
        "accepted": f"BOOLEAN NOT NULL DEFAULT {false}", "pr_number": "INTEGER", "claims": "VARCHAR(16)",
        "rules_version": "INTEGER NOT NULL DEFAULT 0", "reference_key": "VARCHAR(500)", "significance_json": "TEXT"})
    if "report_json" in {c["name"] for c in inspect(conn).get_columns("submissions")}:
        conn.execute(text("ALTER TABLE submissions RENAME COLUMN report_json TO analysis_json"))
    _add_columns(conn, "runs", {"run_index": "INTEGER NOT NULL DEFAULT 1", "first_line": "INTEGER",
                                "last_line": "INTEGER", "left_out": "TEXT", "calibration_s": "FLOAT",
                                "sources_json": "TEXT NOT NULL DEFAULT '{}'"})
    _add_columns(conn, "eval_stages", {"line": "INTEGER"})
    _add_columns(conn, "check_results", {"kind": "VARCHAR(16)"})
    conn.execute(text("UPDATE submissions SET content_hash = '', rules_version = 0"))
    conn.execute(text("CREATE INDEX IF NOT EXISTS ix_submissions_content_hash ON submissions (content_hash)"))
    conn.execute(text("CREATE INDEX IF NOT EXISTS ix_submissions_copy_of_id ON submissions (copy_of_id)"))
    conn.execute(text("CREATE INDEX IF NOT EXISTS ix_submissions_pr_number ON submissions (pr_number)"))


MIGRATIONS: list[Callable[[Connection], None]] = [_v1_initial, _v2_artifacts, _v3_launches, _v4_submission_times,
                                                  _v5_sources_and_runs]
assert len(MIGRATIONS) == LAST_VERSION


def bring_to_last_version(conn: Connection, current: int) -> None:
    """Run the hand-kept migrations after `current`, up to version 5, on one connection."""
    for number in range(current + 1, LAST_VERSION + 1):
        MIGRATIONS[number - 1](conn)
    conn.execute(text("UPDATE schema_version SET version = :v"), {"v": LAST_VERSION})


def build(conn: Connection, target: int) -> None:
    """A database exactly as a golf of schema version `target` made it (for tests of the bridge)."""
    conn.execute(text("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"))
    conn.execute(text("INSERT INTO schema_version (version) VALUES (0)"))
    for number in range(1, target + 1):
        MIGRATIONS[number - 1](conn)
    conn.execute(text("UPDATE schema_version SET version = :v"), {"v": target})
