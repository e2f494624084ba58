"""Data preparation: the embedded corpus, and the FineWeb fetch through huggingface_hub
resolved from a local hub cache this test builds (HF_HUB_OFFLINE=1: never the network)."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import sentencepiece as spm

from conftest import REPO
from trainer.data import BOS_ID, DataError, embedded_documents, prepare_embedded, split_documents
from trainer.shards import read_shard, read_shard_header, write_shard

REPO_ID = "willdepueoai/parameter-golf"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def test_embedded_dataset_layout_and_contents(embedded_data):
    dataset = embedded_data / "datasets" / "embedded_sp1024"
    sp = spm.SentencePieceProcessor(model_file=str(embedded_data / "tokenizers" / "embedded_1024_bpe.model"))
    assert sp.vocab_size() == 1024 and sp.bos_id() == BOS_ID
    train, val = read_shard(dataset / "fineweb_train_000000.bin"), read_shard(dataset / "fineweb_val_000000.bin")
    assert train.size > 300_000 and val.size > 30_000
    assert val[0] == BOS_ID and int(train.max()) < 1024
    info = json.loads((dataset / "dataset.json").read_text())
    assert info["tokens"] == {"train": int(train.size), "val": int(val.size)}
    # documents are stored in order, each after a BOS token; every 10th goes to validation
    docs_train, docs_val = split_documents(embedded_documents())
    assert len(docs_val) == -(-(len(docs_train) + len(docs_val)) // 10)
    first_val_ids = val[1 : list(val[1:]).index(BOS_ID) + 1].tolist()
    assert sp.decode(first_val_ids) == sp.decode(sp.encode(docs_val[0]))


def _fake_hub_cache(cache, files: dict[str, bytes], repo_id: str = REPO_ID) -> None:
    """The on-disk layout huggingface_hub uses for a cached dataset repo snapshot."""
    repo_dir = cache / f"datasets--{repo_id.replace('/', '--')}"
    (repo_dir / "refs").mkdir(parents=True)
    (repo_dir / "refs" / "main").write_text(COMMIT)
    for name, data in files.items():
        path = repo_dir / "snapshots" / COMMIT / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _shard_bytes(tmp_path, n, seed):
    path = tmp_path / f"shard{seed}.bin"
    write_shard(path, np.random.default_rng(seed).integers(0, 1024, n, dtype=np.uint16))
    return path.read_bytes()


@pytest.fixture
def hub_cache(tmp_path, embedded_data):
    manifest = {
        "datasets": [{"name": "fineweb10B_sp1024", "tokenizer_name": "sp_bpe_1024",
                      "stats": {"files_train": 3, "files_val": 1}}],
        "tokenizers": [{"name": "sp_bpe_1024", "model_path": "tokenizers/fineweb_1024_bpe.model"}],
    }
    files = {"datasets/manifest.json": json.dumps(manifest).encode(),
             "datasets/tokenizers/fineweb_1024_bpe.model":
                 (embedded_data / "tokenizers" / "embedded_1024_bpe.model").read_bytes(),
             "datasets/datasets/fineweb10B_sp1024/fineweb_val_000000.bin": _shard_bytes(tmp_path, 5000, 0)}
    for i in range(3):
        files[f"datasets/datasets/fineweb10B_sp1024/fineweb_train_{i:06d}.bin"] = _shard_bytes(tmp_path, 8000, i + 1)
    cache = tmp_path / "hub"
    _fake_hub_cache(cache, files)
    return cache, files


def _golf_data(cwd, cache, *args):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(cache), "PYTHONPATH": str(REPO)}
    env.pop("MATCHED_FINEWEB_REPO_ID", None)
    return subprocess.run([sys.executable, "-m", "launcher.cli", "data", "--source", "fineweb", *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_fineweb_fetch_lays_out_the_community_tree(tmp_path, hub_cache):
    cache, files = hub_cache
    proc = _golf_data(tmp_path, cache, "--train-shards", "2")
    assert proc.returncode == 0, proc.stderr
    data = tmp_path / "data"
    dataset = data / "datasets" / "fineweb10B_sp1024"
    assert sorted(p.name for p in dataset.glob("*.bin")) == [
        "fineweb_train_000000.bin", "fineweb_train_000001.bin", "fineweb_val_000000.bin"]
    for p in dataset.glob("*.bin"):
        assert p.read_bytes() == files[f"datasets/datasets/fineweb10B_sp1024/{p.name}"]
    assert (data / "tokenizers" / "fineweb_1024_bpe.model").is_file()
    assert "fetched" in proc.stdout and "ready:" in proc.stdout


def test_sp8192_comes_from_the_repository_the_records_use(tmp_path, embedded_data):
    manifest = {
        "datasets": [{"name": "fineweb10B_sp8192", "tokenizer_name": "sp_bpe_8192",
                      "stats": {"files_train": 2, "files_val": 1}}],
        "tokenizers": [{"name": "sp_bpe_8192", "model_path": "tokenizers/fineweb_8192_bpe.model"}],
    }
    files = {"datasets/manifest.json": json.dumps(manifest).encode(),
             "datasets/tokenizers/fineweb_8192_bpe.model": b"a tokenizer",
             "datasets/datasets/fineweb10B_sp8192/fineweb_val_000000.bin": _shard_bytes(tmp_path, 3000, 0),
             "datasets/datasets/fineweb10B_sp8192/fineweb_train_000000.bin": _shard_bytes(tmp_path, 4000, 1)}
    cache = tmp_path / "hub"
    _fake_hub_cache(cache, files, repo_id="kevclark/parameter-golf")  # and nothing in the sp1024 repository
    proc = _golf_data(tmp_path, cache, "--variant", "sp8192", "--train-shards", "1")
    assert proc.returncode == 0, proc.stderr
    dataset = tmp_path / "data" / "datasets" / "fineweb10B_sp8192"
    assert (dataset / "fineweb_train_000000.bin").read_bytes() == files[
        "datasets/datasets/fineweb10B_sp8192/fineweb_train_000000.bin"]
    assert (tmp_path / "data" / "tokenizers" / "fineweb_8192_bpe.model").read_bytes() == b"a tokenizer"


def test_embedded_data_with_an_8192_piece_tokenizer(tmp_path):
    dataset = prepare_embedded(tmp_path, 8192, progress=lambda _: None)
    sp = spm.SentencePieceProcessor(model_file=str(tmp_path / "tokenizers" / "embedded_8192_bpe.model"))
    train = read_shard(dataset / "fineweb_train_000000.bin")
    assert dataset.name == "embedded_sp8192" and sp.vocab_size() == 8192 and sp.bos_id() == BOS_ID
    assert 4096 < int(train.max()) < 8192  # the larger vocabulary is really used
    with pytest.raises(DataError, match="--vocab-size 100: the embedded tokenizer needs 260 to 65536 pieces"):
        prepare_embedded(tmp_path, 100, progress=lambda _: None)


def test_fineweb_fetch_keeps_good_files_and_replaces_corrupt_ones(tmp_path, hub_cache):
    cache, files = hub_cache
    assert _golf_data(tmp_path, cache, "--train-shards", "1").returncode == 0
    shard = tmp_path / "data" / "datasets" / "fineweb10B_sp1024" / "fineweb_train_000000.bin"
    damaged = shard.read_bytes()[:-10]
    shard.unlink()  # a damaged file of its own: the good one may be hard-linked to the hub cache
    shard.write_bytes(damaged)
    proc = _golf_data(tmp_path, cache, "--train-shards", "1")
    assert proc.returncode == 0, proc.stderr
    read_shard_header(shard)
    assert "ready" in proc.stdout and "fetched" in proc.stdout


@pytest.mark.parametrize("args, message", [
    (("--train-shards", "9"), "has 3 training shards; 9 were asked for"),
    (("--variant", "sp4096"), "variant sp4096 (fineweb10B_sp4096) is not in the manifest"),
])
def test_fineweb_fetch_errors_are_one_clear_line(tmp_path, hub_cache, args, message):
    cache, _ = hub_cache
    proc = _golf_data(tmp_path, cache, *args)
    assert proc.returncode == 2 and message in proc.stderr


def test_fineweb_fetch_reports_a_missing_file(tmp_path, hub_cache):
    cache, _ = hub_cache
    os.remove(next(cache.rglob("fineweb_train_000001.bin")))
    proc = _golf_data(tmp_path, cache, "--train-shards", "2")
    assert proc.returncode == 2
    assert "could not download datasets/datasets/fineweb10B_sp1024/fineweb_train_000001.bin" in proc.stderr
