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


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve")
    env = {**os.environ, "PYTHONPATH": str(REPO), "GOLF_DB": f"sqlite:///{root / 'golf.db'}"}
    imported = subprocess.run([sys.executable, "-m", "launcher", "import", "--accepted", str(RECORDS)], env=env, cwd=root,
                              capture_output=True, text=True, timeout=300)
    assert imported.returncode == 0, imported.stderr
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
    yield base
    proc.terminate()
    proc.wait(timeout=10)


def test_a_person_sees_the_ranking_a_chart_and_the_readme(server):
    assert Path(CHROMIUM).is_file(), (f"no Chromium at {CHROMIUM}: ./scripts/bootstrap installs Debian's when it may "
                                      "(root or sudo); else run `sudo apt-get install -y chromium`, or set GOLF_CHROMIUM")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1500, "height": 1000})
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

        page.goto(server + "/")
        rows = page.locator("table.board tbody tr")
        assert rows.count() == 10
        first = rows.nth(0).inner_text()
        # rank 1: the lowest mean val_bpb that is not invalid (CaseOps' 1.06335 trains 603 s with its calibration)
        assert first.startswith("1\t") and "1.07281" in first
        assert page.locator("tr.best").count() == 1 and "record" in page.locator("tr.best").inner_text()
        badge = page.locator("tr.best .badge").first
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
