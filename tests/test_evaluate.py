import math

import pytest
import sentencepiece as spm
import torch

from trainer.config import load_config
from trainer.data import BOS_ID
from trainer.evaluate import evaluate, score_windows
from trainer.model import GPT
from trainer.shards import load_validation_tokens
from trainer.tokenizer_bytes import TokenizerError, build_byte_tables, load_tokenizer


@pytest.mark.parametrize("lo, hi, seq_len, stride", [
    (0, 640, 64, 0), (0, 640, 64, 16), (0, 640, 64, 48), (0, 100, 100, 7), (0, 1024, 128, 64),
    (200, 520, 64, 16), (10, 40, 64, 16), (300, 640, 64, 0), (128, 1024, 128, 64),
])
def test_windows_score_every_target_of_a_range_once(lo, hi, seq_len, stride):
    num_targets = 1024
    starts, scored_from, scored_to = score_windows(lo, hi, seq_len, stride)
    counts = torch.zeros(num_targets, dtype=torch.long)
    for s, f, t in zip(starts.tolist(), scored_from.tolist(), scored_to.tolist()):
        assert 0 <= s and s + seq_len <= max(hi, seq_len)  # full windows, never past the range's last token
        assert 0 <= f <= t <= seq_len
        counts[s + f : s + t] += 1
        if stride and s > 0:
            assert f >= seq_len - stride  # each scored token sees >= seq_len - stride of context
    assert torch.all(counts[lo:hi] == 1) and counts.sum() == hi - lo


@pytest.fixture(scope="module")
def tiny_setup(embedded_data):
    cfg = load_config({"PRESET": "smoke", "NUM_LAYERS": "2", "MODEL_DIM": "64", "NUM_HEADS": "2",
                       "NUM_KV_HEADS": "1", "TRAIN_SEQ_LEN": "64"})
    torch.manual_seed(0)
    model = GPT(cfg).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    sp = load_tokenizer(embedded_data / "tokenizers" / "embedded_1024_bpe.model", 1024)
    val = load_validation_tokens(embedded_data / "datasets" / "embedded_sp1024", 64, 1024)
    return cfg, model, sp, val


def independent_bytes(sp: spm.SentencePieceProcessor, tokens: torch.Tensor) -> int:
    """UTF-8 length of the decoded text of the scored targets, document by document."""
    ids = tokens.tolist()
    assert ids[0] == BOS_ID
    total, doc = 0, []
    for t in ids[1:]:
        if t == BOS_ID:
            total += len(sp.decode(doc).encode("utf-8"))
            doc = []
        else:
            doc.append(t)
    return total + len(sp.decode(doc).encode("utf-8"))


def test_val_bpb_matches_an_independent_count(tiny_setup):
    cfg, model, sp, val = tiny_setup
    result = evaluate(model, val, build_byte_tables(sp), seq_len=64, batch_seqs=64)
    assert result.tokens == val.numel() - 1
    assert result.bytes == independent_bytes(sp, val)
    with torch.no_grad():  # the model's loss, one sequence at a time
        x, y = val[:-1].long().view(-1, 64), val[1:].long().view(-1, 64)
        nats = sum(float(model(x[i : i + 1], y[i : i + 1], reduction="sum")) for i in range(x.size(0)))
    assert result.val_loss == pytest.approx(nats / result.tokens, rel=1e-6)
    assert result.val_bpb == pytest.approx(nats / math.log(2) / result.bytes, rel=1e-6)


def test_sliding_window_scores_the_same_tokens_with_more_context(tiny_setup):
    cfg, model, sp, val = tiny_setup
    tables = build_byte_tables(sp)
    plain = evaluate(model, val, tables, seq_len=64, batch_seqs=64)
    sliding = evaluate(model, val, tables, seq_len=64, batch_seqs=64, stride=16)
    assert (sliding.tokens, sliding.bytes) == (plain.tokens, plain.bytes)
    assert math.isfinite(sliding.val_bpb) and sliding.val_bpb != plain.val_bpb


def test_tokenizer_vocab_mismatch_is_named(embedded_data):
    with pytest.raises(TokenizerError, match="has 1024 pieces but VOCAB_SIZE=2048"):
        load_tokenizer(embedded_data / "tokenizers" / "embedded_1024_bpe.model", 2048)
    with pytest.raises(TokenizerError, match="not found"):
        load_tokenizer(embedded_data / "nope.model", 1024)
