"""The web leaderboard with FastAPI's TestClient on a database imported from the real records."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from html.parser import HTMLParser

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

from conftest import DB_BACKENDS, RECORDS, REPO, _database_url
from leaderboard.db import PullRequestRow, open_database
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
    for url in ("/", "/non-record", f"/submissions/{first['id']}", "/frontier", "/live", "/static/style.css", "/prs",
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


# ---- pull requests: a repository with the shape of the official one, synced offline (tests/sync_repo.py)

def sync(upstream, mirror, url: str, *extra: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "launcher.cli", "sync", "--git", str(upstream.path), "--offline",
                           "--mirror", str(mirror), "--db", url, *extra], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def synced_app(folder, url: str):
    from sync_repo import build

    upstream = build(folder / "upstream")
    sync(upstream, folder / "mirror", url)
    return upstream, TestClient(create_app(url))


@pytest.fixture(scope="module", params=DB_BACKENDS)
def synced(request, tmp_path_factory):
    """A database `golf sync --offline` filled (read only by the tests that use it), and a client."""
    folder = tmp_path_factory.mktemp("synced")
    return synced_app(folder, _database_url(request, folder))[1]


@pytest.fixture(params=DB_BACKENDS)
def synced_fresh(request, tmp_path):
    """As synced, for a test that changes the database."""
    url = _database_url(request, tmp_path)
    upstream, client = synced_app(tmp_path, url)
    return upstream, client, url, tmp_path / "mirror"


def by_key(items: list[dict]) -> dict[str, dict]:
    return {i["key"]: i for i in items}


def test_every_row_has_its_pull_request_and_status(synced):
    from sync_repo import BASE, BETTER, CLOSED, MERGED, SIXTH, SQUASHED, TRACK, VAL_DATA, WORSE

    items = synced.get("/api/leaderboard", params={"per_page": 200}).json()["items"]
    rows = by_key(items)
    # one line per submission: the pull requests' copies of a folder main holds are left out
    assert sorted(rows) == sorted([f"records/{TRACK}/{BASE}", f"records/{TRACK}/{MERGED}", f"records/{TRACK}/{SQUASHED}",
                                   f"pr2/records/{TRACK}/{WORSE}", f"pr3/records/{TRACK}/{CLOSED}",
                                   f"pr4/records/{TRACK}/{VAL_DATA}", f"pr5/records/{TRACK}/{BETTER}",
                                   f"pr6/records/{TRACK}/{SIXTH}"])
    squashed = rows[f"records/{TRACK}/{SQUASHED}"]
    assert items[0] is not None and items[0]["key"] == squashed["key"] and squashed["best"]  # the current record first
    assert squashed["status"] == "accepted" and squashed["pr"] == {
        "number": 7, "state": "merged", "url": "https://github.com/openai/parameter-golf/pull/7"}
    assert rows[f"records/{TRACK}/{MERGED}"]["status"] == "accepted"  # a merged record
    assert rows[f"records/{TRACK}/{BASE}"]["status"] == "accepted" and rows[f"records/{TRACK}/{BASE}"]["pr"] is None
    for key in (f"pr2/records/{TRACK}/{WORSE}", f"pr4/records/{TRACK}/{VAL_DATA}", f"pr5/records/{TRACK}/{BETTER}"):
        assert rows[key]["status"] == "open" and rows[key]["pr"]["state"] == "open"
    # ranks only among record and valid, by val_bpb; the rest have none
    ranked = sorted((i for i in items if i["rank"] is not None), key=lambda i: i["rank"])
    assert {i["verdict"] for i in ranked} <= {"record", "valid"} and len(ranked) == len(items) - 1
    assert [i["mean_val_bpb"] for i in ranked] == sorted(i["mean_val_bpb"] for i in ranked)
    assert [i["rank"] for i in ranked] == list(range(1, len(ranked) + 1))
    assert rows[f"pr4/records/{TRACK}/{VAL_DATA}"]["rank"] is None
    worse = rows[f"pr2/records/{TRACK}/{WORSE}"]  # no better than the record of its day (#1's): valid
    assert worse["verdict"] == "valid" and worse["previous_record"]["delta_bpb"] < 0

    accepted = synced.get("/api/leaderboard", params={"status": "accepted"}).json()["items"]
    assert {i["key"] for i in accepted} == {k for k in rows if k.startswith("records/")}
    opened = synced.get("/api/leaderboard", params={"status": "open"}).json()["items"]
    assert {i["key"] for i in opened} == {k for k in rows if k.startswith("pr")}
    assert synced.get("/api/leaderboard", params={"status": "closed"}).json()["total"] == 0  # offline: none known

    html = synced.get("/").text
    assert 'href="https://github.com/openai/parameter-golf/pull/7"' in html and ">#7</a>" in html
    assert html.count('class="status open"') == 5 and html.count('class="status accepted"') == 3
    assert 'class="badge' not in html  # the checks are on each submission's page, not in the rows
    badge = re.search(r'<span class="verdict invalid" title="([^"]*)">invalid</span>', html)
    assert badge and "val_data_before_artifact" in badge.group(1)  # the reason, in the summary badge's title
    assert 'option value="open" selected' in synced.get("/", params={"status": "open"}).text

    bad = synced.get("/", params={"status": "merged-ish"})  # a person's edited URL: a page, not JSON
    assert bad.status_code == 422 and bad.headers["content-type"].startswith("text/html")
    assert "Bad request" in bad.text and "status" in bad.text
    api_bad = synced.get("/api/leaderboard", params={"status": "merged-ish"})
    assert api_bad.status_code == 422 and api_bad.json()["detail"]


def test_review_queue_puts_validation_data_before_the_artifact_on_top(synced):
    from sync_repo import MERGED, SQUASHED, TRACK

    queue = synced.get("/api/prs").json()
    assert queue["total"] == 5 and [p["number"] for p in queue["items"]] == [4, 5, 6, 2, 3]
    top = queue["items"][0]
    assert top["concern"] == "breaks a rule" and top["folders"][0]["verdict"] == "invalid"
    assert top["look_first"][0]["check"] == "val_data_before_artifact"
    assert "validation data" in top["look_first"][0]["message"]
    assert [p["concern"] for p in queue["items"][1:]] == ["no rule broken"] * 4  # then newest first

    better = queue["items"][1]["folders"][0]  # #5: the record of its day (#1) beaten, under both policies
    day = better["record_of_its_day"]
    assert better["verdict"] == "record" and day["reference"]["key"] == f"records/{TRACK}/{MERGED}"
    assert set(day["p"]) == {"readme", "practice"} and all(0 <= p < 0.01 for p in day["p"].values())
    assert better["if_accepted_now"]["reference"]["key"] == f"records/{TRACK}/{SQUASHED}"
    worse = queue["items"][3]["folders"][0]
    assert queue["items"][3]["number"] == 2 and worse["verdict"] == "valid"
    assert worse["record_of_its_day"]["delta_bpb"] < 0

    html = synced.get("/prs").text
    sections = re.findall(r'<section class="pr[^"]*" id="pr-(\d+)"', html)
    assert sections == ["4", "5", "6", "2", "3"]
    first = html[html.index('id="pr-4"'):html.index('id="pr-5"')]
    assert "val_data_before_artifact" in first and "breaks a rule" in first and "validation data" in first
    five = html[html.index('id="pr-5"'):html.index('id="pr-6"')]
    for policy in ("readme", "practice"):
        assert f"{day['p'][policy]:.3g}" in five
    assert f"{day['delta_bpb']:+.5f}" in five


def test_one_pull_request_page_and_api(synced):
    from sync_repo import MERGED, TRACK

    merged = synced.get("/api/prs/1").json()
    assert merged["number"] == 1 and merged["state"] == "merged" and merged["state_inferred"]
    assert [(f["key"], f["accepted"], f["verdict"]) for f in merged["in_main"]] == [
        (f"records/{TRACK}/{MERGED}", True, "record")]
    assert merged["url"] == "https://github.com/openai/parameter-golf/pull/1"
    html = synced.get("/prs/1").text
    assert "Folders of main it brought" in html and 'class="status accepted"' in html and "merged" in html
    four = synced.get("/prs/4")
    assert four.status_code == 200 and "val_data_before_artifact" in four.text
    four_api = synced.get("/api/prs/4").json()
    assert four_api["look_first"][0]["check"] == "val_data_before_artifact"
    assert 'href="/prs/4"' in synced.get(f"/submissions/{four_api['folders'][0]['id']}").text  # and back
    missing = synced.get("/prs/999")
    assert missing.status_code == 404 and "pull request #999" in missing.text and "<h1>Not found</h1>" in missing.text
    api_missing = synced.get("/api/prs/999")
    assert api_missing.status_code == 404 and "#999" in api_missing.json()["detail"]
    assert synced.get("/api/prs/abc").status_code == 422


def test_frontier_is_drawn_by_date(synced):
    data = synced.get("/api/frontier").json()
    dates = [p["date"] for p in data["records"]]
    assert dates == sorted(dates) and all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", d) for d in dates)
    assert [p["name"] for p in data["records"]][-1] == "VarLenAttn + PhasingTTT"  # the current record last
    assert data["open_prs"] == []  # #7 stands: no open pull request would beat it
    html = synced.get("/frontier").text
    svg = html[html.index("<svg"):html.index("</svg>")]
    ticks = re.findall(r'text-anchor="middle" font-size="11">([^<]+)</text>', svg)
    assert ticks and all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", t) for t in ticks)  # the x axis: dates
    assert "T05:30:00Z" not in html and "record number" not in html  # one date format


def test_pages_carry_the_generation_and_an_import_moves_it(synced_fresh):
    from sync_repo import SQUASHED, TRACK

    upstream, client, url, mirror = synced_fresh
    other_worker = TestClient(create_app(url))  # another `golf serve --workers` process: its own memory
    first = client.get("/")
    tag = first.headers["etag"]
    assert first.status_code == 200 and tag.startswith('"g') and other_worker.get("/").headers["etag"] == tag
    again = client.get("/", headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == tag
    assert "default-src 'none'" in again.headers["content-security-policy"]  # security headers on a 304 too
    assert client.get("/", headers={"If-None-Match": f'"g0-other", W/{tag}'}).status_code == 304  # a list of tags
    assert client.get("/", headers={"If-None-Match": '"g0-other"'}).status_code == 200
    api = client.get("/api/leaderboard")
    assert api.headers["etag"] != tag and client.get("/api/leaderboard", headers={
        "If-None-Match": api.headers["etag"]}).status_code == 304
    assert "etag" not in client.get("/live").headers  # live launches change without an import: never kept

    # a sync that marks #7's record as not accepted re-imports the folders: every page shows it at once
    sync(upstream, mirror, url, "--not-accepted", f"records/{TRACK}/{SQUASHED}")
    after = client.get("/", headers={"If-None-Match": tag})
    assert after.status_code == 200 and after.headers["etag"] != tag
    assert other_worker.get("/").headers["etag"] == after.headers["etag"]  # the workers agree
    rows = by_key(client.get("/api/leaderboard", params={"per_page": 200}).json()["items"])
    squashed = rows[f"records/{TRACK}/{SQUASHED}"]
    assert squashed["status"] == "closed" and not squashed["best"]  # merged, then found wrong
    assert client.get("/api/leaderboard", params={"status": "closed"}).json()["items"][0]["key"] == squashed["key"]
    # with #1's record standing again, #5 and #6 would be records if accepted now: points on the frontier
    frontier = client.get("/api/frontier").json()
    assert {p["pr"] for p in frontier["open_prs"]} == {5, 6}
    html = client.get("/frontier").text
    assert html.count('<circle class="dot"') == 2 and "PR #5: " in html

    # GitHub's word changes a pull request (no folder moves): the pages move too; the rule breaker stays on top
    tag = client.get("/api/prs").headers["etag"]
    with open_database(url).begin() as session:
        session.get(PullRequestRow, 5).created_at = datetime(2026, 5, 1, tzinfo=timezone.utc)
        session.get(PullRequestRow, 3).state = "closed"
    moved = client.get("/api/prs", headers={"If-None-Match": tag})
    assert moved.status_code == 200 and [p["number"] for p in moved.json()["items"]] == [4, 5, 6, 2]
