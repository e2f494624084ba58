"""Every file golf reads from a submission folder comes through here: the folder is untrusted.

A file counts only if it is a regular file whose real path is inside the folder (a symlink that
leads out, to /etc/passwd or a user's config, is refused with a warning), whose name is valid
UTF-8, and that lies at most MAX_DEPTH folders down. Reads are bounded and decode to valid text.
"""
from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import Iterator

MAX_DEPTH = 32
MAX_FILES = 20_000


def inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
        return True
    except (ValueError, OSError, RuntimeError):  # RuntimeError: a symlink loop on older Pythons
        return False


def _valid_name(name: str) -> bool:
    try:
        name.encode("utf-8")
        return True
    except UnicodeEncodeError:  # undecodable bytes, kept by the OS as surrogates
        return False


def safe_path(folder: Path, rel: str, warnings: list[str] | None = None) -> Path | None:
    """folder/rel when it is a regular file inside the folder, else None (and a warning)."""
    path = folder / rel
    try:
        info = path.lstat()
    except OSError:
        return None
    if stat.S_ISLNK(info.st_mode):
        if not inside(path, folder):
            if warnings is not None:
                warnings.append(f"{rel}: a symlink pointing outside the folder; not read")
            return None
        try:
            info = path.stat()
        except OSError:
            return None
    return path if stat.S_ISREG(info.st_mode) else None


def walk_files(folder: Path, warnings: list[str]) -> Iterator[tuple[str, Path, int]]:
    """(relative posix path, path, bytes) of every safe file, sorted, depth-first and bounded."""
    stack: list[tuple[Path, int]] = [(folder, 0)]
    count = 0
    while stack:
        here, depth = stack.pop()
        try:
            entries = sorted(os.scandir(here), key=lambda e: e.name, reverse=True)
        except OSError as exc:
            warnings.append(f"{here.relative_to(folder).as_posix() or '.'}: cannot list ({exc.strerror})")
            continue
        files = []
        for entry in entries:
            rel = Path(entry.path).relative_to(folder).as_posix()
            if not _valid_name(entry.name):
                warnings.append(f"{rel.encode('utf-8', 'backslashreplace').decode()}: a file name that is not "
                                "valid UTF-8; skipped")
                continue
            try:
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                continue
            if is_dir:
                if depth + 1 > MAX_DEPTH:
                    warnings.append(f"{rel}: more than {MAX_DEPTH} folders deep; not read")
                elif not entry.name.startswith("."):
                    stack.append((Path(entry.path), depth + 1))
                continue
            files.append(rel)
        for rel in reversed(files):
            path = safe_path(folder, rel, warnings)
            if path is None:
                continue
            count += 1
            if count > MAX_FILES:
                warnings.append(f"more than {MAX_FILES} files; the rest are not read")
                return
            yield rel, path, path.stat().st_size


def read_text(path: Path, limit: int) -> tuple[str, bool]:
    """(text, whether it was cut): at most `limit` bytes, decoded to valid UTF-8 (undecodable bytes
    and lone surrogates replaced)."""
    with open(path, "rb") as fh:
        data = fh.read(limit + 1)
    text = data[:limit].decode("utf-8", errors="replace")
    return text.encode("utf-8", errors="replace").decode("utf-8"), len(data) > limit


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def inventory(folder: Path, warnings: list[str]) -> tuple[str, list[tuple[str, int, str]]]:
    """(content hash of the folder, [(relative path, bytes, sha256)]) of every safe file."""
    files = []
    for rel, path, size in walk_files(folder, warnings):
        try:
            files.append((rel, size, sha256_file(path)))
        except OSError as exc:
            warnings.append(f"{rel}: cannot be read ({exc.strerror})")
    folder_digest = hashlib.sha256("\n".join(f"{rel}\t{sha}" for rel, _, sha in files).encode()).hexdigest()
    return folder_digest, files
