"""The site's generation (bumped by every write the pages show, so every web worker knows when its
cached pages are stale) and each submission's verdict reasons as a column of their own (the
leaderboard's summary badge shows them without reading the whole analysis).

Revision ID: 0003
Revises: 0002
"""
import json

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BATCH = 500


def upgrade() -> None:
    generation = op.create_table(
        "generation",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("value", sa.BigInteger, nullable=False),
    )
    op.bulk_insert(generation, [{"id": 1, "value": 1}])
    op.add_column("submissions", sa.Column("reasons_json", sa.Text))
    conn = op.get_bind()
    submissions = sa.table("submissions", sa.column("id", sa.Integer), sa.column("analysis_json", sa.Text),
                           sa.column("reasons_json", sa.Text))
    last = 0
    while True:  # in batches: a corpus database holds thousands of large analyses
        rows = conn.execute(sa.select(submissions.c.id, submissions.c.analysis_json).where(submissions.c.id > last)
                            .order_by(submissions.c.id).limit(BATCH)).all()
        if not rows:
            break
        for sid, analysis in rows:
            try:
                reasons = json.loads(analysis or "{}").get("reasons", [])
            except ValueError:
                reasons = []
            conn.execute(submissions.update().where(submissions.c.id == sid).values(reasons_json=json.dumps(reasons)))
        last = rows[-1][0]


def downgrade() -> None:
    op.drop_column("submissions", "reasons_json")
    op.drop_table("generation")
