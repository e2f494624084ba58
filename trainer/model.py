"""The GPT: the challenge's baseline (GQA attention with RoPE and QK-norm, RMSNorm, relu^2 MLP,
U-Net skips between encoder and decoder halves, tied embeddings, a tanh logit softcap) plus the
frontier records' options, each off by default and switched on by its setting:

    LEAKY_RELU_SQ_SLOPE   MLP activation leaky_relu(x, slope)^2
    ROPE_DIMS             partial RoPE: only the first dims of each head rotate
    LN_SCALE              block inputs scaled by 1/sqrt(layer + 1) after their norm
    XSA_LAST_N            exclusive self-attention: each head's output minus its projection on v
    NUM_LOOPS             depth recurrence: layers LOOP_START..LOOP_END repeated, once switched on
    PARALLEL_START_LAYER  two residual lanes (attention reads one, the MLP the other) from layer k
    SKIP_GATES_ENABLED    sigmoid-gated U-Net skips
    SMEAR_GATE_ENABLED    the previous token's embedding mixed in by a learned gate, masked at BOS
    SPARSE_ATTN_GATE_ENABLED  a per-head sigmoid gate on the attention output
    ORTHO_INIT            orthogonal initialisation of the block matrices
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# Small learned gains, mixes and gates: kept in float through quantization and trained with Adam.
CONTROL_TENSOR_PATTERNS = (
    "attn_scale", "mlp_scale", "resid_mix", "q_gain", "skip_weights", "skip_gates", "attn_gate_w",
    "smear", "parallel_",
)


def load_flash_attention():
    """FlashAttention 3 (Hopper) or 2 when installed; None means PyTorch SDPA."""
    try:
        from flash_attn_interface import flash_attn_func  # type: ignore

        return flash_attn_func
    except ImportError:
        pass
    try:
        from flash_attn import flash_attn_func  # type: ignore

        return flash_attn_func
    except ImportError:
        return None


class CastedLinear(nn.Linear):
    """A linear layer whose float32 weights are cast to the activation dtype."""

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight.to(x.dtype))


class RMSNorm(nn.Module):
    """Parameter-free RMSNorm as a module, so calibration can hook the head's input."""

    def forward(self, x: Tensor) -> Tensor:
        return F.rms_norm(x, (x.size(-1),))


class Rotary(nn.Module):
    def __init__(self, rotated_dims: int, base: float):
        super().__init__()
        inv_freq = 1.0 / (base ** (torch.arange(0, rotated_dims, 2, dtype=torch.float32) / rotated_dims))
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, seq_len: int, device: torch.device, dtype: torch.dtype) -> tuple[Tensor, Tensor]:
        t = torch.arange(seq_len, device=device, dtype=torch.float32)
        freqs = torch.outer(t, self.inv_freq.to(device))
        return freqs.cos().to(dtype), freqs.sin().to(dtype)


def apply_rotary(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """x: [batch, seq, heads, head_dim]; cos/sin: [seq, r/2]. The first r dims rotate, the rest pass."""
    rotated = 2 * cos.size(-1)
    if rotated < x.size(-1):
        return torch.cat((apply_rotary(x[..., :rotated], cos, sin), x[..., rotated:]), dim=-1)
    half = x.size(-1) // 2
    x1, x2 = x[..., :half], x[..., half:]
    cos, sin = cos[None, :, None, :], sin[None, :, None, :]
    return torch.cat((x1 * cos + x2 * sin, x2 * cos - x1 * sin), dim=-1)


def exclusive(y: Tensor, v: Tensor) -> Tensor:
    """XSA: remove from each head's output its component along its own (normalized) value vector.
    y: [batch, seq, heads, head_dim]; v: [batch, seq, kv_heads, head_dim]."""
    b, t, h, d = y.shape
    grouped = y.reshape(b, t, v.size(2), h // v.size(2), d)
    vn = F.normalize(v, dim=-1).unsqueeze(-2)
    return (grouped - (grouped * vn).sum(-1, keepdim=True) * vn).reshape(b, t, h, d)


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        dim = cfg.model_dim
        self.num_heads = cfg.num_heads
        self.num_kv_heads = cfg.num_kv_heads
        self.head_dim = dim // cfg.num_heads
        kv_dim = cfg.num_kv_heads * self.head_dim
        self.c_q = CastedLinear(dim, dim, bias=False)
        self.c_k = CastedLinear(dim, kv_dim, bias=False)
        self.c_v = CastedLinear(dim, kv_dim, bias=False)
        self.proj = CastedLinear(dim, dim, bias=False)
        self.proj._zero_init = True
        self.q_gain = nn.Parameter(torch.full((cfg.num_heads,), cfg.qk_gain_init, dtype=torch.float32))
        self.rotary = Rotary(cfg.rope_dims or self.head_dim, cfg.rope_base)
        self.xsa = False  # set by GPT for the last XSA_LAST_N layers
        self.gate_window = cfg.gate_window if cfg.sparse_attn_gate_enabled else 0
        self.gate_scale = cfg.sparse_attn_gate_scale
        if self.gate_window:
            self.attn_gate_w = nn.Parameter(torch.zeros(cfg.num_heads, self.gate_window))
        self.flash_attn = None  # set by GPT.use_flash_attention

    def forward(self, x: Tensor) -> Tensor:
        bsz, seq, dim = x.shape
        q = self.c_q(x).view(bsz, seq, self.num_heads, self.head_dim)
        k = self.c_k(x).view(bsz, seq, self.num_kv_heads, self.head_dim)
        v = self.c_v(x).view(bsz, seq, self.num_kv_heads, self.head_dim)
        q = F.rms_norm(q, (self.head_dim,))
        k = F.rms_norm(k, (self.head_dim,))
        cos, sin = self.rotary(seq, x.device, q.dtype)
        q = apply_rotary(q, cos, sin) * self.q_gain.to(q.dtype)[None, None, :, None]
        k = apply_rotary(k, cos, sin)
        if self.flash_attn is not None:
            y = self.flash_attn(q.to(v.dtype), k.to(v.dtype), v, causal=True)  # FA ignores autocast
            y = y[0] if isinstance(y, tuple) else y
        else:
            y = F.scaled_dot_product_attention(
                q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                is_causal=True, enable_gqa=self.num_kv_heads != self.num_heads,
            ).transpose(1, 2)
        if self.xsa:
            y = exclusive(y, v)
        if self.gate_window:
            gate = F.linear(x[..., : self.gate_window], self.attn_gate_w.to(x.dtype))
            y = y * torch.sigmoid(self.gate_scale * gate)[..., None]
        return self.proj(y.reshape(bsz, seq, dim))


class MLP(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        hidden = int(cfg.mlp_mult * cfg.model_dim)
        self.fc = CastedLinear(cfg.model_dim, hidden, bias=False)
        self.proj = CastedLinear(hidden, cfg.model_dim, bias=False)
        self.proj._zero_init = True
        self.slope = cfg.leaky_relu_sq_slope

    def forward(self, x: Tensor) -> Tensor:
        h = self.fc(x)
        h = torch.relu(h) if self.slope == 0 else F.leaky_relu(h, self.slope)
        return self.proj(h.square())


class Block(nn.Module):
    def __init__(self, cfg, layer: int):
        super().__init__()
        dim = cfg.model_dim
        self.attn = CausalSelfAttention(cfg)
        self.mlp = MLP(cfg)
        self.attn_scale = nn.Parameter(torch.ones(dim, dtype=torch.float32))
        self.mlp_scale = nn.Parameter(torch.ones(dim, dtype=torch.float32))
        self.resid_mix = nn.Parameter(torch.stack((torch.ones(dim), torch.zeros(dim))).float())
        self.norm_scale = 1.0 / math.sqrt(layer + 1) if cfg.ln_scale else 1.0

    def norm(self, x: Tensor) -> Tensor:
        x = F.rms_norm(x, (x.size(-1),))
        return x * self.norm_scale if self.norm_scale != 1.0 else x

    def forward(self, x: Tensor, x0: Tensor) -> Tensor:
        mix = self.resid_mix.to(x.dtype)
        x = mix[0] * x + mix[1] * x0
        x = x + self.attn_scale.to(x.dtype) * self.attn(self.norm(x))
        return x + self.mlp_scale.to(x.dtype) * self.mlp(self.norm(x))

    def forward_lanes(self, lanes: tuple[Tensor, Tensor], x0: Tensor, keep: Tensor, post: Tensor) -> tuple[Tensor, Tensor]:
        """Parallel residual lanes: attention reads lane 0 (mixed with x0), the MLP reads lane 1;
        each lane keeps `keep[l]` of itself and takes `post[src, l]` of each output."""
        lane0, lane1 = lanes
        mix = self.resid_mix.to(lane0.dtype)
        attn = self.attn_scale.to(lane0.dtype) * self.attn(self.norm(mix[0] * lane0 + mix[1] * x0))
        mlp = self.mlp_scale.to(lane1.dtype) * self.mlp(self.norm(lane1))
        keep, post = keep.to(lane0.dtype), post.to(lane0.dtype)
        return (keep[0] * lane0 + post[0, 0] * attn + post[1, 0] * mlp,
                keep[1] * lane1 + post[0, 1] * attn + post[1, 1] * mlp)


class SmearGate(nn.Module):
    """x_t += lambda * sigmoid(w . x_t[:window]) * x_{t-1}, except where token t is BOS, so no
    document reads the end of the one before it. Zero-initialised: the identity at the start."""

    def __init__(self, window: int, bos_id: int):
        super().__init__()
        self.window, self.bos_id = window, bos_id
        self.weight = nn.Parameter(torch.zeros(1, window))
        self.smear_lambda = nn.Parameter(torch.zeros(1))

    def forward(self, x: Tensor, input_ids: Tensor) -> Tensor:
        gate = self.smear_lambda.to(x.dtype) * torch.sigmoid(F.linear(x[:, 1:, : self.window], self.weight.to(x.dtype)))
        not_bos = (input_ids[:, 1:] != self.bos_id).unsqueeze(-1).to(x.dtype)
        return torch.cat((x[:, :1], x[:, 1:] + gate * x[:, :-1] * not_bos), dim=1)


def layer_order(cfg) -> tuple[list[int], list[int]]:
    """(encoder, decoder) block indices when depth recurrence is on: the loop segment repeated."""
    segment = list(range(cfg.loop_start, cfg.loop_end + 1))
    order = list(range(cfg.loop_start)) + segment * (cfg.num_loops + 1) + list(range(cfg.loop_end + 1, cfg.num_layers))
    return order[: len(order) // 2], order[len(order) // 2 :]


class GPT(nn.Module):
    def __init__(self, cfg, bos_id: int = 1):
        super().__init__()
        self.logit_softcap = cfg.logit_softcap
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.model_dim)
        half = cfg.num_layers // 2
        self.plain_order = (list(range(half)), list(range(half, cfg.num_layers)))
        self.looped_order = layer_order(cfg) if cfg.num_loops else self.plain_order
        self.looping_active = False  # switched on during training (ENABLE_LOOPING_AT)
        num_skips = min(len(self.looped_order[0]), len(self.looped_order[1]))
        self.skip_weights = nn.Parameter(torch.ones(num_skips, cfg.model_dim, dtype=torch.float32))
        self.blocks = nn.ModuleList(Block(cfg, i) for i in range(cfg.num_layers))
        self.lm_head = None
        if not cfg.tie_embeddings:
            self.lm_head = CastedLinear(cfg.model_dim, cfg.vocab_size, bias=False)
            self.lm_head._zero_init = True
        self.final_norm = RMSNorm()
        self.skip_gates = nn.Parameter(torch.zeros(num_skips, cfg.model_dim)) if cfg.skip_gates_enabled else None
        self.smear = SmearGate(cfg.gate_window, bos_id) if cfg.smear_gate_enabled else None
        self.parallel_start = cfg.parallel_start_layer
        if self.parallel_start:
            self.parallel_keep = nn.Parameter(torch.full((cfg.num_layers, 2), 1.1))
            self.parallel_post = nn.Parameter(torch.ones(cfg.num_layers, 2, 2))
        for block in self.blocks[cfg.num_layers - cfg.xsa_last_n :]:
            block.attn.xsa = True
        if cfg.tie_embeddings:
            nn.init.normal_(self.tok_emb.weight, mean=0.0, std=cfg.tied_embed_init_std)
        for module in self.modules():
            if isinstance(module, nn.Linear) and getattr(module, "_zero_init", False):
                nn.init.zeros_(module.weight)
            elif cfg.ortho_init and isinstance(module, nn.Linear) and min(module.weight.shape) >= 64:
                nn.init.orthogonal_(module.weight)

    def use_flash_attention(self, fn) -> None:
        for block in self.blocks:
            block.attn.flash_attn = fn

    def layer_order(self) -> tuple[list[int], list[int]]:
        return self.looped_order if self.looping_active else self.plain_order

    def _add_skip(self, i: int, x: Tensor, skip: Tensor) -> Tensor:
        scaled = self.skip_weights[i].to(x.dtype) * skip
        if self.skip_gates is None:
            return x + scaled
        return torch.lerp(scaled, x, torch.sigmoid(self.skip_gates[i].to(x.dtype)))

    def hidden(self, input_ids: Tensor) -> Tensor:
        """The final normed hidden state, the input of the output projection."""
        x = self.tok_emb(input_ids)
        if self.smear is not None:
            x = self.smear(x, input_ids)
        x = F.rms_norm(x, (x.size(-1),))
        x0 = x
        encoder, decoder = self.layer_order()
        skips = []
        for i in encoder:
            x = self.blocks[i](x, x0)
            skips.append(x)
        lanes = None
        for j, i in enumerate(decoder):
            if lanes is None and self.parallel_start and i >= self.parallel_start:
                lanes = (x, x)
            if skips:
                if lanes is None:
                    x = self._add_skip(j, x, skips.pop())
                else:
                    lanes = (self._add_skip(j, lanes[0], skips.pop()), lanes[1])
            if lanes is None:
                x = self.blocks[i](x, x0)
            else:
                lanes = self.blocks[i].forward_lanes(lanes, x0, self.parallel_keep[i], self.parallel_post[i])
        if lanes is not None:
            x = 0.5 * (lanes[0] + lanes[1])
        return self.final_norm(x)

    def logits(self, input_ids: Tensor) -> Tensor:
        x = self.hidden(input_ids)
        weight = self.tok_emb.weight if self.lm_head is None else self.lm_head.weight
        logits = F.linear(x, weight.to(x.dtype))
        return self.logit_softcap * torch.tanh(logits / self.logit_softcap)

    def forward(self, input_ids: Tensor, target_ids: Tensor, reduction: str = "mean") -> Tensor:
        """Cross-entropy in nats: the mean for training, or per token ('none') for scoring."""
        logits = self.logits(input_ids).float()
        loss = F.cross_entropy(logits.reshape(-1, logits.size(-1)), target_ids.reshape(-1), reduction=reduction)
        return loss if reduction != "none" else loss.view_as(target_ids)


def is_control(name: str) -> bool:
    return any(pattern in name for pattern in CONTROL_TENSOR_PATTERNS)


def split_param_groups(model: GPT) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """Block matrices go to Muon; vectors, scalars, gates and mixes go to Adam. The embeddings
    and an untied head have their own optimizers."""
    matrices, scalars = [], []
    for name, p in model.named_parameters():
        if name.startswith(("tok_emb.", "lm_head.")):
            continue
        is_matrix = name.startswith("blocks.") and p.ndim == 2 and not is_control(name)
        (matrices if is_matrix else scalars).append(p)
    return matrices, scalars
