"""An exponential moving average of the weights: ema <- decay * ema + (1 - decay) * w after every
step, kept in float32 and copied into the model before quantization (EMA_DECAY, 0 = off)."""
from __future__ import annotations

import torch
from torch import nn


class EMA:
    def __init__(self, model: nn.Module, decay: float):
        self.decay = decay
        self.updates = 0
        self.state = {name: t.detach().float().clone() for name, t in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        for name, t in model.state_dict().items():
            self.state[name].mul_(self.decay).add_(t.detach().float(), alpha=1.0 - self.decay)
        self.updates += 1

    def copy_to(self, model: nn.Module) -> None:
        current = model.state_dict()
        model.load_state_dict({name: t.to(current[name].dtype) for name, t in self.state.items()})
