"""`golf sync` as a real process, on git repositories built by the tests with the shape of the official one
(tests/sync_repo.py), into SQLite and PostgreSQL, with a fake GitHub API on 127.0.0.1: never the network."""
from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timezone

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.pool import NullPool

from conftest import REPO
from fake_github import FakeGitHub, pull
from sync_repo import BASE, BETTER, CLOSED, MERGED, SIXTH, SQUASHED, TRACK, VAL_DATA, WORSE, build

REPO_NAME = "openai/parameter-golf"
TOKEN = "ghp_fakeToken0123456789abcdefXYZ"


def golf_sync(*args: str, **env: str) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k not in ("GITHUB_TOKEN", "GOLF_GITHUB_API")}
    full.update({"PYTHONPATH": str(REPO), "COLUMNS": "200", **env})
    return subprocess.run([sys.executable, "-m", "launcher.cli", "sync", *args], capture_output=True, text=True,
                          env=full, timeout=600)


def query(url: str, sql: str, **params) -> list[dict]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(text(sql), params)]
    finally:
        engine.dispose()


def submissions(url: str) -> dict[str, dict]:
    return {r["key"]: r for r in query(url, "SELECT * FROM submissions")}


def pull_requests(url: str) -> dict[int, dict]:
    return {r["number"]: r for r in query(url, "SELECT * FROM pull_requests")}


def everything(url: str, leave_out=("events", "sync_state")) -> dict:
    """Every row of every table, as text (for comparing two states, or searching for a secret)."""
    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as conn:
        tables = [t for t in inspect(conn).get_table_names() if t not in leave_out]
        out = {t: sorted(repr(tuple(r)) for r in conn.execute(text(f'SELECT * FROM "{t}"'))) for t in tables}
    engine.dispose()
    return out


def utc(value) -> datetime:
    """A stored time (raw SQL: a string from SQLite, an aware datetime from PostgreSQL) in UTC."""
    value = datetime.fromisoformat(value) if isinstance(value, str) else value
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


@pytest.fixture
def upstream(tmp_path):
    return build(tmp_path / "upstream")


def offline_args(upstream, tmp_path, db_url) -> list[str]:
    return ["--git", str(upstream.path), "--offline", "--mirror", str(tmp_path / "mirror"), "--db", db_url]


def test_offline_sync_attributes_each_folder_to_its_pr_and_reads_nothing_twice(upstream, tmp_path, db_url):
    args = offline_args(upstream, tmp_path, db_url)
    first = golf_sync(*args)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "pull requests: 7 new" in first.stdout and "11 imported, 0 updated, 0 unchanged, 0 failed" in first.stdout

    subs = submissions(db_url)
    for number, name in ((1, MERGED), (2, WORSE), (3, CLOSED), (4, VAL_DATA), (5, BETTER), (6, SIXTH), (6, MERGED),
                         (7, SQUASHED)):
        row = subs[f"pr{number}/records/{TRACK}/{name}"]
        assert row["pr_number"] == number and not row["accepted"]
        assert os.path.isfile(os.path.join(row["source_path"], "README.md"))  # the pages read the files there
    # main's records are accepted, each linked to the pull request that brought it (one came straight to main)
    assert {k: (bool(r["accepted"]), r["pr_number"]) for k, r in subs.items() if k.startswith("records/")} == {
        f"records/{TRACK}/{BASE}": (True, None), f"records/{TRACK}/{MERGED}": (True, 1),
        f"records/{TRACK}/{SQUASHED}": (True, 7)}
    # a pull request's copy of a merged folder is linked to it, never a second reference
    assert subs[f"pr1/records/{TRACK}/{MERGED}"]["copy_of_id"] == subs[f"records/{TRACK}/{MERGED}"]["id"]
    assert subs[f"pr6/records/{TRACK}/{MERGED}"]["copy_of_id"] == subs[f"records/{TRACK}/{MERGED}"]["id"]

    # offline, states and dates come from git, and say so: #1 merged (merge commit), #7 squash-merged (its
    # folder is in main with the same content); #6 re-adds #1's folder beside its own and is not merged
    prs = pull_requests(db_url)
    assert {n: (p["state"], bool(p["state_inferred"])) for n, p in prs.items()} == {
        1: ("merged", True), 2: ("open", True), 3: ("open", True), 4: ("open", True), 5: ("open", True),
        6: ("open", True), 7: ("merged", True)}
    for number, created in upstream.created.items():
        assert utc(prs[number]["created_at"]) == datetime.fromisoformat(created)
    assert utc(prs[1]["merged_at"]) == datetime(2026, 3, 24, 15, tzinfo=timezone.utc)
    assert utc(prs[7]["merged_at"]) == datetime(2026, 4, 14, 9, tzinfo=timezone.utc)
    assert all(p["synced_sha"] == upstream.heads[n] for n, p in prs.items())

    # judged against the record standing on the day each PR was opened
    worse = subs[f"pr2/records/{TRACK}/{WORSE}"]
    assert worse["verdict"] == "valid" and worse["reference_key"] == f"records/{TRACK}/{MERGED}"  # no better than #1
    better = subs[f"pr5/records/{TRACK}/{BETTER}"]
    assert better["verdict"] == "record" and better["reference_key"] == f"records/{TRACK}/{MERGED}"
    assert better["judged_on"] == "2026-04-04"
    assert better["would_be_record"] is False or better["would_be_record"] == 0  # today's best (#7) is better
    assert better["now_reference_key"] == f"records/{TRACK}/{SQUASHED}"
    val_data = subs[f"pr4/records/{TRACK}/{VAL_DATA}"]
    assert val_data["verdict"] == "invalid"
    assert query(db_url, "SELECT status FROM check_results WHERE submission_id = :i AND check_id = "
                         "'val_data_before_artifact'", i=val_data["id"]) == [{"status": "fail"}]
    assert subs[f"records/{TRACK}/{MERGED}"]["verdict"] == "record"  # the merged record beat the one before it

    # a second sync reads nothing it has read before, and changes nothing
    before = everything(db_url)
    second = golf_sync(*args)
    assert second.returncode == 0, second.stderr
    assert "read 0 files from git (0 pull requests compared with main)" in second.stdout
    assert "0 new, 0 changed, 0 re-judged, 7 unchanged" in second.stdout
    assert "0 imported, 0 updated, 0 unchanged, 0 failed" in second.stdout
    assert everything(db_url) == before

    # a pull request's head moves: that one alone is read again
    folder = upstream.path / "records" / TRACK / WORSE
    upstream.update_pull(2, lambda up: (folder / "NOTES.md").write_text("more seeds soon\n"), "2026-03-27T10:00:00+00:00")
    n_files = len(upstream.git("ls-tree", "-r", "--name-only", "pr2", "--", f"records/{TRACK}/{WORSE}").split())
    third = golf_sync(*args)
    assert third.returncode == 0, third.stderr
    assert f"read {n_files} files from git (1 pull requests compared with main)" in third.stdout
    assert "0 new, 1 changed, 0 re-judged, 6 unchanged" in third.stdout
    assert "0 imported, 1 updated, 0 unchanged, 0 failed" in third.stdout
    assert pull_requests(db_url)[2]["synced_sha"] == upstream.heads[2]
    assert query(db_url, "SELECT COUNT(*) AS n FROM artifacts a JOIN submissions s ON s.id = a.submission_id "
                         "WHERE s.key = :k AND a.path = 'NOTES.md'", k=f"pr2/records/{TRACK}/{WORSE}") == [{"n": 1}]


def test_github_metadata_with_etags_a_rate_limit_and_a_token_never_shown(upstream, tmp_path, db_url):
    h = upstream.heads
    api = [pull(1, "2026-03-23T10:05:00Z", h[1], "closed", merged="2026-03-24T15:00:00Z", closed="2026-03-24T15:00:00Z",
                title="Record: LeakyReLU + legal TTT", login="alice"),
           pull(2, "2026-03-25T11:30:00Z", h[2]), pull(3, "2026-03-22T09:10:00Z", h[3], "closed", closed="2026-03-30T00:00:00Z"),
           pull(4, "2026-04-09T16:10:00Z", h[4]), pull(5, "2026-04-04T13:10:00Z", h[5]), pull(6, "2026-03-26T08:10:00Z", h[6]),
           pull(7, "2026-04-13T18:10:00Z", h[7], "closed", merged="2026-04-14T09:00:00Z", closed="2026-04-14T09:00:00Z"),
           pull(8, "2026-04-20T10:00:00Z", "f" * 40, title="Docs only")]  # no ref in the clone: metadata only
    args = ["--git", str(upstream.path), "--mirror", str(tmp_path / "mirror"), "--db", db_url]
    with FakeGitHub(REPO_NAME, api, per_page=3, rate_limit_once_on_page=2) as github:
        first = golf_sync(*args, GITHUB_TOKEN=TOKEN, GOLF_GITHUB_API=github.url)
        assert first.returncode == 0, first.stdout + first.stderr
        assert "GitHub's rate limit reached: resuming at" in first.stderr  # said, waited a second, went on
        assert [r["status"] for r in github.requests] == [200, 403, 200, 200]
        assert all(r["headers"].get("Authorization") == f"Bearer {TOKEN}" for r in github.requests)
        assert "states: GitHub" in first.stdout

        prs = pull_requests(db_url)
        assert {n: (p["state"], bool(p["state_inferred"])) for n, p in prs.items()} == {
            1: ("merged", False), 2: ("open", False), 3: ("closed", False), 4: ("open", False), 5: ("open", False),
            6: ("open", False), 7: ("merged", False), 8: ("open", False)}
        assert prs[1]["title"] == "Record: LeakyReLU + legal TTT" and prs[1]["author"] == "alice"
        assert utc(prs[2]["created_at"]) == datetime(2026, 3, 25, 11, 30, tzinfo=timezone.utc)
        subs = submissions(db_url)
        assert subs[f"records/{TRACK}/{MERGED}"]["accepted"] and subs[f"records/{TRACK}/{MERGED}"]["pr_number"] == 1

        second = golf_sync(*args, GITHUB_TOKEN=TOKEN, GOLF_GITHUB_API=github.url)
        assert second.returncode == 0, second.stderr
        assert [r["status"] for r in github.requests[4:]] == [304, 304, 304]  # every page unchanged: its ETag
        assert "3 API requests, 3 not modified" in second.stdout
        assert "read 0 files from git (0 pull requests compared with main)" in second.stdout

    # the token is in no output, no row, no file golf wrote
    for proc in (first, second):
        assert TOKEN not in proc.stdout + proc.stderr
    assert TOKEN not in repr(everything(db_url, leave_out=()))
    for root, _, names in os.walk(tmp_path / "mirror"):
        for name in names:
            with open(os.path.join(root, name), "rb") as fh:
                assert TOKEN.encode() not in fh.read()


def test_the_review_queue_puts_what_breaks_a_rule_first(upstream, tmp_path, db_url):
    from leaderboard.db import open_database
    from leaderboard.prs import pr_detail, review_queue

    assert golf_sync(*offline_args(upstream, tmp_path, db_url)).returncode == 0
    with open_database(db_url)() as session:
        queue = review_queue(session)
        detail = pr_detail(session, 1)
        missing = pr_detail(session, 999)
    assert [p["number"] for p in queue] == [4, 5, 6, 2, 3]  # open (inferred: git cannot tell closed), newest first
    top = queue[0]
    assert top["state_inferred"] and top["look_first"][0]["severity"] == "fail"
    assert top["look_first"][0]["check"] == "val_data_before_artifact"
    assert "validation data" in top["look_first"][0]["message"]
    assert top["folders"][0]["verdict"] == "invalid"

    better = queue[1]["folders"][0]
    assert better["verdict"] == "record" and better["record_of_its_day"]["delta_bpb"] > 0.02
    assert better["record_of_its_day"]["reference"]["key"] == f"records/{TRACK}/{MERGED}"
    p = better["record_of_its_day"]["p"]
    assert set(p) == {"readme", "practice"} and 0 <= p["practice"] <= p["readme"] < 0.01
    assert better["if_accepted_now"]["would_be_record"] is False  # #7 was merged since
    assert better["if_accepted_now"]["reference"]["key"] == f"records/{TRACK}/{SQUASHED}"

    worse = next(p for p in queue if p["number"] == 2)["folders"][0]
    assert worse["verdict"] == "valid" and worse["record_of_its_day"]["delta_bpb"] < 0
    assert worse["look_first"][0]["check"] == "significance"  # not a record: a failing record check

    assert missing is None
    assert detail["state"] == "merged" and [f["accepted"] for f in detail["in_main"]] == [True]
    assert [f["accepted"] for f in detail["folders"]] == [True]  # its copy of what main holds


def test_a_record_found_wrong_after_merging_stops_being_accepted(upstream, tmp_path):
    db = f"sqlite:///{tmp_path / 'golf.db'}"
    args = offline_args(upstream, tmp_path, db)
    assert golf_sync(*args).returncode == 0
    key = f"records/{TRACK}/{MERGED}"
    marked = golf_sync(*args, "--not-accepted", key)
    assert marked.returncode == 0, marked.stderr
    subs = submissions(db)
    assert not subs[key]["accepted"]
    # what was judged against it now stands against the record before it
    assert subs[f"pr5/records/{TRACK}/{BETTER}"]["reference_key"] == f"records/{TRACK}/{BASE}"
    assert golf_sync(*args).returncode == 0  # the override is kept
    assert not submissions(db)[key]["accepted"]


def test_a_hostile_pull_request_is_read_never_run(upstream, tmp_path):
    marker = tmp_path / "executed"
    folder = upstream.path / "records" / TRACK / "2026-04-30_Hostile"

    def hostile(up):
        folder.mkdir(parents=True)
        (folder / "train_gpt.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
        (folder / "submission.json").write_text('{"name": "hostile", "val_bpb": 0.5}')
        (folder / "train_seed1.log").symlink_to("/etc/passwd")
        (up.path / ".gitattributes").write_text("*.log filter=evil\n")
        up.git("config", "filter.evil.smudge", f"touch {marker}")
    upstream.git("checkout", "-q", "-b", "pr9", "main")
    hostile(upstream)
    upstream.commit("hostile", "2026-04-30T10:00:00+00:00")
    upstream.pull(9, "pr9")
    upstream.git("checkout", "-q", "main")
    db = f"sqlite:///{tmp_path / 'golf.db'}"
    proc = golf_sync(*offline_args(upstream, tmp_path, db))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    row = submissions(db)[f"pr9/records/{TRACK}/2026-04-30_Hostile"]
    assert row["pr_number"] == 9 and not marker.exists()
    left_out = open(os.path.join(row["source_path"], ".golf-left-out.txt")).read()
    assert "train_seed1.log (a link)" in left_out
    assert "root:" not in repr(everything(db))  # /etc/passwd was never read


def test_sync_failures_are_one_clear_line(tmp_path):
    db = f"sqlite:///{tmp_path / 'golf.db'}"
    cases = [(["--git", str(tmp_path / "nowhere"), "--offline"], "cannot fetch"),
             (["--repo", "not a repo", "--git", str(tmp_path), "--api", "http://127.0.0.1:9"], "OWNER/NAME")]
    upstream = build(tmp_path / "up")
    cases.append((["--git", str(upstream.path), "--offline", "--branch", "trunk"], "no branch 'trunk'"))
    for args, expected in cases:
        proc = golf_sync(*args, "--mirror", str(tmp_path / "mirror"), "--db", db)
        assert proc.returncode == 2 and expected in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    # GitHub unreachable: the sync goes on, inferring from git, and says so
    proc = golf_sync("--git", str(upstream.path), "--mirror", str(tmp_path / "mirror"), "--db", db,
                     GOLF_GITHUB_API="http://127.0.0.1:9")
    assert proc.returncode == 0, proc.stderr
    assert "cannot reach GitHub" in proc.stderr and "inferred from git" in proc.stderr
    assert "states: inferred from git" in proc.stdout
