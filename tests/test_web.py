"""The web leaderboard with FastAPI's TestClient on a database imported from the real records."""
from __future__ import annotations

import json
import re
from html.parser import HTMLParser
import shutil
import subprocess
import sys
import os

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

from conftest import RECORDS, REPO
from leaderboard.db import open_database
from leaderboard.importer import import_paths
from leaderboard.web import create_app

HOSTILE_README = """# Totally normal submission <script>alert('readme')</script>

<img src=x onerror="alert('img')">

[click me](javascript:alert('link')) and [fine](https://example.com)

<a href="javascript:alert(2)">raw link</a> <style>body{display:none}</style>
"""


class _Attributes(HTMLParser):
    def __init__(self):
        super().__init__()
        self.found: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        self.found += attrs


def attributes(html: str) -> list[tuple[str, str | None]]:
    """Every attribute of every tag, as a browser parses them (escaped text inside a value is no attribute)."""
    parser = _Attributes()
    parser.feed(html)
    return parser.found


@pytest.fixture(scope="module")
def web(tmp_path_factory, module_db_url):
    root = tmp_path_factory.mktemp("web")
    records = root / "records"
    shutil.copytree(RECORDS, records, ignore=shutil.ignore_patterns("EXPECTED.json"))
    hostile = records / "track_10min_16mb" / "2026-05-01_Hostile"
    shutil.copytree(records / "track_10min_16mb" / "2026-04-09_A2_Muon097_3Seed", hostile)
    (hostile / "README.md").write_text(HOSTILE_README)
    claims = json.loads((hostile / "submission.json").read_text())
    claims["name"] = "<script>alert('name')</script>"
    claims["author"] = "<img src=x onerror=alert(1)>"
    (hostile / "submission.json").write_text(json.dumps(claims))
    log = next(hostile.glob("*.log"))
    log.write_text("<script>alert('log')</script>\n" + log.read_text())
    url = module_db_url  # SQLite, then PostgreSQL
    outcomes = import_paths(open_database(url), [records], accepted=True)  # the records are the references
    assert all(o.status == "imported" for o in outcomes)
    app = create_app(url, token="s3cret-token", ingest_dir=root / "published")
    return TestClient(app), records, app, url


def test_ranking_matches_golf_check(web):
    client, records, _, url = web
    board = client.get("/api/leaderboard", params={"per_page": 200}).json()
    items = board["items"]
    ranked = [i for i in items if i["rank"] is not None]
    means = [i["mean_val_bpb"] for i in ranked]
    assert [i["rank"] for i in ranked] == [1 + sum(m < i["mean_val_bpb"] for m in means) for i in ranked]  # ties share
    assert [i["mean_val_bpb"] for i in ranked] == sorted(i["mean_val_bpb"] for i in ranked)
    assert all(i["verdict"] != "invalid" for i in ranked)
    assert all(i["rank"] is None for i in items if i["verdict"] == "invalid") and items[-1]["rank"] is None
    best = [i for i in items if i["best"]]  # the standing record: the best accepted one that breaks no rule
    assert [b["name"] for b in best] == ["VarLenAttn + PhasingTTT"] and best[0]["rank"] == 1

    # golf check against the same database says the same as the pages: one stored analysis
    proc = subprocess.run([sys.executable, "-m", "launcher.cli", "check", str(records / "track_10min_16mb"),
                           str(records / "track_non_record_16mb"), "--json", "--db", url],
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=300)
    by_name = {s["name"]: s for s in json.loads(proc.stdout)["submissions"]}
    all_items = items + client.get("/api/leaderboard", params={"track": "non-record", "per_page": 200}).json()["items"]
    assert len(all_items) == len(by_name) == 14
    for item in all_items:
        report = by_name[item["name"]]
        assert item["verdict"] == report["verdict"]
        assert item["mean_val_bpb"] == report["summary"]["mean_val_bpb"]
        assert item["std_val_bpb"] == report["summary"]["std_val_bpb"]
        assert item["n_seeds"] == report["summary"]["n_seeds"]
        detail = client.get(f"/api/submissions/{item['id']}").json()
        assert [c["status"] for c in detail["checks"]] == [c["status"] for c in report["checks"]]
        assert [c["message"] for c in detail["checks"]] == [c["message"] for c in report["checks"]]
        assert (detail["reference"] or {}).get("key") == (report["reference"] or {}).get("key")
        assert [(s["seed"], s["val_bpb"]) for s in detail["seeds"]] == [(s["seed"], s["val_bpb"]) for s in report["seeds"]]


def test_filters_sorting_and_paging(web):
    client, *_ = web
    records = client.get("/api/leaderboard", params={"verdict": "record"}).json()
    # each beat the accepted record of its day significantly (readme policy); the hostile copy of A2 keeps
    # A2's date in its submission.json, so it is judged as A2 is
    assert {i["name"] for i in records["items"]} == {"<script>alert('name')</script>",
        "LeakyReLU² + Legal Score-First TTT + Parallel Muon", "SP8192 + Muon momentum 0.97 + Legal Score-First TTT + Causal N-gram Token Tilt",
        "VarLenAttn + PhasingTTT", "SP4096 + Depth Recurrence + Parallel Residuals + MuonEq-R + QK-Gain 5.0"}
    pages = [client.get("/api/leaderboard", params={"per_page": 3, "page": p}).json() for p in (1, 2, 3, 4)]
    assert pages[0]["pages"] == 4 and len(pages[3]["items"]) == 2
    ids = [i["id"] for p in pages for i in p["items"]]
    assert len(ids) == len(set(ids)) == pages[0]["total"]
    by_date = client.get("/api/leaderboard", params={"sort": "date", "order": "desc"}).json()["items"]
    dates = [i["date"] for i in by_date]
    assert dates == sorted(dates, reverse=True)
    found = client.get("/api/leaderboard", params={"q": "LeakyReLU"}).json()
    assert found["total"] == 1 and "LeakyReLU" in found["items"][0]["name"]
    author = found["items"][0]["author"]
    assert client.get("/api/leaderboard", params={"author": author}).json()["total"] >= 1
    html = client.get("/", params={"verdict": "invalid"}).text
    assert "PR #1736" in html and "LeakyReLU" not in html


def test_pages_render_and_bad_requests_are_4xx(web):
    client, *_ = web
    first = client.get("/api/leaderboard").json()["items"][0]
    for url in ("/", "/non-record", f"/submissions/{first['id']}", "/frontier", "/live", "/static/style.css",
                f"/compare?ids={first['id']},{first['id'] + 1}"):
        response = client.get(url)
        assert response.status_code == 200, url
        assert "default-src 'none'" in response.headers["content-security-policy"]
    run_id = client.get(f"/api/submissions/{first['id']}").json()["runs"][0]["id"]
    run = client.get(f"/runs/{run_id}")
    assert run.status_code == 200 and 'class="line score"' in run.text
    assert client.get(f"/runs/{run_id}", params={"q": "val_bpb"}).text.count('class="line') >= 1
    assert client.get("/submissions/99999").status_code == 404
    assert client.get("/api/submissions/99999").status_code == 404
    assert client.get("/api/runs/99999").status_code == 404
    assert client.get("/submissions/abc").status_code == 422
    assert client.get("/?sort=evil").status_code == 422
    assert client.get("/api/leaderboard?per_page=100000").status_code == 422
    assert client.get("/compare?ids=1").status_code == 422
    assert client.get(f"/submissions/{first['id']}/files/../../../../etc/passwd").status_code == 404
    assert client.get(f"/submissions/{first['id']}/files/%2e%2e/%2e%2e/etc/passwd").status_code == 404


def test_hostile_readme_log_and_json_render_inert(web):
    client, *_ = web
    item = next(i for i in client.get("/api/leaderboard", params={"per_page": 200}).json()["items"]
                if "alert('name')" in i["name"])
    pages = [client.get("/").text, client.get(f"/submissions/{item['id']}").text]
    run_id = client.get(f"/api/submissions/{item['id']}").json()["runs"][0]["id"]
    pages.append(client.get(f"/runs/{run_id}").text)
    for html in pages:
        assert "<script" not in html.lower()
        assert not [a for a in attributes(html) if a[0].startswith("on")]  # no event handler on any tag
        assert not re.search(r"""href\s*=\s*["']?\s*javascript:""", html, re.I)
        assert "<style" not in html.lower()
    detail = pages[1]
    assert "&lt;script&gt;alert('readme')&lt;/script&gt;" in detail  # shown as text, not run
    assert '<a href="https://example.com">fine</a>' in detail  # ordinary Markdown still works
    assert "&lt;script&gt;alert(&#39;log&#39;)&lt;/script&gt;" in pages[2]


def test_publishing_needs_the_token(web, tmp_path):
    client, records, app, _ = web
    folder = records / "track_10min_16mb" / "2026-04-09_A2_Muon097_3Seed"
    files = {p.name: p.read_text() for p in folder.iterdir() if p.is_file() and p.suffix in (".log", ".json", ".md")}
    body = {"name": "2026-06-01_Published", "track": "record", "files": files}
    assert client.post("/api/runs", json=body).status_code == 401
    assert client.post("/api/runs", json=body, headers={"Authorization": "Bearer wrong"}).status_code == 401
    evil = dict(body, files={"../escape.log": "x"})
    assert client.post("/api/runs", json=evil, headers={"Authorization": "Bearer s3cret-token"}).status_code == 422
    bad_name = dict(body, name="../../etc")
    assert client.post("/api/runs", json=bad_name, headers={"Authorization": "Bearer s3cret-token"}).status_code == 422
    ok = client.post("/api/runs", json=body, headers={"Authorization": "Bearer s3cret-token"})
    assert ok.status_code == 201, ok.text
    assert client.get(f"/api/submissions/{ok.json()['id']}").json()["name"]
    read_only = TestClient(create_app(f"sqlite:///{tmp_path / 'other.db'}"))
    assert read_only.post("/api/runs", json=body, headers={"Authorization": "Bearer s3cret-token"}).status_code == 404


def test_api_never_answers_500(web):
    """schemathesis generates requests for every operation in the OpenAPI schema."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", web[2])
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 7
    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case):
            response = case.call()
            assert response.status_code < 500, (case.path, case.query, response.text[:500])

        check()


def test_compression_ratio_is_raw_over_compressed_model_bytes(web):
    client, records, *_ = web
    items = client.get("/api/leaderboard", params={"per_page": 200}).json()["items"]
    baseline = next(i for i in items if i["key"].endswith("NaiveBaseline"))
    log = (records / "track_10min_16mb" / "2026-03-17_NaiveBaseline" / "train.log").read_text()
    raw = int(re.search(r"Serialized model: (\d+) bytes", log).group(1))
    packed = int(re.search(r"Serialized model int8\+zlib: (\d+) bytes", log).group(1))
    assert baseline["compression_ratio"] == pytest.approx(raw / packed)
    html = client.get("/", params={"sort": "ratio", "order": "desc"}).text
    assert f"{raw / packed:.2f}×" in html


def test_live_launches_show_their_streamed_curves(web):
    from leaderboard.db import LaunchPointRow, LaunchRow, LaunchSeedRow

    client, *_, url = web
    with open_database(url).begin() as session:
        launch = LaunchRow(group="live<b>group</b>", backend="local", gpus="cpu", track="10min_16mb",
                           dataset="embedded", runs_dir="/tmp", plan_json="{}", state="running")
        seed = LaunchSeedRow(position=0, seed=42, state="running", step=20, total_steps=150)
        seed.points = [LaunchPointRow(step=s, train_loss=6 - s / 10) for s in (10, 20)]
        launch.seeds = [seed]
        session.add(launch)
    live = client.get("/api/live").json()
    assert [(l["group"], [p["step"] for p in l["seeds"][0]["points"]]) for l in live] == [("live<b>group</b>", [10, 20])]
    html = client.get("/live").text
    assert "live&lt;b&gt;group&lt;/b&gt;" in html and "<polyline" in html and 'http-equiv="refresh"' in html
