"""Counted code bytes: the size of the single-file script a submission ships."""
from __future__ import annotations

import os


def code_bytes(packing: str) -> int:
    if __package__:  # running from the package: measure the bundle it would write
        from .bundle import build_bundle

        return len(build_bundle(packing))
    return os.path.getsize(__file__)  # running as the bundle itself
