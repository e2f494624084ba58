"""`golf package` writes a folder that `golf check` passes and whose submission.json fits the schema."""
import json
import os
import subprocess
import sys

import jsonschema
import pytest

from conftest import RECORDS, REPO
from leaderboard.package import PackageError, folder_name, load_schema

A2 = RECORDS / "track_10min_16mb" / "2026-04-09_A2_Muon097_3Seed"
LEAKY = RECORDS / "track_10min_16mb" / "2026-03-23_LeakyReLU_LegalTTT_ParallelMuon"


def golf(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "launcher.cli", *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=300)


def test_package_from_three_logs_passes_check(tmp_path):
    script = tmp_path / "train_gpt.py"
    script.write_text("print('the script that made these logs')\n")
    out = tmp_path / "records" / "track_10min_16mb"
    logs = [str(A2 / f"train_seed{s}.log") for s in (0, 42, 1234)]
    proc = golf("package", "--logs", logs[0], "--logs", logs[1], "--logs", logs[2], "--name", "Muon 0.97 / TTT (again)",
                "--author", "Ada L", "--github-id", "ada-l", "--out", str(out), "--script", str(script),
                "--date", "2026-11-21", "--against", str(LEAKY))
    assert proc.returncode == 0, proc.stderr
    folder = out / "2026-11-21_Muon_0_97_TTT_again"
    assert sorted(p.name for p in folder.iterdir()) == [
        "README.md", "requirements.txt", "submission.json", "train_gpt.py",
        "train_seed0.log", "train_seed1234.log", "train_seed42.log"]
    doc = json.loads((folder / "submission.json").read_text())
    jsonschema.validate(doc, load_schema())
    assert doc["seeds"] == [0, 42, 1234] and doc["val_bpb"] == pytest.approx(1.07983273, abs=1e-8)
    assert doc["significance"]["against"] and doc["significance"]["p"] is not None
    readme = (folder / "README.md").read_text()
    assert "| 42 | 1.07996676 | 2.78966630 | legal_ttt |" in readme and "**1.07983273**" in readme
    assert "SEED=1234 torchrun --standalone --nproc_per_node=8 train_gpt.py" in readme
    check = golf("check", str(folder), "--json", "--against", str(LEAKY))
    assert check.returncode == 0, check.stdout[-2000:]
    report = json.loads(check.stdout)["submissions"][0]
    assert report["verdict"] == "record"
    assert all(c["status"] == "pass" for c in report["checks"])
    assert not list(out.glob(".golf-package-*"))  # no staging folder left behind


def test_package_refuses_to_overwrite_and_bad_input(tmp_path):
    out = tmp_path / "records"
    logs = [str(A2 / f"train_seed{s}.log") for s in (0, 42)]
    base = ["package", "--logs", logs[0], "--logs", logs[1], "--author", "A", "--github-id", "a", "--out", str(out),
            "--script", str(A2 / "README.md"), "--date", "2026-11-21"]
    assert golf(*base, "--name", "x").returncode == 0
    again = golf(*base, "--name", "x")
    assert again.returncode == 2 and "already exists" in again.stderr
    dup = golf("package", "--logs", logs[0], "--logs", logs[0], "--name", "y", "--author", "A", "--github-id", "a",
               "--out", str(out), "--script", str(A2 / "README.md"))
    assert dup.returncode == 2 and "seed 0 appears in two logs" in dup.stderr
    bad_id = golf(*base, "--name", "z", "--github-id", "not a valid id!")
    assert bad_id.returncode == 2 and "ValidationError" in bad_id.stderr
    assert sorted(p.name for p in out.iterdir()) == ["2026-11-21_x"]


@pytest.mark.parametrize("name, expected", [
    ("My Run", "2026-01-02_My_Run"), ("../../etc/passwd", "2026-01-02_etc_passwd"), ("a  b..c", "2026-01-02_a_b_c"),
])
def test_folder_names_are_safe(name, expected):
    assert folder_name("2026-01-02", name) == expected
    with pytest.raises(PackageError):
        folder_name("2026-01-02", "../..")
