import numpy as np
import pytest
import torch

from trainer.shards import (
    HEADER_BYTES, SHARD_MAGIC, DistributedTokenLoader, ShardError, load_validation_tokens, read_shard,
    read_shard_header, resolve_data_paths, write_shard,
)


def test_write_read_round_trip(tmp_path):
    tokens = np.random.default_rng(0).integers(0, 65536, size=10_001, dtype=np.uint16)
    path = tmp_path / "fineweb_train_000000.bin"
    write_shard(path, tokens)
    assert path.stat().st_size == HEADER_BYTES + 2 * tokens.size
    header = np.fromfile(path, dtype="<i4", count=256)
    assert list(header[:3]) == [SHARD_MAGIC, 1, tokens.size] and not header[3:].any()
    np.testing.assert_array_equal(read_shard(path), tokens)
    assert not list(tmp_path.glob("*.tmp"))


def _corrupt(path, word=None, value=None, size=None):
    raw = bytearray(path.read_bytes())
    if word is not None:
        raw[word * 4 : word * 4 + 4] = np.int32(value).tobytes()
    if size is not None:
        raw = raw[:size] if size <= len(raw) else raw + b"\0" * (size - len(raw))
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("change, message", [
    (dict(word=0, value=1234), "bad magic 1234"),
    (dict(word=1, value=2), "unsupported version 2"),
    (dict(word=2, value=-1), "negative token count"),
    (dict(size=HEADER_BYTES + 150), "truncated"),
    (dict(size=HEADER_BYTES + 250), "trailing data"),
    (dict(word=2, value=101), "header says 101 tokens"),
    (dict(size=100), "shorter than the 1024-byte header"),
])
def test_header_errors(tmp_path, change, message):
    path = tmp_path / "fineweb_val_000000.bin"
    write_shard(path, np.arange(100, dtype=np.uint16))
    _corrupt(path, **change)
    with pytest.raises(ShardError, match=message) as err:
        read_shard_header(path)
    assert str(path) in str(err.value)


def test_writer_rejects_ids_outside_uint16(tmp_path):
    with pytest.raises(ShardError, match="uint16"):
        write_shard(tmp_path / "x.bin", np.array([1, 70000]))


def test_validation_split_checks(tmp_path):
    write_shard(tmp_path / "fineweb_val_000000.bin", np.arange(50, dtype=np.uint16))
    with pytest.raises(ShardError, match="fewer than TRAIN_SEQ_LEN"):
        load_validation_tokens(tmp_path, seq_len=64, vocab_size=1024)
    with pytest.raises(ShardError, match="token id 49 is outside VOCAB_SIZE=40"):
        load_validation_tokens(tmp_path, seq_len=16, vocab_size=40)
    val = load_validation_tokens(tmp_path, seq_len=16, vocab_size=1024)
    assert val.numel() == 3 * 16 + 1  # whole sequences plus one target


def test_every_world_size_sees_the_same_tokens(tmp_path):
    """One rank with 4 micro-batches and 2 or 4 ranks with fewer read identical data, across shard ends."""
    rng = np.random.default_rng(1)
    for i, n in enumerate((700, 333, 901)):
        write_shard(tmp_path / f"fineweb_train_{i:06d}.bin", rng.integers(0, 1024, n, dtype=np.uint16))
    files = sorted(tmp_path.glob("fineweb_train_*.bin"))

    def batches(world_size, accum, steps=6):
        per_rank = [DistributedTokenLoader(files, 1024, r, world_size, torch.device("cpu")) for r in range(world_size)]
        out = []
        for _ in range(steps):
            for _ in range(accum):
                out.extend(loader.next_batch(512, 32, accum)[0] for loader in per_rank)
        return torch.cat(out)

    reference = batches(1, 4)
    assert torch.equal(reference, batches(2, 2))
    assert torch.equal(reference, batches(4, 1))


def test_default_paths_use_prepared_data(tmp_path):
    with pytest.raises(ShardError, match="run `golf data --source embedded`"):
        resolve_data_paths(str(tmp_path), "", "", 1024)
    (tmp_path / "datasets" / "embedded_sp1024").mkdir(parents=True)
    dataset, tok = resolve_data_paths(str(tmp_path), "", "", 1024)
    assert dataset.name == "embedded_sp1024" and tok.name == "embedded_1024_bpe.model"
    (tmp_path / "datasets" / "fineweb10B_sp1024").mkdir()
    dataset, tok = resolve_data_paths(str(tmp_path), "", "", 1024)
    assert dataset.name == "fineweb10B_sp1024" and tok.name == "fineweb_1024_bpe.model"


def test_training_shards_without_tokens_are_refused(tmp_path):
    write_shard(tmp_path / "fineweb_train_000000.bin", np.zeros(0, dtype=np.uint16))
    with pytest.raises(ShardError, match="hold no tokens"):
        DistributedTokenLoader(sorted(tmp_path.glob("*.bin")), 1024, 0, 1, torch.device("cpu"))
