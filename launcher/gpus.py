"""GPU specs: `NxTYPE` (8xH100, 1xH200, 4xA100) or `cpu`, and each backend's name for the part.

For the challenge, H100 means the SXM part. Each backend spells it differently, and
some spell the PCIe part with the plain name, so the mapping lives here, in one table.
"""
from __future__ import annotations

import re
from dataclasses import dataclass


class GpuSpecError(ValueError):
    pass


# type -> backend -> that backend's name for it. A missing entry: the backend does not offer it.
GPU_NAMES: dict[str, dict[str, str]] = {
    "H100": {"runpod": "NVIDIA H100 80GB HBM3", "skypilot": "H100-SXM", "modal": "H100", "local": "H100"},
    "H200": {"runpod": "NVIDIA H200", "skypilot": "H200", "modal": "H200", "local": "H200"},
    "A100": {"runpod": "NVIDIA A100-SXM4-80GB", "skypilot": "A100-80GB", "modal": "A100-80GB", "local": "A100"},
}
COUNTS = (1, 2, 4, 8)
SPEC_RE = re.compile(r"^\s*(?:(\d+)\s*[xX]\s*)?([A-Za-z][A-Za-z0-9-]*)\s*$")


@dataclass(frozen=True)
class GpuSpec:
    count: int  # 0 for cpu
    kind: str  # H100, H200, A100 or cpu

    @property
    def is_cpu(self) -> bool:
        return self.kind == "cpu"

    def __str__(self) -> str:
        return "cpu" if self.is_cpu else f"{self.count}x{self.kind}"

    def name_on(self, backend: str) -> str:
        """This backend's name for the GPU type; raises GpuSpecError when it has none."""
        if self.is_cpu:
            if backend != "local":
                raise GpuSpecError(f"--gpus cpu runs only on the local backend, not {backend}")
            return "cpu"
        name = GPU_NAMES[self.kind].get(backend)
        if name is None:
            raise GpuSpecError(f"{backend} does not offer {self.kind}")
        return name


def parse_gpus(text: str) -> GpuSpec:
    m = SPEC_RE.match(text or "")
    if not m:
        raise GpuSpecError(f"--gpus {text!r}: expected NxTYPE (e.g. 8xH100) or cpu")
    count_text, kind = m.groups()
    if kind.lower() == "cpu":
        if count_text is not None:
            raise GpuSpecError(f"--gpus {text!r}: write plain `cpu`")
        return GpuSpec(0, "cpu")
    kind = kind.upper()
    if kind in ("H100-SXM", "H100SXM"):
        kind = "H100"
    if kind.startswith("H100") and kind != "H100":
        raise GpuSpecError(f"--gpus {text!r}: only the H100 SXM part is supported (write H100)")
    if kind not in GPU_NAMES:
        raise GpuSpecError(f"--gpus {text!r}: unknown GPU type {kind}; known: {', '.join(GPU_NAMES)}, cpu")
    count = int(count_text) if count_text is not None else 1
    if count not in COUNTS:
        raise GpuSpecError(f"--gpus {text!r}: the count must be one of {', '.join(map(str, COUNTS))}")
    return GpuSpec(count, kind)
