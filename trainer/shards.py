"""The challenge's token shard format, and the streams that feed training and evaluation.

A shard is 256 little-endian int32 header words (magic 20240520, version 1, token
count, then zeros) followed by that many little-endian uint16 tokens.
"""
from __future__ import annotations

import glob
import os
from pathlib import Path

import numpy as np
import torch

SHARD_MAGIC = 20240520
SHARD_VERSION = 1
HEADER_WORDS = 256
HEADER_BYTES = HEADER_WORDS * 4


class ShardError(ValueError):
    """A shard file that is missing, corrupt or truncated."""


def read_shard_header(path: str | Path) -> int:
    """Validate a shard's header and size; return its token count."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise ShardError(f"{path}: cannot read ({exc.strerror})") from None
    if size < HEADER_BYTES:
        raise ShardError(f"{path}: {size} bytes is shorter than the {HEADER_BYTES}-byte header")
    header = np.fromfile(path, dtype="<i4", count=HEADER_WORDS)
    if int(header[0]) != SHARD_MAGIC:
        raise ShardError(f"{path}: bad magic {int(header[0])} (expected {SHARD_MAGIC})")
    if int(header[1]) != SHARD_VERSION:
        raise ShardError(f"{path}: unsupported version {int(header[1])} (expected {SHARD_VERSION})")
    count = int(header[2])
    if count < 0:
        raise ShardError(f"{path}: negative token count {count}")
    expected = HEADER_BYTES + 2 * count
    if size != expected:
        raise ShardError(
            f"{path}: header says {count} tokens ({expected} bytes) but the file has {size} bytes"
            + (" (truncated)" if size < expected else " (trailing data)")
        )
    return count


def read_shard(path: str | Path) -> np.ndarray:
    count = read_shard_header(path)
    tokens = np.fromfile(path, dtype="<u2", count=count, offset=HEADER_BYTES)
    if tokens.size != count:
        raise ShardError(f"{path}: read {tokens.size} of {count} tokens")
    return tokens


def write_shard(path: str | Path, tokens: np.ndarray) -> None:
    """Write tokens as a shard, atomically (a temp file renamed into place)."""
    tokens = np.asarray(tokens)
    if tokens.size and (int(tokens.min()) < 0 or int(tokens.max()) > 65535):
        raise ShardError(f"{path}: token ids must fit in uint16")
    header = np.zeros(HEADER_WORDS, dtype="<i4")
    header[:3] = (SHARD_MAGIC, SHARD_VERSION, tokens.size)
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(header.tobytes())
        fh.write(tokens.astype("<u2", copy=False).tobytes())
    os.replace(tmp, path)


def shard_files(data_path: str | Path, split: str) -> list[Path]:
    files = sorted(Path(p) for p in glob.glob(os.path.join(str(data_path), f"fineweb_{split}_*.bin")))
    if not files:
        raise ShardError(f"no {split} shards (fineweb_{split}_*.bin) in {data_path}")
    return files


def check_vocab(tokens: np.ndarray, vocab_size: int, where: str) -> None:
    if tokens.size and int(tokens.max()) >= vocab_size:
        raise ShardError(f"{where}: token id {int(tokens.max())} is outside VOCAB_SIZE={vocab_size}")


def load_validation_tokens(data_path: str | Path, seq_len: int, vocab_size: int) -> torch.Tensor:
    """All validation tokens, cut to a whole number of sequences plus one target token."""
    files = shard_files(data_path, "val")
    parts = []
    for f in files:
        tokens = read_shard(f)
        check_vocab(tokens, vocab_size, str(f))
        parts.append(tokens)
    tokens = np.concatenate(parts)
    usable = ((tokens.size - 1) // seq_len) * seq_len
    if usable <= 0:
        raise ShardError(
            f"validation split has {tokens.size} tokens, fewer than TRAIN_SEQ_LEN+1={seq_len + 1}"
        )
    return torch.from_numpy(tokens[: usable + 1].astype(np.int32))  # int32: half the host memory of int64


class TokenStream:
    """Reads training shards in order, cycling, and hands out contiguous spans."""

    def __init__(self, files: list[Path], vocab_size: int):
        self.files = files
        self.vocab_size = vocab_size
        counts = [read_shard_header(f) for f in files]  # header and size checks before any training
        if not sum(counts):
            raise ShardError(f"training shards in {files[0].parent} hold no tokens")
        self.file_index = -1
        self.tokens = np.empty(0, dtype=np.uint16)
        self.pos = 0

    def _next_file(self) -> None:
        self.file_index = (self.file_index + 1) % len(self.files)
        path = self.files[self.file_index]
        self.tokens = read_shard(path)
        check_vocab(self.tokens, self.vocab_size, str(path))
        self.pos = 0

    def take(self, n: int) -> np.ndarray:
        out = np.empty(n, dtype=np.int64)
        filled = 0
        while filled < n:
            if self.pos >= self.tokens.size:
                self._next_file()
                if self.tokens.size == 0:
                    continue
            k = min(n - filled, self.tokens.size - self.pos)
            out[filled : filled + k] = self.tokens[self.pos : self.pos + k]
            self.pos += k
            filled += k
        return out


class DistributedTokenLoader:
    """Each call takes one micro-batch span per rank from a shared stream, so every
    world size sees exactly the same tokens in the same order."""

    def __init__(self, files: list[Path], vocab_size: int, rank: int, world_size: int, device: torch.device):
        self.stream = TokenStream(files, vocab_size)
        self.rank = rank
        self.world_size = world_size
        self.device = device

    def next_batch(self, batch_tokens: int, seq_len: int, accum: int) -> tuple[torch.Tensor, torch.Tensor]:
        local = batch_tokens // (self.world_size * accum)
        span = local + 1
        chunk = self.stream.take(span * self.world_size)
        mine = torch.from_numpy(chunk[self.rank * span : (self.rank + 1) * span])
        mine = mine.to(self.device, non_blocking=True)
        return mine[:-1].reshape(-1, seq_len), mine[1:].reshape(-1, seq_len)


def dataset_candidates(data_dir: str | Path, vocab_size: int) -> list[tuple[Path, Path]]:
    """(dataset dir, tokenizer) pairs in the community layout, FineWeb first."""
    root = Path(data_dir)
    return [
        (root / "datasets" / f"fineweb10B_sp{vocab_size}", root / "tokenizers" / f"fineweb_{vocab_size}_bpe.model"),
        (root / "datasets" / f"embedded_sp{vocab_size}", root / "tokenizers" / f"embedded_{vocab_size}_bpe.model"),
    ]


def resolve_data_paths(data_dir: str, data_path: str, tokenizer_path: str, vocab_size: int) -> tuple[Path, Path]:
    """The dataset and tokenizer to use: explicit paths, else what `golf data` prepared."""
    if data_path:
        dataset = Path(data_path)
        if not dataset.is_dir():
            raise ShardError(f"DATA_PATH={data_path} is not a directory")
        if tokenizer_path:
            return dataset, Path(tokenizer_path)
        for cand_dataset, cand_tok in dataset_candidates(data_dir, vocab_size):
            if cand_dataset.resolve() == dataset.resolve():
                return dataset, cand_tok
        raise ShardError(f"DATA_PATH={data_path} is set but TOKENIZER_PATH is not")
    for cand_dataset, cand_tok in dataset_candidates(data_dir, vocab_size):
        if cand_dataset.is_dir():
            return cand_dataset, Path(tokenizer_path) if tokenizer_path else cand_tok
    raise ShardError(
        f"no dataset for VOCAB_SIZE={vocab_size} under {data_dir}/datasets; "
        "run `golf data --source embedded` (or --source fineweb) first, or set DATA_PATH"
    )
