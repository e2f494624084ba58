"""The `frontier` preset at its full size fits the 16,000,000-byte limit.

Compressed size is decided by the entropy of the quantized integers, so the weights are drawn
with a realistic spread rather than trained: Gaussian rows (the widest-entropy shape for a given
standard deviation, so the estimate errs towards too big) whose scales vary from row to row, and
GPTQ on Hessians of correlated inputs, as the real run does.
"""
import pytest
import torch

from golfcore.vocabulary import ARTIFACT_LIMIT_BYTES
from trainer.artifact import load_artifact, save_artifact
from trainer.bundle import build_bundle
from trainer.config import load_config
from trainer.model import GPT
from trainer.quantize import QuantPlan, keeps_float, quantize_state_dict

pytestmark = pytest.mark.slow


def _hessian(dim: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(4 * dim, dim, generator=g) @ (torch.eye(dim) + 0.3 * torch.randn(dim, dim, generator=g) / dim**0.5)
    return x.T @ x


def test_the_full_frontier_artifact_fits_the_limit(tmp_path, one_thread):
    cfg = load_config({"PRESET": "frontier"})
    torch.manual_seed(0)
    model = GPT(cfg)
    assert sum(p.numel() for p in model.parameters()) == 35_945_671  # the accepted record's model_params
    state = model.state_dict()
    with torch.no_grad():
        for name, w in state.items():
            if not keeps_float(name, w):
                w.copy_(torch.randn_like(w) * 0.02 * torch.exp(0.3 * torch.randn(w.size(0), 1)))
    hessians = {}
    by_width = {}
    for name, w in state.items():
        if not keeps_float(name, w):
            width = w.size(1)
            by_width.setdefault(width, _hessian(width, width))
            hessians[name] = by_width[width]
    quantized = quantize_state_dict(state, QuantPlan.from_config(cfg), hessians)
    path = tmp_path / "final_model.int6.brotli"
    bytes_model = save_artifact(path, quantized, cfg.compressor)
    bytes_code = len(build_bundle(cfg.code_packing))
    assert bytes_model + bytes_code < ARTIFACT_LIMIT_BYTES, (bytes_model, bytes_code)
    assert bytes_model > 0.9 * ARTIFACT_LIMIT_BYTES  # the budget is used, not wasted
    assert load_artifact(path).keys() == quantized.keys()
