"""The web app against hostile input: oversized and unauthenticated uploads, bad file names and text,
extreme numbers in logs, edited URLs, and a database that breaks under it."""
from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3

import pytest
from fastapi.testclient import TestClient

from conftest import RECORDS
from leaderboard.db import LaunchPointRow, LaunchRow, LaunchSeedRow, open_database
from leaderboard.importer import import_paths
from leaderboard.web import MAX_UPLOAD_BYTES, SECURITY_HEADERS, create_app

A2 = RECORDS / "track_10min_16mb" / "2026-04-09_A2_Muon097_3Seed"
TOKEN = "publish-t0ken"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MB = 1 << 20


def post_to_app(app, headers: dict[str, str], chunks: int, chunk: bytes = b" " * MB) -> tuple[int, int]:
    """POST /api/runs straight to the ASGI app, the body offered in `chunks` pieces;
    returns the status and how many pieces the app read."""
    read = 0
    status = None

    async def receive():
        nonlocal read
        if read < chunks:
            read += 1
            return {"type": "http.request", "body": chunk, "more_body": read < chunks}
        return {"type": "http.disconnect"}

    async def send(message):
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/api/runs", "raw_path": b"/api/runs", "query_string": b"", "root_path": "",
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
             "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000)}
    asyncio.run(app(scope, receive, send))
    return status, read


def test_uploads_are_refused_before_their_body_is_read(tmp_path):
    url = f"sqlite:///{tmp_path / 'golf.db'}"
    read_only = create_app(url)
    publishing = create_app(url, token=TOKEN, ingest_dir=tmp_path / "published")
    hundred_mb = {"Content-Type": "application/json", "Content-Length": str(100 * MB)}
    assert post_to_app(read_only, {**hundred_mb, **AUTH}, 100) == (404, 0)
    assert post_to_app(publishing, hundred_mb, 100) == (401, 0)
    assert post_to_app(publishing, {**hundred_mb, "Authorization": "Bearer wrong"}, 100) == (401, 0)
    assert post_to_app(publishing, {**hundred_mb, **AUTH}, 100) == (413, 0)
    status, read = post_to_app(publishing, {"Content-Type": "application/json", **AUTH}, 100)  # no length: streamed
    assert status == 413 and read <= MAX_UPLOAD_BYTES // MB + 1
    assert not (tmp_path / "published").exists()


@pytest.fixture
def publisher(tmp_path):
    app = create_app(f"sqlite:///{tmp_path / 'golf.db'}", token=TOKEN, ingest_dir=tmp_path / "published")
    files = {p.name: p.read_text() for p in A2.iterdir()}
    return TestClient(app), tmp_path / "published", files


def test_publishing_writes_nothing_until_the_whole_folder_is_valid(publisher):
    client, published, files = publisher
    body = {"name": "2026-06-01_Published", "track": "record", "files": files}
    newline = dict(body, files={**files, "evil.log\n": "x"})
    assert client.post("/api/runs", json=newline, headers=AUTH).status_code == 422
    no_track = client.post("/api/runs", json={"name": "x", "files": files}, headers=AUTH)
    assert no_track.status_code == 422 and no_track.json()["detail"][0]["loc"] == ["track"]
    surrogate = json.dumps(body)[:-2] + ', "z.log": "\\ud800"}}'  # valid JSON, text no file can hold
    response = client.post("/api/runs", content=surrogate, headers={**AUTH, "Content-Type": "application/json"})
    assert response.status_code == 422 and "z.log" in response.text
    assert not published.exists() or not any(published.rglob("*"))  # not a file, not a half-written folder

    first = client.post("/api/runs", json=body, headers=AUTH)
    assert first.status_code == 201
    folder = published / "track_10min_16mb" / "2026-06-01_Published"
    assert sorted(p.name for p in folder.iterdir()) == sorted(files)
    again = dict(body, files={**files, "README.md": "# Published, corrected\n"})  # a correction replaces it whole
    second = client.post("/api/runs", json=again, headers=AUTH)
    assert second.status_code == 201 and second.json()["id"] == first.json()["id"]
    assert (folder / "README.md").read_text() == "# Published, corrected\n"
    assert [p.name for p in folder.parent.iterdir()] == ["2026-06-01_Published"]  # no staging left behind


@pytest.fixture
def extreme(tmp_path, db_url):
    """A record whose log has train losses and val_bpb of +-1e308 and an infinite loss, and a launch streaming
    the same (in SQLite, then in PostgreSQL)."""
    records = tmp_path / "records" / "track_10min_16mb"
    for name in ("2026-04-09_A2_Muon097_3Seed", "2026-03-17_NaiveBaseline"):
        shutil.copytree(RECORDS / "track_10min_16mb" / name, records / name)
    log = records / A2.name / "train_seed42.log"
    text = log.read_text()
    for old, new in (("1/20000 train_loss: 9.0104", "1/20000 train_loss: 1e308"),
                     ("2/20000 train_loss: 12.3691", "2/20000 train_loss: -1e308"),
                     ("3/20000 train_loss: 11.0385", "3/20000 train_loss: inf"),
                     ("0/20000 val_loss: 9.0090 val_bpb: 3.4877", "0/20000 val_loss: 9.0090 val_bpb: 1e308"),
                     ("4000/20000 val_loss: 2.9165 val_bpb: 1.1291", "4000/20000 val_loss: 2.9165 val_bpb: -1e308")):
        assert old in text
        text = text.replace(old, new)
    log.write_text(text)
    url = db_url
    assert all(o.status == "imported" for o in import_paths(open_database(url), [records]))
    with open_database(url).begin() as session:
        seed = LaunchSeedRow(position=0, seed=1, state="running", step=3, total_steps=9)
        seed.points = [LaunchPointRow(step=1, train_loss=1e308), LaunchPointRow(step=2, train_loss=-1e308),
                       LaunchPointRow(step=3, train_loss=1.7976931348623157e308)]
        session.add(LaunchRow(group="extreme", backend="local", gpus="cpu", track="10min_16mb", dataset="embedded",
                              runs_dir="/tmp", plan_json="{}", state="running", seeds=[seed]))
    return TestClient(create_app(url), raise_server_exceptions=False), url


def test_extreme_and_non_finite_values_draw(extreme):
    client, _ = extreme
    items = client.get("/api/leaderboard", params={"per_page": 200}).json()["items"]
    a2 = next(i for i in items if i["key"].endswith("A2_Muon097_3Seed"))
    other = next(i for i in items if i["id"] != a2["id"])
    run = next(r for r in client.get(f"/api/submissions/{a2['id']}").json()["runs"] if r["seed"] == 42)
    for url in (f"/submissions/{a2['id']}", f"/runs/{run['id']}", f"/compare?ids={a2['id']},{other['id']}", "/live"):
        response = client.get(url)
        assert response.status_code == 200, (url, response.text[-500:])
        assert "<polyline" in response.text and "e+308" in response.text, url  # the extremes are on the axis


def test_errors_are_pages_with_the_security_headers(extreme, tmp_path):
    client, url = extreme
    bogus = client.get("/", params={"sort": "bogus"})
    assert bogus.status_code == 422 and bogus.headers["content-type"].startswith("text/html")
    assert "Bad request" in bogus.text and "sort" in bogus.text
    assert client.get("/api/leaderboard", params={"sort": "bogus"}).json()["detail"]  # the API stays JSON
    for response in (bogus, client.get("/submissions/999999")):
        assert all(response.headers[k] == v for k, v in SECURITY_HEADERS.items())
    if url.startswith("sqlite"):
        with sqlite3.connect(tmp_path / "golf.db") as db:  # damaged under the running server: its tables are gone
            for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall():
                db.execute(f"DROP TABLE {table}")
    else:
        from sqlalchemy import create_engine, text
        from sqlalchemy.pool import NullPool

        engine = create_engine(url, poolclass=NullPool)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    broken = client.get("/")
    assert broken.status_code == 500 and "Something went wrong" in broken.text
    assert "no such table" not in broken.text and "does not exist" not in broken.text  # stays in the server's log
    assert all(broken.headers[k] == v for k, v in SECURITY_HEADERS.items())
