"""What `golf check` prints, at 80 and 200 columns and piped: every figure, the verdict and every
name whole, on one line each (to read and to copy), never cut with an ellipsis."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import RECORDS, REPO

# the longest folder name among the fixtures, with seven runs (three counted)
FOLDER = RECORDS / "track_10min_16mb" / "2026-04-23_SP8192_CaseOps_SparseGate_QuantGate_Loop45_PhasedTTT_PolarNS_MinLR_FusedCE"


def _check(*args: str, columns: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    env["PYTHONPATH"] = str(REPO)
    if columns is not None:
        env["COLUMNS"] = columns
    proc = subprocess.run([sys.executable, "-m", "launcher", "check", *args, str(FOLDER)], env=env,
                          capture_output=True, text=True, timeout=300)  # stdout is a pipe: as `| less` sees it
    assert proc.returncode in (0, 1), proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def analysis() -> dict:
    return json.loads(_check("--json", columns="200"))["submissions"][0]


@pytest.mark.parametrize("columns", ["80", "200", None])
def test_check_never_cuts_a_figure_a_verdict_or_a_name(analysis, columns):
    text = _check(columns=columns)
    lines = text.splitlines()
    assert "…" not in text
    heading = next(line for line in lines if analysis["name"] in line)
    assert heading.startswith(analysis["verdict"].upper()), heading
    assert any(line.strip() == analysis["path"] + f"  ({analysis['track']})" for line in lines), text
    assert len(analysis["runs"]) >= 3
    for run in analysis["runs"]:
        assert any(run["log"] in line for line in lines), run["log"]
        shown = {"val_bpb": ".8f", "val_loss": ".8f", "bytes_total": ",", "seed": "", "steps": "",
                 "train_time_s": ".1f", "eval_time_s": ".1f", "score_stage": ""}
        for figure in (format(run[key], spec) for key, spec in shown.items() if run[key] is not None):
            assert any(figure in line.split() or f" {figure} " in f" {line} " for line in lines), (figure, text)
    for check in analysis["checks"]:
        assert any(line.strip().startswith(check["status"]) and check["id"] in line for line in lines), check["id"]


def test_narrow_consoles_get_one_block_per_run(analysis):
    """At 80 columns the run table does not fit: each run is a heading (its log) and its figures."""
    lines = _check(columns="80").splitlines()
    for run in analysis["runs"]:
        at = next(i for i, line in enumerate(lines) if line.startswith(f"log {run['log']}"))
        if run["val_bpb"] is not None:
            assert f"{run['val_bpb']:.8f}" in " ".join(lines[at + 1:at + 4])
    wide = _check(columns="200").splitlines()
    assert any(line.split()[:1] == ["log"] and "val_bpb" in line for line in wide), "200 columns: one table"


def test_a_valid_submission_says_why_it_is_not_a_record():
    baseline = RECORDS / "track_10min_16mb" / "2026-03-17_NaiveBaseline"
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200"}
    proc = subprocess.run([sys.executable, "-m", "launcher", "check", str(baseline)], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    verdict = next(line for line in proc.stdout.splitlines() if "because" in line)
    assert verdict.startswith("valid, not a record because ") and "seeds" in verdict, proc.stdout
