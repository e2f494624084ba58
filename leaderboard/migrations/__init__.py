"""The database schema's history, kept by Alembic: versions/ holds one revision per change, 0001 being
the schema golf's hand-kept migrations reached (version 5; legacy.py bridges versions 1 to 4).

Golf runs them itself when it opens a database (leaderboard.db.open_database), on a connection it
holds in one transaction: no alembic.ini, no `alembic` command needed. For a developer adding a
revision: write versions/NNNN_what.py by hand (script.py.mako is the template) and a test that an
existing database reaches it.
"""
from __future__ import annotations

from functools import cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import Connection

HERE = Path(__file__).resolve().parent
BASELINE = "0001"  # = hand-kept schema version 5


def config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.attributes["connection"] = connection
    return cfg


@cache
def scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(config())


def head() -> str:
    return scripts().get_current_head()


def is_known(revision: str) -> bool:
    try:
        return scripts().get_revision(revision) is not None
    except CommandError:
        return False


def current_revision(conn: Connection) -> str | None:
    """The revision the database is at (None: not managed by Alembic yet). Only reads."""
    return MigrationContext.configure(conn).get_current_revision()


def upgrade(conn: Connection, from_baseline: bool = False) -> None:
    """Bring the database on `conn` (inside the caller's transaction) to the head revision;
    `from_baseline`: it holds the version-5 schema but no Alembic revision yet."""
    cfg = config(conn)
    if from_baseline:
        command.stamp(cfg, BASELINE)
    command.upgrade(cfg, "head")
