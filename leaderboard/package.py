"""`golf package`: a PR-ready records folder from a group of seed logs.

The folder (README.md, submission.json in the canonical schema, train_seed<N>.log,
train_gpt.py, requirements.txt) is built in a temporary directory beside its destination
and renamed into place only when complete and checked.
"""
from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import statistics
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import jsonschema
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from packaging.version import InvalidVersion, Version

from golfcore.loggrammar import parse_event
from golfcore.vocabulary import Track

from .analysis import document
from .logparse import ParsedLog, parse_file
from .rules import Context, Reference, judge
from .significance import POLICIES, Policy, welch_improvement
from .submission import analyze

SCHEMA_PATH = Path(__file__).resolve().parent / "schemas" / "submission.schema.json"
TEMPLATES = Path(__file__).resolve().parent / "templates"
REQUIREMENTS = ("torch", "numpy", "sentencepiece", "brotli")
GENERATOR = "golf 0.1.0"


class PackageError(ValueError):
    pass


@dataclass
class PackageRequest:
    logs: list[Path]
    name: str
    author: str
    github_id: str
    out: Path
    track: str = Track.record.value
    script: Path | None = None
    date: str | None = None
    blurb: str | None = None
    hardware: str | None = None
    reference: Reference | None = None
    policy: Policy = POLICIES["readme"]


def folder_name(date: str, name: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_-]+", "_", name.strip()).strip("_-")
    safe = re.sub(r"_+", "_", safe)[:80]
    if not safe:
        raise PackageError(f"--name {name!r} has no letters or digits to name a folder with")
    return f"{date}_{safe}"


def load_schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text())


def group_logs(group: Path) -> list[Path]:
    """The seed logs of a group folder: our run folders (*/train.log) or log files in it."""
    logs = sorted(group.glob("*/train.log")) or sorted(p for p in group.iterdir() if p.suffix in (".log", ".txt"))
    if not logs:
        raise PackageError(f"{group} holds no run folders (*/train.log) and no log files")
    return logs


def _code_packing(path: Path) -> str:
    """The packing our trainer logged for its counted code (plain when not stated)."""
    for line in path.read_text(errors="replace").splitlines()[:50]:
        event = parse_event(line)
        if event is not None and event.name == "code" and event.get("packing"):
            return event.get("packing")
    return "plain"


def _requirements() -> str:
    """The versions installed here, as an index serves them: no local label (torch 2.13.0+cpu is 2.13.0)."""
    lines = []
    for name in REQUIREMENTS:
        try:
            lines.append(f"{name}=={Version(metadata.version(name)).public}")
        except (metadata.PackageNotFoundError, InvalidVersion):
            lines.append(name)
    return "\n".join(lines) + "\n"


@dataclass
class Reproduction:
    """What the logs say was run, for the README: on what, with which preset and data, and how."""

    hardware: str
    preset: str | None
    dataset: str | None
    data_command: str | None
    launcher: str  # `python` or `torchrun ... --nproc_per_node=N`


DATA_COMMANDS = {"embedded": "golf data --source embedded --vocab-size {vocab}",
                 "fineweb10B": "golf data --source fineweb --variant sp{vocab}"}


def reproduction(path: Path, log: ParsedLog) -> Reproduction:
    """From our trainer's header and data lines when the log has them, else from what the parser found."""
    header, dataset = {}, None
    with open(path, errors="replace") as fh:
        for _, line in zip(range(400), fh):
            event = parse_event(line)
            if event is not None and event.name == "golf_trainer":
                header = event.fields
            elif event is not None and event.name == "data" and event.get("dataset"):
                dataset = Path(event.get("dataset")).name
    run = log.run
    dataset = dataset or run.dataset
    world = int(header["world_size"]) if header.get("world_size", "").isdigit() else run.world_size
    on_cpu = header.get("device") == "cpu"
    if on_cpu:
        hardware = f"{world or 1} CPU process{'es' if (world or 1) > 1 else ''} ({header.get('device_name') or 'cpu'})"
    elif world:
        hardware = f"{world} x {header.get('device_name') or run.gpu_name or 'GPU'}"
    else:
        hardware = "not stated in the logs (the challenge's is 8xH100 SXM)"
    data_command = None
    m = re.fullmatch(r"(embedded|fineweb10B)_sp(\d+)", dataset or "")
    if m:
        data_command = DATA_COMMANDS[m.group(1)].format(vocab=m.group(2))
    nproc = world or (1 if on_cpu else 8)
    launcher = "python" if on_cpu and nproc == 1 else f"torchrun --standalone --nproc_per_node={nproc}"
    return Reproduction(hardware=hardware, preset=header.get("preset"), dataset=dataset, data_command=data_command,
                        launcher=launcher)


def build_submission_json(req: PackageRequest, parsed: dict[int, ParsedLog]) -> dict:
    seeds = sorted(parsed)
    results = {}
    for seed in seeds:
        run = parsed[seed].run
        results[str(seed)] = {
            "val_bpb": run.score.val_bpb, "val_loss": run.score.val_loss, "score_stage": run.score.name,
            "steps": run.steps, "bytes_total": run.bytes_total,
            "train_time_s": None if run.train_time_s is None else round(run.train_time_s, 3),
            "eval_time_s": None if run.eval_time_s is None else round(run.eval_time_s, 3),
            "log": f"train_seed{seed}.log",
        }
    bpbs = [r["val_bpb"] for r in results.values()]
    losses = [r["val_loss"] for r in results.values()]
    totals = [r["bytes_total"] for r in results.values() if r["bytes_total"] is not None]
    codes = [parsed[s].run.bytes_code for s in seeds if parsed[s].run.bytes_code is not None]
    if not totals or not codes:
        raise PackageError("the logs do not state the artifact's bytes (total and code)")
    doc = {
        "schema": "golf-submission/1", "name": req.name, "author": req.author, "github_id": req.github_id,
        "date": req.date, "track": Track(req.track).short,
        "val_bpb": statistics.fmean(bpbs), "val_bpb_std": statistics.stdev(bpbs) if len(bpbs) > 1 else None,
        "val_loss": statistics.fmean(losses), "val_loss_std": statistics.stdev(losses) if len(losses) > 1 else None,
        "bytes_total": max(totals), "bytes_code": max(codes), "seeds": seeds, "seed_results": results,
        "significance": None, "generator": GENERATOR,
    }
    if req.blurb:
        doc["blurb"] = req.blurb
    if req.hardware:
        doc["hardware"] = req.hardware
    if req.reference is not None and req.reference.val_losses:
        sig = welch_improvement(losses, req.reference.val_losses, bpbs, req.reference.val_bpbs,
                                req.policy.threshold_nats, req.policy.alpha)
        doc["significance"] = {"against": req.reference.name, **{k: v for k, v in sig.as_dict().items()
                                                                  if k not in ("n_new", "n_ref")}}
    return doc


def package(req: PackageRequest) -> tuple[Path, dict]:
    """Write the folder; returns its path and the `golf check` report of it."""
    if not req.logs:
        raise PackageError("no logs given")
    req.date = req.date or dt.date.today().isoformat()
    try:
        dt.date.fromisoformat(req.date)
    except ValueError:
        raise PackageError(f"--date {req.date!r} is not YYYY-MM-DD") from None
    parsed: dict[int, ParsedLog] = {}
    paths: dict[int, Path] = {}
    for path in req.logs:
        if not path.is_file():
            raise PackageError(f"{path}: no such log")
        log = parse_file(path)
        run = log.run
        if run.score is None or not run.score.after_artifact:
            raise PackageError(f"{path}: no final score of the artifact in this log")
        if run.seed is None:
            raise PackageError(f"{path}: the log does not say its seed")
        if run.seed in parsed:
            raise PackageError(f"{path}: seed {run.seed} appears in two logs")
        parsed[run.seed] = log
        paths[run.seed] = path
    doc = build_submission_json(req, parsed)
    jsonschema.validate(doc, load_schema())
    req.out.mkdir(parents=True, exist_ok=True)
    final = req.out / folder_name(req.date, req.name)
    if final.exists():
        raise PackageError(f"{final} already exists; nothing was changed")
    staging = Path(tempfile.mkdtemp(prefix=".golf-package-", dir=req.out))
    try:
        for seed, path in paths.items():
            shutil.copyfile(path, staging / f"train_seed{seed}.log")
        if req.script is not None:
            shutil.copyfile(req.script, staging / "train_gpt.py")
        else:
            from trainer.bundle import build_bundle

            (staging / "train_gpt.py").write_bytes(build_bundle(_code_packing(paths[min(paths)])))
        (staging / "requirements.txt").write_text(_requirements())
        (staging / "submission.json").write_text(json.dumps(doc, indent=2) + "\n")
        (staging / "README.md").write_text("checks pending\n")
        # the README shows the checks of the folder as it will be published
        context = Context(req.reference, req.policy)
        report = _analysis_as(staging, final, req.track, context)
        (staging / "README.md").write_text(render_readme(doc, report, reproduction(paths[min(paths)],
                                                                                     parsed[min(paths)])))
        report = _analysis_as(staging, final, req.track, context)
        staging.chmod(0o755)
        staging.rename(final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    report["path"] = str(final)
    return final, report


def _analysis_as(staging: Path, final: Path, track: str, context: Context) -> dict:
    """The analysis of the folder as it will be published (its final path and track)."""
    sub = analyze(staging)
    sub.path, sub.track = final, track
    return document(sub, judge(sub, context), context)


def render_readme(doc: dict, report: dict, run: Reproduction) -> str:
    env = Environment(loader=FileSystemLoader(TEMPLATES), undefined=StrictUndefined, keep_trailing_newline=True,
                      autoescape=False)
    return env.get_template("submission_README.md.j2").render(
        s=doc, checks=report["checks"], verdict=report["verdict"], run=run,
    )
