"""Score-first test-time training against DESIGN's conditions: causal (C1), scored before any
update that uses a token (C3), one left-to-right pass scoring each token once (C4), with the
byte accounting every other stage uses."""
import math

import pytest
import torch

from trainer.config import load_config
from trainer.evaluate import evaluate, score_windows
from trainer.model import GPT
from trainer.shards import load_validation_tokens
from trainer.tokenizer_bytes import ByteTables, build_byte_tables, load_tokenizer
from trainer.ttt import TTTSettings, chunk_plan, document_starts, phased_plan, score_first_ttt

SEQ = 32


def _covered(plan, num_targets):
    counts = torch.zeros(num_targets, dtype=torch.long)
    for seg in plan:
        starts, scored_from, scored_to = score_windows(seg.lo, seg.hi, SEQ, 8)
        for s, f, t in zip(starts.tolist(), scored_from.tolist(), scored_to.tolist()):
            counts[s + f : s + t] += 1
    return counts


@pytest.mark.parametrize("num_targets, chunk", [(1024, 256), (1000, 96), (640, 640), (4096, 1000)])
def test_chunk_plan_scores_every_target_once_and_trains_only_on_scored_ones(num_targets, chunk):
    plan = chunk_plan(num_targets, chunk, lr=0.01)
    assert plan[0].lo == 0 and plan[-1].hi == num_targets
    assert all(a.hi == b.lo for a, b in zip(plan, plan[1:]))
    assert torch.all(_covered(plan, num_targets) == 1)
    for seg in plan:
        assert all(seg.lo <= lo < hi <= seg.hi for lo, hi, _ in seg.train)  # the chunk just scored
    assert not plan[-1].train and all(seg.train for seg in plan[:-1])
    lrs = [seg.train[0][2] for seg in plan[:-1]]
    assert lrs == sorted(lrs, reverse=True) and all(lr == pytest.approx(0.01) for lr in lrs[:1])  # cosine over chunks


def test_phased_plan_trains_on_every_document_scored_so_far():
    num_targets = 5000
    doc_starts = list(range(0, num_targets, 100))  # 50 documents
    plan = phased_plan(num_targets, doc_starts, prefix_docs=30, phases=3, lr=0.001, chunk=256)
    assert [(seg.lo, seg.hi) for seg in plan] == [(0, 1000), (1000, 2000), (2000, 3000), (3000, 5000)]
    assert torch.all(_covered(plan, num_targets) == 1)
    for seg in plan[:-1]:
        assert seg.fresh_optimizer and seg.train[0][0] == 0 and seg.train[-1][1] == seg.hi  # everything scored so far
        assert all(b[0] == a[1] for a, b in zip(seg.train, seg.train[1:]))
    assert not plan[-1].train


def test_document_starts_are_the_targets_after_each_bos():
    tokens = torch.tensor([1, 5, 6, 1, 7, 1, 8, 9, 1])
    assert document_starts(tokens, bos_id=1) == [0, 3, 5]  # the final BOS is only ever a target


@pytest.fixture(scope="module")
def setup(embedded_data):
    cfg = load_config({"PRESET": "frontier-smoke", "NUM_LAYERS": "2", "XSA_LAST_N": "2", "NUM_LOOPS": "0",
                       "PARALLEL_START_LAYER": "1", "MODEL_DIM": "32", "NUM_HEADS": "2", "NUM_KV_HEADS": "1",
                       "TRAIN_SEQ_LEN": str(SEQ), "EVAL_STRIDE": "8", "GATE_WINDOW": "8", "ROPE_DIMS": "8",
                       "TTT_CHUNK_TOKENS": "2048"})
    sp = load_tokenizer(embedded_data / "tokenizers" / "embedded_1024_bpe.model", 1024)
    val = load_validation_tokens(embedded_data / "datasets" / "embedded_sp1024", SEQ, 1024)[: 20 * 512 + 1]
    torch.manual_seed(0)
    model = GPT(cfg)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    settings = TTTSettings(seq_len=SEQ, stride=8, eval_batch_seqs=64, train_batch_seqs=16, epochs=2, momentum=0.9,
                           grad_clip=1.0)
    return model, state, build_byte_tables(sp), val, settings


def _run(setup, val, plan, segments=None):
    model, state, tables, _, settings = setup
    model.load_state_dict(state)
    torch.manual_seed(0)
    return score_first_ttt(model, val, tables, plan, settings, segment_totals=segments)


def test_a_chunks_score_does_not_depend_on_the_tokens_after_it(setup, one_thread):
    *_, val, _ = setup
    plan = chunk_plan(val.numel() - 1, 2048, lr=0.05)
    before, after = [], []
    _run(setup, val, plan, before)
    changed = val.clone()
    cut = plan[1].hi  # the last target of chunk 1 is token plan[1].hi; everything later changes
    changed[cut + 1 :] = torch.randint(4, 1024, (changed.numel() - cut - 1,), generator=torch.Generator().manual_seed(9))
    _run(setup, changed, plan, after)
    for i in (0, 1):
        assert (after[i].val_loss, after[i].tokens, after[i].bytes) == (before[i].val_loss, before[i].tokens, before[i].bytes)
    assert after[2].val_loss != before[2].val_loss  # the test can fail: later chunks do see the change


def test_ttt_scores_each_token_once_with_the_same_bytes_as_every_stage(setup, one_thread):
    model, state, tables, val, settings = setup
    model.load_state_dict(state)
    sliding = evaluate(model, val, tables, SEQ, 64, stride=8)
    frozen = _run(setup, val, [seg.__class__(seg.lo, seg.hi, tuple((a, b, 0.0) for a, b, _ in seg.train))
                               for seg in chunk_plan(val.numel() - 1, 2048, lr=0.05)])
    adapted = _run(setup, val, chunk_plan(val.numel() - 1, 2048, lr=0.05))
    for r in (frozen, adapted):
        assert (r.tokens, r.bytes) == (sliding.tokens, sliding.bytes) == (val.numel() - 1, sliding.bytes)
    # with a zero learning rate nothing moves: the same windows, the same score as the sliding stage
    assert frozen.val_loss == pytest.approx(sliding.val_loss, rel=1e-9)
    assert adapted.val_loss != pytest.approx(sliding.val_loss, rel=1e-6)
    assert adapted.val_bpb == pytest.approx(adapted.val_loss * adapted.tokens / adapted.bytes / torch.log(torch.tensor(2.0)).item())


def test_phased_ttt_scores_the_whole_split_once(setup, one_thread):
    *_, val, _ = setup
    docs = document_starts(val, 1)
    assert len(docs) >= 4
    plan = phased_plan(val.numel() - 1, docs, prefix_docs=len(docs) - 1, phases=2, lr=0.01, chunk=2048)
    segments = []
    result = _run(setup, val, plan, segments)
    assert result.tokens == val.numel() - 1 == sum(s.tokens for s in segments)
    assert len(segments) == 3 and plan[1].hi == docs[-1]


class _Ledger(torch.nn.Module):
    """A stand-in model over a stream whose token t is the number t: its loss at a position is the
    target's number, and it notes the furthest target it has seen scored and every one it trained on."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(()))
        self.seen = 0  # furthest target number in any scoring window so far
        self.violations = []

    def forward(self, x, y, reduction="mean"):
        if self.training:
            if int(y.max()) > self.seen:  # a token trained on before any window that scores it
                self.violations.append((int(y.max()), self.seen))
        else:
            self.seen = max(self.seen, int(y.max()))
        nll = y.float() + 0 * self.w
        return nll if reduction == "none" else nll.mean()


@pytest.mark.parametrize("kind", ["chunks", "phases"])
def test_ttt_scores_each_token_once_and_trains_only_on_scored_ones_counted(kind):
    """Counted, not inferred from the plan: every target's loss enters the sum exactly once, no
    training batch holds a target not yet scored, and the bytes are those the plain stage counts."""
    n = 5000
    val = torch.arange(n + 1, dtype=torch.int32)
    g = torch.Generator().manual_seed(0)
    tables = ByteTables(torch.randint(1, 5, (n + 1,), generator=g, dtype=torch.int32),
                        torch.rand(n + 1, generator=g) < 0.5, torch.rand(n + 1, generator=g) < 0.1)
    settings = TTTSettings(seq_len=SEQ, stride=8, eval_batch_seqs=7, train_batch_seqs=5, epochs=2, momentum=0.9,
                           grad_clip=1.0)
    if kind == "chunks":
        plan = chunk_plan(n, 700, lr=0.1)
    else:
        plan = phased_plan(n, list(range(0, n, 250)), prefix_docs=12, phases=3, lr=0.1, chunk=400)
    model = _Ledger()
    result = score_first_ttt(model, val, tables, plan, settings)
    assert model.violations == [] and model.seen == n
    assert result.tokens == n and round(result.val_loss * result.tokens) == sum(range(1, n + 1))  # each target once
    plain = evaluate(_Ledger().eval(), val, tables, SEQ, 16)
    assert (result.tokens, result.bytes) == (plain.tokens, plain.bytes)
    assert result.val_bpb == pytest.approx(result.val_loss * result.tokens / result.bytes / math.log(2))
