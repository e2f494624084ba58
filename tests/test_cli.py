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
    proc = golf(tmp_path, "--help", env={"COLUMNS": "300"})
    assert proc.returncode == 0 and "data" in proc.stdout and "train" in proc.stdout
    # each command's summary is running text, not the docstring's line breaks
    check_row = next(line for line in proc.stdout.splitlines() if "│ check " in line)
    assert "or the claims contradict them), valid" in check_row
    proc = golf(tmp_path, "train", "--help")
    assert "--preset" in proc.stdout and "KEY=VALUE" in proc.stdout


def test_train_without_data_says_what_to_run(tmp_path):
    proc = golf(tmp_path, "train", "--preset", "smoke")
    assert proc.returncode == 2
    assert "golf data --source embedded" in proc.stderr
    assert not (tmp_path / "runs").exists()  # no run folder, no log of a run that never started


@pytest.mark.parametrize("command, flags", [("check", ["--json"]), ("launch", ["--dry-run", "--detach", "--yes"]),
                                            ("status", ["--watch"])])
def test_flags_are_shown_as_flags(tmp_path, command, flags):
    proc = golf(tmp_path, command, "--help", env={"COLUMNS": "200"})
    assert proc.returncode == 0 and all(flag in proc.stdout for flag in flags)
    assert "<bool>" not in proc.stdout, proc.stdout  # a flag takes no value


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


DB_PASSWORD = "hunter2-db-password"
DB_URL = f"postgresql://ada:{DB_PASSWORD}@127.0.0.1:1/golf"


@pytest.mark.parametrize("args", [["import", "."], ["serve", "--port", "1"], ["status"], ["package", "no-such-group",
                                   "--name", "n", "--author", "a", "--github-id", "a"]])
def test_a_database_password_is_never_printed(tmp_path, args):
    """--db or $GOLF_DB with a password: every message shows the URL with the password masked."""
    for how in ("option", "env"):
        proc = golf(tmp_path, *args, *(["--db", DB_URL] if how == "option" else []),
                    env={"GOLF_DB": DB_URL} if how == "env" else None)
        assert proc.returncode != 0
        assert DB_PASSWORD not in proc.stdout + proc.stderr, (args, how, proc.stderr)
        assert "postgresql://ada:***@127.0.0.1:1/golf" in proc.stderr, (args, how, proc.stderr)
        assert "Traceback" not in proc.stderr


def test_mask_url_masks_and_registers_the_password():
    from golfcore.secrets import mask_url, redact

    assert mask_url("sqlite:////tmp/golf.db") == "sqlite:////tmp/golf.db"
    assert mask_url("postgresql+psycopg://ada:s3cr%40t-pw@db:5432/golf") == "postgresql+psycopg://ada:***@db:5432/golf"
    assert redact("auth failed for 's3cr@t-pw'") == "auth failed for '***'"  # the decoded form is known now too
    assert redact("a log line: mysql://root:another-pw@h/x") == "a log line: mysql://root:***@h/x"


def test_import_of_a_missing_folder_creates_no_database(tmp_path):
    proc = golf(tmp_path, "import", "no-such-records")
    assert proc.returncode == 2 and "no such folder: no-such-records" in proc.stderr
    assert not (tmp_path / "golf.db").exists()
