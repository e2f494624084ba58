"""The tracker's database: SQLAlchemy 2.0 models, migrated by Alembic.

Any SQLAlchemy URL works (`--db` / GOLF_DB): the default is `sqlite:///golf.db`, opened with WAL, a
busy timeout and foreign keys on; `postgresql+psycopg://user:password@host/db` for a team server. The
schema's history is in leaderboard/migrations (Alembic revisions, and the bridge from golf's
hand-kept versions 1-5), so a database made by an older golf is upgraded in place when opened.
"""
from __future__ import annotations

import os
import sqlite3
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Iterator

from sqlalchemy import exc
from sqlalchemy import (
    BigInteger, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, TypeDecorator, create_engine,
    event, false, select, text,
)
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, foreign, mapped_column, relationship, sessionmaker
from sqlalchemy.pool import NullPool

DEFAULT_URL = "sqlite:///golf.db"
ID = BigInteger().with_variant(Integer(), "sqlite")  # 64-bit ids on every database (SQLite's rowid is INTEGER)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def as_utc(value: datetime | None) -> datetime | None:
    """A stored time in UTC: SQLite gives back naive times (golf stores UTC), PostgreSQL aware ones."""
    if value is None:
        return None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _storable(value, length: int | None):
    """Text as every database takes it: NUL characters (PostgreSQL refuses them) become U+FFFD, and a
    bounded column's value is cut to its length (PostgreSQL refuses longer ones; SQLite kept them)."""
    if isinstance(value, str):
        if "\x00" in value:
            value = value.replace("\x00", "\ufffd")
        if length is not None and len(value) > length:
            value = value[:length]
    return value


class Str(TypeDecorator):
    """VARCHAR(n) that stores what it is given, made storable (see `_storable`)."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return _storable(value, self.impl.length)


class LongText(TypeDecorator):
    """TEXT that stores what it is given, made storable (see `_storable`)."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value, dialect):
        return _storable(value, None)


class Base(DeclarativeBase):
    pass


class SubmissionRow(Base):
    __tablename__ = "submissions"
    __table_args__ = (Index("ix_submissions_track_bpb", "track", "mean_val_bpb"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    key: Mapped[str] = mapped_column(Str(500), unique=True)  # the source: its path under the imported root
    source_path: Mapped[str] = mapped_column(LongText)
    content_hash: Mapped[str] = mapped_column(Str(64), index=True)
    copy_of_id: Mapped[int | None] = mapped_column(ID, ForeignKey("submissions.id", ondelete="SET NULL"), index=True)
    accepted: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())  # merged into main (or marked so)
    pr_number: Mapped[int | None] = mapped_column(BigInteger, index=True)
    track: Mapped[str] = mapped_column(Str(64), index=True)
    name: Mapped[str] = mapped_column(LongText)
    author: Mapped[str | None] = mapped_column(LongText)
    github_id: Mapped[str | None] = mapped_column(Str(200))
    date: Mapped[str | None] = mapped_column(Str(64), index=True)
    verdict: Mapped[str] = mapped_column(Str(32), index=True)
    claims: Mapped[str | None] = mapped_column(Str(16))  # agree | minor | contradict
    rules_version: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    reference_key: Mapped[str | None] = mapped_column(Str(500))  # the record it was judged against
    significance_json: Mapped[str | None] = mapped_column(LongText)  # the reference's name and the test against it
    mean_val_bpb: Mapped[float | None] = mapped_column(Float, index=True)
    std_val_bpb: Mapped[float | None] = mapped_column(Float)
    mean_val_loss: Mapped[float | None] = mapped_column(Float)
    n_seeds: Mapped[int] = mapped_column(Integer, default=0)
    bytes_max: Mapped[int | None] = mapped_column(BigInteger)
    train_time_s: Mapped[float | None] = mapped_column(Float)  # the longest of the counted seeds (v4)
    eval_time_s: Mapped[float | None] = mapped_column(Float)
    compression_ratio: Mapped[float | None] = mapped_column(Float)  # raw / compressed model bytes, mean over seeds
    readme: Mapped[str | None] = mapped_column(LongText)
    submission_json: Mapped[str | None] = mapped_column(LongText)
    analysis_json: Mapped[str] = mapped_column(LongText)  # the one analysis (leaderboard.analysis)
    reasons_json: Mapped[str | None] = mapped_column(LongText)  # the analysis' reasons for its verdict (a JSON list)
    judged_on: Mapped[str | None] = mapped_column(Str(32))  # the date its reference stood on: its PR's creation, else its own
    review_json: Mapped[str | None] = mapped_column(LongText)  # leaderboard.review: both policies, and "if accepted now"
    would_be_record: Mapped[bool | None] = mapped_column(Boolean)  # an open PR's folder, were it accepted today
    now_reference_key: Mapped[str | None] = mapped_column(Str(500))  # the best accepted record it was weighed against today
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    runs: Mapped[list["RunRow"]] = relationship(back_populates="submission", cascade="all, delete-orphan",
                                                order_by="RunRow.log_path")
    checks: Mapped[list["CheckRow"]] = relationship(cascade="all, delete-orphan", order_by="CheckRow.position")
    files: Mapped[list["ArtifactRow"]] = relationship(cascade="all, delete-orphan", order_by="ArtifactRow.path")
    # linked by number only, with no constraint: `golf import --pr N` may name a PR golf has not synced yet
    pull_request: Mapped["PullRequestRow | None"] = relationship(
        primaryjoin="foreign(SubmissionRow.pr_number) == PullRequestRow.number", viewonly=True, lazy="select")


class RunRow(Base):
    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    submission_id: Mapped[int] = mapped_column(ID, ForeignKey("submissions.id", ondelete="CASCADE"), index=True)
    log_path: Mapped[str] = mapped_column(LongText)
    run_index: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))  # runs appended in one log
    first_line: Mapped[int | None] = mapped_column(BigInteger)
    last_line: Mapped[int | None] = mapped_column(BigInteger)
    log_sha256: Mapped[str | None] = mapped_column(Str(64))
    counts: Mapped[bool] = mapped_column(Boolean, default=True)  # one of the seed results of the submission
    left_out: Mapped[str | None] = mapped_column(LongText)  # why it does not count
    seed: Mapped[int | None] = mapped_column(BigInteger)
    val_bpb: Mapped[float | None] = mapped_column(Float)
    val_loss: Mapped[float | None] = mapped_column(Float)
    score_stage: Mapped[str | None] = mapped_column(Str(200))
    bytes_total: Mapped[int | None] = mapped_column(BigInteger)
    bytes_code: Mapped[int | None] = mapped_column(BigInteger)
    bytes_model: Mapped[int | None] = mapped_column(BigInteger)
    train_time_s: Mapped[float | None] = mapped_column(Float)
    artifact_time_s: Mapped[float | None] = mapped_column(Float)  # serialization after training
    calibration_s: Mapped[float | None] = mapped_column(Float)
    eval_time_s: Mapped[float | None] = mapped_column(Float)
    steps: Mapped[int | None] = mapped_column(BigInteger)
    val_tokens: Mapped[int | None] = mapped_column(BigInteger)
    world_size: Mapped[int | None] = mapped_column(Integer)
    gpu: Mapped[str | None] = mapped_column(Str(200))
    warnings_json: Mapped[str] = mapped_column(LongText, default="[]")
    sources_json: Mapped[str] = mapped_column(LongText, default="{}", server_default="{}")  # figure -> line in the log
    submission: Mapped[SubmissionRow] = relationship(back_populates="runs")
    stages: Mapped[list["EvalStageRow"]] = relationship(cascade="all, delete-orphan", order_by="EvalStageRow.position")
    points: Mapped[list["MetricPointRow"]] = relationship(cascade="all, delete-orphan", order_by="MetricPointRow.step")


class EvalStageRow(Base):
    __tablename__ = "eval_stages"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    run_id: Mapped[int] = mapped_column(ID, ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(Str(200))
    line: Mapped[int | None] = mapped_column(BigInteger)
    val_loss: Mapped[float | None] = mapped_column(Float)
    val_bpb: Mapped[float | None] = mapped_column(Float)
    time_s: Mapped[float | None] = mapped_column(Float)
    after_artifact: Mapped[bool] = mapped_column(Boolean)
    diagnostic: Mapped[bool] = mapped_column(Boolean)
    failed: Mapped[bool] = mapped_column(Boolean)


class MetricPointRow(Base):
    __tablename__ = "metric_points"
    __table_args__ = (Index("ix_metric_points_run_step", "run_id", "step"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    run_id: Mapped[int] = mapped_column(ID, ForeignKey("runs.id", ondelete="CASCADE"))
    step: Mapped[int] = mapped_column(BigInteger)
    train_time_s: Mapped[float | None] = mapped_column(Float)
    train_loss: Mapped[float | None] = mapped_column(Float)
    val_loss: Mapped[float | None] = mapped_column(Float)
    val_bpb: Mapped[float | None] = mapped_column(Float)


class ArtifactRow(Base):
    """A file of the submission folder: the code, the logs, the model when present."""

    __tablename__ = "artifacts"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    submission_id: Mapped[int] = mapped_column(ID, ForeignKey("submissions.id", ondelete="CASCADE"), index=True)
    path: Mapped[str] = mapped_column(LongText)
    kind: Mapped[str] = mapped_column(Str(32))
    bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(Str(64))


class CheckRow(Base):
    __tablename__ = "check_results"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    submission_id: Mapped[int] = mapped_column(ID, ForeignKey("submissions.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    check_id: Mapped[str] = mapped_column(Str(64))
    status: Mapped[str] = mapped_column(Str(16))
    kind: Mapped[str | None] = mapped_column(Str(16))  # rule | doubt | record | claims
    message: Mapped[str] = mapped_column(LongText)


class EventRow(Base):
    __tablename__ = "events"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    kind: Mapped[str] = mapped_column(Str(64))
    subject: Mapped[str | None] = mapped_column(LongText)
    message: Mapped[str] = mapped_column(LongText)


class LaunchRow(Base):
    """One `golf launch`: a group of seeds on one backend."""

    __tablename__ = "launches"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    group: Mapped[str] = mapped_column(Str(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)
    backend: Mapped[str] = mapped_column(Str(32))
    gpus: Mapped[str] = mapped_column(Str(32))
    script: Mapped[str | None] = mapped_column(LongText)  # None: golf's reference trainer
    track: Mapped[str] = mapped_column(Str(64))
    dataset: Mapped[str] = mapped_column(Str(32))
    runs_dir: Mapped[str] = mapped_column(LongText)
    retries: Mapped[int] = mapped_column(Integer, default=0)
    plan_json: Mapped[str] = mapped_column(LongText)  # the plan as shown by --dry-run: secrets masked
    est_cost_usd: Mapped[float | None] = mapped_column(Float)
    state: Mapped[str] = mapped_column(Str(32), index=True)  # running | done | failed | cancelled
    driver_pid: Mapped[int | None] = mapped_column(BigInteger)
    driver_host: Mapped[str | None] = mapped_column(Str(200))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    submission_key: Mapped[str | None] = mapped_column(Str(500))
    verdict: Mapped[str | None] = mapped_column(Str(32))
    seeds: Mapped[list["LaunchSeedRow"]] = relationship(back_populates="launch", cascade="all, delete-orphan",
                                                        order_by="LaunchSeedRow.position")


class LaunchSeedRow(Base):
    """One seed of a launch: its backend handle, state, live progress and GPU time."""

    __tablename__ = "launch_seeds"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    launch_id: Mapped[int] = mapped_column(ID, ForeignKey("launches.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(Str(32), index=True)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    handle_json: Mapped[str | None] = mapped_column(LongText)  # pod id, function-call id, job id, pid...
    failure: Mapped[str | None] = mapped_column(Str(32))  # script | infra | deadline | cancelled
    reason: Mapped[str | None] = mapped_column(LongText)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    log_offset: Mapped[int] = mapped_column(BigInteger, default=0)
    step: Mapped[int | None] = mapped_column(BigInteger)
    total_steps: Mapped[int | None] = mapped_column(BigInteger)
    train_loss: Mapped[float | None] = mapped_column(Float)
    val_bpb: Mapped[float | None] = mapped_column(Float)
    train_time_s: Mapped[float | None] = mapped_column(Float)
    bytes_total: Mapped[int | None] = mapped_column(BigInteger)
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
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    seed_id: Mapped[int] = mapped_column(ID, ForeignKey("launch_seeds.id", ondelete="CASCADE"))
    step: Mapped[int] = mapped_column(BigInteger)
    train_time_s: Mapped[float | None] = mapped_column(Float)
    train_loss: Mapped[float | None] = mapped_column(Float)
    val_loss: Mapped[float | None] = mapped_column(Float)
    val_bpb: Mapped[float | None] = mapped_column(Float)




class PullRequestRow(Base):
    """A pull request of the official repository, as `golf sync` last saw it."""

    __tablename__ = "pull_requests"
    __table_args__ = (Index("ix_pull_requests_state_created", "state", "created_at"),)
    number: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=False)
    title: Mapped[str | None] = mapped_column(LongText)
    author: Mapped[str | None] = mapped_column(Str(200))
    state: Mapped[str] = mapped_column(Str(16))  # open | closed | merged
    state_inferred: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())  # from git, not GitHub
    created_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    merged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    head_sha: Mapped[str | None] = mapped_column(Str(64))
    base_sha: Mapped[str | None] = mapped_column(Str(64))  # where it forked from main
    synced_sha: Mapped[str | None] = mapped_column(Str(64))  # the head whose folders were last read
    folders_json: Mapped[str] = mapped_column(LongText, default="[]", server_default="[]")  # [{path, tree}] it adds
    first_commit_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # git: its first commit's date
    in_main: Mapped[bool | None] = mapped_column(Boolean)  # git: main holds its head
    synced_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
    submissions: Mapped[list[SubmissionRow]] = relationship(
        primaryjoin="PullRequestRow.number == foreign(SubmissionRow.pr_number)", viewonly=True,
        order_by="SubmissionRow.key")


class SyncStateRow(Base):
    """What `golf sync` remembers between runs: the repository, main's last synced commit."""

    __tablename__ = "sync_state"
    name: Mapped[str] = mapped_column(Str(200), primary_key=True)
    value: Mapped[str | None] = mapped_column(LongText)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class GitHubCacheRow(Base):
    """A page of the GitHub API as last fetched: its ETag for a conditional request, and what it held."""

    __tablename__ = "github_cache"
    url: Mapped[str] = mapped_column(Str(1000), primary_key=True)
    etag: Mapped[str | None] = mapped_column(Str(500))
    next_url: Mapped[str | None] = mapped_column(LongText)
    body_json: Mapped[str] = mapped_column(LongText)
    fetched_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class GenerationRow(Base):
    """One row: a number every write the pages show bumps (imports, syncs, removals), so that each web
    worker process knows, with one small read, whether the pages it cached are still current."""

    __tablename__ = "generation"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    value: Mapped[int] = mapped_column(BigInteger)


class AcceptanceOverrideRow(Base):
    """A person's word on whether a submission counts as accepted, over what main says (a folder
    merged and later found wrong, or one accepted outside main)."""

    __tablename__ = "acceptance_overrides"
    key: Mapped[str] = mapped_column(Str(500), primary_key=True)  # a submission's source key
    accepted: Mapped[bool] = mapped_column(Boolean)
    note: Mapped[str | None] = mapped_column(LongText)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


# ---- the generation: bumped in the transaction of any write the pages show

SHOWN = (SubmissionRow, RunRow, CheckRow, ArtifactRow, PullRequestRow, AcceptanceOverrideRow)
_CHANGED = "golf_shown_rows_changed"


def _shown_changes(session: Session) -> bool:
    return any(isinstance(o, SHOWN) for o in session.deleted) or any(isinstance(o, SHOWN) for o in session.new) \
        or any(isinstance(o, SHOWN) and session.is_modified(o) for o in session.dirty)


def _note_changes(session: Session, _flush_context) -> None:
    if not session.info.get(_CHANGED) and _shown_changes(session):
        session.info[_CHANGED] = True


def _bump_at_commit(session: Session) -> None:
    """At the end of the transaction, so that the generation's row is locked (PostgreSQL) only for the
    commit itself: two writers never hold it while waiting for each other's rows."""
    if session.info.pop(_CHANGED, False) or _shown_changes(session):
        bump_generation(session.connection())


def _transaction_over(session: Session, *_args) -> None:
    session.info.pop(_CHANGED, None)


def bump_generation(conn: Connection) -> None:
    """The pages' data changed: every cached page is stale (for writers that bypass the ORM session)."""
    table = GenerationRow.__table__
    if conn.execute(table.update().where(table.c.id == 1).values(value=table.c.value + 1)).rowcount == 0:
        conn.execute(table.insert().values(id=1, value=1))


def generation(conn: Connection) -> int:
    return conn.execute(select(GenerationRow.value).where(GenerationRow.id == 1)).scalar() or 0


# ---- engines, and the schema brought up to date

BUSY_TIMEOUT_S = 10  # how long a connection waits for another's lock before "database is locked"


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
    _switch_to_wal(cursor)
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _switch_to_wal(cursor) -> None:
    """WAL journal mode, tried again while the file is locked. Two connections switching a new file to WAL
    at the same moment can deadlock, and SQLite then answers the one "database is locked" at once rather
    than waiting out the busy timeout; so golf waits it out itself."""
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    pause = 0.01
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() >= deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 0.25)


def database_url(url: str | None = None) -> str:
    """--db, else $GOLF_DB, else golf.db here (as given: the URL golf shows, its password masked)."""
    return url or os.environ.get("GOLF_DB") or DEFAULT_URL


def driver_url(url: str) -> str:
    """The URL SQLAlchemy connects with: a plain postgresql:// is driven by psycopg (v3), the driver golf
    installs (SQLAlchemy's default for it would be psycopg2)."""
    for plain in ("postgresql://", "postgres://"):
        if url.startswith(plain):
            return "postgresql+psycopg://" + url[len(plain):]
    return url


def make_engine(url: str | None = None) -> Engine:
    url = driver_url(database_url(url))
    engine = create_engine(url, pool_pre_ping=not url.startswith("sqlite"))
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


class DatabaseError(RuntimeError):
    """A database golf cannot use: damaged, or made by a newer golf."""


MIGRATION_LOCK_ID = 0x60_1F_5C_4E  # PostgreSQL advisory lock held while migrating: one golf at a time


def _needs(conn: Connection) -> str | None:
    """What the database needs to reach this golf's schema: None (nothing), `create` (it is new), `bridge`
    (a hand-kept version 1-5) or `upgrade` (an older Alembic revision). Only reads."""
    from . import migrations
    from .migrations import legacy

    version = legacy.version(conn)
    revision = migrations.current_revision(conn)
    head = migrations.head()
    if version is not None and version > legacy.FENCE:
        raise DatabaseError(f"the database has schema version {version}, newer than this golf (revision {head}); "
                            "upgrade golf")
    if revision is not None:
        if not migrations.is_known(revision):
            raise DatabaseError(f"the database is at schema revision {revision}, newer than this golf (revision "
                                f"{head}); upgrade golf")
        return None if revision == head else "upgrade"
    if version == legacy.FENCE:
        raise DatabaseError("the database has lost its schema revision (alembic_version); restore a backup or "
                            "import into a new file")
    return "bridge" if version is not None else "create"


@contextmanager
def _migration_transaction(engine: Engine) -> Iterator[Connection]:
    """One transaction holding the database's write lock from its first statement, DDL included: on
    SQLite a BEGIN IMMEDIATE (pysqlite would otherwise commit before each DDL statement), on
    PostgreSQL an advisory lock. A second golf migrating at the same time waits, then finds the work done."""
    migrating = create_engine(engine.url, poolclass=NullPool)
    if migrating.dialect.name == "sqlite":
        def connect(dbapi_connection, record):
            dbapi_connection.isolation_level = None  # golf says when transactions begin
            _sqlite_pragmas(dbapi_connection, record)

        event.listen(migrating, "connect", connect)
        event.listen(migrating, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
    try:
        with migrating.connect() as conn, conn.begin():
            if migrating.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID})
            yield conn
    finally:
        migrating.dispose()


def migrate(engine: Engine) -> str:
    """Bring the database to this golf's head revision, in one transaction; returns the revision.
    A database already there is only read (it may be read-only). A database of golf's hand-kept
    versions 1-5 is bridged to version 5 and stamped, then upgraded. Two golfs opening a new database
    at once both succeed: the second waits for the first's lock and finds nothing left to do."""
    from . import migrations
    from .migrations import legacy

    with engine.connect() as conn:
        if _needs(conn) is None:
            return migrations.head()
    for attempt in range(5):
        try:
            with _migration_transaction(engine) as conn:
                need = _needs(conn)  # again, now that this golf holds the lock
                if need == "bridge":
                    legacy.bring_to_last_version(conn, legacy.version(conn) or 0)
                if need is not None:
                    migrations.upgrade(conn, from_baseline=need == "bridge")
                    legacy.set_fence(conn)
            return migrations.head()
        except exc.OperationalError as error:  # the lock was not had within the busy timeout
            if attempt == 4 or "locked" not in str(error.orig):
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def check_integrity(engine: Engine) -> None:
    """SQLite's quick check, before anything is written: a damaged file is said to be damaged."""
    if engine.dialect.name != "sqlite":
        return
    with engine.connect() as conn:
        problems = [row[0] for row in conn.execute(text("PRAGMA quick_check")).fetchmany(3)]
    if problems != ["ok"]:
        found = "; ".join(line for p in problems for line in p.splitlines() if not line.startswith("***"))
        raise DatabaseError(f"the database file is damaged ({found[:200]}); restore a backup or "
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
    sessions = sessionmaker(engine, expire_on_commit=False)
    event.listen(sessions, "after_flush", _note_changes)
    event.listen(sessions, "before_commit", _bump_at_commit)
    event.listen(sessions, "after_rollback", _transaction_over)
    return sessions


def _read_only_sqlite(url: str) -> str | None:
    """The same SQLite file opened immutable (no locks, no -wal / -shm), for reading from a read-only place."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database.startswith("file:"):
        return None
    return f"sqlite:///file:{parsed.database}?mode=ro&immutable=1&uri=true"
