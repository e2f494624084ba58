"""What one seed's worker is asked to do: a JSON document every backend hands to the worker.

On the wire it travels as urlsafe base64 of lzma-compressed JSON, a string of
[A-Za-z0-9_-=] that survives shells, YAML and GraphQL (RunPod's SDK pastes strings
into its queries unescaped).
"""
from __future__ import annotations

import base64
import dataclasses
import json
import lzma
from dataclasses import dataclass, field

DATASETS = ("embedded", "sp1024", "sp8192")


@dataclass
class WorkerSpec:
    group: str
    seed: int
    nproc: int  # processes under torchrun: one per GPU; 1 on CPU
    gpu: str  # the spec as the user wrote it: 8xH100, cpu
    dataset: str  # embedded | sp1024 | sp8192
    out_dir: str
    data_dir: str
    script_name: str | None = None  # None: golf's reference trainer
    script_text: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    train_cap_s: float | None = 600.0  # None: no cap (non-record track)
    eval_cap_s: float | None = 600.0
    margin_s: float = 120.0
    threads: int = 0  # OMP threads per process on CPU; 0: leave as is
    serve_port: int = 0  # >0: serve progress and files over HTTP on this port
    linger_s: float = 0.0  # keep serving this long after the script ends, for the launcher to fetch
    self_terminate: bool = False  # on RunPod: terminate this pod when the deadline passes

    @property
    def hard_deadline_s(self) -> float | None:
        """Wall seconds after which the script is killed whatever it is doing."""
        if self.train_cap_s is None or self.eval_cap_s is None:
            return None
        return self.train_cap_s + self.eval_cap_s + 2 * self.margin_s

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "WorkerSpec":
        data = json.loads(text)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown worker spec fields: {', '.join(sorted(unknown))}")
        spec = cls(**data)
        if spec.dataset not in DATASETS:
            raise ValueError(f"dataset {spec.dataset!r}: expected one of {', '.join(DATASETS)}")
        return spec

    def encode(self) -> str:
        return base64.urlsafe_b64encode(lzma.compress(self.to_json().encode())).decode()

    @classmethod
    def decode(cls, blob: str) -> "WorkerSpec":
        return cls.from_json(lzma.decompress(base64.urlsafe_b64decode(blob.encode())).decode())
