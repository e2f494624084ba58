"""The schema as golf's last hand-kept migration (version 5) left it, frozen: Alembic's baseline
revision creates it, and the bridge from versions 1-4 builds toward it. Never edit it to follow the
models; a change to the schema is a new revision in versions/.

Ids and integers that come from logs or file sizes are BIGINT (PostgreSQL's INTEGER stops at 2**31;
for SQLite both are the same 64-bit INTEGER), and booleans default to false() (PostgreSQL refuses 0).
"""
from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()
# ids: 64-bit everywhere (PostgreSQL's INTEGER stops at 2**31; SQLite's INTEGER PRIMARY KEY is 64-bit and
# must be spelled INTEGER to stay the rowid)
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
NOW_TABLES = ("events", "submissions", "runs", "eval_stages", "metric_points", "check_results")  # v1
ARTIFACT_TABLES = ("artifacts",)  # v2
LAUNCH_TABLES = ("launches", "launch_seeds", "launch_points")  # v3


def _id() -> sa.Column:
    return sa.Column("id", ID, primary_key=True)


sa.Table(
    "submissions", metadata, _id(),
    sa.Column("key", sa.String(500), nullable=False, unique=True),
    sa.Column("source_path", sa.Text, nullable=False),
    sa.Column("content_hash", sa.String(64), nullable=False, index=True),
    sa.Column("copy_of_id", ID, sa.ForeignKey("submissions.id", ondelete="SET NULL"), index=True),
    sa.Column("accepted", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("pr_number", sa.BigInteger, index=True),
    sa.Column("track", sa.String(64), nullable=False, index=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("author", sa.Text),
    sa.Column("github_id", sa.String(200)),
    sa.Column("date", sa.String(64), index=True),
    sa.Column("verdict", sa.String(32), nullable=False, index=True),
    sa.Column("claims", sa.String(16)),
    sa.Column("rules_version", sa.Integer, nullable=False, server_default=sa.text("0")),
    sa.Column("reference_key", sa.String(500)),
    sa.Column("significance_json", sa.Text),
    sa.Column("mean_val_bpb", sa.Float, index=True),
    sa.Column("std_val_bpb", sa.Float),
    sa.Column("mean_val_loss", sa.Float),
    sa.Column("n_seeds", sa.Integer, nullable=False),
    sa.Column("bytes_max", sa.BigInteger),
    sa.Column("train_time_s", sa.Float),
    sa.Column("eval_time_s", sa.Float),
    sa.Column("compression_ratio", sa.Float),
    sa.Column("readme", sa.Text),
    sa.Column("submission_json", sa.Text),
    sa.Column("analysis_json", sa.Text, nullable=False),
    sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_submissions_track_bpb", "track", "mean_val_bpb"),
)

sa.Table(
    "runs", metadata, _id(),
    sa.Column("submission_id", ID, sa.ForeignKey("submissions.id", ondelete="CASCADE"), nullable=False,
              index=True),
    sa.Column("log_path", sa.Text, nullable=False),
    sa.Column("run_index", sa.Integer, nullable=False, server_default=sa.text("1")),
    sa.Column("first_line", sa.BigInteger),
    sa.Column("last_line", sa.BigInteger),
    sa.Column("log_sha256", sa.String(64)),
    sa.Column("counts", sa.Boolean, nullable=False),
    sa.Column("left_out", sa.Text),
    sa.Column("seed", sa.BigInteger),
    sa.Column("val_bpb", sa.Float),
    sa.Column("val_loss", sa.Float),
    sa.Column("score_stage", sa.String(200)),
    sa.Column("bytes_total", sa.BigInteger),
    sa.Column("bytes_code", sa.BigInteger),
    sa.Column("bytes_model", sa.BigInteger),
    sa.Column("train_time_s", sa.Float),
    sa.Column("artifact_time_s", sa.Float),
    sa.Column("calibration_s", sa.Float),
    sa.Column("eval_time_s", sa.Float),
    sa.Column("steps", sa.BigInteger),
    sa.Column("val_tokens", sa.BigInteger),
    sa.Column("world_size", sa.Integer),
    sa.Column("gpu", sa.String(200)),
    sa.Column("warnings_json", sa.Text, nullable=False),
    sa.Column("sources_json", sa.Text, nullable=False, server_default="{}"),
)

sa.Table(
    "eval_stages", metadata, _id(),
    sa.Column("run_id", ID, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("line", sa.BigInteger),
    sa.Column("val_loss", sa.Float),
    sa.Column("val_bpb", sa.Float),
    sa.Column("time_s", sa.Float),
    sa.Column("after_artifact", sa.Boolean, nullable=False),
    sa.Column("diagnostic", sa.Boolean, nullable=False),
    sa.Column("failed", sa.Boolean, nullable=False),
)

sa.Table(
    "metric_points", metadata, _id(),
    sa.Column("run_id", ID, sa.ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    sa.Column("step", sa.BigInteger, nullable=False),
    sa.Column("train_time_s", sa.Float),
    sa.Column("train_loss", sa.Float),
    sa.Column("val_loss", sa.Float),
    sa.Column("val_bpb", sa.Float),
    sa.Index("ix_metric_points_run_step", "run_id", "step"),
)

sa.Table(
    "artifacts", metadata, _id(),
    sa.Column("submission_id", ID, sa.ForeignKey("submissions.id", ondelete="CASCADE"), nullable=False,
              index=True),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("bytes", sa.BigInteger, nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
)

sa.Table(
    "check_results", metadata, _id(),
    sa.Column("submission_id", ID, sa.ForeignKey("submissions.id", ondelete="CASCADE"), nullable=False,
              index=True),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("check_id", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("kind", sa.String(16)),
    sa.Column("message", sa.Text, nullable=False),
)

sa.Table(
    "events", metadata, _id(),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("subject", sa.Text),
    sa.Column("message", sa.Text, nullable=False),
)

sa.Table(
    "launches", metadata, _id(),
    sa.Column("group", sa.String(200), nullable=False, unique=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("backend", sa.String(32), nullable=False),
    sa.Column("gpus", sa.String(32), nullable=False),
    sa.Column("script", sa.Text),
    sa.Column("track", sa.String(64), nullable=False),
    sa.Column("dataset", sa.String(32), nullable=False),
    sa.Column("runs_dir", sa.Text, nullable=False),
    sa.Column("retries", sa.Integer, nullable=False),
    sa.Column("plan_json", sa.Text, nullable=False),
    sa.Column("est_cost_usd", sa.Float),
    sa.Column("state", sa.String(32), nullable=False, index=True),
    sa.Column("driver_pid", sa.BigInteger),
    sa.Column("driver_host", sa.String(200)),
    sa.Column("heartbeat_at", sa.DateTime(timezone=True)),
    sa.Column("submission_key", sa.String(500)),
    sa.Column("verdict", sa.String(32)),
)

sa.Table(
    "launch_seeds", metadata, _id(),
    sa.Column("launch_id", ID, sa.ForeignKey("launches.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("seed", sa.BigInteger, nullable=False),
    sa.Column("state", sa.String(32), nullable=False, index=True),
    sa.Column("attempt", sa.Integer, nullable=False),
    sa.Column("handle_json", sa.Text),
    sa.Column("failure", sa.String(32)),
    sa.Column("reason", sa.Text),
    sa.Column("exit_code", sa.Integer),
    sa.Column("log_offset", sa.BigInteger, nullable=False),
    sa.Column("step", sa.BigInteger),
    sa.Column("total_steps", sa.BigInteger),
    sa.Column("train_loss", sa.Float),
    sa.Column("val_bpb", sa.Float),
    sa.Column("train_time_s", sa.Float),
    sa.Column("bytes_total", sa.BigInteger),
    sa.Column("gpu_seconds", sa.Float),
    sa.Column("cost_usd", sa.Float),
    sa.Column("submitted_at", sa.DateTime(timezone=True)),
    sa.Column("started_at", sa.DateTime(timezone=True)),
    sa.Column("ended_at", sa.DateTime(timezone=True)),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

sa.Table(
    "launch_points", metadata, _id(),
    sa.Column("seed_id", ID, sa.ForeignKey("launch_seeds.id", ondelete="CASCADE"), nullable=False),
    sa.Column("step", sa.BigInteger, nullable=False),
    sa.Column("train_time_s", sa.Float),
    sa.Column("train_loss", sa.Float),
    sa.Column("val_loss", sa.Float),
    sa.Column("val_bpb", sa.Float),
    sa.Index("ix_launch_points_seed_step", "seed_id", "step"),
)


def tables(names: tuple[str, ...]) -> list[sa.Table]:
    return [metadata.tables[name] for name in names]
