"""Prepare a tokenizer and token shards in the community's layout under a data dir:

    data/datasets/<name>/fineweb_{train,val}_NNNNNN.bin
    data/tokenizers/<family>_<vocab>_bpe.model

Two sources: `embedded` trains a SentencePiece BPE tokenizer on English text that
ships with Python (the pydoc topic pages and the standard library's docstrings)
and needs no network; `fineweb` fetches the challenge's published shards and
tokenizer with huggingface_hub.

    python -m trainer.data --source embedded|fineweb [--variant sp1024] [--train-shards N]
"""
from __future__ import annotations

import argparse
import ast
import io
import json
import os
import shutil
import sys
import sysconfig
import time
from pathlib import Path
from typing import Callable

import numpy as np
import sentencepiece as spm

from .shards import ShardError, read_shard_header, write_shard

BOS_ID = 1
VAL_EVERY = 10  # every 10th embedded document goes to the validation split
MIN_DOCSTRING_CHARS = 200
SKIPPED_STDLIB_DIRS = {"site-packages", "dist-packages", "test", "tests", "idlelib", "lib2to3", "turtledemo"}
# Hugging Face dataset repositories per variant; sp8192 is only in the second (the records' README
# commands: MATCHED_FINEWEB_REPO_ID=kevclark/parameter-golf ... --variant sp8192).
FINEWEB_REPOS = {"sp1024": "willdepueoai/parameter-golf", "sp8192": "kevclark/parameter-golf"}
FINEWEB_REMOTE_ROOT = "datasets"

Progress = Callable[[str], None]


class DataError(RuntimeError):
    """Data preparation that cannot go on."""


# ---- embedded: text that ships with Python


def embedded_documents() -> list[str]:
    """English documents from the running Python: pydoc topics, then stdlib docstrings, in a fixed order."""
    from pydoc_data.topics import topics

    docs = [topics[key].strip() for key in sorted(topics)]
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for path in sorted(stdlib.rglob("*.py")):
        if SKIPPED_STDLIB_DIRS & set(path.relative_to(stdlib).parts):
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError, OSError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if doc and len(doc) >= MIN_DOCSTRING_CHARS:
                    docs.append(doc.strip())
    return docs


def split_documents(docs: list[str]) -> tuple[list[str], list[str]]:
    train = [d for i, d in enumerate(docs) if i % VAL_EVERY]
    val = [d for i, d in enumerate(docs) if i % VAL_EVERY == 0]
    return train, val


def train_tokenizer(train_docs: list[str], vocab_size: int, dest: Path) -> None:
    """A byte-fallback BPE SentencePiece model trained on the training documents only."""
    if not 260 <= vocab_size <= 65536:  # 256 byte pieces + 4 specials; shards hold uint16
        raise DataError(f"--vocab-size {vocab_size}: the embedded tokenizer needs 260 to 65536 pieces")
    lines = (line for doc in train_docs for line in doc.splitlines() if line.strip())
    model = io.BytesIO()
    try:
        spm.SentencePieceTrainer.train(
            sentence_iterator=lines,
            model_writer=model,
            model_type="bpe",
            vocab_size=vocab_size,
            byte_fallback=True,
            split_digits=True,
            character_coverage=0.9995,
            pad_id=0, bos_id=BOS_ID, eos_id=2, unk_id=3,
            num_threads=os.cpu_count() or 1,
            minloglevel=2,
        )
    except RuntimeError as exc:  # e.g. more pieces than the text can supply
        raise DataError(f"--vocab-size {vocab_size}: the embedded text cannot make this tokenizer ({exc})") from None
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".tmp")
    tmp.write_bytes(model.getvalue())
    os.replace(tmp, dest)


def encode_documents(sp: spm.SentencePieceProcessor, docs: list[str]) -> np.ndarray:
    """Each document as BOS followed by its tokens, all concatenated."""
    out: list[int] = []
    for ids in sp.encode(docs):
        out.append(BOS_ID)
        out.extend(ids)
    return np.asarray(out, dtype=np.uint16)


def prepare_embedded(data_dir: Path, vocab_size: int = 1024, progress: Progress = print) -> Path:
    dataset = data_dir / "datasets" / f"embedded_sp{vocab_size}"
    tokenizer = data_dir / "tokenizers" / f"embedded_{vocab_size}_bpe.model"
    t0 = time.perf_counter()
    docs = embedded_documents()
    train_docs, val_docs = split_documents(docs)
    progress(f"embedded: {len(docs)} documents ({sum(map(len, docs)) / 1e6:.1f} MB of text) from Python {sys.version.split()[0]}")
    train_tokenizer(train_docs, vocab_size, tokenizer)
    progress(f"embedded: trained a {vocab_size}-piece BPE tokenizer -> {tokenizer}")
    sp = spm.SentencePieceProcessor(model_file=str(tokenizer))
    dataset.mkdir(parents=True, exist_ok=True)
    for stale in dataset.glob("fineweb_*.bin"):
        stale.unlink()
    counts = {}
    for split, split_docs in (("train", train_docs), ("val", val_docs)):
        tokens = encode_documents(sp, split_docs)
        write_shard(dataset / f"fineweb_{split}_000000.bin", tokens)
        counts[split] = int(tokens.size)
    (dataset / "dataset.json").write_text(json.dumps({
        "source": "embedded", "python": sys.version.split()[0], "tokenizer": str(tokenizer),
        "documents": {"train": len(train_docs), "val": len(val_docs)}, "tokens": counts,
    }, indent=2) + "\n")
    progress(
        f"embedded: wrote {counts['train']:,} train and {counts['val']:,} val tokens -> {dataset} "
        f"({time.perf_counter() - t0:.1f}s)"
    )
    return dataset


# ---- FineWeb: the challenge's published shards


def _hub_download(repo_id: str, remote: str, dest: Path, retries: int) -> None:
    from huggingface_hub import constants, hf_hub_download
    from huggingface_hub.errors import EntryNotFoundError, GatedRepoError, RepositoryNotFoundError

    final = (EntryNotFoundError, RepositoryNotFoundError, GatedRepoError)
    attempts = 1 if constants.HF_HUB_OFFLINE else retries
    remote_path = Path(remote)
    for attempt in range(1, attempts + 1):
        try:
            cached = Path(hf_hub_download(
                repo_id=repo_id, repo_type="dataset", filename=remote_path.name,
                subfolder=remote_path.parent.as_posix(),
            )).resolve(strict=True)
            break
        except Exception as exc:  # network errors come in many types; retry those that may pass
            if attempt == attempts or isinstance(exc, final):
                raise DataError(f"could not download {remote} from {repo_id}: {exc}") from None
            time.sleep(min(2**attempt, 30))
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".tmp")
    tmp.unlink(missing_ok=True)
    try:
        os.link(cached, tmp)  # the hub cache and the data dir usually share a disk
    except OSError:
        shutil.copyfile(cached, tmp)
    os.replace(tmp, dest)


def _local_path(data_dir: Path, remote: str) -> Path:
    parts = Path(remote).parts
    if parts[:1] == (FINEWEB_REMOTE_ROOT,):
        parts = parts[1:]
    return data_dir.joinpath(*parts)


def _shard_ok(path: Path) -> bool:
    try:
        read_shard_header(path)
        return True
    except ShardError:
        return False


def fineweb_plan(manifest: dict, variant: str, train_shards: int) -> list[str]:
    """Remote paths to fetch: validation shards, the first `train_shards` train shards, the tokenizer."""
    name = f"fineweb10B_{variant}"
    entry = next((d for d in manifest.get("datasets", []) if d.get("name") == name), None)
    if entry is None:
        known = ", ".join(d.get("name", "?") for d in manifest.get("datasets", []))
        raise DataError(f"variant {variant} ({name}) is not in the manifest; it lists: {known}")
    stats = entry.get("stats") or {}
    available = int(stats.get("files_train", 0))
    if train_shards > available:
        raise DataError(f"{name} has {available} training shards; {train_shards} were asked for")
    tok = next((t for t in manifest.get("tokenizers", []) if t.get("name") == entry.get("tokenizer_name")), None)
    if tok is None:
        raise DataError(f"tokenizer {entry.get('tokenizer_name')} of {name} is not in the manifest")
    prefix = f"{FINEWEB_REMOTE_ROOT}/datasets/{name}"
    remote = [f"{prefix}/fineweb_val_{i:06d}.bin" for i in range(int(stats.get("files_val", 1)))]
    remote += [f"{prefix}/fineweb_train_{i:06d}.bin" for i in range(train_shards)]
    remote += [f"{FINEWEB_REMOTE_ROOT}/{tok[k]}" for k in ("model_path", "vocab_path") if tok.get(k)]
    return remote


def fineweb_repo(variant: str) -> str:
    """MATCHED_FINEWEB_REPO_ID when set (a mirror), else the repository that publishes `variant`."""
    return os.environ.get("MATCHED_FINEWEB_REPO_ID") or FINEWEB_REPOS.get(variant, FINEWEB_REPOS["sp1024"])


def fetch_fineweb(data_dir: Path, variant: str = "sp1024", train_shards: int = 80,
                  repo_id: str | None = None, retries: int = 4, progress: Progress = print) -> Path:
    """Fetch what is missing or corrupt; files already present and valid are kept."""
    if train_shards < 1:
        raise DataError("--train-shards must be at least 1")
    repo_id = repo_id or fineweb_repo(variant)
    manifest_remote = f"{FINEWEB_REMOTE_ROOT}/manifest.json"
    manifest_path = _local_path(data_dir, manifest_remote)
    _hub_download(repo_id, manifest_remote, manifest_path, retries)
    plan = fineweb_plan(json.loads(manifest_path.read_text()), variant, train_shards)
    for i, remote in enumerate(plan, 1):
        dest = _local_path(data_dir, remote)
        is_shard = dest.suffix == ".bin"
        if dest.is_file() and (not is_shard or _shard_ok(dest)):
            progress(f"fineweb: [{i}/{len(plan)}] ready {dest}")
            continue
        _hub_download(repo_id, remote, dest, retries)
        if is_shard:
            read_shard_header(dest)
        progress(f"fineweb: [{i}/{len(plan)}] fetched {dest} ({dest.stat().st_size / 1e6:.1f} MB)")
    return data_dir / "datasets" / f"fineweb10B_{variant}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m trainer.data", description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", choices=("embedded", "fineweb"), default="embedded")
    parser.add_argument("--data-dir", default="./data", help="root of the data layout (default: ./data)")
    parser.add_argument("--vocab-size", type=int, default=1024, help="embedded tokenizer size (default: 1024)")
    parser.add_argument("--variant", default="sp1024", help="FineWeb variant: sp1024 or sp8192 (default: sp1024)")
    parser.add_argument("--train-shards", type=int, default=80, help="FineWeb training shards of 100M tokens (default: 80)")
    args = parser.parse_args(argv)
    try:
        if args.source == "embedded":
            prepare_embedded(Path(args.data_dir), args.vocab_size)
        else:
            fetch_fineweb(Path(args.data_dir), args.variant, args.train_shards)
    except (DataError, ShardError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
