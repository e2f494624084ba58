"""The `golf` command line."""
from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import uuid
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from golfcore.console import console, fail, parse_env
from leaderboard.cli import register as register_tracker

from .launch_cli import register as register_launcher

app = typer.Typer(
    help="Train, launch, check, rank and package Parameter Golf submissions.",
    no_args_is_help=True,
    add_completion=False,
)


class Source(str, Enum):
    embedded = "embedded"
    fineweb = "fineweb"


@app.command()
def data(
    source: Annotated[Source, typer.Option(help="embedded: text shipped with Python, no network. fineweb: the challenge's shards from Hugging Face.")] = Source.embedded,
    data_dir: Annotated[Path, typer.Option(help="Root of the data layout (datasets/ and tokenizers/).")] = Path("data"),
    vocab_size: Annotated[int, typer.Option(help="Pieces in the embedded tokenizer.")] = 1024,
    variant: Annotated[str, typer.Option(help="FineWeb tokenizer variant: sp1024 or sp8192.")] = "sp1024",
    train_shards: Annotated[int, typer.Option(help="FineWeb training shards to fetch (100M tokens each; 80 is the full set for sp1024).")] = 80,
) -> None:
    """Prepare a tokenizer and token shards in the community's layout under DATA_DIR."""
    from trainer.data import DataError, fetch_fineweb, prepare_embedded
    from trainer.shards import ShardError

    def progress(message: str) -> None:
        console.print(message, highlight=False)

    try:
        if source is Source.embedded:
            dataset = prepare_embedded(data_dir, vocab_size, progress=progress)
        else:
            dataset = fetch_fineweb(data_dir, variant, train_shards, progress=progress)
    except (DataError, ShardError) as exc:
        fail(str(exc))
    console.print(f"[green]ready:[/green] {dataset}  (`golf train` will use it)", highlight=False)


def _resolve_preset(preset: str) -> str:
    from trainer.config import PRESETS

    if preset == "auto":
        import torch

        return "baseline" if torch.cuda.is_available() else "smoke"
    if preset not in PRESETS:
        fail(f"--preset {preset!r} is unknown; choose auto or one of {', '.join(PRESETS)}")
    return preset


def _print_result(result_path: Path) -> None:
    r = json.loads(result_path.read_text())
    table = Table(title=f"run {r['run_id']}", show_header=False)
    table.add_row("score", f"val_bpb {r['val_bpb']:.6f}  val_loss {r['val_loss']:.6f}  ({r['score_stage']})")
    table.add_row("bytes", f"{r['bytes_total']:,} total = {r['bytes_model']:,} model + {r['bytes_code']:,} code (limit 16,000,000)")
    table.add_row("steps", f"{r['steps']} of {r['iterations']} ({r['stop_reason']})")
    table.add_row("time", f"train {r['train_time_s']:.1f}s, artifact {r['artifact_time_s']:.1f}s, eval {r['eval_time_s']:.1f}s")
    table.add_row("files", str(result_path.parent))
    console.print(table)


@app.command()
def train(
    preset: Annotated[str, typer.Option(help="A trainer preset (PRESET): smoke (CPU, about a minute), baseline (the challenge's 9x512 SP1024 run), and the others `trainer/config.py` defines; auto: baseline with CUDA, else smoke.")] = "auto",
    seed: Annotated[Optional[int], typer.Option(help="SEED for this run.")] = None,
    nproc: Annotated[int, typer.Option(help="Processes under torchrun (one per GPU; on CPU they use gloo).")] = 1,
    run_id: Annotated[Optional[str], typer.Option(help="Name of the run folder under runs/ (default: generated).")] = None,
    data_path: Annotated[Optional[Path], typer.Option(help="Dataset folder of fineweb_{train,val}_*.bin (default: what `golf data` prepared).")] = None,
    runs_dir: Annotated[Path, typer.Option(help="Where run folders go.")] = Path("runs"),
    env: Annotated[list[str], typer.Option("--env", "-e", help="Extra trainer setting KEY=VALUE (repeatable), e.g. -e ITERATIONS=500.")] = [],
) -> None:
    """Train the reference model once: log, artifact and result.json land in runs/<run_id>/."""
    if nproc < 1:
        fail("--nproc must be at least 1")
    child_env = dict(os.environ)
    child_env.update(parse_env(env))
    child_env["PRESET"] = _resolve_preset(preset)
    if seed is not None:
        child_env["SEED"] = str(seed)
    child_env["RUN_ID"] = run_id or child_env.get("RUN_ID") or (
        f"{child_env['PRESET']}-s{child_env.get('SEED', 'default')}-{uuid.uuid4().hex[:8]}"
    )
    child_env["RUNS_DIR"] = str(runs_dir)
    if data_path is not None:
        child_env["DATA_PATH"] = str(data_path)
    if nproc == 1:
        command = [sys.executable, "-m", "trainer"]
    else:
        command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", "-m", "trainer"]
    console.print(f"[bold]golf train[/bold] preset={child_env['PRESET']} run_id={child_env['RUN_ID']} nproc={nproc}", highlight=False)
    try:
        code = subprocess.call(command, env=child_env)
    except KeyboardInterrupt:
        fail("interrupted", 130)
    result_path = runs_dir / child_env["RUN_ID"] / "result.json"
    if code != 0 or not result_path.is_file():
        fail(f"training failed (exit {code}); see the output above", code or 1)
    _print_result(result_path)


register_tracker(app)  # check, import, package, serve
register_launcher(app)  # launch, gather, cancel, status, logs
for _info in app.registered_commands:  # the command list shows each docstring's first paragraph as one text
    if _info.short_help is None and _info.callback is not None:
        _info.short_help = " ".join(inspect.getdoc(_info.callback).split("\n\n")[0].split())


def main() -> None:
    app()


if __name__ == "__main__":
    main()
