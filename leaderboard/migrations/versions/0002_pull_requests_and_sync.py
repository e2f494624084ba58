"""Pull requests and `golf sync`: the PR table, the sync's own state, GitHub's ETags, acceptance
overrides; on each submission the date it is judged on and what a reviewer needs (both policies,
and for an open PR whether it would be a record if accepted now).

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pull_requests",
        sa.Column("number", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
                  autoincrement=False),
        sa.Column("title", sa.Text),
        sa.Column("author", sa.String(200)),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("state_inferred", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", sa.DateTime(timezone=True)),
        sa.Column("merged_at", sa.DateTime(timezone=True)),
        sa.Column("closed_at", sa.DateTime(timezone=True)),
        sa.Column("head_sha", sa.String(64)),
        sa.Column("base_sha", sa.String(64)),
        sa.Column("synced_sha", sa.String(64)),
        sa.Column("folders_json", sa.Text, nullable=False, server_default="[]"),
        sa.Column("first_commit_at", sa.DateTime(timezone=True)),
        sa.Column("in_main", sa.Boolean),
        sa.Column("synced_at", sa.DateTime(timezone=True)),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_pull_requests_state_created", "pull_requests", ["state", "created_at"])
    op.create_table(
        "sync_state",
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("value", sa.Text),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "github_cache",
        sa.Column("url", sa.String(1000), primary_key=True),
        sa.Column("etag", sa.String(500)),
        sa.Column("next_url", sa.Text),
        sa.Column("body_json", sa.Text, nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "acceptance_overrides",
        sa.Column("key", sa.String(500), primary_key=True),
        sa.Column("accepted", sa.Boolean, nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.add_column("submissions", sa.Column("judged_on", sa.String(32)))
    op.add_column("submissions", sa.Column("review_json", sa.Text))
    op.add_column("submissions", sa.Column("would_be_record", sa.Boolean))
    op.add_column("submissions", sa.Column("now_reference_key", sa.String(500)))


def downgrade() -> None:
    for column in ("now_reference_key", "would_be_record", "review_json", "judged_on"):
        op.drop_column("submissions", column)
    for table in ("acceptance_overrides", "github_cache", "sync_state"):
        op.drop_table(table)
    op.drop_index("ix_pull_requests_state_created", "pull_requests")
    op.drop_table("pull_requests")
