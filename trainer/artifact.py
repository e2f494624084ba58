"""The artifact: a quantized state dict in a small self-describing container,
byte-shuffled and compressed. No pickle: loading an artifact runs no code.

Payload = 4-byte little-endian header length + JSON header + raw arrays, each
array's bytes shuffled by element size (all first bytes, then all second bytes...)
so the compressor sees the slowly varying high bytes together.
File (version 2) = b"GOLF" + version byte + codec byte + stream count (u32) + each
stream's compressed size (u64) + the streams. The payload is cut at array boundaries
into streams of at least STREAM_BYTES that are compressed independently, in parallel
threads (brotli at quality 11 is slow); the cut depends only on the arrays, so the
bytes do not depend on the number of threads. Version 1 (one stream) still loads.
"""
from __future__ import annotations

import json
import lzma
import os
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import brotli
import torch

FILE_MAGIC = b"GOLF"
FILE_VERSION = 2
STREAM_BYTES = 1 << 20
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


def pack_pieces(quantized: dict[str, dict]) -> list[bytes]:
    """The payload as pieces: the length-prefixed JSON header, then each array's shuffled bytes."""
    entries, blobs, offset = [], [], 0
    for name, entry in quantized.items():
        record = {"name": name, "arrays": {}}
        if "bits" in entry:
            record["bits"] = entry["bits"]
        for key, t in entry.items():
            if not isinstance(t, torch.Tensor):
                continue
            t = t.contiguous()
            raw = t.reshape(-1).view(torch.uint8)
            blob = byte_shuffle(raw, t.element_size()).numpy().tobytes()
            record["arrays"][key] = {
                "dtype": DTYPE_NAMES[t.dtype], "shape": list(t.shape), "offset": offset, "nbytes": len(blob),
            }
            blobs.append(blob)
            offset += len(blob)
        entries.append(record)
    header = json.dumps({"format": "golf-quantized-state", "tensors": entries}, separators=(",", ":")).encode()
    return [struct.pack("<I", len(header)) + header, *blobs]


def pack(quantized: dict[str, dict]) -> bytes:
    return b"".join(pack_pieces(quantized))


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


def _compress_one(data: bytes, codec: str) -> bytes:
    if codec == "brotli":
        return brotli.compress(data, quality=11, lgwin=24)
    if codec == "zlib":
        return zlib.compress(data, 9)
    if codec == "lzma":
        return lzma.compress(data, preset=9 | lzma.PRESET_EXTREME)
    raise ValueError(f"unknown codec {codec!r}")


def _decompress_one(data: bytes, codec: str | None) -> bytes:
    if codec == "brotli":
        return brotli.decompress(data)
    if codec == "zlib":
        return zlib.decompress(data)
    if codec == "lzma":
        return lzma.decompress(data)
    raise ArtifactError(f"unknown artifact codec {codec!r}")


def streams(pieces: list[bytes]) -> list[bytes]:
    """Consecutive pieces joined until each stream holds at least STREAM_BYTES (the last may hold less)."""
    out, current = [], []
    for piece in pieces:
        current.append(piece)
        if sum(map(len, current)) >= STREAM_BYTES:
            out.append(b"".join(current))
            current = []
    if current or not out:
        out.append(b"".join(current))
    return out


def _parallel(fn, items: list, threads: int | None) -> list:
    workers = max(1, min(len(items), threads or os.cpu_count() or 1))
    if workers == 1:
        return [fn(item) for item in items]
    with ThreadPoolExecutor(workers) as pool:  # the codecs release the GIL while they work
        return list(pool.map(fn, items))


def compress(pieces: list[bytes] | bytes, codec: str, threads: int | None = None) -> bytes:
    if codec not in CODECS:
        raise ValueError(f"unknown codec {codec!r}")
    parts = streams([pieces] if isinstance(pieces, bytes) else pieces)
    bodies = _parallel(lambda part: _compress_one(part, codec), parts, threads)
    sizes = struct.pack(f"<I{len(bodies)}Q", len(bodies), *map(len, bodies))
    return FILE_MAGIC + bytes((FILE_VERSION, CODECS[codec])) + sizes + b"".join(bodies)


def decompress(blob: bytes, threads: int | None = None) -> bytes:
    if len(blob) < 6 or blob[:4] != FILE_MAGIC:
        raise ArtifactError("not a golf artifact (bad magic)")
    if blob[4] not in (1, FILE_VERSION):
        raise ArtifactError(f"unsupported artifact version {blob[4]}")
    codec = {v: k for k, v in CODECS.items()}.get(blob[5])
    if codec is None:
        raise ArtifactError(f"unknown artifact codec id {blob[5]}")
    try:
        if blob[4] == 1:
            bodies = [blob[6:]]
        else:
            (count,) = struct.unpack_from("<I", blob, 6)
            sizes = struct.unpack_from(f"<{count}Q", blob, 10)
            offsets = [10 + 8 * count]
            for size in sizes:
                offsets.append(offsets[-1] + size)
            if offsets[-1] != len(blob):
                raise ArtifactError(f"artifact streams hold {offsets[-1]} bytes but the file has {len(blob)}")
            bodies = [blob[a:b] for a, b in zip(offsets, offsets[1:])]
        return b"".join(_parallel(lambda body: _decompress_one(body, codec), bodies, threads))
    except struct.error:
        raise ArtifactError("artifact stream table is truncated") from None
    except (brotli.error, zlib.error, lzma.LZMAError) as exc:
        raise ArtifactError(f"artifact body does not decompress ({codec}): {exc}") from None


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
    blob = compress(pack_pieces(quantized), codec)
    write_atomic(path, blob)
    return len(blob)


def load_artifact(path: Path) -> dict[str, dict]:
    return unpack(decompress(Path(path).read_bytes()))
