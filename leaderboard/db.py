"""The tracker's database: SQLAlchemy 2.0 models and a versioned schema.

Any SQLAlchemy URL works (`--db` / GOLF_DB); the default is `sqlite:///golf.db`, opened
with WAL, a busy timeout and foreign keys on. The schema carries a version number and
an ordered list of migrations, so a database made by an older golf is upgraded in place.
"""
from __future__ import annotations

import os
import time
from datetime import datetime, timezone
from typing import Callable

from sqlalchemy import exc
from sqlalchemy import (
    Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, create_engine, event, inspect, text,
)
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship, sessionmaker

DEFAULT_URL = "sqlite:///golf.db"


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    pass


class SubmissionRow(Base):
    __tablename__ = "submissions"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(500), unique=True)  # the source: its path under the imported root
    source_path: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    copy_of_id: Mapped[int | None] = mapped_column(ForeignKey("submissions.id", ondelete="SET NULL"), index=True)
    accepted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("0"))  # merged into main (or marked so)
    pr_number: Mapped[int | None] = mapped_column(Integer, index=True)
    track: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(Text)
    author: Mapped[str | None] = mapped_column(Text)
    github_id: Mapped[str | None] = mapped_column(String(200))
    date: Mapped[str | None] = mapped_column(String(64), index=True)
    verdict: Mapped[str] = mapped_column(String(32), index=True)
    claims: Mapped[str | None] = mapped_column(String(16))  # agree | minor | contradict
    rules_version: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    reference_key: Mapped[str | None] = mapped_column(String(500))  # the record it was judged against
    significance_json: Mapped[str | None] = mapped_column(Text)  # the reference's name and the test against it
    mean_val_bpb: Mapped[float | None] = mapped_column(Float, index=True)
    std_val_bpb: Mapped[float | None] = mapped_column(Float)
    mean_val_loss: Mapped[float | None] = mapped_column(Float)
    n_seeds: Mapped[int] = mapped_column(Integer, default=0)
    bytes_max: Mapped[int | None] = mapped_column(Integer)
    train_time_s: Mapped[float | None] = mapped_column(Float)  # the longest of the counted seeds (v4)
    eval_time_s: Mapped[float | None] = mapped_column(Float)
    compression_ratio: Mapped[float | None] = mapped_column(Float)  # raw / compressed model bytes, mean over seeds
    readme: Mapped[str | None] = mapped_column(Text)
    submission_json: Mapped[str | None] = mapped_column(Text)
    analysis_json: Mapped[str] = mapped_column(Text)  # the one analysis (leaderboard.analysis)
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    runs: Mapped[list["RunRow"]] = relationship(back_populates="submission", cascade="all, delete-orphan",
                                                order_by="RunRow.log_path")
    checks: Mapped[list["CheckRow"]] = relationship(cascade="all, delete-orphan", order_by="CheckRow.position")
    files: Mapped[list["ArtifactRow"]] = relationship(cascade="all, delete-orphan", order_by="ArtifactRow.path")


class RunRow(Base):
    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"), index=True)
    log_path: Mapped[str] = mapped_column(Text)
    run_index: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))  # runs appended in one log
    first_line: Mapped[int | None] = mapped_column(Integer)
    last_line: Mapped[int | None] = mapped_column(Integer)
    log_sha256: Mapped[str | None] = mapped_column(String(64))
    counts: Mapped[bool] = mapped_column(Boolean, default=True)  # one of the seed results of the submission
    left_out: Mapped[str | None] = mapped_column(Text)  # why it does not count
    seed: Mapped[int | None] = mapped_column(Integer)
    val_bpb: Mapped[float | None] = mapped_column(Float)
    val_loss: Mapped[float | None] = mapped_column(Float)
    score_stage: Mapped[str | None] = mapped_column(String(200))
    bytes_total: Mapped[int | None] = mapped_column(Integer)
    bytes_code: Mapped[int | None] = mapped_column(Integer)
    bytes_model: Mapped[int | None] = mapped_column(Integer)
    train_time_s: Mapped[float | None] = mapped_column(Float)
    artifact_time_s: Mapped[float | None] = mapped_column(Float)  # serialization after training
    calibration_s: Mapped[float | None] = mapped_column(Float)
    eval_time_s: Mapped[float | None] = mapped_column(Float)
    steps: Mapped[int | None] = mapped_column(Integer)
    val_tokens: Mapped[int | None] = mapped_column(Integer)
    world_size: Mapped[int | None] = mapped_column(Integer)
    gpu: Mapped[str | None] = mapped_column(String(200))
    warnings_json: Mapped[str] = mapped_column(Text, default="[]")
    sources_json: Mapped[str] = mapped_column(Text, default="{}", server_default="{}")  # figure -> line in the log
    submission: Mapped[SubmissionRow] = relationship(back_populates="runs")
    stages: Mapped[list["EvalStageRow"]] = relationship(cascade="all, delete-orphan", order_by="EvalStageRow.position")
    points: Mapped[list["MetricPointRow"]] = relationship(cascade="all, delete-orphan", order_by="MetricPointRow.step")


class EvalStageRow(Base):
    __tablename__ = "eval_stages"
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    line: Mapped[int | None] = mapped_column(Integer)
    val_loss: Mapped[float | None] = mapped_column(Float)
    val_bpb: Mapped[float | None] = mapped_column(Float)
    time_s: Mapped[float | None] = mapped_column(Float)
    after_artifact: Mapped[bool] = mapped_column(Boolean)
    diagnostic: Mapped[bool] = mapped_column(Boolean)
    failed: Mapped[bool] = mapped_column(Boolean)


class MetricPointRow(Base):
    __tablename__ = "metric_points"
    __table_args__ = (Index("ix_metric_points_run_step", "run_id", "step"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    step: Mapped[int] = mapped_column(Integer)
    train_time_s: Mapped[float | None] = mapped_column(Float)
    train_loss: Mapped[float | None] = mapped_column(Float)
    val_loss: Mapped[float | None] = mapped_column(Float)
    val_bpb: Mapped[float | None] = mapped_column(Float)


class ArtifactRow(Base):
    """A file of the submission folder: the code, the logs, the model when present."""

    __tablename__ = "artifacts"
    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"), index=True)
    path: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(32))
    bytes: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))


class CheckRow(Base):
    __tablename__ = "check_results"
    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submissions.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    check_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str | None] = mapped_column(String(16))  # rule | doubt | record | claims
    message: Mapped[str] = mapped_column(Text)


class EventRow(Base):
    __tablename__ = "events"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    kind: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str | None] = mapped_column(Text)
    message: Mapped[str] = mapped_column(Text)


class LaunchRow(Base):
    """One `golf launch`: a group of seeds on one backend."""

    __tablename__ = "launches"
    id: Mapped[int] = mapped_column(primary_key=True)
    group: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    backend: Mapped[str] = mapped_column(String(32))
    gpus: Mapped[str] = mapped_column(String(32))
    script: Mapped[str | None] = mapped_column(Text)  # None: golf's reference trainer
    track: Mapped[str] = mapped_column(String(64))
    dataset: Mapped[str] = mapped_column(String(32))
    runs_dir: Mapped[str] = mapped_column(Text)
    retries: Mapped[int] = mapped_column(Integer, default=0)
    plan_json: Mapped[str] = mapped_column(Text)  # the plan as shown by --dry-run: secrets masked
    est_cost_usd: Mapped[float | None] = mapped_column(Float)
    state: Mapped[str] = mapped_column(String(32), index=True)  # running | done | failed | cancelled
    driver_pid: Mapped[int | None] = mapped_column(Integer)
    driver_host: Mapped[str | None] = mapped_column(String(200))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    submission_key: Mapped[str | None] = mapped_column(String(500))
    verdict: Mapped[str | None] = mapped_column(String(32))
    seeds: Mapped[list["LaunchSeedRow"]] = relationship(back_populates="launch", cascade="all, delete-orphan",
                                                        order_by="LaunchSeedRow.position")


class LaunchSeedRow(Base):
    """One seed of a launch: its backend handle, state, live progress and GPU time."""

    __tablename__ = "launch_seeds"
    id: Mapped[int] = mapped_column(primary_key=True)
    launch_id: Mapped[int] = mapped_column(ForeignKey("launches.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(32), index=True)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    handle_json: Mapped[str | None] = mapped_column(Text)  # pod id, function-call id, job id, pid...
    failure: Mapped[str | None] = mapped_column(String(32))  # script | infra | deadline | cancelled
    reason: Mapped[str | None] = mapped_column(Text)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    log_offset: Mapped[int] = mapped_column(Integer, default=0)
    step: Mapped[int | None] = mapped_column(Integer)
    total_steps: Mapped[int | None] = mapped_column(Integer)
    train_loss: Mapped[float | None] = mapped_column(Float)
    val_bpb: Mapped[float | None] = mapped_column(Float)
    train_time_s: Mapped[float | None] = mapped_column(Float)
    bytes_total: Mapped[int | None] = mapped_column(Integer)
    gpu_seconds: Mapped[float | None] = mapped_column(Float)  # wall time on the box x GPUs
    cost_usd: Mapped[float | None] = mapped_column(Float)
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    launch: Mapped[LaunchRow] = relationship(back_populates="seeds")
    points: Mapped[list["LaunchPointRow"]] = relationship(cascade="all, delete-orphan",
                                                          order_by="LaunchPointRow.step")


class LaunchPointRow(Base):
    """A live curve point, streamed from the log while the seed runs."""

    __tablename__ = "launch_points"
    __table_args__ = (Index("ix_launch_points_seed_step", "seed_id", "step"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    seed_id: Mapped[int] = mapped_column(ForeignKey("launch_seeds.id", ondelete="CASCADE"))
    step: Mapped[int] = mapped_column(Integer)
    train_time_s: Mapped[float | None] = mapped_column(Float)
    train_loss: Mapped[float | None] = mapped_column(Float)
    val_loss: Mapped[float | None] = mapped_column(Float)
    val_bpb: Mapped[float | None] = mapped_column(Float)


# ---- schema versions

def _v1_initial(conn: Connection) -> None:
    later = ("artifacts", "launches", "launch_seeds", "launch_points")
    tables = [t for name, t in Base.metadata.tables.items() if name not in later]
    Base.metadata.create_all(conn, tables=tables)


def _v2_artifacts(conn: Connection) -> None:
    """v2 records each file of a submission folder (bytes, sha256)."""
    Base.metadata.create_all(conn, tables=[Base.metadata.tables["artifacts"]])


def _v3_launches(conn: Connection) -> None:
    """v3 records launches: seeds, backend handles, live progress."""
    Base.metadata.create_all(conn, tables=[Base.metadata.tables[n] for n in ("launches", "launch_seeds", "launch_points")])


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
    _add_columns(conn, "submissions", {
        "copy_of_id": "INTEGER REFERENCES submissions(id) ON DELETE SET NULL", "accepted": "BOOLEAN DEFAULT 0",
        "pr_number": "INTEGER", "claims": "VARCHAR(16)", "rules_version": "INTEGER DEFAULT 0",
        "reference_key": "VARCHAR(500)", "significance_json": "TEXT"})
    if "report_json" in {c["name"] for c in inspect(conn).get_columns("submissions")}:
        conn.execute(text("ALTER TABLE submissions RENAME COLUMN report_json TO analysis_json"))
    _add_columns(conn, "runs", {"run_index": "INTEGER DEFAULT 1", "first_line": "INTEGER", "last_line": "INTEGER",
                                "left_out": "TEXT", "calibration_s": "FLOAT", "sources_json": "TEXT DEFAULT '{}'"})
    _add_columns(conn, "eval_stages", {"line": "INTEGER"})
    _add_columns(conn, "check_results", {"kind": "VARCHAR(16)"})
    conn.execute(text("UPDATE submissions SET content_hash = '', rules_version = 0"))
    conn.execute(text("CREATE INDEX IF NOT EXISTS ix_submissions_content_hash ON submissions (content_hash)"))
    conn.execute(text("CREATE INDEX IF NOT EXISTS ix_submissions_copy_of_id ON submissions (copy_of_id)"))
    conn.execute(text("CREATE INDEX IF NOT EXISTS ix_submissions_pr_number ON submissions (pr_number)"))


MIGRATIONS: list[Callable[[Connection], None]] = [_v1_initial, _v2_artifacts, _v3_launches, _v4_submission_times,
                                                  _v5_sources_and_runs]
SCHEMA_VERSION = len(MIGRATIONS)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def database_url(url: str | None = None) -> str:
    return url or os.environ.get("GOLF_DB") or DEFAULT_URL


def make_engine(url: str | None = None) -> Engine:
    engine = create_engine(database_url(url))
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def schema_version(conn: Connection) -> int:
    if not inspect(conn).has_table("schema_version"):
        return 0
    return int(conn.execute(text("SELECT version FROM schema_version")).scalar() or 0)


class DatabaseError(RuntimeError):
    """A database golf cannot use: damaged, or made by a newer golf."""


def migrate(engine: Engine, target: int = SCHEMA_VERSION) -> int:
    """Apply the missing migrations, each in its own transaction; returns the final version. A
    database already at the target is only read (it may be read-only). Two golfs opening a new file at
    once both succeed: the one that loses the race finds the work done and reads it again."""
    for attempt in range(5):
        try:
            return _migrate(engine, target)
        except exc.OperationalError as error:
            if attempt == 4 or not any(word in str(error.orig) for word in ("already exists", "locked", "duplicate")):
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def _migrate(engine: Engine, target: int) -> int:
    with engine.connect() as conn:
        current = schema_version(conn)
    if current > SCHEMA_VERSION:
        raise DatabaseError(f"the database has schema version {current}, newer than this golf ({SCHEMA_VERSION}); "
                            "upgrade golf")
    if current >= target:
        return current
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"))
        if conn.execute(text("SELECT COUNT(*) FROM schema_version")).scalar() == 0:
            conn.execute(text("INSERT INTO schema_version (version) VALUES (0)"))
    for version in range(current + 1, target + 1):
        with engine.begin() as conn:
            if schema_version(conn) >= version:  # another golf got here first
                continue
            MIGRATIONS[version - 1](conn)
            conn.execute(text("UPDATE schema_version SET version = :v"), {"v": version})
    return max(current, target)


def check_integrity(engine: Engine) -> None:
    """SQLite's quick check, before anything is written: a damaged file is said to be damaged."""
    if engine.dialect.name != "sqlite":
        return
    with engine.connect() as conn:
        problems = [row[0] for row in conn.execute(text("PRAGMA quick_check")).fetchmany(3)]
    if problems != ["ok"]:
        raise DatabaseError(f"the database file is damaged ({'; '.join(problems)[:200]}); restore a backup or "
                            "import into a new file")


def open_database(url: str | None = None, write: bool = True) -> sessionmaker[Session]:
    """The database, migrated to this golf's schema; `write=False` for a reader (`golf check`, a read-only
    `golf serve`): nothing is written when nothing needs migrating, and no integrity check is run."""
    engine = make_engine(url)
    try:
        if write:
            check_integrity(engine)
        migrate(engine)
    except DatabaseError:
        engine.dispose()
        raise
    except exc.DatabaseError as error:  # not a database at all, or damaged beyond reading its schema
        engine.dispose()
        readonly = _read_only_sqlite(database_url(url)) if not write else None
        if readonly is not None and "unable to open" in str(error.orig):
            return open_database(readonly, write=False)  # a read-only folder: no -wal / -shm files can be made
        raise DatabaseError(f"cannot read the database: {str(error.orig).splitlines()[0][:200]}") from None
    return sessionmaker(engine, expire_on_commit=False)


def _read_only_sqlite(url: str) -> str | None:
    """The same SQLite file opened immutable (no locks, no -wal / -shm), for reading from a read-only place."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database.startswith("file:"):
        return None
    return f"sqlite:///file:{parsed.database}?mode=ro&immutable=1&uri=true"
