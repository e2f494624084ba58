"""The README's two commands on a fresh machine: bootstrap installs what the tests need (Debian's
chromium) when it may, and otherwise says exactly what to run; CI runs the README's own test command."""
from __future__ import annotations

import re
import shutil
import subprocess

from conftest import REPO

INSTALL = REPO / "scripts" / "install-chromium"
ADVICE = "sudo apt-get update && sudo apt-get install -y chromium"


def run(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(["/bin/bash", str(INSTALL)], env=env, capture_output=True, text=True, timeout=60)


def test_without_apt_or_sudo_it_says_what_to_run(tmp_path):
    tools = tmp_path / "bin"  # a machine with neither apt-get nor sudo on its PATH
    tools.mkdir()
    for tool in ("id", "env"):
        (tools / tool).symlink_to(shutil.which(tool))
    proc = run({"PATH": str(tools), "GOLF_CHROMIUM": str(tmp_path / "chromium")})
    assert proc.returncode == 0  # the main command needs no browser: bootstrap goes on
    assert ADVICE in proc.stderr and str(tmp_path / "chromium") in proc.stderr


def test_a_present_browser_is_left_alone(tmp_path):
    proc = run({"PATH": "/usr/bin:/bin", "GOLF_CHROMIUM": shutil.which("sh")})  # any executable stands for it
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")


def test_bootstrap_installs_it_and_ci_runs_the_readme_command():
    readme = (REPO / "README.md").read_text()
    commands = re.findall(r"^    (\./scripts/bootstrap && .+)$", readme, re.M)
    assert commands == ["./scripts/bootstrap && .venv/bin/golf launch --seeds 42,314,999",
                        "./scripts/bootstrap && .venv/bin/python -m pytest -q"]
    assert (REPO / ".ci" / "run").read_text().rstrip().splitlines()[-1] == commands[1]
    assert "./scripts/install-chromium" in (REPO / "scripts" / "bootstrap").read_text().splitlines()
