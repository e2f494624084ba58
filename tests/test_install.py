"""A plain (non-editable) install: a wheel built from this checkout, installed into a fresh virtual
environment, serves its pages and packages a folder; the templates and static files ship inside it.

Offline and quick: the fresh environment gets the wheel only (--no-deps); the dependencies come from
this environment's site-packages, named in a .pth file (whose own .pth files, the editable install
of this checkout among them, are not run)."""
from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import RECORDS, REPO, free_port

A2 = RECORDS / "track_10min_16mb" / "2026-04-09_A2_Muon097_3Seed"
NOT_SHIPPED = ("tests", ".*", "runs", "data", "published", "records", "test-artifacts", "build", "dist", "*.egg-info",
               "*.db", "__pycache__")


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("install")
    source, wheels, venv = root / "source", root / "wheels", root / "venv"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(*NOT_SHIPPED))  # a clean tree to build from
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "GOLF_DB", "GOLF_CONFIG")}
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                            "-q", "-w", str(wheels), str(source)], capture_output=True, text=True, env=env, timeout=300)
    assert build.returncode == 0, build.stderr[-3000:]
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    purelib = subprocess.run([venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    (Path(purelib) / "golf-test-dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    install = subprocess.run([venv / "bin" / "python", "-m", "pip", "install", "--no-deps", "--no-index", "-q",
                              *map(str, wheels.glob("golf-*.whl"))], capture_output=True, text=True, env=env, timeout=300)
    assert install.returncode == 0, install.stderr[-3000:]
    where = subprocess.run([venv / "bin" / "python", "-c", "import leaderboard; print(leaderboard.__file__)"],
                           capture_output=True, text=True, env=env, cwd=root, check=True).stdout
    assert where.startswith(purelib), where  # the installed copy, not this checkout
    return venv, env


def test_the_installed_golf_serves_its_pages(installed, tmp_path):
    venv, env = installed
    port = free_port()
    server = subprocess.Popen([venv / "bin" / "golf", "serve", "--port", str(port), "--db",
                               f"sqlite:///{tmp_path / 'golf.db'}"], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(base + "/openapi.json", timeout=2)
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, server.communicate()[0][-2000:]
                time.sleep(0.3)
        for path, text in (("/", "re-derived from the logs"), ("/frontier", "frontier"), ("/static/style.css", "{")):
            with urllib.request.urlopen(base + path, timeout=10) as response:
                assert response.status == 200 and text in response.read().decode(), path
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(base + "/submissions/12345", timeout=10)
        assert missing.value.code == 404 and "Not found" in missing.value.read().decode()
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_the_installed_golf_packages_a_folder(installed, tmp_path):
    venv, env = installed
    logs = [arg for seed in (0, 42, 1234) for arg in ("--logs", str(A2 / f"train_seed{seed}.log"))]
    proc = subprocess.run([venv / "bin" / "golf", "package", *logs, "--script", str(A2 / "README.md"), "--name", "x",
                           "--author", "A", "--github-id", "a", "--out", str(tmp_path), "--date", "2026-11-21"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    readme = (tmp_path / "2026-11-21_x" / "README.md").read_text()
    assert readme.startswith("# x\n") and "| 42 | 1.07996676 |" in readme
