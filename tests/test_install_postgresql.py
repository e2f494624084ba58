"""scripts/install-postgresql, which bootstrap runs: PostgreSQL's server binaries for the database tests,
installed with apt when missing and allowed, else exactly what to run."""
from __future__ import annotations

import shutil
import subprocess

from conftest import REPO

INSTALL = REPO / "scripts" / "install-postgresql"
ADVICE = "sudo apt-get update && sudo apt-get install -y postgresql"


def run(path: str, lib: str = "/nonexistent") -> subprocess.CompletedProcess:
    return subprocess.run(["/bin/bash", str(INSTALL)], env={"PATH": path, "GOLF_POSTGRES_LIB": lib},
                          capture_output=True, text=True, timeout=60)


def test_present_binaries_are_left_alone(tmp_path):
    tools = tmp_path / "bin"
    tools.mkdir()
    for tool in ("initdb", "pg_ctl"):  # any executables stand for them
        (tools / tool).symlink_to(shutil.which("true"))
    assert (lambda p: (p.returncode, p.stdout, p.stderr))(run(str(tools))) == (0, "", "")


def test_debians_own_folder_counts(tmp_path):
    (tmp_path / "lib" / "15" / "bin").mkdir(parents=True)
    (tmp_path / "lib" / "15" / "bin" / "initdb").symlink_to(shutil.which("true"))
    assert run("/nonexistent", str(tmp_path / "lib")).stderr == ""


def test_without_apt_or_sudo_it_says_what_to_run(tmp_path):
    tools = tmp_path / "bin"  # neither the binaries nor apt-get nor sudo
    tools.mkdir()
    for tool in ("id", "env"):
        (tools / tool).symlink_to(shutil.which(tool))
    proc = run(str(tools))
    assert proc.returncode == 0  # bootstrap goes on: GOLF_TEST_DB=sqlite runs without it
    assert ADVICE in proc.stderr and "GOLF_TEST_DB=sqlite" in proc.stderr


def test_bootstrap_runs_it():
    assert "./scripts/install-postgresql" in (REPO / "scripts" / "bootstrap").read_text().splitlines()
