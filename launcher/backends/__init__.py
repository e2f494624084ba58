"""Backends: how a seed's worker gets onto a box and how its files come back.

Each cloud SDK is imported only inside its own module (they take 0.3-1.7 s to import).
"""
from __future__ import annotations

from .base import Backend, LaunchError

NAMES = ("local", "modal", "runpod", "skypilot")


def get_backend(name: str, settings: dict) -> Backend:
    if name == "local":
        from .local import LocalBackend as cls
    elif name == "runpod":
        from .runpod import RunPodBackend as cls
    elif name == "modal":
        from .modal import ModalBackend as cls
    elif name == "skypilot":
        from .skypilot import SkyPilotBackend as cls
    else:
        raise LaunchError(f"unknown backend {name!r}; choose one of {', '.join(NAMES)}")
    return cls(settings)
