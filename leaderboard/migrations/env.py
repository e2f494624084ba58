"""Alembic's environment for golf: always run by golf itself (leaderboard.migrations.upgrade), on a
connection golf opened and holds in one transaction, so a migration lands whole or not at all."""
from __future__ import annotations

from alembic import context

from leaderboard.db import Base

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("golf's migrations run through golf (leaderboard.migrations.upgrade), not the alembic command")
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=False)
with context.begin_transaction():
    context.run_migrations()
