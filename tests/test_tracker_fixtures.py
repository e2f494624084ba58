"""`golf check --json` on the real competition records reproduces what a careful reader finds
(EXPECTED.json), and judges them as DESIGN's rules and verdicts say."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import RECORDS, REPO

EXPECTED = json.loads((RECORDS / "EXPECTED.json").read_text())
ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def golf(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "launcher.cli", *args], capture_output=True, text=True, env=ENV,
                          timeout=timeout)


@pytest.fixture(scope="module")
def document(tmp_path_factory):
    db = f"sqlite:///{tmp_path_factory.mktemp('nodb') / 'absent.db'}"  # no database: no reference
    proc = golf("check", str(RECORDS), "--json", "--db", db)
    assert proc.returncode == 1, proc.stderr  # some fixtures really are invalid
    assert not Path(db.removeprefix("sqlite:///")).exists()  # checking never creates a database
    return json.loads(proc.stdout)


def _runs(document):
    out = {}
    for sub in document["submissions"]:
        rel_folder = Path(sub["path"]).relative_to(RECORDS).as_posix()
        for run in sub["runs"]:
            out.setdefault(f"{rel_folder}/{run['log']}", []).append(run)
    return out


@pytest.mark.parametrize("log", sorted(EXPECTED["logs"]))
def test_every_log_reproduces_the_expected_values(document, log):
    want, runs = EXPECTED["logs"][log], _runs(document)[log]
    got = runs[-1]  # every fixture log holds one run, or appended attempts whose last one counts
    assert got["seed"] == want["seed"]
    if want["final_stage"] == "training_val_at_stop":
        # the only score is an in-training validation: golf reports it as such, never as the score
        assert got["score_stage"] is None and got["val_bpb"] is None
        assert got["training_val_at_stop"] == {"val_bpb": want["final_val_bpb"], "val_loss": want["final_val_loss"]}
    else:
        assert got["score_stage"] == want["final_stage"]
        for key, expected_key in (("val_bpb", "final_val_bpb"), ("val_loss", "final_val_loss")):
            if want[expected_key] is None:
                assert got[key] is None
            else:
                assert got[key] == pytest.approx(want[expected_key], abs=1e-9)  # to the printed precision
    for key in ("bytes_total", "bytes_code", "bytes_model", "steps"):
        assert got[key] == want[key], key
    for key in ("train_time_s", "eval_time_s"):
        if want[key] is None:
            assert got[key] is None, key
        else:
            assert got[key] == pytest.approx(want[key], abs=1.0), key


# discrepancy text -> the check it concerns (specific markers first)
FOLDER_RULES = {
    "PRE-quantization": "scored_artifact",
    "claimed bytes_code": "claims_match", "claimed steps": "claims_match", "claimed val_bpb": "claims_match",
    "claimed val_loss": "claims_match", "claimed bytes_total": "claims_match",
    "bytes_total 16638468 > 16,000,000": "artifact_size",
}
# what DESIGN's rulings find beyond EXPECTED.json's list (which predates them): folder -> (check, text)
RULINGS_BEYOND_EXPECTED = {
    # training covers GPTQ Hessian calibration on training data: 599.6 s loop + 3.5 s > 600 s
    "2026-04-23_SP8192_CaseOps_SparseGate_QuantGate_Loop45_PhasedTTT_PolarNS_MinLR_FusedCE":
        ("train_time", "3.5s on training data before the artifact"),
    # its roundtrip score is on a 500-batch subset (EXPECTED's notes say so)
    "2026-03-31_LegendreGPT": ("full_validation", "subset"),
}


@pytest.mark.parametrize("folder", EXPECTED["folders"], ids=lambda f: f["folder"][:40])
def test_each_folder_is_judged_by_the_rules(document, folder):
    sub = next(s for s in document["submissions"] if Path(s["path"]).name == folder["folder"])
    checks = {c["id"]: c for c in sub["checks"]}
    assert sub["claimed"]["file"] == folder["submission_file"]
    scored = [name for name in folder["score_stage"] if name != "training_val_at_stop"]
    if scored:
        assert sub["summary"]["mean_val_bpb"] == pytest.approx(folder["log_mean_val_bpb"], abs=1e-8)
    else:
        assert sub["summary"]["mean_val_bpb"] is None  # nothing evaluated the artifact
    assert sorted(s["seed"] for s in sub["seeds"] if s["seed"] is not None) == sorted(x for x in folder["log_seeds"] if x is not None)
    broken = set()
    for discrepancy in folder["discrepancies"]:
        rule = next(rule for marker, rule in FOLDER_RULES.items() if marker in discrepancy)
        if rule == "claims_match":  # claims are their own axis: reported, never invalid by themselves
            assert checks[rule]["status"] in ("warn", "fail"), (discrepancy, checks[rule])
            assert sub["claims"] in ("minor", "contradict")
        else:
            assert checks[rule]["status"] == "fail", (discrepancy, checks[rule])
            broken.add(rule)
    beyond = RULINGS_BEYOND_EXPECTED.get(folder["folder"])
    if beyond is not None:
        assert checks[beyond[0]]["status"] == "fail" and beyond[1] in checks[beyond[0]]["message"], checks[beyond[0]]
        broken.add(beyond[0])
    if not folder["discrepancies"]:
        assert checks["claims_match"]["status"] == "pass", checks["claims_match"]
    failing_rules = {c["id"] for c in sub["checks"] if c["kind"] == "rule" and c["status"] == "fail"}
    assert failing_rules == broken
    assert (sub["verdict"] == "invalid") == bool(broken)


def test_verdicts_and_notable_findings(document):
    by_name = {Path(s["path"]).name: s for s in document["submissions"]}
    assert len(by_name) == len(EXPECTED["folders"])
    # no reference without a database: every rule holds, so the best verdict is valid
    assert by_name["2026-04-09_A2_Muon097_3Seed"]["verdict"] == "valid"
    assert any("no reference" in r for r in by_name["2026-04-09_A2_Muon097_3Seed"]["reasons"])
    assert by_name["2026-03-17_NaiveBaseline"]["verdict"] == "valid"  # one seed: not enough for a record
    legendre = {c["id"]: c for c in by_name["2026-03-31_LegendreGPT"]["checks"]}
    assert legendre["full_validation"]["status"] == "fail" and "limited" in legendre["full_validation"]["message"]
    assert legendre["train_time"]["status"] == "pass"  # the non-record track has no time cap (96,562 s here)
    varlen = {c["id"]: c for c in by_name["2026-04-13_VarLenAttn_PhasingTTT2000"]["checks"]}
    # the timed scoring (TTT, up to 515.3 s) counts; a 55.9 s diagnostic evaluation and a 153.3 s compile
    # warm-up ran outside the score's timer: reported, not capped (#1855)
    assert varlen["eval_time"]["status"] == "pass" and "515.3" in varlen["eval_time"]["message"]
    assert "209.2s more" in varlen["eval_time"]["message"]
    sp4096 = by_name["2026-04-04_SP4096_DepthRecurrence_ParallelResid_MuonEqR"]
    seed42 = next(r for r in sp4096["runs"] if r["seed"] == 42)
    assert any("failed stage" in w for w in seed42["warnings"])
    mixed = by_name["2026-03-19_MixedQuant_Int6Int8_SlidingWindow"]["runs"]
    assert len(mixed) == 3 and [r["counts"] for r in mixed] == [False, False, True]  # 3 attempts, the last counts
    assert "3 runs appended" in mixed[0]["warnings"][0]
    ttt = by_name["2026-04-23_SP8192_CaseOps_SparseGate_QuantGate_Loop45_PhasedTTT_PolarNS_MinLR_FusedCE"]
    assert all(s["score_log"].startswith("ttt_pr1767/") and s["training_log"].startswith("train_seed") for s in ttt["seeds"])


def test_every_figure_names_its_line(document):
    """A reviewer can check each figure in one click: the analysis says which line it came from."""
    by_name = {Path(s["path"]).name: s for s in document["submissions"]}
    run = by_name["2026-03-17_NaiveBaseline"]["runs"][0]
    lines = (RECORDS / "track_10min_16mb" / "2026-03-17_NaiveBaseline" / "train.log").read_text().splitlines()
    assert "15863489" in lines[run["sources"]["bytes_total"] - 1]
    assert "1.22436570" in lines[run["sources"]["val_bpb"] - 1]
    assert "600038ms" in lines[run["sources"]["train_time_s"] - 1]
    assert "1337" in lines[run["sources"]["seed"] - 1]


def test_significance_against_a_reference_folder():
    new = RECORDS / "track_10min_16mb" / "2026-04-09_A2_Muon097_3Seed"
    old = RECORDS / "track_10min_16mb" / "2026-03-23_LeakyReLU_LegalTTT_ParallelMuon"
    proc = golf("check", str(new), "--against", str(old), "--json")
    sub = json.loads(proc.stdout)["submissions"][0]
    sig = next(c for c in sub["checks"] if c["id"] == "significance")
    # sp8192 vs sp1024 losses are not comparable per token: the test runs per byte, and says so
    assert sig["status"] in ("pass", "fail") and "df=" in sig["message"] and "p=" in sig["message"]
    assert "nats/byte" in sig["message"] and "readme policy" in sig["message"]


def test_significance_against_the_best_record_in_the_database(db_url):
    db = db_url
    assert golf("import", str(RECORDS), "--accepted", "--db", db).returncode == 0
    folder = RECORDS / "track_10min_16mb" / "2026-03-20_Int6_MLP3x_SmearGate_BigramHash_MuonWD_SWA"
    proc = golf("check", str(folder), "--against", "best", "--db", db, "--json")
    sig = next(c for c in json.loads(proc.stdout)["submissions"][0]["checks"] if c["id"] == "significance")
    # the best accepted record is the CaseOps one (1.0633): an older folder is no improvement on it
    assert sig["status"] == "fail" and "vs PR #1736" in sig["message"]
    missing = golf("check", str(folder), "--against", "no such", "--db", db)
    assert missing.returncode == 2 and "no submission matches" in missing.stderr
