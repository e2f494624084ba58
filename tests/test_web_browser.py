"""A real headless Chromium (Debian's) on pages served by `golf serve`, started as a real process.

Screenshots go to test-artifacts/ (or $GOLF_TEST_ARTIFACTS)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from conftest import RECORDS, REPO, free_port

CHROMIUM = os.environ.get("GOLF_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("GOLF_TEST_ARTIFACTS", REPO / "test-artifacts"))
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def serve(root: Path, env: dict):
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "launcher", "serve", "--port", str(port)], env=env, cwd=root,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(base + "/openapi.json", timeout=2)
            break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        pytest.fail("golf serve did not come up: " + proc.communicate()[0][-2000:])
    return base, proc


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve")
    env = {**os.environ, "PYTHONPATH": str(REPO), "GOLF_DB": f"sqlite:///{root / 'golf.db'}"}
    imported = subprocess.run([sys.executable, "-m", "launcher", "import", "--accepted", str(RECORDS)], env=env, cwd=root,
                              capture_output=True, text=True, timeout=300)
    assert imported.returncode == 0, imported.stderr
    base, proc = serve(root, env)
    yield base
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def synced_server(tmp_path_factory):
    """`golf serve` on what `golf sync --offline` made of a repository with pull request refs (tests/sync_repo.py)."""
    from sync_repo import build

    root = tmp_path_factory.mktemp("serve-synced")
    upstream = build(root / "upstream")
    env = {**os.environ, "PYTHONPATH": str(REPO), "GOLF_DB": f"sqlite:///{root / 'golf.db'}"}
    synced = subprocess.run([sys.executable, "-m", "launcher", "sync", "--git", str(upstream.path), "--offline",
                             "--mirror", str(root / "mirror")], env=env, cwd=root, capture_output=True, text=True,
                            timeout=300)
    assert synced.returncode == 0, synced.stdout + synced.stderr
    base, proc = serve(root, env)
    yield base
    proc.terminate()
    proc.wait(timeout=10)


def launch(p):
    assert Path(CHROMIUM).is_file(), (f"no Chromium at {CHROMIUM}: ./scripts/bootstrap installs Debian's when it may "
                                      "(root or sudo); else run `sudo apt-get install -y chromium`, or set GOLF_CHROMIUM")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)


def console_errors(page) -> list[str]:
    """The errors the page's console reports from now on (a blocked script among them)."""
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    return errors


def row_boxes(page) -> tuple[list[float], float, float]:
    """The leaderboard rows' heights, one text line's height in them, and the table's width (CSS pixels)."""
    return page.evaluate("""() => {
        const rows = [...document.querySelectorAll('table.board tbody tr')];
        const cell = rows[0].querySelector('td');
        return [rows.map(r => r.getBoundingClientRect().height), parseFloat(getComputedStyle(cell).lineHeight),
                document.querySelector('table.board').getBoundingClientRect().width];
    }""")


def assert_one_line_per_row(page) -> None:
    heights, line, width = row_boxes(page)
    assert heights and max(heights) == min(heights), heights  # no row wraps...
    assert max(heights) < 2 * line, (heights, line)  # ...and each is one line of text (and its padding)
    assert width <= 1400 - 2 * 16, width  # the whole row is seen: nothing hidden past the window's edge


def test_a_person_sees_the_ranking_a_chart_and_the_readme(server):
    with sync_playwright() as p:
        browser = launch(p)
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        errors = console_errors(page)

        page.goto(server + "/")
        rows = page.locator("table.board tbody tr")
        assert rows.count() == 10
        first = rows.nth(0).inner_text()
        # rank 1: the lowest mean val_bpb that is not invalid (CaseOps' 1.06335 trains 603 s with its calibration)
        assert first.startswith("1\t") and "1.07281" in first
        assert page.locator("tr.best").count() == 1 and "record" in page.locator("tr.best").inner_text()
        badge = page.locator("tr.best .verdict").first  # the one summary badge
        assert badge.get_attribute("title")  # the reason is there on hover
        page.screenshot(path=str(ARTIFACTS / "leaderboard.png"), full_page=True)

        page.locator("tr.best a").first.click()
        page.wait_for_load_state()
        assert page.locator("main > h1").inner_text().startswith("VarLenAttn")
        assert page.locator("svg.chart polyline").count() >= 3  # a curve per seed
        assert page.locator("article.readme h1, article.readme h2").count() >= 1  # the README, rendered
        assert '"val_bpb"' in page.locator("pre.json").inner_text() or "val_bpb" in page.locator("pre.json").inner_text()
        sid = page.url.rstrip("/").rsplit("/", 1)[1]
        checks = json.loads(urllib.request.urlopen(f"{server}/api/submissions/{sid}/checks", timeout=10).read())
        assert len(checks) >= 10 and page.locator("table.checks tr").count() == len(checks)  # every stored check shown
        page.screenshot(path=str(ARTIFACTS / "submission.png"), full_page=True)

        page.goto(server + "/frontier")
        assert page.locator("svg.chart polyline").count() == 1
        page.screenshot(path=str(ARTIFACTS / "frontier.png"), full_page=True)
        browser.close()
    assert not [e for e in errors if "Content Security Policy" in e]


def test_the_leaderboard_is_one_line_per_submission_at_1400_px(server, synced_server):
    with sync_playwright() as p:
        chromium = launch(p)
        page = chromium.new_page(viewport={"width": 1400, "height": 900})
        for base, name in ((server, "records"), (synced_server, "synced")):
            page.goto(base + "/")
            assert page.locator("table.board tbody tr").count() >= 8
            assert_one_line_per_row(page)
            verdicts = page.locator("table.board tbody tr span.verdict")
            assert verdicts.count() == page.locator("table.board tbody tr").count()  # one summary badge a row
            assert page.locator("table.board .badge").count() == 0
            first = page.locator("table.board tbody tr").first
            assert "current record" in first.inner_text() and first.get_attribute("class").startswith("best")
            page.screenshot(path=str(ARTIFACTS / f"leaderboard-1400-{name}.png"), full_page=True)
        invalid = page.locator("tr.verdict-invalid span.verdict")
        assert "val_data_before_artifact" in invalid.get_attribute("title")  # the reason, on hover
        link = page.locator("tr.best a[href^='https://github.com/']")
        assert link.get_attribute("href") == "https://github.com/openai/parameter-golf/pull/7"
        page.goto(synced_server + "/?status=open")
        assert page.locator("table.board tbody tr").count() == 5
        assert_one_line_per_row(page)
        chromium.close()


def test_the_review_queue_renders(synced_server):
    with sync_playwright() as p:
        chromium = launch(p)
        page = chromium.new_page(viewport={"width": 1400, "height": 900})
        errors = console_errors(page)
        page.goto(synced_server + "/prs")
        sections = page.locator("section.pr")
        assert sections.count() == 5
        top = sections.first
        assert top.get_attribute("id") == "pr-4" and "breaks a rule" in top.inner_text()
        assert "val_data_before_artifact" in top.locator("ol.look-first li").first.inner_text()
        five = page.locator("#pr-5 table.against tr").nth(1).inner_text()  # the record of its day, both policies
        assert "LeakyReLU" in five and five.count("✓") == 2
        page.screenshot(path=str(ARTIFACTS / "prs.png"), full_page=True)
        page.locator("#pr-4 h2 a").first.click()
        page.wait_for_load_state()
        assert page.url.endswith("/prs/4") and page.locator("main > h1").inner_text().startswith("#4")
        page.goto(synced_server + "/frontier")
        ticks = page.locator("svg.chart text[text-anchor=middle]").all_text_contents()
        assert any(t.startswith("2026-") for t in ticks)
        page.screenshot(path=str(ARTIFACTS / "frontier-by-date.png"), full_page=True)
        chromium.close()
    assert not [e for e in errors if "Content Security Policy" in e]
