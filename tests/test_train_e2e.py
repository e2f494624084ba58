"""The trainer as real processes on CPU: python -m trainer, torchrun with gloo, the bundled file;
the baseline stack (TINY) and every frontier technique at once (TINY_FRONTIER)."""
import ast
import dataclasses
import json
import math
import os
import signal
import subprocess
import sys

import pytest

from conftest import REPO, TINY, load_result, run_trainer

pytestmark = pytest.mark.slow

# frontier-smoke shrunk to seconds: still GPTQ + LQER, EMA, recurrence, lanes, gates, both TTT stages
TINY_FRONTIER = {
    "PRESET": "frontier-smoke", "NUM_LAYERS": "3", "XSA_LAST_N": "3", "NUM_LOOPS": "1", "LOOP_START": "1",
    "LOOP_END": "1", "PARALLEL_START_LAYER": "2", "MODEL_DIM": "64", "NUM_HEADS": "2", "NUM_KV_HEADS": "1",
    "GATE_WINDOW": "8", "ROPE_DIMS": "16", "TRAIN_SEQ_LEN": "64", "TRAIN_BATCH_TOKENS": "1024", "ITERATIONS": "24",
    "WARMUP_STEPS": "1", "MAX_WALLCLOCK_SECONDS": "none", "GPTQ_RESERVE_SECONDS": "0", "GPTQ_CALIBRATION_BATCHES": "2",
    "EVAL_STRIDE": "32", "VAL_BATCH_SIZE": "8192", "TRAIN_LOG_EVERY": "6", "TTT_CHUNK_TOKENS": "16384",
    "TTT_EPOCHS": "1", "TTT_BATCH_SEQS": "16", "PHASED_TTT_PREFIX_DOCS": "12", "PHASED_TTT_NUM_PHASES": "2",
}
FRONTIER_STAGES = ["prequant", "roundtrip", "roundtrip_sliding", "roundtrip_phased_ttt", "roundtrip_ttt"]


def _env(data_dir, run_id, **extra):
    return {"DATA_DIR": str(data_dir), "RUN_ID": run_id, **extra}


def _train_losses(log: str) -> list[float]:
    return [float(tok.split(":")[1]) for line in log.splitlines() if line.startswith("step:")
            for tok in line.split() if tok.startswith("train_loss:")]


@pytest.fixture(scope="module")
def reference_run(embedded_data, tmp_path_factory):
    cwd = tmp_path_factory.mktemp("ref")
    proc = run_trainer(cwd, _env(embedded_data, "ref", SEED="7"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return cwd, load_result(cwd, "ref"), proc


def test_training_writes_log_artifact_and_result(reference_run):
    cwd, result, proc = reference_run
    run_dir = cwd / "runs" / "ref"
    log = (run_dir / "train.log").read_text()
    assert log.strip() == proc.stdout.strip()
    losses = _train_losses(log)
    assert len(losses) >= 5 and losses[-1] < losses[0] - 1.0
    assert math.isfinite(result["val_bpb"]) and 0 < result["val_bpb"] < 8
    assert result["bytes_total"] == result["bytes_model"] + result["bytes_code"] < 16_000_000
    assert result["bytes_model"] == (run_dir / result["artifact"]).stat().st_size
    assert result["score_stage"] == "roundtrip_sliding" and result["steps"] == 30 and result["seed"] == 7
    assert [s["name"] for s in result["stages"]] == ["prequant", "roundtrip", "roundtrip_sliding"]
    assert result["val_tokens"] == result["stages"][0]["tokens"] > 0 and result["val_bytes"] > result["val_tokens"]
    for key in ("train_time_s", "artifact_time_s", "eval_time_s", "peak_memory_mib"):
        assert result[key] > 0
    assert result["world_size"] == 1 and result["device"] == "cpu" and result["torch_version"]
    # the log grammar: an event word or step:N/M, then key:value tokens
    for line in log.splitlines():
        assert all(":" in tok for tok in line.split()[1:]) or line.startswith("stopping_early:"), line
    assert f"score stage:roundtrip_sliding val_loss:{result['val_loss']:.8f} val_bpb:{result['val_bpb']:.8f}" in log
    assert not [p for p in run_dir.iterdir() if "tmp" in p.name]


def test_artifact_round_trip_scores_close_to_the_trained_model(reference_run):
    _, result, _ = reference_run
    prequant, roundtrip = result["stages"][0], result["stages"][1]
    assert prequant["diagnostic"] and not roundtrip["diagnostic"]
    assert abs(roundtrip["val_bpb"] - prequant["val_bpb"]) < 0.01
    assert roundtrip["val_bpb"] != prequant["val_bpb"]  # the artifact really was quantized


def test_same_seed_twice_gives_the_same_numbers(reference_run, embedded_data, tmp_path):
    _, first, _ = reference_run
    proc = run_trainer(tmp_path, _env(embedded_data, "again", SEED="7"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    second = load_result(tmp_path, "again")
    for key in ("val_bpb", "val_loss", "bytes_model", "steps", "val_tokens", "val_bytes"):
        assert second[key] == first[key], key
    assert [s["val_bpb"] for s in second["stages"]] == [s["val_bpb"] for s in first["stages"]]


def test_two_gloo_processes_match_one(reference_run, embedded_data, tmp_path):
    _, single, _ = reference_run
    proc = run_trainer(tmp_path, _env(embedded_data, "ddp", SEED="7"), nproc=2)
    assert proc.returncode == 0, proc.stderr[-3000:]
    double = load_result(tmp_path, "ddp")
    assert double["world_size"] == 2
    for a, b in zip(single["stages"], double["stages"]):
        assert a["tokens"] == b["tokens"] and a["bytes"] == b["bytes"]
        assert b["val_loss"] == pytest.approx(a["val_loss"], rel=1e-5, abs=1e-6)
        assert b["val_bpb"] == pytest.approx(a["val_bpb"], rel=1e-5, abs=1e-6)


def test_bundled_file_runs_under_torchrun_without_the_package(frontier_run, embedded_data, tmp_path):
    _, package_result, _ = frontier_run
    script = tmp_path / "train_gpt.py"
    subprocess.run([sys.executable, "-m", "trainer.bundle", "-o", str(script)], cwd=REPO, check=True, capture_output=True)
    tree = ast.parse(script.read_text())
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module and n.level == 0}
    assert not imported & {"trainer", "launcher", "leaderboard", "golfcore"}
    # poisoned packages first on the path: any import of ours fails the run
    poison = tmp_path / "poison"
    for package in ("trainer", "golfcore"):
        (poison / package).mkdir(parents=True)
        (poison / package / "__init__.py").write_text(f"raise ImportError('the bundle imported {package}')\n")
    workdir = tmp_path / "work"
    workdir.mkdir()
    proc = run_trainer(workdir, _env(embedded_data, "bundled", SEED="7", **TINY_FRONTIER), nproc=1,
                       script=[str(script)], pythonpath=str(poison))
    assert proc.returncode == 0, proc.stderr[-3000:]
    bundled = load_result(workdir, "bundled")
    for key in ("val_bpb", "val_loss", "bytes_model", "steps"):
        assert bundled[key] == package_result[key], key
    assert [s["val_bpb"] for s in bundled["stages"]] == [s["val_bpb"] for s in package_result["stages"]]
    assert bundled["bytes_code"] == script.stat().st_size


def test_lzma_bundle_counts_its_own_size(embedded_data, tmp_path):
    script = tmp_path / "train_gpt.py"
    subprocess.run([sys.executable, "-m", "trainer.bundle", "-o", str(script), "--packing", "lzma"],
                   cwd=REPO, check=True, capture_output=True)
    proc = run_trainer(tmp_path, _env(embedded_data, "lz", ITERATIONS="3", EVAL_STRIDE="0", EVAL_PREQUANT="0",
                                      CODE_PACKING="lzma"), script=[str(script)], pythonpath="")
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = load_result(tmp_path, "lz")
    assert result["bytes_code"] == script.stat().st_size < 30_000
    assert result["score_stage"] == "roundtrip"


def _shards(tmp_path, embedded_data):
    """A private copy of the embedded dataset that a test may damage."""
    import shutil

    data = tmp_path / "data"
    shutil.copytree(embedded_data, data)
    return data, data / "datasets" / "embedded_sp1024"


@pytest.mark.parametrize("damage, env, message", [
    ("truncate_train", {}, "fineweb_train_000000.bin: header says"),
    ("bad_magic_val", {}, "bad magic"),
    (None, {"VOCAB_SIZE": "2048", "DATA_PATH": "{dataset}", "TOKENIZER_PATH": "{tokenizer}"},
     "pieces but VOCAB_SIZE=2048"),
    (None, {"TRAIN_SEQ_LEN": "100000", "TRAIN_BATCH_TOKENS": "200000", "EVAL_STRIDE": "0"}, "fewer than TRAIN_SEQ_LEN"),
    (None, {"MAX_WALLCLOCK_SECONDS": "0"}, "MAX_WALLCLOCK_SECONDS=0 must be positive"),
    (None, {"TRAIN_MICROBATCHES": "3"}, "TRAIN_BATCH_TOKENS=1024 is not divisible"),
])
def test_bad_input_stops_before_training_with_one_line(tmp_path, embedded_data, damage, env, message):
    data, dataset = _shards(tmp_path, embedded_data)
    if damage == "truncate_train":
        path = dataset / "fineweb_train_000000.bin"
        path.write_bytes(path.read_bytes()[:-1000])
    elif damage == "bad_magic_val":
        path = dataset / "fineweb_val_000000.bin"
        path.write_bytes(b"\0\0\0\0" + path.read_bytes()[4:])
    paths = {"dataset": dataset, "tokenizer": data / "tokenizers" / "embedded_1024_bpe.model"}
    proc = run_trainer(tmp_path, _env(data, "bad", **{k: v.format(**paths) for k, v in env.items()}))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], proc.stderr
    assert "step:" not in proc.stdout
    assert not list(tmp_path.glob("runs/*/final_model*"))


def test_world_size_that_does_not_divide_the_batch_fails_under_torchrun(tmp_path, embedded_data):
    proc = run_trainer(tmp_path, _env(embedded_data, "ws", TRAIN_MICROBATCHES="3"), nproc=2)
    assert proc.returncode != 0
    assert "error: world size 2 does not divide TRAIN_MICROBATCHES=3" in proc.stderr
    assert proc.stderr.count("error: world size") == 1  # one line, from rank 0


def test_a_run_killed_mid_way_leaves_no_artifact(tmp_path, embedded_data):
    env = {**os.environ, **TINY, **_env(embedded_data, "killed", ITERATIONS="100000"), "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "trainer"], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        for line in proc.stdout:
            if line.startswith("step:5/"):
                break
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    run_dir = tmp_path / "runs" / "killed"
    assert (run_dir / "train.log").exists()
    assert sorted(p.name for p in run_dir.iterdir()) == ["train.log"]  # no artifact, temp file or result


def test_a_finished_run_is_never_overwritten(reference_run, embedded_data):
    cwd, result, _ = reference_run
    before = (cwd / "runs" / "ref" / "result.json").read_bytes()
    proc = run_trainer(cwd, _env(embedded_data, "ref"))
    assert proc.returncode == 2 and "already holds a finished run" in proc.stderr
    assert (cwd / "runs" / "ref" / "result.json").read_bytes() == before


def test_compiled_two_process_run_matches_eager(embedded_data, tmp_path):
    """torch.compile under DDP (inductor on CPU, gloo): the path 8xH100 runs, checked without a GPU."""
    short = {"SEED": "5", "ITERATIONS": "10", "EVAL_PREQUANT": "0"}
    eager = run_trainer(tmp_path, _env(embedded_data, "eager", **short))
    compiled = run_trainer(tmp_path, _env(embedded_data, "compiled", COMPILE="1", **short), nproc=2, timeout=600)
    assert eager.returncode == 0, eager.stderr[-3000:]
    assert compiled.returncode == 0, compiled.stderr[-3000:]
    a, b = load_result(tmp_path, "eager"), load_result(tmp_path, "compiled")
    assert b["config"]["compile"] == "1" and "compile:1" in (tmp_path / "runs" / "compiled" / "train.log").read_text()
    for sa, sb in zip(a["stages"], b["stages"]):
        assert sb["val_bpb"] == pytest.approx(sa["val_bpb"], rel=1e-4)


def test_the_tracker_reads_our_log_as_result_json_says(reference_run):
    from leaderboard.logparse import parse_file

    cwd, result, _ = reference_run
    run = parse_file(cwd / "runs" / "ref" / "train.log").run
    assert (run.seed, run.steps, run.score.name) == (result["seed"], result["steps"], result["score_stage"])
    assert run.score.val_bpb == pytest.approx(result["val_bpb"], abs=1e-8)
    assert run.score.val_loss == pytest.approx(result["val_loss"], abs=1e-8)
    assert (run.bytes_total, run.bytes_model, run.bytes_code) == (result["bytes_total"], result["bytes_model"], result["bytes_code"])
    assert run.train_time_s == pytest.approx(result["train_time_s"], abs=0.001)
    assert run.eval_time_s == pytest.approx(result["eval_time_s"], abs=0.001)
    assert run.val_tokens == result["val_tokens"] and run.dataset == "embedded_sp1024"


def test_package_a_group_of_our_runs(embedded_data, tmp_path):
    """Three real seeds -> a records folder whose bundled train_gpt.py is exactly the counted code."""
    for seed in (1, 2, 3):
        proc = run_trainer(tmp_path, _env(embedded_data, f"s{seed}", SEED=str(seed), ITERATIONS="3",
                                          EVAL_STRIDE="0", EVAL_PREQUANT="0"))
        assert proc.returncode == 0, proc.stderr[-2000:]
    out = tmp_path / "records"
    proc = subprocess.run([sys.executable, "-m", "launcher.cli", "package", str(tmp_path / "runs"), "--name", "tiny",
                           "--author", "Me", "--github-id", "me", "--out", str(out), "--date", "2026-11-21"],
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=300)
    assert proc.returncode == 0, proc.stderr
    folder = out / "2026-11-21_tiny"
    doc = json.loads((folder / "submission.json").read_text())
    assert doc["seeds"] == [1, 2, 3] and (folder / "train_gpt.py").stat().st_size == doc["bytes_code"]
    check = subprocess.run([sys.executable, "-m", "launcher.cli", "check", str(folder), "--json"], capture_output=True,
                           text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=300)
    report = json.loads(check.stdout)["submissions"][0]
    checks = {c["id"]: c["status"] for c in report["checks"]}
    assert checks["claims_match"] == "pass" and checks["seeds"] == "pass" and checks["artifact_size"] == "pass"
    full = next(c for c in report["checks"] if c["id"] == "full_validation")
    assert full["status"] != "pass" and "embedded" in full["message"]  # embedded data is not FineWeb: it cannot rank
    assert report["verdict"] not in ("record", "invalid") and check.returncode == 0


@pytest.fixture(scope="module")
def frontier_run(embedded_data, tmp_path_factory):
    cwd = tmp_path_factory.mktemp("frontier")
    proc = run_trainer(cwd, _env(embedded_data, "frontier", SEED="7", **TINY_FRONTIER))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return cwd, load_result(cwd, "frontier"), proc


def test_frontier_run_calibrates_inside_training_and_scores_with_ttt(frontier_run):
    from golfcore.loggrammar import parse_event

    cwd, result, _ = frontier_run
    lines = (cwd / "runs" / "frontier" / "train.log").read_text().splitlines()
    events = [parse_event(line) for line in lines]
    assert all(events), [line for line, e in zip(lines, events) if e is None]  # every line is an event of the grammar
    order = [e.name for e in events]
    first = {name: order.index(name) for name in reversed(order)}
    assert first["recurrence"] < first["train_done"] < first["ema"] < first["calibration"] < first["artifact"] < first["eval"]
    assert [s["name"] for s in result["stages"]] == FRONTIER_STAGES and result["score_stage"] == "roundtrip_ttt"
    tokens = {(s["tokens"], s["bytes"]) for s in result["stages"]}
    assert len(tokens) == 1  # every stage scores every token once, with the same bytes
    artifact = events[first["artifact"]]
    assert (artifact.get("method"), artifact.get("quant"), artifact.get("embed_quant")) == ("gptq", "int6", "int7")
    assert result["artifact"] == "final_model.int6.brotli" and result["bytes_total"] < 16_000_000
    assert result["calibration_time_s"] > 0 and result["config"]["quant_method"] == "gptq"
    assert sum(1 for e in events if e.name == "ttt") >= 3
    ttt, sliding = result["stages"][-1], result["stages"][2]
    assert ttt["val_bpb"] != sliding["val_bpb"]


def test_the_tracker_reads_a_frontier_log(frontier_run):
    from leaderboard.logparse import parse_file

    cwd, result, _ = frontier_run
    run = parse_file(cwd / "runs" / "frontier" / "train.log").run
    assert run.score.name == "roundtrip_ttt" and run.score.val_bpb == pytest.approx(result["val_bpb"], abs=1e-8)
    assert run.calibration_s == pytest.approx(result["calibration_time_s"], abs=0.001)
    assert not run.val_loop_lines  # no optimizer loop on validation data before the artifact


def test_two_gloo_processes_match_one_for_frontier_smoke(frontier_run, embedded_data, tmp_path):
    _, single, _ = frontier_run
    proc = run_trainer(tmp_path, _env(embedded_data, "ddp", SEED="7", **TINY_FRONTIER), nproc=2)
    assert proc.returncode == 0, proc.stderr[-3000:]
    double = load_result(tmp_path, "ddp")
    assert double["world_size"] == 2 and [s["name"] for s in double["stages"]] == FRONTIER_STAGES
    for a, b in zip(single["stages"], double["stages"]):
        assert a["tokens"] == b["tokens"] and a["bytes"] == b["bytes"]
        assert b["val_loss"] == pytest.approx(a["val_loss"], rel=1e-5, abs=1e-6), a["name"]
        assert b["val_bpb"] == pytest.approx(a["val_bpb"], rel=1e-5, abs=1e-6), a["name"]


def test_every_setting_is_on_the_config_line_and_in_result_json(frontier_run):
    """Each technique's switch is logged: the `config` event and result.json's config hold every setting."""
    from golfcore.loggrammar import parse_event
    from trainer.config import Config, load_config

    cwd, result, _ = frontier_run
    lines = (cwd / "runs" / "frontier" / "train.log").read_text().splitlines()
    config = next(e for e in map(parse_event, lines) if e is not None and e.name == "config")
    names = [f.name for f in dataclasses.fields(Config)]
    assert list(config.fields) == names and list(result["config"]) == names
    expected = load_config({**TINY, **_env("data", "frontier", SEED="7", **TINY_FRONTIER)})
    for name in names:
        value = result["config"][name]
        if name not in ("data_dir",):
            assert value == getattr(expected, name), name
        assert config.get(name) == ("none" if value is None else "_".join(str(value).split()) or "_"), name
    assert result["config"]["quant_method"] == "gptq" and result["config"]["smear_gate_enabled"] is True
