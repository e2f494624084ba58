"""Baseline: the schema golf's hand-kept migrations reached at version 5.

A new database gets these tables here; a database of version 1 to 5 is brought to version 5 by the
bridge (leaderboard.migrations.legacy) and stamped with this revision.

Revision ID: 0001
Revises:
"""
from alembic import op

from leaderboard.migrations import schema_v5

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    schema_v5.metadata.create_all(op.get_bind())


def downgrade() -> None:
    schema_v5.metadata.drop_all(op.get_bind())
