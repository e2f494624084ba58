"""The artifact: a quantized state dict in a small self-describing container,
byte-shuffled and compressed. No pickle: loading an artifact runs no code.

File = b"GOLF" + version byte + codec byte + compressed payload.
Payload = 4-byte little-endian header length + JSON header + raw arrays, each
array's bytes shuffled by element size (all first bytes, then all second bytes...)
so the compressor sees the slowly varying high bytes together.
"""
from __future__ import annotations

import json
import lzma
import os
import struct
import zlib
from pathlib import Path

import brotli
import torch

FILE_MAGIC = b"GOLF"
FILE_VERSION = 1
CODECS = {"brotli": 1, "zlib": 2, "lzma": 3}
DTYPES = {
    "int8": torch.int8, "uint8": torch.uint8, "int16": torch.int16, "int32": torch.int32, "int64": torch.int64,
    "float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32, "bool": torch.bool,
}
DTYPE_NAMES = {v: k for k, v in DTYPES.items()}


class ArtifactError(ValueError):
    """An artifact file that cannot be read back."""


def byte_shuffle(raw: torch.Tensor, itemsize: int) -> torch.Tensor:
    return raw.view(-1, itemsize).t().contiguous().view(-1) if itemsize > 1 else raw


def byte_unshuffle(raw: torch.Tensor, itemsize: int) -> torch.Tensor:
    return raw.view(itemsize, -1).t().contiguous().view(-1) if itemsize > 1 else raw


def pack(quantized: dict[str, dict]) -> bytes:
    entries, blobs, offset = [], [], 0
    for name, entry in quantized.items():
        record = {"name": name, "arrays": {}}
        if "bits" in entry:
            record["bits"] = entry["bits"]
        for key in ("q", "scale", "value"):
            if key not in entry:
                continue
            t = entry[key].contiguous()
            raw = t.reshape(-1).view(torch.uint8)
            blob = byte_shuffle(raw, t.element_size()).numpy().tobytes()
            record["arrays"][key] = {
                "dtype": DTYPE_NAMES[t.dtype], "shape": list(t.shape), "offset": offset, "nbytes": len(blob),
            }
            blobs.append(blob)
            offset += len(blob)
        entries.append(record)
    header = json.dumps({"format": "golf-quantized-state", "tensors": entries}, separators=(",", ":")).encode()
    return struct.pack("<I", len(header)) + header + b"".join(blobs)


def unpack(payload: bytes) -> dict[str, dict]:
    try:
        (header_len,) = struct.unpack_from("<I", payload, 0)
        header = json.loads(payload[4 : 4 + header_len])
        base = 4 + header_len
        out: dict[str, dict] = {}
        for record in header["tensors"]:
            entry: dict = {"bits": record["bits"]} if "bits" in record else {}
            for key, spec in record["arrays"].items():
                dtype = DTYPES[spec["dtype"]]
                start = base + spec["offset"]
                chunk = payload[start : start + spec["nbytes"]]
                if len(chunk) != spec["nbytes"]:
                    raise ArtifactError(f"tensor {record['name']} is truncated")
                raw = torch.frombuffer(bytearray(chunk), dtype=torch.uint8) if chunk else torch.empty(0, dtype=torch.uint8)
                itemsize = torch.empty(0, dtype=dtype).element_size()
                entry[key] = byte_unshuffle(raw, itemsize).view(dtype).reshape(spec["shape"])
            out[record["name"]] = entry
        return out
    except ArtifactError:
        raise
    except (KeyError, TypeError, ValueError, RuntimeError, struct.error) as exc:
        raise ArtifactError(f"artifact payload is malformed: {exc}") from None


def compress(payload: bytes, codec: str) -> bytes:
    if codec == "brotli":
        body = brotli.compress(payload, quality=11, lgwin=24)
    elif codec == "zlib":
        body = zlib.compress(payload, 9)
    elif codec == "lzma":
        body = lzma.compress(payload, preset=9 | lzma.PRESET_EXTREME)
    else:
        raise ValueError(f"unknown codec {codec!r}")
    return FILE_MAGIC + bytes((FILE_VERSION, CODECS[codec])) + body


def decompress(blob: bytes) -> bytes:
    if len(blob) < 6 or blob[:4] != FILE_MAGIC:
        raise ArtifactError("not a golf artifact (bad magic)")
    if blob[4] != FILE_VERSION:
        raise ArtifactError(f"unsupported artifact version {blob[4]}")
    codec = {v: k for k, v in CODECS.items()}.get(blob[5])
    body = blob[6:]
    try:
        if codec == "brotli":
            return brotli.decompress(body)
        if codec == "zlib":
            return zlib.decompress(body)
        if codec == "lzma":
            return lzma.decompress(body)
    except (brotli.error, zlib.error, lzma.LZMAError) as exc:
        raise ArtifactError(f"artifact body does not decompress ({codec}): {exc}") from None
    raise ArtifactError(f"unknown artifact codec id {blob[5]}")


def write_atomic(path: Path, data: bytes) -> None:
    """Write to a temp file beside `path`, fsync, then rename: a killed run leaves no partial file."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def save_artifact(path: Path, quantized: dict[str, dict], codec: str) -> int:
    blob = compress(pack(quantized), codec)
    write_atomic(path, blob)
    return len(blob)


def load_artifact(path: Path) -> dict[str, dict]:
    return unpack(decompress(Path(path).read_bytes()))
