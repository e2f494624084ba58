"""What a submission folder claims: submission.json in any of the schemas seen in the
wild (flat, seeds as a list or a dict, per-seed results), and the numbers in its README."""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from .safefiles import read_text, safe_path

MAX_CLAIM_FILE_BYTES = 5_000_000
README_NUMBER = re.compile(r"(?<![\d.])(\d{1,2}\.\d{3,8})(?![\d])")


@dataclass
class Claims:
    file: str | None = None
    name: str | None = None
    author: str | None = None
    github_id: str | None = None
    date: str | None = None
    track: str | None = None
    val_bpb: float | None = None
    val_loss: float | None = None
    bytes_total: int | None = None
    bytes_code: int | None = None
    steps: int | None = None
    seeds: list[int] | None = None
    per_seed: dict[int, dict[str, float]] = field(default_factory=dict)
    readme_numbers: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "file": self.file, "name": self.name, "author": self.author, "github_id": self.github_id,
            "date": self.date, "track": self.track, "val_bpb": self.val_bpb, "val_loss": self.val_loss,
            "bytes_total": self.bytes_total, "bytes_code": self.bytes_code, "steps": self.steps,
            "seeds": self.seeds, "per_seed": {str(k): v for k, v in self.per_seed.items()},
        }


def _number(value, kind=float):
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        if not math.isfinite(value) or abs(value) > 1e18:
            return None
        return kind(value)
    if isinstance(value, str):
        try:
            number = float(value.replace(",", "").strip()[:64])
        except ValueError:
            return None
        return kind(number) if math.isfinite(number) and abs(number) <= 1e18 else None
    return None


def _text(value) -> str | None:
    return value.strip()[:500] if isinstance(value, str) and value.strip() else None


def _first(data: dict, keys: tuple[str, ...], kind=float):
    for key in keys:
        if key in data:
            value = _number(data[key], kind)
            if value is not None:
                return value
    return None


def _seed(key) -> int | None:
    try:
        return int(str(key).strip())
    except ValueError:
        return None


def claim_file(folder: Path, warnings: list[str] | None = None) -> Path | None:
    exact = safe_path(folder, "submission.json", warnings)
    if exact is not None:
        return exact
    try:
        names = sorted(p.name for p in folder.glob("submission*.json") if p.name != "submission.json")
    except OSError:
        return None
    return next((p for p in (safe_path(folder, n, warnings) for n in names) if p is not None), None)


def read_claims(folder: Path) -> Claims:
    claims = Claims()
    path = claim_file(folder, claims.warnings)
    if path is None:
        claims.warnings.append("no submission.json")
    else:
        claims.file = path.name
        if path.name != "submission.json":
            claims.warnings.append(f"claims are in a non-standard file name: {path.name}")
        _read_json_claims(path, claims)
    readme = safe_path(folder, "README.md", claims.warnings)
    if readme is not None:
        try:
            text, _ = read_text(readme, MAX_CLAIM_FILE_BYTES)
        except OSError as exc:
            claims.warnings.append(f"README.md cannot be read ({exc.strerror})")
        else:
            claims.readme_numbers = README_NUMBER.findall(text)
    return claims


def _read_json_claims(path: Path, claims: Claims) -> None:
    try:
        text, cut = read_text(path, MAX_CLAIM_FILE_BYTES)
    except OSError as exc:
        claims.warnings.append(f"{path.name} cannot be read ({exc.strerror})")
        return
    if cut:
        claims.warnings.append(f"{path.name} is larger than {MAX_CLAIM_FILE_BYTES} bytes; not read")
        return
    try:
        data = json.loads(text, parse_constant=lambda name: None)  # NaN, Infinity: not numbers
    except json.JSONDecodeError as exc:
        claims.warnings.append(f"{path.name} is not valid JSON ({exc.msg} at line {exc.lineno})")
        return
    except (ValueError, RecursionError) as exc:  # a 5,000-digit integer, nesting 100,000 deep
        claims.warnings.append(f"{path.name} cannot be read as JSON ({type(exc).__name__}: {str(exc)[:80]})")
        return
    if not isinstance(data, dict):
        claims.warnings.append(f"{path.name} holds a {type(data).__name__}, not an object")
        return
    for key in ("name", "author", "github_id", "date", "track"):
        if key in data and _text(data[key]) is None:
            claims.warnings.append(f"{path.name}: {key} is not a string")
        setattr(claims, key, _text(data.get(key)))
    claims.val_bpb = _first(data, ("val_bpb", "mean_val_bpb", "val_bpb_mean"))
    claims.val_loss = _first(data, ("val_loss", "mean_val_loss", "val_loss_mean"))
    claims.bytes_total = _first(data, ("bytes_total", "artifact_bytes", "total_bytes"), int)
    claims.bytes_code = _first(data, ("bytes_code", "code_bytes"), int)
    claims.steps = _first(data, ("steps", "step_stop"), int)
    for key in ("val_bpb", "val_loss", "bytes_total", "bytes_code"):
        if key in data and _number(data[key]) is None:
            claims.warnings.append(f"{path.name}: {key} is not a number ({str(data[key])[:40]!r})")
    seeds: list[int] = []
    raw_seeds = data.get("seeds")
    if isinstance(raw_seeds, list):
        seeds = [s for s in (_seed(x) for x in raw_seeds) if s is not None]
    for key in ("seeds", "seed_results", "per_seed", "results"):
        block = data.get(key)
        if isinstance(block, dict):
            for seed_key, result in block.items():
                seed = _seed(seed_key)
                if seed is None or not isinstance(result, dict):
                    continue
                if seed not in seeds:
                    seeds.append(seed)
                entry = {
                    "val_bpb": _first(result, ("val_bpb", "post_ttt_val_bpb")),
                    "val_loss": _first(result, ("val_loss", "post_ttt_val_loss")),
                    "steps": _first(result, ("steps", "step_stop"), int),
                    "bytes_total": _first(result, ("bytes_total", "artifact_bytes"), int),
                }
                claims.per_seed[seed] = {k: v for k, v in entry.items() if v is not None}
    if "seed" in data and _seed(data["seed"]) is not None and not seeds:
        seeds = [_seed(data["seed"])]
    claims.seeds = seeds or None
