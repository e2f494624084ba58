"""GPTQ, calibration and LQER: each against round-to-nearest on the same weights and inputs."""
import pytest
import torch

from trainer.config import load_config
from trainer.gptq import collect_hessians, gptq_quantize, output_error
from trainer.lqer import add_low_rank_corrections, low_rank_correction
from trainer.model import GPT
from trainer.quantize import QuantPlan, dequantize_state_dict, quantize_state_dict
from trainer.rowquant import dequantize_rows, quantize_rows, row_scales
from trainer.runtime import RunLog, Runtime
from trainer.train import Trainer


def _correlated_inputs(n: int, dim: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    mixing = torch.eye(dim) + 0.5 * torch.randn(dim, dim, generator=g) / dim**0.5
    scales = torch.exp(torch.randn(dim, generator=g))  # some inputs matter far more than others
    return (torch.randn(n, dim, generator=g) @ mixing) * scales


@pytest.mark.parametrize("bits, clip_sigmas", [(6, 0.0), (6, 12.85), (4, 0.0), (8, 0.0)])
def test_gptq_output_error_is_below_round_to_nearest(bits, clip_sigmas):
    torch.manual_seed(1)
    w = torch.randn(96, 256) * 0.02
    x = _correlated_inputs(2048, 256)
    hessian = x.T @ x
    rtn = dequantize_rows(*quantize_rows(w, bits, clip_sigmas))
    q, scale = gptq_quantize(w, hessian, bits, row_scales(w, bits, clip_sigmas))
    assert q.dtype == torch.int8 and int(q.abs().max()) <= 2 ** (bits - 1) - 1
    gptq = dequantize_rows(q, scale)
    assert output_error(w, gptq, hessian) < 0.7 * output_error(w, rtn, hessian)
    # the error it optimizes is the layer's output error on the calibration inputs
    assert output_error(w, gptq, hessian) == pytest.approx(float(((x @ (w - gptq).T) ** 2).sum()), rel=1e-3)


def test_gptq_ignores_inputs_that_never_fire():
    torch.manual_seed(2)
    w = torch.randn(32, 64)
    x = _correlated_inputs(512, 64)
    x[:, 5] = 0.0
    q, scale = gptq_quantize(w, x.T @ x, 6, row_scales(w, 6))
    assert torch.all(q[:, 5] == 0) and torch.isfinite(dequantize_rows(q, scale)).all()


def test_lqer_corrects_the_largest_errors_and_only_those():
    torch.manual_seed(3)
    state = {f"m{i}": torch.randn(64, 128) * (i + 1) for i in range(4)}
    quantized = {name: dict(zip(("q", "scale"), quantize_rows(t, 4)), bits=4) for name, t in state.items()}
    add_low_rank_corrections(state, quantized, rank=4, top_k=2, bits=8)
    assert sorted(n for n, e in quantized.items() if "lqer_a" in e) == ["m2", "m3"]  # the widest spread, the worst error
    for name in ("m2", "m3"):
        entry = quantized[name]
        before = state[name] - dequantize_rows(entry["q"], entry["scale"])
        after = before - low_rank_correction(entry)
        assert entry["lqer_a"].shape == (64, 4) and entry["lqer_b"].shape == (4, 128)
        assert after.norm() < before.norm()


def test_calibration_hessians_are_the_inputs_gram_matrices():
    cfg = load_config({"PRESET": "frontier-smoke", "NUM_LAYERS": "2", "XSA_LAST_N": "2", "PARALLEL_START_LAYER": "0",
                       "NUM_LOOPS": "0", "MODEL_DIM": "64", "NUM_HEADS": "2", "NUM_KV_HEADS": "1", "TRAIN_SEQ_LEN": "32",
                       "EVAL_STRIDE": "0", "TTT_CHUNK_TOKENS": "32", "GATE_WINDOW": "8", "ROPE_DIMS": "8"})
    torch.manual_seed(0)
    model = GPT(cfg)
    batches = [torch.randint(0, 1024, (2, 32)) for _ in range(3)]
    hessians = collect_hessians(model, iter(batches))
    assert torch.equal(hessians["blocks.0.attn.c_q.weight"], hessians["blocks.0.attn.c_v.weight"])
    assert {"blocks.1.mlp.proj.weight", "tok_emb.weight"} <= set(hessians)
    seen = []
    handle = model.blocks[1].mlp.proj.register_forward_pre_hook(lambda m, a: seen.append(a[0].reshape(-1, a[0].size(-1))))
    heads = []
    head_handle = model.final_norm.register_forward_hook(lambda m, a, out: heads.append(out.reshape(-1, out.size(-1))))
    with torch.no_grad():
        for x in batches:
            model.logits(x)
    handle.remove()
    head_handle.remove()
    x = torch.cat(seen)
    assert torch.allclose(hessians["blocks.1.mlp.proj.weight"], x.T @ x, rtol=1e-4, atol=1e-4)
    h = torch.cat(heads)
    assert torch.allclose(hessians["tok_emb.weight"], h.T @ h, rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_on_a_trained_model_gptq_has_the_smaller_int6_gap(embedded_data, one_thread):
    """The trainer's own path: train, EMA, calibrate on training batches, quantize both ways."""
    env = {"PRESET": "frontier-smoke", "DATA_DIR": str(embedded_data), "RUN_ID": "gap", "NUM_LAYERS": "3",
           "XSA_LAST_N": "3", "LOOP_START": "1", "LOOP_END": "1", "PARALLEL_START_LAYER": "2", "MODEL_DIM": "64",
           "NUM_HEADS": "2", "NUM_KV_HEADS": "1", "TRAIN_SEQ_LEN": "64", "TRAIN_BATCH_TOKENS": "1024",
           "ITERATIONS": "60", "MAX_WALLCLOCK_SECONDS": "none", "GATE_WINDOW": "8", "ROPE_DIMS": "16",
           "LQER_ENABLED": "0", "EVAL_STRIDE": "0", "GPTQ_CALIBRATION_BATCHES": "8", "MATRIX_LR": "0.04"}
    cfg = load_config(env)
    trainer = Trainer(cfg, Runtime(rank=0, local_rank=0, world_size=1, device=torch.device("cpu"), compile=False),
                      RunLog(None))
    trainer.prepare()
    trainer.build_model()
    trainer.train()
    trainer.apply_ema()
    trained = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    prequant = trainer.evaluate().val_bpb
    hessians = trainer.calibrate()
    gaps = {}
    for method, h in (("rtn", None), ("gptq", hessians)):
        quantized = quantize_state_dict(trained, QuantPlan.from_config(cfg), h)
        trainer.model.load_state_dict(dequantize_state_dict(quantized, trained))
        gaps[method] = trainer.evaluate().val_bpb - prequant
    assert gaps["rtn"] > 0 and gaps["gptq"] < gaps["rtn"], gaps
