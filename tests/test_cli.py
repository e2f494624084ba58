"""The golf command line as a user runs it: a real process."""
import json
import os
import subprocess
import sys

import pytest

from conftest import REPO, TINY


def golf(cwd, *args, env=None, timeout=300):
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run([sys.executable, "-m", "launcher.cli", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=timeout)


def test_help_explains_the_commands(tmp_path):
    proc = golf(tmp_path, "--help")
    assert proc.returncode == 0 and "data" in proc.stdout and "train" in proc.stdout
    proc = golf(tmp_path, "train", "--help")
    assert "--preset" in proc.stdout and "KEY=VALUE" in proc.stdout


def test_train_without_data_says_what_to_run(tmp_path):
    proc = golf(tmp_path, "train", "--preset", "smoke")
    assert proc.returncode == 2
    assert "golf data --source embedded" in proc.stderr


def test_bad_env_pair_is_refused(tmp_path):
    proc = golf(tmp_path, "train", "--env", "NOEQUALS")
    assert proc.returncode == 2 and "--env expects KEY=VALUE" in proc.stderr


@pytest.mark.slow
def test_train_runs_and_summarizes(tmp_path, embedded_data):
    tiny = {k: v for k, v in TINY.items() if k != "PRESET"}
    args = ["train", "--preset", "smoke", "--seed", "3", "--run-id", "cli"]
    for key, value in tiny.items():
        args += ["-e", f"{key}={value}"]
    proc = golf(tmp_path, *args, env={"DATA_DIR": str(embedded_data)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads((tmp_path / "runs" / "cli" / "result.json").read_text())
    assert result["seed"] == 3 and result["preset"] == "smoke"
    assert f"val_bpb {result['val_bpb']:.6f}" in proc.stdout and "limit 16,000,000" in proc.stdout
