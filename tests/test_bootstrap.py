"""The README's two commands on a fresh machine: bootstrap installs what the tests need (Debian's
chromium) when it may, and otherwise says exactly what to run; CI runs the README's own test command."""
from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

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


FAKE_APT = """#!/bin/bash
echo "$DEBIAN_FRONTEND apt-get $*" >> "$FAKE_LOG"
[ -z "$FAKE_APT_FAILS" ] || exit 100
[ "$1" != install ] || { echo '#!/bin/sh' > "$GOLF_CHROMIUM"; chmod +x "$GOLF_CHROMIUM"; }
"""
FAKE_SUDO = '#!/bin/bash\n[ "$1" = -n ] && shift\necho "sudo $*" >> "$FAKE_LOG"\nexec "$@"\n'  # passwordless


@pytest.mark.parametrize("who", ["root", "sudo", "apt fails"])
def test_a_missing_browser_is_installed_with_apt_when_it_may(tmp_path, who):
    tools = tmp_path / "bin"  # apt-get, id and sudo are fakes: nothing is installed on this machine
    tools.mkdir()
    for tool in ("env", "true", "chmod"):
        (tools / tool).symlink_to(shutil.which(tool))
    fakes = {"apt-get": FAKE_APT, "id": f"#!/bin/bash\necho {1000 if who == 'sudo' else 0}\n"}
    if who == "sudo":
        fakes["sudo"] = FAKE_SUDO
    for name, text in fakes.items():
        (tools / name).write_text(text)
        (tools / name).chmod(0o755)
    log, chromium = tmp_path / "calls", tmp_path / "chromium"
    env = {"PATH": str(tools), "GOLF_CHROMIUM": str(chromium), "FAKE_LOG": str(log)}
    proc = run({**env, **({"FAKE_APT_FAILS": "1"} if who == "apt fails" else {})})
    assert proc.returncode == 0  # never fails: everything else works without the browser
    calls = log.read_text().splitlines()
    apt = [c for c in calls if not c.startswith("sudo")]
    assert apt[0] == " apt-get update -qq" and "installing Debian's chromium" in proc.stdout, (calls, proc.stderr)
    if who == "apt fails":
        assert not chromium.exists() and ADVICE in proc.stderr
        return
    assert apt[1:] == ["noninteractive apt-get install -y -qq chromium"] and proc.stderr == ""
    assert os.access(chromium, os.X_OK)
    if who == "sudo":
        assert calls[:2] == ["sudo true", "sudo env apt-get update -qq"]
