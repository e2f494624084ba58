"""The tracker's commands: `golf check`, `golf import`, `golf package`, `golf serve`."""
from __future__ import annotations

import json
import os
from enum import Enum
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


def open_db(db: str | None, write: bool = True):
    """The sessionmaker for --db, or one clear line: a bad URL, a damaged, locked or newer database."""
    from .db import database_url, open_database

    try:
        return open_database(db, write=write)
    except Exception as exc:
        fail(f"cannot open {mask_url(database_url(db))}: {redact(str(exc))}")


class PolicyName(str, Enum):
    readme = "readme"
    practice = "practice"


PolicyOption = Annotated[PolicyName, typer.Option(help="Significance for `record`: readme (>= 0.005 nats at p < 0.01, the published rule) or practice (one-sided Welch p < 0.25 against the previous record, as the organizers ranked).")]


def _existing_db(db: str | None):
    """The sessionmaker when the database exists; None for a SQLite file that is not there (no file is created)."""
    from sqlalchemy.engine import make_url

    from .db import database_url

    url = database_url(db)
    try:
        parsed = make_url(url)
    except Exception as exc:
        fail(f"--db: not a database URL ({redact(str(exc))})")
    if parsed.get_backend_name() == "sqlite" and parsed.database and not Path(parsed.database).exists():
        return None
    return open_db(db, write=False)


@command
def check(
    paths: Annotated[list[Path], typer.Argument(help="Submission folders, or trees of them (e.g. a records/ checkout).")],
    against: Annotated[Optional[str], typer.Option(help="The reference for `record`: a folder, `best` (the best accepted record in the database), or a submission's id, key or name there. Default: the accepted record standing on each submission's date, from the database.")] = None,
    policy: PolicyOption = PolicyName.readme,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document on stdout instead of text.")] = False,
    db: Annotated[Optional[str], typer.Option("--db", help="Database of accepted records (default: $GOLF_DB or sqlite:///golf.db; none is created).")] = None,
) -> None:
    """Re-derive every number from the logs, check every rule, and give each submission a verdict:
    invalid (a rule is broken), needs-review (the logs leave a rule in doubt, or the claims contradict
    them), valid (every rule holds, not a record) or record (significant against the record of its day).

    Exits 1 when any submission is invalid or a path holds no submission."""
    from .analysis import reference_from_folder
    from .db import database_url
    from .references import DatabaseReferences, reference_by_name
    from .report import check_paths, render
    from .rules import Context
    from .significance import POLICIES

    chosen = POLICIES[policy.value]
    if against is not None and Path(against).is_dir():
        fixed = reference_from_folder(Path(against))
        context_for = lambda sub: Context(fixed, chosen, None)  # noqa: E731
    else:
        sessions = _existing_db(db)
        if against is not None and sessions is None:
            fail(f"--against {against!r}: no database at {mask_url(database_url(db))}; import records first")
        if sessions is None:
            context_for = None
        elif against is not None:
            try:
                named = reference_by_name(sessions, against)
            except LookupError as exc:
                fail(str(exc))

            def context_for(sub):  # never against itself or a copy of itself
                ref = named
                if ref.content_hash == sub.digest:
                    try:
                        ref = reference_by_name(sessions, against, exclude_digest=sub.digest) if against == "best" else None
                    except LookupError:
                        ref = None
                return Context(ref, chosen, None)
        else:
            references = DatabaseReferences(sessions, policy.value)
            context_for = lambda sub: references.context(sub.claims.date or sub.path.name[:10], sub.digest, None)  # noqa: E731
    document = check_paths(paths, context_for)
    if as_json:
        print(json.dumps(document, indent=2))
    else:
        render(document, console)
    if document["errors"] or any(s["verdict"] == "invalid" for s in document["submissions"]):
        raise typer.Exit(1)


@command("import")
def import_(
    paths: Annotated[list[Path], typer.Argument(help="Record folders or trees of them: a records/ checkout, a PR, our runs.")],
    accepted: Annotated[bool, typer.Option("--accepted", help="These folders are merged into the official main: they are the records others are judged against.")] = False,
    pr: Annotated[Optional[int], typer.Option(help="The pull request these folders come from.")] = None,
    policy: PolicyOption = PolicyName.readme,
    db: DbOption = None,
) -> None:
    """Load submission folders into the database, each keyed by its path under the imported root and
    judged against the accepted record of its day. Unchanged folders are not touched, changed ones are
    re-derived in place (their ids stay), identical copies are linked to the original."""
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
            sessions, paths, accepted=accepted, pr=pr, policy=policy.value,
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
def sync(
    repo: Annotated[str, typer.Option(help="The official repository on GitHub, OWNER/NAME.")] = "openai/parameter-golf",
    git: Annotated[Optional[str], typer.Option("--git", metavar="PATH_OR_URL", help="Where to fetch the repository from: a local clone or a URL (default: https://github.com/OWNER/NAME.git). It must carry the pull requests' heads as refs/pull/N/head.")] = None,
    offline: Annotated[bool, typer.Option("--offline", help="Ask GitHub nothing: merged is inferred from the git graph, dates from the commits, and shown as inferred.")] = False,
    mirror: Annotated[Optional[Path], typer.Option("--mirror", metavar="DIR", help="Where the mirror and the folders read from it live (default: ~/.cache/golf/sync/OWNER__NAME). The web pages read the files there.")] = None,
    api: Annotated[str, typer.Option(envvar="GOLF_GITHUB_API", help="GitHub's REST API.")] = "https://api.github.com",
    branch: Annotated[str, typer.Option(help="Main's branch: what it holds is accepted.")] = "main",
    not_accepted: Annotated[Optional[list[str]], typer.Option("--not-accepted", metavar="KEY", help="Never count this submission (its key, e.g. records/track_10min_16mb/NAME) as accepted, though main holds it: a record found wrong after it was merged. Kept in the database; repeat for more.")] = None,
    accept: Annotated[Optional[list[str]], typer.Option("--accept", metavar="KEY", help="Count this submission as accepted though main does not hold it (e.g. pr1234/records/track_10min_16mb/NAME). Kept in the database; repeat for more.")] = None,
    policy: PolicyOption = PolicyName.readme,
    db: DbOption = None,
) -> None:
    """Fetch the official repository with every pull request's head, and import what changed: main's
    records as accepted, and each pull request's records folders keyed pr<N>/records/<track>/<name>,
    judged against the record standing on the day the pull request was opened. A pull request whose
    head did not move is not read again. Titles, authors, states and dates come from GitHub's API
    (GITHUB_TOKEN optional, never shown); offline or unreachable, from git, marked inferred.

    Exits 1 when a folder failed to import, 2 when the sync could not run."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from .db import database_url
    from .sync import GitError, GitHubError, SyncError, SyncOptions, run_sync

    overrides = {key: False for key in not_accepted or []} | {key: True for key in accept or []}
    sessions = open_db(db)
    options = SyncOptions(repo=repo, source=git, folder=mirror, offline=offline, api=api, branch=branch,
                          policy=policy.value, token=os.environ.get("GITHUB_TOKEN") or None, overrides=overrides)
    say = lambda text: err_console.print(redact(text), highlight=False)  # noqa: E731
    try:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=err_console,
                      transient=True) as bar:
            task = bar.add_task("syncing", total=None)
            report = run_sync(sessions, options, say=lambda text: bar.console.print(redact(text), highlight=False),
                              progress=lambda what, done, total: bar.update(task, description=redact(what)[:70],
                                                                          completed=done, total=total))
    except (GitError, GitHubError, SyncError) as exc:
        fail(redact(str(exc)))
    for warning in report.warnings:
        say(f"[yellow]warning:[/yellow] {warning}")
    prs, folders = report.prs, report.folders
    api_note = (f"; {report.api_requests} API requests, {report.api_not_modified} not modified"
                if report.api_requests else "")
    console.print(f"main {report.main_sha[:12]} ({'moved' if report.main_moved else 'unchanged'})", highlight=False)
    console.print(f"pull requests: {prs['new']} new, {prs['moved']} changed, {prs['updated']} re-judged, "
                  f"{prs['unchanged']} unchanged (states: {report.metadata}{api_note})", highlight=False)
    console.print(f"folders: {folders['imported']} imported, {folders['updated']} updated, "
                  f"{folders['unchanged']} unchanged, {folders['failed']} failed, {folders['removed']} removed  "
                  f"->  {mask_url(database_url(db))}", highlight=False)
    console.print(f"read {report.files_read} files from git ({report.diffs} pull requests compared with main)",
                  highlight=False)
    for outcome in report.failures:
        err_console.print(f"[red]failed:[/red] {outcome.key or outcome.folder}: {redact(str(outcome.reason))}",
                          highlight=False)
    if report.failures:
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
    from .analysis import reference_from_folder
    from .report import render

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
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes (uvicorn's). On PostgreSQL any number; on SQLite too (WAL: readers never wait; publishing writes take turns).")] = 1,
) -> None:
    """Serve the web leaderboard: the ranking, every submission's README, JSON, checks and curves, and a JSON API."""
    import uvicorn

    from .db import database_url
    from .serving import DB_ENV, INGEST_ENV, TOKEN_ENV
    from .web import create_app

    try:
        web_app = create_app(db, token=token, ingest_dir=ingest_dir)  # the database opened (and migrated) once, here
    except Exception as exc:
        fail(f"cannot open {mask_url(database_url(db))}: {redact(str(exc))}")
    console.print(f"golf leaderboard on http://{host}:{port}  ({mask_url(database_url(db))}; "
                  f"{'publishing on' if token else 'read-only'}"
                  f"{f'; {workers} worker processes' if workers > 1 else ''})", highlight=False)
    if workers == 1:
        uvicorn.run(web_app, host=host, port=port, log_level="warning")
        return
    # each worker process builds its own app from the environment (leaderboard.serving)
    os.environ.update({DB_ENV: database_url(db), INGEST_ENV: str(ingest_dir.resolve())})
    os.environ.pop(TOKEN_ENV, None)
    if token:
        os.environ[TOKEN_ENV] = token
    uvicorn.run("leaderboard.serving:app_from_env", factory=True, host=host, port=port, workers=workers,
                log_level="warning")


