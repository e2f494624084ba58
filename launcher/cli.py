"""The `golf` command line."""
from __future__ import annotations

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

from .console import DbOption, Track, _fail, _open_db, _parse_env, console, err_console
from .launch_cli import register

app = typer.Typer(
    help="Train, launch, check, rank and package Parameter Golf submissions.",
    no_args_is_help=True,
    add_completion=False,
)


class Source(str, Enum):
    embedded = "embedded"
    fineweb = "fineweb"


class Preset(str, Enum):
    auto = "auto"
    smoke = "smoke"
    baseline = "baseline"


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
        _fail(str(exc))
    console.print(f"[green]ready:[/green] {dataset}  (`golf train` will use it)", highlight=False)


def _resolve_preset(preset: Preset) -> str:
    if preset is not Preset.auto:
        return preset.value
    import torch

    return "baseline" if torch.cuda.is_available() else "smoke"


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
    preset: Annotated[Preset, typer.Option(help="smoke: CPU, about a minute. baseline: the challenge's 9x512 SP1024 run. auto: baseline with CUDA, else smoke.")] = Preset.auto,
    seed: Annotated[Optional[int], typer.Option(help="SEED for this run.")] = None,
    nproc: Annotated[int, typer.Option(help="Processes under torchrun (one per GPU; on CPU they use gloo).")] = 1,
    run_id: Annotated[Optional[str], typer.Option(help="Name of the run folder under runs/ (default: generated).")] = None,
    data_path: Annotated[Optional[Path], typer.Option(help="Dataset folder of fineweb_{train,val}_*.bin (default: what `golf data` prepared).")] = None,
    runs_dir: Annotated[Path, typer.Option(help="Where run folders go.")] = Path("runs"),
    env: Annotated[list[str], typer.Option("--env", "-e", help="Extra trainer setting KEY=VALUE (repeatable), e.g. -e ITERATIONS=500.")] = [],
) -> None:
    """Train the reference model once: log, artifact and result.json land in runs/<run_id>/."""
    if nproc < 1:
        _fail("--nproc must be at least 1")
    child_env = dict(os.environ)
    child_env.update(_parse_env(env))
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
        _fail("interrupted", 130)
    result_path = runs_dir / child_env["RUN_ID"] / "result.json"
    if code != 0 or not result_path.is_file():
        _fail(f"training failed (exit {code}); see the output above", code or 1)
    _print_result(result_path)


@app.command()
def check(
    paths: Annotated[list[Path], typer.Argument(help="Submission folders, or trees of them (e.g. a records/ checkout).")],
    against: Annotated[Optional[str], typer.Option(help="Reference for the significance test: a folder, `best` (the current best record in the database), or a submission's id, key or name there.")] = None,
    threshold: Annotated[float, typer.Option(help="Improvement required, in nats per token.")] = 0.005,
    alpha: Annotated[float, typer.Option(help="Significance level of the one-sided Welch test.")] = 0.01,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document on stdout instead of tables.")] = False,
    db: Annotated[Optional[str], typer.Option("--db", help="Database for --against best/id/name (default: $GOLF_DB or sqlite:///golf.db).")] = None,
) -> None:
    """Re-derive every number from the logs, check every rule, and give each submission a verdict.

    Exits non-zero when any submission is invalid (or a path holds no submission)."""
    from leaderboard.importer import submission_key
    from leaderboard.report import check_paths, reference_from_db, reference_from_folder, render

    reference = None
    if against is not None:
        if Path(against).is_dir():
            reference = reference_from_folder(Path(against))
        else:
            exclude = submission_key(paths[0]) if len(paths) == 1 and paths[0].is_dir() else None
            try:
                reference = reference_from_db(against, db, exclude_key=exclude)
            except LookupError as exc:
                _fail(str(exc))
    document = check_paths(paths, reference, threshold, alpha)
    if as_json:
        print(json.dumps(document, indent=2))
    else:
        render(document, console)
    if document["errors"] or any(s["verdict"] == "invalid" for s in document["submissions"]):
        raise typer.Exit(1)


@app.command("import")
def import_(
    paths: Annotated[list[Path], typer.Argument(help="Record folders or trees of them: a records/ checkout, a PR, our runs.")],
    db: DbOption = None,
) -> None:
    """Load submission folders into the database: unchanged folders are skipped, changed ones replaced."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from leaderboard.db import database_url
    from leaderboard.importer import import_paths

    sessions = _open_db(db)
    with Progress(TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                  console=console, transient=True) as progress:
        task = progress.add_task("", total=None)
        outcomes = import_paths(
            sessions, paths,
            on_found=lambda n: progress.update(task, total=n),
            on_folder=lambda o: progress.update(task, advance=1, description=o.folder.name[:50]),
        )
    counts = {status: sum(o.status == status for o in outcomes) for status in ("imported", "updated", "unchanged", "failed")}
    console.print(", ".join(f"{n} {status}" for status, n in counts.items()) + f"  ->  {database_url(db)}", highlight=False)
    for o in outcomes:
        if o.status == "failed":
            err_console.print(f"[red]failed:[/red] {o.folder}: {o.reason}", highlight=False)
    if counts["failed"]:
        raise typer.Exit(1)


@app.command()
def package(
    group: Annotated[Optional[Path], typer.Argument(help="A group folder: run folders (*/train.log) or seed logs.")] = None,
    logs: Annotated[Optional[list[Path]], typer.Option("--logs", help="Seed logs to package instead of a group (repeat, or list after one --logs).")] = None,
    name: Annotated[str, typer.Option(help="Submission name; the folder is YYYY-MM-DD_<name>.")] = ...,
    author: Annotated[str, typer.Option(help="Author's name.")] = ...,
    github_id: Annotated[str, typer.Option(help="Author's GitHub user name.")] = ...,
    out: Annotated[Path, typer.Option(help="Where the folder goes (a records/<track> directory).")] = Path("records"),
    track: Annotated[Track, typer.Option(help="10min_16mb (record) or non_record_16mb.")] = Track.record,
    script: Annotated[Optional[Path], typer.Option(help="The train_gpt.py that produced the logs (default: golf's bundled trainer).")] = None,
    date: Annotated[Optional[str], typer.Option(help="YYYY-MM-DD (default: today).")] = None,
    blurb: Annotated[Optional[str], typer.Option(help="One paragraph on what is new.")] = None,
    hardware: Annotated[Optional[str], typer.Option(help="e.g. 8xH100 SXM.")] = None,
    against: Annotated[Optional[Path], typer.Option(help="Reference submission folder for the significance test.")] = None,
) -> None:
    """Write a PR-ready records folder: README.md, submission.json, train_seed<N>.log, train_gpt.py, requirements.txt."""
    from leaderboard.package import PackageError, PackageRequest, group_logs
    from leaderboard.package import package as build_package
    from leaderboard.report import reference_from_folder, render
    from leaderboard.submission import NON_RECORD_TRACK, RECORD_TRACK

    try:
        seed_logs = list(logs or []) + (group_logs(group) if group is not None else [])
        if not seed_logs:
            _fail("give a GROUP folder or --logs a.log b.log ...")
        if script is not None and not script.is_file():
            _fail(f"--script {script}: no such file")
        reference = reference_from_folder(against) if against is not None else None
        folder, report = build_package(PackageRequest(
            logs=seed_logs, name=name, author=author, github_id=github_id, out=out, script=script, date=date,
            track=NON_RECORD_TRACK if track is Track.non_record else RECORD_TRACK, blurb=blurb, hardware=hardware,
            reference=reference,
        ))
    except PackageError as exc:
        _fail(str(exc))
    except Exception as exc:  # jsonschema.ValidationError and friends: say what, not a traceback
        _fail(f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
    render({"submissions": [report], "errors": []}, console)
    console.print(f"[green]wrote[/green] {folder}", highlight=False)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on (127.0.0.1: this machine only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    db: DbOption = None,
    token: Annotated[Optional[str], typer.Option(envvar="GOLF_SERVE_TOKEN", help="Turn on POST /api/runs (publishing) for requests bearing this token. Off by default: the site is read-only.")] = None,
    ingest_dir: Annotated[Path, typer.Option(help="Where published folders are written.")] = Path("published"),
) -> None:
    """Serve the web leaderboard: the ranking, every submission's README, JSON, checks and curves, and a JSON API."""
    import uvicorn

    from leaderboard.db import database_url
    from leaderboard.web import create_app

    try:
        web_app = create_app(db, token=token, ingest_dir=ingest_dir)
    except Exception as exc:
        _fail(f"cannot open {database_url(db)}: {exc}")
    console.print(f"golf leaderboard on http://{host}:{port}  ({database_url(db)}; "
                  f"{'publishing on' if token else 'read-only'})", highlight=False)
    uvicorn.run(web_app, host=host, port=port, log_level="warning")


register(app)  # launch, gather, cancel, status, logs


def main() -> None:
    app()


if __name__ == "__main__":
    main()
