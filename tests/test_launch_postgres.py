"""`golf launch` with its database on PostgreSQL (a server the tests start): the launch, its seeds, their
live curves and the imported group land there as they do in SQLite (test_launch_local covers the rest
on SQLite; one seed here keeps the trainer's time small)."""
from __future__ import annotations

from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from conftest import golf, launcher_env, tiny_env_args


def rows(url: str, query: str) -> list[tuple]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(query))]
    finally:
        engine.dispose()


def test_a_launch_on_postgresql(embedded_data, tmp_path, postgres_server):
    url = postgres_server.new_database()
    env = launcher_env(tmp_path, embedded_data, GOLF_DB=url)
    proc = golf(["launch", "--seeds", "7", "--name", "solo", *tiny_env_args(), "-e", "VAL_LOSS_EVERY=10"], env, tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "seed 7: done" in proc.stdout and not (tmp_path / "golf.db").exists()
    assert rows(url, "SELECT state, verdict FROM launches") == [("done", "valid")]
    assert rows(url, "SELECT seed, state, step, total_steps FROM launch_seeds") == [(7, "done", 30, 30)]
    assert rows(url, "SELECT COUNT(*) FROM launch_points WHERE val_bpb IS NOT NULL")[0][0] >= 1
    assert rows(url, "SELECT key, n_seeds, verdict FROM submissions") == [("solo", 1, "valid")]
    status = golf(["status", "solo"], env, tmp_path)
    assert status.returncode == 0 and "solo" in status.stdout
