"""The tracker's commands: `golf check`, `golf import`, `golf package`, `golf serve`."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from golfcore.console import console, err_console, fail, parse_track
from golfcore.secrets import mask_url, redact
from golfcore.vocabulary import Track

DbOption = Annotated[Optional[str], typer.Option("--db", help="SQLAlchemy URL of the database (default: $GOLF_DB or sqlite:///golf.db).")]

COMMANDS: list[tuple[str | None, object]] = []


def command(name_or_fn=None):
    """Collect a command for `register`; `@command` or `@command("name")`."""
    if callable(name_or_fn):
        COMMANDS.append((None, name_or_fn))
        return name_or_fn

    def collect(fn):
        COMMANDS.append((name_or_fn, fn))
        return fn
    return collect


def register(app: typer.Typer) -> None:
    for name, fn in COMMANDS:
        app.command(name)(fn)


def open_db(db: str | None):
    """The sessionmaker for --db, or one clear line: a bad URL, a locked or newer database."""
    from .db import database_url, open_database

    try:
        return open_database(db)
    except Exception as exc:
        fail(f"cannot open {mask_url(database_url(db))}: {redact(str(exc))}")


@command
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
    from .importer import submission_key
    from .report import check_paths, reference_from_db, reference_from_folder, render

    reference = None
    if against is not None:
        if Path(against).is_dir():
            reference = reference_from_folder(Path(against))
        else:
            exclude = submission_key(paths[0]) if len(paths) == 1 and paths[0].is_dir() else None
            try:
                reference = reference_from_db(against, db, exclude_key=exclude)
            except LookupError as exc:
                fail(str(exc))
    document = check_paths(paths, reference, threshold, alpha)
    if as_json:
        print(json.dumps(document, indent=2))
    else:
        render(document, console)
    if document["errors"] or any(s["verdict"] == "invalid" for s in document["submissions"]):
        raise typer.Exit(1)


@command("import")
def import_(
    paths: Annotated[list[Path], typer.Argument(help="Record folders or trees of them: a records/ checkout, a PR, our runs.")],
    db: DbOption = None,
) -> None:
    """Load submission folders into the database: unchanged folders are skipped, changed ones replaced."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from .db import database_url
    from .importer import import_paths

    missing = [str(p) for p in paths if not p.exists()]
    if missing:  # before the database is opened: a typo creates no golf.db
        fail(f"no such folder: {', '.join(missing)}")
    sessions = open_db(db)
    with Progress(TextColumn("importing"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.description}"),
                  console=console, transient=True) as progress:
        task = progress.add_task("", total=None)
        outcomes = import_paths(
            sessions, paths,
            on_found=lambda n: progress.update(task, total=n),
            on_folder=lambda o: progress.update(task, advance=1, description=o.folder.name[:50]),
        )
    counts = {status: sum(o.status == status for o in outcomes) for status in ("imported", "updated", "unchanged", "failed")}
    console.print(", ".join(f"{n} {status}" for status, n in counts.items()) + f"  ->  {mask_url(database_url(db))}", highlight=False)
    for o in outcomes:
        if o.status == "failed":
            err_console.print(f"[red]failed:[/red] {o.folder}: {redact(str(o.reason))}", highlight=False)
    if counts["failed"]:
        raise typer.Exit(1)


@command
def package(
    group: Annotated[Optional[str], typer.Argument(help="A launch's group name, or a folder: run folders (*/train.log) or seed logs.")] = None,
    logs: Annotated[Optional[list[Path]], typer.Option("--logs", help="Seed logs to package instead of a group (repeat, or list after one --logs).")] = None,
    name: Annotated[str, typer.Option(help="Submission name; the folder is YYYY-MM-DD_<name>.")] = ...,
    author: Annotated[str, typer.Option(help="Author's name.")] = ...,
    github_id: Annotated[str, typer.Option(help="Author's GitHub user name.")] = ...,
    out: Annotated[Path, typer.Option(help="Where the folder goes (a records/<track> directory).")] = Path("records"),
    track: Annotated[Track, typer.Option(parser=parse_track, metavar="TRACK", help="10min_16mb (record) or non_record_16mb.")] = "10min_16mb",
    script: Annotated[Optional[Path], typer.Option(help="The train_gpt.py that produced the logs (default: golf's bundled trainer).")] = None,
    date: Annotated[Optional[str], typer.Option(help="YYYY-MM-DD (default: today).")] = None,
    blurb: Annotated[Optional[str], typer.Option(help="One paragraph on what is new.")] = None,
    hardware: Annotated[Optional[str], typer.Option(help="e.g. 8xH100 SXM.")] = None,
    against: Annotated[Optional[Path], typer.Option(help="Reference submission folder for the significance test.")] = None,
    db: DbOption = None,
) -> None:
    """Write a PR-ready records folder: README.md, submission.json, train_seed<N>.log, train_gpt.py, requirements.txt."""
    from .package import PackageError, PackageRequest, group_logs
    from .package import package as build_package
    from .report import reference_from_folder, render

    try:
        seed_logs = list(logs or []) + (group_logs(_group_folder(group, db)) if group is not None else [])
        if not seed_logs:
            fail("give a GROUP folder or --logs a.log b.log ...")
        if script is not None and not script.is_file():
            fail(f"--script {script}: no such file")
        reference = reference_from_folder(against) if against is not None else None
        folder, report = build_package(PackageRequest(
            logs=seed_logs, name=name, author=author, github_id=github_id, out=out, script=script, date=date,
            track=track.value, blurb=blurb, hardware=hardware,
            reference=reference,
        ))
    except PackageError as exc:
        fail(str(exc))
    except typer.Exit:
        raise
    except Exception as exc:  # jsonschema.ValidationError and friends: say what, not a traceback
        fail(f"{type(exc).__name__}: {str(exc).splitlines()[0]}")
    render({"submissions": [report], "errors": []}, console)
    console.print(f"[green]wrote[/green] {folder}", highlight=False)


def _group_folder(group: str, db: str | None) -> Path:
    """A folder as given, else the folder of the launch of that name (`golf launch` wrote it)."""
    from sqlalchemy import select
    from sqlalchemy.engine import make_url

    from .db import LaunchRow, database_url

    if Path(group).exists():
        return Path(group)
    url = database_url(db)
    missing = f"{group}: no such folder, and no launch of that name in {mask_url(url)}"
    try:
        parsed = make_url(url)
    except Exception:
        parsed = None
    if parsed is not None and parsed.get_backend_name() == "sqlite" and not Path(parsed.database or "").is_file():
        fail(missing)  # no database yet: do not create one to look in it
    with open_db(db)() as session:
        launch = session.scalars(select(LaunchRow).where(LaunchRow.group == group)).first()
        if launch is None:
            fail(missing)
        return Path(launch.runs_dir) / launch.group


@command
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on (127.0.0.1: this machine only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    db: DbOption = None,
    token: Annotated[Optional[str], typer.Option(envvar="GOLF_SERVE_TOKEN", help="Turn on POST /api/runs (publishing) for requests bearing this token. Off by default: the site is read-only.")] = None,
    ingest_dir: Annotated[Path, typer.Option(help="Where published folders are written.")] = Path("published"),
) -> None:
    """Serve the web leaderboard: the ranking, every submission's README, JSON, checks and curves, and a JSON API."""
    import uvicorn

    from .db import database_url
    from .web import create_app

    try:
        web_app = create_app(db, token=token, ingest_dir=ingest_dir)
    except Exception as exc:
        fail(f"cannot open {mask_url(database_url(db))}: {redact(str(exc))}")
    console.print(f"golf leaderboard on http://{host}:{port}  ({mask_url(database_url(db))}; "
                  f"{'publishing on' if token else 'read-only'})", highlight=False)
    uvicorn.run(web_app, host=host, port=port, log_level="warning")


