"""The model's frontier options, each against a property it must have, and the baseline against
the official script's model."""
import importlib.util

import pytest
import torch

from conftest import RECORDS
from trainer.config import load_config
from trainer.ema import EMA
from trainer.model import GPT, SmearGate, apply_rotary, exclusive
from trainer.muon import POLAR_EXPRESS, QUINTIC, Muon, newton_schulz
from trainer.optimizers import effective_cap, lr_multiplier

TINY = {"PRESET": "smoke", "NUM_LAYERS": "4", "MODEL_DIM": "64", "NUM_HEADS": "4", "NUM_KV_HEADS": "2",
        "TRAIN_SEQ_LEN": "32", "EVAL_STRIDE": "0"}
OFFICIAL = RECORDS.parents[1] / "reference" / "baseline_train_gpt.py"


def _cfg(**env):
    return load_config({**TINY, **{k: str(v) for k, v in env.items()}})


def _batch(seed=0, vocab=1024, shape=(3, 32)):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, vocab, shape, generator=g), torch.randint(0, vocab, shape, generator=g)


def test_baseline_model_is_the_official_scripts_model():
    """Same seed: the same initial weights, loss and gradients as baseline_train_gpt.py's GPT."""
    assert OFFICIAL.is_file(), f"the official baseline script is missing: {OFFICIAL}"
    spec = importlib.util.spec_from_file_location("official_baseline", OFFICIAL)
    official = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(official)
    cfg = load_config({"PRESET": "baseline", "NUM_LAYERS": "3", "MODEL_DIM": "64", "NUM_HEADS": "4", "NUM_KV_HEADS": "2"})
    torch.manual_seed(5)
    theirs = official.GPT(vocab_size=1024, num_layers=3, model_dim=64, num_heads=4, num_kv_heads=2, mlp_mult=2,
                          tie_embeddings=True, tied_embed_init_std=0.005, logit_softcap=30.0, rope_base=10000.0,
                          qk_gain_init=1.5)
    torch.manual_seed(5)
    ours = GPT(cfg)
    assert ours.state_dict().keys() == theirs.state_dict().keys()
    assert all(torch.equal(ours.state_dict()[k], theirs.state_dict()[k]) for k in ours.state_dict())
    with torch.no_grad():  # away from the zero-initialized projections, so every path matters
        for a, b in zip(ours.parameters(), theirs.parameters()):
            a.add_(torch.randn_like(a) * 0.05)
            b.copy_(a)
    x, y = _batch()
    loss_ours, loss_theirs = ours(x, y), theirs(x, y)
    loss_ours.backward()
    loss_theirs.backward()
    assert loss_ours.item() == pytest.approx(loss_theirs.item(), abs=1e-6)
    for (name, a), b in zip(ours.named_parameters(), theirs.parameters()):
        assert torch.allclose(a.grad, b.grad, atol=1e-6, rtol=1e-5), name


# each option's own tensors, set away from their transparent initial values
OPTIONS = {
    "LEAKY_RELU_SQ_SLOPE": ({"LEAKY_RELU_SQ_SLOPE": 0.5}, ()),
    "ROPE_DIMS": ({"ROPE_DIMS": 8}, ()),
    "LN_SCALE": ({"LN_SCALE": 1}, ()),
    "XSA_LAST_N": ({"XSA_LAST_N": 2}, ()),
    "NUM_LOOPS": ({"NUM_LOOPS": 1, "LOOP_START": 1, "LOOP_END": 2}, ("skip_weights",)),
    "PARALLEL_START_LAYER": ({"PARALLEL_START_LAYER": 2}, ("parallel_",)),
    "SKIP_GATES_ENABLED": ({"SKIP_GATES_ENABLED": 1}, ("skip_gates",)),
    "SMEAR_GATE_ENABLED": ({"SMEAR_GATE_ENABLED": 1, "GATE_WINDOW": 8}, ("smear",)),
    "SPARSE_ATTN_GATE_ENABLED": ({"SPARSE_ATTN_GATE_ENABLED": 1, "GATE_WINDOW": 8}, ("attn_gate_w",)),
}


@pytest.mark.parametrize("option", sorted(OPTIONS))
def test_each_option_changes_the_model_and_trains(option):
    env, own = OPTIONS[option]
    torch.manual_seed(0)
    plain = GPT(_cfg())
    with torch.no_grad():
        for p in plain.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    model = GPT(_cfg(**env))
    mine = model.state_dict()
    shared = {k: v for k, v in plain.state_dict().items() if k in mine and mine[k].shape == v.shape}
    missing = model.load_state_dict(shared, strict=False).missing_keys
    assert all(any(tag in k for tag in own) for k in missing) and bool(missing) == bool(own)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name in missing:
                p.add_(torch.randn_like(p) * 0.5)
    model.looping_active = True
    x, y = _batch()
    loss = model(x, y)
    assert loss.item() != pytest.approx(plain(x, y).item(), abs=1e-6)
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_smear_gate_does_not_leak_across_a_document_boundary():
    bos = 1
    smear = SmearGate(window=8, bos_id=bos)
    with torch.no_grad():
        smear.weight.normal_()
        smear.smear_lambda.fill_(0.7)
    ids = torch.tensor([[bos, 5, 6, 7, bos, 8, 9]])  # two documents
    torch.manual_seed(0)
    x = torch.randn(1, 7, 16)
    changed = x.clone()
    changed[0, 1:4] += 3.0  # another first document
    out, out_changed = smear(x, ids), smear(changed, ids)
    assert torch.equal(out[0, 4:], out_changed[0, 4:])  # the second document never sees the first
    assert not torch.equal(out[0, 2:4], out_changed[0, 2:4])
    leaky = SmearGate(window=8, bos_id=999)  # a mask that never fires: the BOS position would read the last token
    leaky.load_state_dict(smear.state_dict())
    assert not torch.equal(leaky(x, ids)[0, 4], leaky(changed, ids)[0, 4])


def test_recurrence_adds_depth_without_block_parameters():
    small = {"PRESET": "frontier", "VOCAB_SIZE": "1024", "MODEL_DIM": "64", "NUM_HEADS": "4", "NUM_KV_HEADS": "2",
             "GATE_WINDOW": "8", "ROPE_DIMS": "8"}
    cfg = load_config(small)
    looped, flat = GPT(cfg), GPT(load_config({**small, "NUM_LOOPS": "0"}))
    blocks = lambda m: sum(p.numel() for p in m.blocks.parameters())
    total = lambda m: sum(p.numel() for p in m.parameters())
    assert blocks(looped) == blocks(flat)
    extra_skips = looped.skip_weights.size(0) - flat.skip_weights.size(0)  # the longer U-Net has more skip vectors
    assert total(looped) - total(flat) == 2 * extra_skips * cfg.model_dim
    calls = []
    for block in looped.blocks:  # one attention call per block application, in either residual form
        block.attn.register_forward_hook(lambda *_: calls.append(1))
    x, _ = _batch(shape=(1, 16))
    looped(x, x)
    assert len(calls) == 11
    calls.clear()
    looped.looping_active = True
    looped(x, x)
    assert len(calls) == 17  # layers 3-5 three times: encoder 0,1,2,3,4,5,3,4 decoder 5,3,4,5,6,...,10


def test_partial_rope_rotates_only_the_leading_dims():
    x = torch.randn(2, 5, 3, 16)
    t = torch.arange(5, dtype=torch.float32)[:, None] * torch.rand(4)[None, :]
    out = apply_rotary(x, t.cos(), t.sin())
    assert torch.equal(out[..., 8:], x[..., 8:])
    assert not torch.allclose(out[1:, :, :, :8], x[1:, :, :, :8])
    assert torch.allclose(out[..., :8].norm(dim=-1), x[..., :8].norm(dim=-1), atol=1e-5)  # a rotation


def test_exclusive_attention_output_is_orthogonal_to_its_value():
    y, v = torch.randn(2, 5, 4, 8), torch.randn(2, 5, 2, 8)
    out = exclusive(y, v).view(2, 5, 2, 2, 8)
    vn = torch.nn.functional.normalize(v, dim=-1).unsqueeze(-2)
    assert (out * vn).sum(-1).abs().max() < 1e-5


def test_ema_is_the_average_the_formula_says():
    model = torch.nn.Linear(3, 2)
    decay = 0.8
    history = [{k: v.clone() for k, v in model.state_dict().items()}]
    ema = EMA(model, decay)
    for step in range(5):
        with torch.no_grad():
            for p in model.parameters():
                p.add_(torch.randn_like(p))
        history.append({k: v.clone() for k, v in model.state_dict().items()})
        ema.update(model)
    n = len(history) - 1
    for name in history[0]:  # ema_n = d^n w_0 + sum_k (1 - d) d^(n-k) w_k
        expected = decay**n * history[0][name] + sum((1 - decay) * decay ** (n - k) * history[k][name] for k in range(1, n + 1))
        assert torch.allclose(ema.state[name], expected, atol=1e-6)
    ema.copy_to(model)
    assert torch.equal(model.weight.data, ema.state["weight"])


def _orthogonality_gap(coefficients):
    torch.manual_seed(0)
    s = torch.linalg.svdvals(newton_schulz(torch.randn(64, 128), 5, coefficients))
    return float((s - 1).abs().max())


def test_polar_express_orthogonalizes_closer_than_the_quintic_in_five_steps():
    assert _orthogonality_gap(POLAR_EXPRESS) < _orthogonality_gap(QUINTIC)


def test_muon_weight_decay_and_row_normalization():
    w = torch.nn.Parameter(torch.ones(4, 8))
    opt = Muon([w], lr=0.1, momentum=0.0, backend_steps=5, nesterov=False, weight_decay=0.5)
    w.grad = torch.zeros_like(w)
    opt.step()
    assert torch.allclose(w.data, torch.full((4, 8), 1 - 0.1 * 0.5))  # decoupled: a zero gradient still decays
    g = torch.randn(4, 8) * torch.tensor([1.0, 10.0, 100.0, 1000.0])[:, None]
    updates = []
    for row_normalize in (False, True):
        w = torch.nn.Parameter(torch.zeros(4, 8))
        w.grad = g.clone()
        Muon([w], lr=1.0, momentum=0.0, backend_steps=5, nesterov=False, row_normalize=row_normalize).step()
        updates.append(-w.data)
    row_norms = [u.norm(dim=1) for u in updates]
    assert row_norms[1].max() / row_norms[1].min() < row_norms[0].max() / row_norms[0].min()  # MuonEq-R evens rows


def test_min_lr_floors_the_warmdown_and_the_reserve_shortens_the_clock():
    cfg = _cfg(WARMDOWN_FRAC=0.5, MIN_LR=0.1, ITERATIONS=100, MAX_WALLCLOCK_SECONDS="none")
    assert lr_multiplier(cfg, 25, 0.0) == 1.0 and lr_multiplier(cfg, 75, 0.0) == pytest.approx(0.5)
    assert lr_multiplier(cfg, 99, 0.0) == pytest.approx(0.1)
    cfg = _cfg(MAX_WALLCLOCK_SECONDS=100, GPTQ_RESERVE_SECONDS=8)
    assert effective_cap(cfg) == 92


def _sdpa_as_flash_attention(q, k, v, causal):
    """FlashAttention's calling convention ([batch, seq, heads, dim], fewer kv heads) on top of SDPA."""
    repeat = q.size(2) // k.size(2)
    k, v = k.repeat_interleave(repeat, dim=2), v.repeat_interleave(repeat, dim=2)
    out = torch.nn.functional.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                                                           is_causal=causal)
    return out.transpose(1, 2)


def _frontier_tiny():
    torch.manual_seed(0)
    model = GPT(load_config({"PRESET": "frontier-smoke", "NUM_LAYERS": "3", "XSA_LAST_N": "3", "NUM_LOOPS": "1",
                             "LOOP_START": "1", "LOOP_END": "1", "PARALLEL_START_LAYER": "2", "MODEL_DIM": "64",
                             "NUM_HEADS": "4", "NUM_KV_HEADS": "2", "GATE_WINDOW": "8", "ROPE_DIMS": "8",
                             "TRAIN_SEQ_LEN": "32", "EVAL_STRIDE": "0"}))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    model.looping_active = True
    return model


def test_the_flash_attention_path_computes_what_sdpa_does():
    """The CUDA branch (FlashAttention's layout, then XSA and the gate) checked on CPU with a stand-in."""
    model = _frontier_tiny()
    x, y = _batch()
    reference = model(x, y, reduction="none")
    model.use_flash_attention(_sdpa_as_flash_attention)
    assert torch.allclose(model(x, y, reduction="none"), reference, atol=1e-5)


def test_every_option_runs_under_bf16_autocast():
    """The CUDA dtype path: bf16 activations with float32 weights, gains and gates."""
    model = _frontier_tiny()
    x, y = _batch()
    full = model(x, y)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        half = model(x, y)
    half.backward()
    assert torch.isfinite(half) and abs(half.item() - full.item()) < 0.05
    assert all(p.grad is not None and p.grad.dtype == torch.float32 for p in model.parameters())
