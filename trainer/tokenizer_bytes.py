"""Per-token UTF-8 byte counts from SentencePiece pieces, as the challenge counts them.

A target token contributes the bytes of its piece without the leading-space marker,
plus one byte for that space unless the previous token is a boundary (control,
unknown or unused) token. Byte-fallback tokens count one byte.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import sentencepiece as spm
import torch


class TokenizerError(ValueError):
    """A tokenizer that is missing or does not match the configuration."""


@dataclass
class ByteTables:
    base_bytes: torch.Tensor  # int32 [vocab]
    has_leading_space: torch.Tensor  # bool [vocab]
    is_boundary: torch.Tensor  # bool [vocab]

    def to(self, device: torch.device) -> "ByteTables":
        return ByteTables(self.base_bytes.to(device), self.has_leading_space.to(device), self.is_boundary.to(device))

    def count(self, prev_ids: torch.Tensor, target_ids: torch.Tensor) -> torch.Tensor:
        """UTF-8 bytes of each target token given the token before it."""
        space = self.has_leading_space[target_ids] & ~self.is_boundary[prev_ids]
        return self.base_bytes[target_ids] + space.to(torch.int32)


def load_tokenizer(path: str | Path, vocab_size: int) -> spm.SentencePieceProcessor:
    path = Path(path)
    if not path.is_file():
        raise TokenizerError(f"tokenizer {path} not found (TOKENIZER_PATH)")
    sp = spm.SentencePieceProcessor()
    try:
        sp.Load(str(path))
    except (OSError, RuntimeError) as exc:
        raise TokenizerError(f"tokenizer {path} cannot be loaded: {exc}") from None
    if int(sp.vocab_size()) != vocab_size:
        raise TokenizerError(f"tokenizer {path} has {sp.vocab_size()} pieces but VOCAB_SIZE={vocab_size}")
    return sp


def build_byte_tables(sp: spm.SentencePieceProcessor) -> ByteTables:
    n = int(sp.vocab_size())
    base = np.zeros(n, dtype=np.int32)
    space = np.zeros(n, dtype=np.bool_)
    boundary = np.ones(n, dtype=np.bool_)
    for tid in range(n):
        if sp.is_control(tid) or sp.is_unknown(tid) or sp.is_unused(tid):
            continue
        boundary[tid] = False
        if sp.is_byte(tid):
            base[tid] = 1
            continue
        piece = sp.id_to_piece(tid)
        if piece.startswith("\u2581"):
            space[tid] = True
            piece = piece[1:]
        base[tid] = len(piece.encode("utf-8"))
    return ByteTables(torch.from_numpy(base), torch.from_numpy(space), torch.from_numpy(boundary))
