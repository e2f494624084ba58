"""Hostile, broken and odd submission folders: a warning on that folder, never a traceback, and one
bad folder never hides the verdicts of the others."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import RECORDS, REPO
from leaderboard.claims import read_claims
from leaderboard.importer import import_paths
from leaderboard.db import open_database
from leaderboard.report import check_paths
from leaderboard.submission import analyze, find_submissions

GOOD = RECORDS / "track_10min_16mb" / "2026-03-17_NaiveBaseline"


def folder_with_claims(tmp_path: Path, text: str | bytes) -> Path:
    folder = tmp_path / "records" / "track_10min_16mb" / "2026-05-01_Hostile"
    folder.mkdir(parents=True)
    (folder / "train.log").write_bytes((GOOD / "train.log").read_bytes())
    data = text.encode() if isinstance(text, str) else text
    (folder / "submission.json").write_bytes(data)
    return folder


@pytest.mark.parametrize("text, warning", [
    ('{"val_bpb": NaN, "bytes_total": Infinity, "name": "x"}', None),
    ('{"val_bpb": ' + "9" * 5000 + "}", "cannot be read as JSON"),
    ("[" * 100_000 + "]" * 100_000, "cannot be read as JSON"),
    ("{not json", "not valid JSON"),
    (b"\xff\xfe\x00garbage", "not valid JSON"),
])
def test_hostile_submission_json_is_a_warning(tmp_path, text, warning):
    folder = folder_with_claims(tmp_path, text)
    claims = read_claims(folder)
    assert claims.val_bpb is None and claims.bytes_total is None  # NaN and Infinity are not numbers
    if warning:
        assert any(warning in w for w in claims.warnings), claims.warnings
    document = check_paths([folder])
    assert not document["errors"] and document["submissions"][0]["summary"]["mean_val_bpb"] == 1.2243657


def test_symlinks_to_secrets_and_symlink_loops_are_not_followed(tmp_path):
    secret = tmp_path / "config.toml"
    secret.write_text('runpod_api_key = "rp_live_supersecret"\n')
    folder = tmp_path / "records" / "track_10min_16mb" / "2026-05-02_Links"
    folder.mkdir(parents=True)
    (folder / "train.log").write_bytes((GOOD / "train.log").read_bytes())
    (folder / "submission.json").symlink_to(secret)
    (folder / "README.md").symlink_to("/etc/passwd")
    (folder / "loop").symlink_to(folder)  # a folder that contains itself
    (folder / "a.log").symlink_to(folder / "b.log")
    (folder / "b.log").symlink_to(folder / "a.log")
    sub = analyze(folder)
    assert sub.claims.file is None and not sub.claims.readme_numbers
    assert sum("symlink pointing outside" in w for w in sub.claims.warnings) == 2
    assert [r.log for r in sub.runs] == ["train.log"]
    proc = subprocess.run([sys.executable, "-m", "launcher.cli", "check", str(folder)], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
    assert "supersecret" not in proc.stdout + proc.stderr and "root:" not in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.fixture
def deep_tree_cleanup():
    """Remove the 1,000-deep tree bottom-up: shutil.rmtree (and pytest's own cleanup) would recurse too deep."""
    made: list[Path] = []
    yield made
    for top in made:  # a chain of single folders: walk down, then remove from the bottom up
        chain = [top]
        while True:
            subfolders = [Path(e.path) for e in os.scandir(chain[-1]) if e.is_dir(follow_symlinks=False)]
            if not subfolders:
                break
            chain.append(subfolders[0])
        for folder in reversed(chain):
            for entry in os.scandir(folder):
                os.unlink(entry.path)
            folder.rmdir()


def test_a_tree_a_thousand_folders_deep_and_names_that_are_not_utf8(tmp_path, deep_tree_cleanup):
    root = tmp_path / "records" / "track_10min_16mb"
    folder = root / "2026-05-03_Deep"
    folder.mkdir(parents=True)
    (folder / "train.log").write_bytes((GOOD / "train.log").read_bytes())
    deep = folder
    deep_tree_cleanup.append(folder / "d")
    for _ in range(1000):  # one level at a time: os.makedirs itself recurses
        deep = deep / "d"
        deep.mkdir()
    (deep / "seed_7.log").write_text("seed:7\n")
    bad_name = os.fsencode(folder) + b"/train_\xff\xfe.log"
    with open(bad_name, "wb") as fh:
        fh.write((GOOD / "train.log").read_bytes())
    sub = analyze(folder)
    assert [r.log for r in sub.runs] == ["train.log"]
    assert any("not valid UTF-8" in w for w in sub.warnings) and any("folders deep" in w for w in sub.warnings)
    assert find_submissions(tmp_path / "records") == [folder]
    sessions = open_database(f"sqlite:///{tmp_path / 'g.db'}")
    outcomes = import_paths(sessions, [tmp_path / "records"])
    assert [o.status for o in outcomes] == ["imported"]  # one bad file never rejects the whole folder


def test_one_hostile_folder_never_hides_the_others(tmp_path, monkeypatch):
    records = tmp_path / "records" / "track_10min_16mb"
    for name in ("2026-05-04_A", "2026-05-05_B", "2026-05-06_C"):
        (records / name).mkdir(parents=True)
        (records / name / "train.log").write_bytes((GOOD / "train.log").read_bytes())
    from leaderboard import submission

    real = submission.parse_file

    def explode(path):  # a bug met on hostile input: that folder fails alone
        if "2026-05-05_B" in str(path):
            raise RecursionError("maximum recursion depth exceeded")
        return real(path)

    monkeypatch.setattr(submission, "parse_file", explode)
    document = check_paths([tmp_path / "records"])
    assert [Path(s["path"]).name for s in document["submissions"]] == ["2026-05-04_A", "2026-05-06_C"]
    assert len(document["errors"]) == 1 and "2026-05-05_B" in document["errors"][0]
    assert "RecursionError" in document["errors"][0]


def test_a_stray_log_under_records_does_not_make_records_a_submission(tmp_path):
    records = tmp_path / "records"
    (records / "track_10min_16mb" / "2026-05-07_X").mkdir(parents=True)
    (records / "track_10min_16mb" / "2026-05-07_X" / "train.log").write_bytes((GOOD / "train.log").read_bytes())
    (records / "stray.log").write_text("step:1/2 train_loss:3.0\n")
    (records / "track_10min_16mb" / "2026-05-08_ReadmeOnly").mkdir()
    (records / "track_10min_16mb" / "2026-05-08_ReadmeOnly" / "README.md").write_text("# soon\n")
    assert [p.name for p in find_submissions(records)] == ["2026-05-07_X", "2026-05-08_ReadmeOnly"]
    readme_only = check_paths([records / "track_10min_16mb" / "2026-05-08_ReadmeOnly"])["submissions"][0]
    assert readme_only["verdict"] == "needs-review"  # nothing to check: a reviewer looks, no rule is broken


def test_garbage_logs_never_crash_and_say_what_they_are(tmp_path):
    folder = tmp_path / "records" / "track_10min_16mb" / "2026-05-09_Garbage"
    folder.mkdir(parents=True)
    (folder / "binary.log").write_bytes(os.urandom(300_000))
    (folder / "huge_line.log").write_bytes(b"val_bpb:" + b"9" * 20_000_000 + b"\n")
    (folder / "empty.log").write_bytes(b"")
    (folder / "submission.json").write_text(json.dumps({"val_bpb": 1.0}))
    document = check_paths([folder])
    assert not document["errors"]
    warnings = [w for r in document["submissions"][0]["runs"] for w in r["warnings"]]
    assert any("empty" in w for w in warnings) and any("cut" in w for w in warnings)
