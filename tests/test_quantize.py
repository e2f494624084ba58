import os

import pytest
import torch

from trainer import artifact
from trainer.artifact import (
    ArtifactError, compress, decompress, load_artifact, pack, pack_pieces, save_artifact, unpack, write_atomic,
)
from trainer.config import load_config
from trainer.model import GPT
from trainer.quantize import QuantPlan, dequantize_state_dict, quantize_state_dict
from trainer.rowquant import dequantize_rows, quantize_rows

INT8 = QuantPlan(matrix_bits=8, embed_bits=8)


@pytest.mark.parametrize("bits", [8, 6])
def test_per_row_error_is_at_most_half_a_step(bits):
    torch.manual_seed(0)
    w = torch.randn(256, 512) * torch.logspace(-3, 0, 256)[:, None]  # rows of very different scale
    w[3] = 0.0
    q, scale = quantize_rows(w, bits)
    qmax = 2 ** (bits - 1) - 1
    assert q.dtype == torch.int8 and int(q.abs().max()) <= qmax and scale.dtype == torch.float16
    err = (dequantize_rows(q, scale) - w).abs().amax(dim=1)
    assert torch.all(err <= scale.float() / 2 + 1e-7)
    # the step is within 0.2% of the ideal absmax/qmax: no range is wasted
    ideal = w.abs().amax(dim=1) / qmax
    big = ideal > 2**-14
    assert torch.all(scale.float()[big] <= ideal[big] * 1.002)
    assert torch.all(dequantize_rows(q, scale)[3] == 0)


def test_int6_costs_more_error_than_int8():
    w = torch.randn(64, 256)
    errs = {b: (dequantize_rows(*quantize_rows(w, b)) - w).abs().mean() for b in (6, 8)}
    assert errs[8] * 3 < errs[6]


def test_sdclip_trades_the_outliers_for_a_finer_bulk():
    torch.manual_seed(0)
    w = torch.randn(32, 1024)
    w[:, 0] = 40.0  # one outlier per row sets the absmax scale
    absmax_q, absmax_s = quantize_rows(w, 6)
    clip_q, clip_s = quantize_rows(w, 6, clip_sigmas=4.0)
    assert torch.allclose(clip_s.float(), 4.0 * w.std(dim=1) / 31, rtol=1e-3)
    assert torch.all(clip_q[:, 0] == 31)  # the outlier saturates at qmax
    bulk = slice(1, None)
    err = lambda q, s: (dequantize_rows(q, s)[:, bulk] - w[:, bulk]).abs().mean()
    assert err(clip_q, clip_s) * 3 < err(absmax_q, absmax_s)


def test_quant_plan_picks_bits_and_clip_by_tensor_kind():
    plan = QuantPlan(matrix_bits=6, embed_bits=7, matrix_clip_sigmas=12.85, mlp_clip_sigmas=12.0, embed_clip_sigmas=15.0)
    assert (plan.bits("tok_emb.weight"), plan.clip_sigmas("tok_emb.weight")) == (7, 15.0)
    assert (plan.bits("blocks.3.mlp.fc.weight"), plan.clip_sigmas("blocks.3.mlp.fc.weight")) == (6, 12.0)
    assert plan.clip_sigmas("blocks.3.attn.c_q.weight") == 12.85  # no ATTN_CLIP_SIGMAS: the matrix default


def _model():
    torch.manual_seed(0)
    cfg = load_config({"PRESET": "smoke", "NUM_LAYERS": "2", "MODEL_DIM": "64", "NUM_HEADS": "2", "NUM_KV_HEADS": "1"})
    model = GPT(cfg)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    return model


def test_state_dict_round_trip_keeps_controls_exact():
    model = _model()
    state = model.state_dict()
    quantized = quantize_state_dict(state, QuantPlan(matrix_bits=6, embed_bits=8))
    assert quantized["blocks.0.mlp.fc.weight"]["bits"] == 6 and quantized["tok_emb.weight"]["bits"] == 8
    assert quantized["blocks.0.resid_mix"]["value"].dtype == torch.float32
    restored = dequantize_state_dict(quantized, state)
    assert torch.equal(restored["blocks.1.attn.q_gain"], state["blocks.1.attn.q_gain"])
    assert torch.equal(restored["skip_weights"], state["skip_weights"])
    for name, t in state.items():
        assert restored[name].shape == t.shape and restored[name].dtype == t.dtype


@pytest.mark.parametrize("codec", ["brotli", "zlib", "lzma"])
def test_artifact_file_round_trip_is_exact(tmp_path, codec):
    quantized = quantize_state_dict(_model().state_dict(), INT8)
    path = tmp_path / "model.bin"
    size = save_artifact(path, quantized, codec)
    assert size == path.stat().st_size and path.read_bytes()[:4] == b"GOLF"
    loaded = load_artifact(path)
    assert loaded.keys() == quantized.keys()
    for name, entry in quantized.items():
        for key, t in entry.items():
            assert (loaded[name][key] == t) if key == "bits" else torch.equal(loaded[name][key], t)


def test_streams_compress_in_parallel_to_the_same_bytes(tmp_path, monkeypatch):
    monkeypatch.setattr(artifact, "STREAM_BYTES", 4096)  # the tiny model's matrices make several streams
    quantized = quantize_state_dict(_model().state_dict(), INT8)
    pieces = pack_pieces(quantized)
    assert len(artifact.streams(pieces)) > 3
    one, many = compress(pieces, "brotli", threads=1), compress(pieces, "brotli", threads=4)
    assert one == many and one[4] == 2
    assert decompress(one, threads=3) == b"".join(pieces)
    unpacked = unpack(decompress(many))
    assert torch.equal(unpacked["blocks.1.mlp.fc.weight"]["q"], quantized["blocks.1.mlp.fc.weight"]["q"])


def test_a_version_1_artifact_still_loads():
    import brotli

    payload = pack(quantize_state_dict(_model().state_dict(), INT8))
    v1 = b"GOLF\x01\x01" + brotli.compress(payload)
    assert decompress(v1) == payload


def test_byte_shuffle_helps_compression():
    quantized = quantize_state_dict(_model().state_dict(), INT8)
    import brotli

    payload = pack(quantized)
    assert len(compress(payload, "brotli")) < len(brotli.compress(payload, quality=1))


@pytest.mark.parametrize("blob, message", [
    (b"PK\x03\x04garbage", "bad magic"),
    (b"GOLF\x07\x01xx", "unsupported artifact version 7"),
    (b"GOLF\x01\x09xx", "unknown artifact codec"),
    (b"GOLF\x01\x01not brotli at all", "does not decompress"),
    (b"GOLF\x02\x01\x02\x00\x00\x00", "stream table is truncated"),
    (b"GOLF\x02\x01\x01\x00\x00\x00" + (99).to_bytes(8, "little") + b"abc", "streams hold"),
])
def test_corrupt_artifacts_fail_clearly(blob, message):
    with pytest.raises(ArtifactError, match=message):
        decompress(blob)


def test_truncated_payload_fails_clearly():
    payload = pack(quantize_state_dict(_model().state_dict(), INT8))
    with pytest.raises(ArtifactError):
        unpack(payload[: len(payload) // 2])


def test_atomic_write_leaves_nothing_when_interrupted(tmp_path, monkeypatch):
    target = tmp_path / "final_model.int8.brotli"

    def boom(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, b"x" * 1000)
    assert list(tmp_path.iterdir()) == []
