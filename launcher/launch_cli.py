"""`golf launch`, `golf status`, `golf logs`, `golf gather`, `golf cancel`."""
from __future__ import annotations

import json
import sys
import time
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.live import Live
from rich.table import Table

from .backends.base import TERMINAL, LaunchError
from golfcore.console import Fit, console, err_console, fail, parse_env, parse_track, plural
from golfcore.vocabulary import Track
from leaderboard.cli import DbOption, open_db

from .gpus import COUNTS, GPU_NAMES, GpuSpecError, parse_gpus
from golfcore.secrets import redact
from .settings import SettingsError, load_settings


class BackendName(str, Enum):
    local = "local"
    modal = "modal"
    runpod = "runpod"
    skypilot = "skypilot"


class DatasetName(str, Enum):
    auto = "auto"
    embedded = "embedded"
    sp1024 = "sp1024"
    sp8192 = "sp8192"


COMMANDS = []


def command(fn):
    COMMANDS.append(fn)
    return fn


def register(app: typer.Typer) -> None:
    for fn in COMMANDS:
        app.command()(fn)


def _auto_gpus(backend: str) -> str:
    if backend != "local":
        return "8xH100"
    from .backends.local import visible_gpus

    have = visible_gpus()
    if have == 0:
        return "cpu"
    import torch

    name = torch.cuda.get_device_name(0).upper()
    kind = next((k for k in GPU_NAMES if k in name), None)
    if kind is None:
        fail(f"this machine's GPU ({name}) is not one golf knows ({', '.join(GPU_NAMES)}); pass --gpus")
    return f"{max(c for c in COUNTS if c <= have)}x{kind}"


def _guard(fn):
    """Turn the launcher's expected errors into one clear line and exit 2."""
    try:
        return fn()
    except (LaunchError, GpuSpecError, SettingsError) as exc:
        fail(redact(str(exc)))
    except ModuleNotFoundError as exc:  # a cloud SDK not installed
        fail(f"{exc.name} is not installed: pip install 'golf[clouds]'")


@command
def launch(
    script: Annotated[Optional[Path], typer.Argument(help="Your train_gpt.py (default: golf's reference trainer).")] = None,
    gpus: Annotated[Optional[str], typer.Option(help="NxTYPE (8xH100, 1xH200, 4xA100) or cpu. Default: cpu without a GPU here, else the GPUs here; 8xH100 on clouds. H100 means the SXM part.")] = None,
    seeds: Annotated[str, typer.Option(help="Comma-separated seeds, one job each.")] = "42,314,999",
    backend: Annotated[Optional[BackendName], typer.Option(help="Where the seeds run (default: golf.toml, else local).")] = None,
    env: Annotated[list[str], typer.Option("--env", "-e", help="KEY=VALUE for the script (repeatable). Values of *KEY/*TOKEN/*SECRET names are never shown or stored.")] = [],
    name: Annotated[Optional[str], typer.Option(help="Group name (default: date_script_gpus_xxxx); files go to runs/<name>/.")] = None,
    track: Annotated[Optional[Track], typer.Option(parser=parse_track, metavar="TRACK", help="10min_16mb: the caps apply and the worker enforces them. non_record_16mb: no time caps.")] = None,
    dataset: Annotated[DatasetName, typer.Option(help="embedded (CPU, no network), sp1024 or sp8192 FineWeb; auto: embedded on cpu, else sp1024.")] = DatasetName.auto,
    retries: Annotated[Optional[int], typer.Option(help="Retries per seed after an infrastructure failure (never after a script failure).")] = None,
    max_cost: Annotated[Optional[float], typer.Option(help="Refuse plans estimated above this many USD.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan and its cost; create nothing.")] = False,
    detach: Annotated[bool, typer.Option("--detach", help="Submit and return; follow later with `golf gather`.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before spending money.")] = False,
    runs_dir: Annotated[Optional[Path], typer.Option(help="Where group folders go (default: runs).")] = None,
    db: DbOption = None,
) -> None:
    """Run a training script once per seed on a GPU pool, follow it live, bring every log and
    artifact home, check the caps and say whether the group is a record."""
    from .plan import LaunchPlan, default_group, parse_seeds, render_plan, validate_plan

    settings = _guard(load_settings)
    defaults = settings["launch"]
    backend_name = backend.value if backend else str(defaults["backend"])
    gpu_text = gpus or (str(defaults["gpus"]) if defaults["gpus"] != "auto" else _auto_gpus(backend_name))
    gpu_spec = _guard(lambda: parse_gpus(gpu_text))
    dataset_name = dataset.value if dataset is not DatasetName.auto else str(defaults["dataset"])
    if dataset_name == "auto":
        dataset_name = "embedded" if gpu_spec.is_cpu else "sp1024"
    plan = _guard(lambda: LaunchPlan(
        group=name or default_group(script, gpu_spec), backend_name=backend_name, gpus=gpu_spec,
        seeds=parse_seeds(seeds), script=script, env=parse_env(env),
        track=(track.short if track else Track.parse(str(defaults["track"])).short), dataset=dataset_name,
        retries=int(retries if retries is not None else defaults["retries"]),
        runs_dir=runs_dir or Path(defaults["runs_dir"]), settings=settings,
    ))
    _guard(lambda: validate_plan(plan))
    plan_dict = _guard(plan.as_dict)
    render_plan(plan_dict, console)
    cost = plan_dict["estimated_cost_usd"]
    if max_cost is not None and cost > max_cost:
        fail(f"the plan is estimated at ${cost:.2f}, above --max-cost ${max_cost:.2f}")
    if dry_run:
        return
    _guard(lambda: plan.backend.preflight(plan.gpus, len(plan.seeds)))  # may ask the service: not in a dry run
    if cost > 0 and not yes:
        if not sys.stdin.isatty():
            fail(f"this launch is estimated at ${cost:.2f}; pass --yes to confirm without a terminal")
        typer.confirm(f"Launch {plural(len(plan.seeds), 'seed')} on {backend_name} {gpu_spec} (est. ${cost:.2f})?",
                      abort=True)
    sessions = open_db(db)
    from .launches import create_launch

    _guard(lambda: create_launch(sessions, plan, plan_dict))
    _drive(sessions, plan, db, detach)


def _drive(sessions, plan, db: str | None, detach: bool) -> None:
    from leaderboard.report import render

    from .driver import Driver, DriverBusy

    driver = Driver(sessions, plan, console, db_url=db)
    try:
        outcome = driver.run(detach=detach)
    except DriverBusy as exc:
        fail(str(exc))
    except KeyboardInterrupt:
        err_console.print(f"interrupted: every seed of {plan.group} was stopped", highlight=False)
        raise typer.Exit(130)
    except LaunchError as exc:
        fail(redact(str(exc)))
    except OSError as exc:  # this machine could not write (a full disk): every seed was stopped
        fail(redact(f"could not write on this machine: {exc}; every seed of {plan.group} was stopped"))
    if outcome.state == "detached":
        console.print(f"detached: follow with `golf status {plan.group} --watch`, collect with `golf gather {plan.group}`",
                      highlight=False)
        return
    if outcome.state == "cancelled":
        err_console.print(f"{plan.group} was cancelled", highlight=False)
        raise typer.Exit(1)
    if outcome.report is not None:
        render({"submissions": [outcome.report], "errors": []}, console)
        console.print(f"files: {plan.runs_dir / plan.group}   package: golf package {plan.group} "
                      f"--name NAME --author AUTHOR --github-id ID", highlight=False)
    if outcome.state != "done" or outcome.verdict == "invalid":  # like golf check: a broken rule is a failure
        raise typer.Exit(1)


@command
def gather(
    group: Annotated[str, typer.Argument(help="The launch's group name.")],
    db: DbOption = None,
) -> None:
    """Follow a launch to its end from the database: start seeds still queued, bring outputs home,
    check the group. Safe to run again: what is done is not redone."""
    from .launches import find_launch, load_plan

    sessions = open_db(db)
    with sessions() as session:
        launch = _guard(lambda: find_launch(session, group))
        queued = any(s.state == "queued" for s in launch.seeds)
    plan = _guard(lambda: load_plan(sessions, group, _guard(load_settings), need_env=queued))
    _drive(sessions, plan, db, detach=False)


@command
def cancel(
    group: Annotated[str, typer.Argument(help="The launch's group name.")],
    db: DbOption = None,
) -> None:
    """Stop every seed of a launch and free what bills: processes, pods, jobs, clusters."""
    from .driver import Driver
    from .launches import find_launch, load_plan

    sessions = open_db(db)
    with sessions() as session:
        launch = _guard(lambda: find_launch(session, group))
        was, running = launch.state, [s.seed for s in launch.seeds if s.state not in TERMINAL]
    plan = _guard(lambda: load_plan(sessions, group, _guard(load_settings), need_env=False))
    driver = Driver(sessions, plan, console, db_url=db)
    stopped = _guard(lambda: driver.cancel_all("cancelled by `golf cancel`", release_finished=True))
    if was != "running" and not running:  # nothing to cancel; leftovers (a pod not terminated) are still freed
        freed = f"; freed {plural(stopped, 'leftover job')}" if stopped else ""
        console.print(f"{group} had already ended ({was}); nothing was running{freed}", highlight=False)
        return
    console.print(f"{group}: cancelled {plural(len(running), 'unfinished seed')}; stopped {plural(stopped, 'job')}",
                  highlight=False)


@command
def status(
    group: Annotated[Optional[str], typer.Argument(help="A launch's group name (default: the recent launches).")] = None,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Refresh every 2 s until the launch ends (Ctrl-C to stop watching).")] = False,
    db: DbOption = None,
) -> None:
    """Where each launch and seed stands, from the database (works from any terminal)."""
    from .driver import progress_table
    from .launches import find_launch

    sessions = open_db(db)

    def render():
        with sessions() as session:
            if group is None:
                return _launches_table(session), True
            launch = _guard(lambda: find_launch(session, group))
            cap = json.loads(launch.plan_json).get("train_cap_s")
            return progress_table(launch, cap), launch.state != "running"

    table, finished = render()
    if not watch:
        console.print(table)
        return
    try:
        with Live(table, console=console, refresh_per_second=1, transient=True) as live:  # then printed whole
            while not finished:
                time.sleep(2)
                table, finished = render()
                live.update(table)
    except KeyboardInterrupt:
        pass
    console.print(table)


def _launches_table(session) -> Fit:
    from sqlalchemy import select

    from leaderboard.db import LaunchRow

    table = Table(header_style="bold")
    for column in ("group", "backend", "gpus", "state", "seeds done", "verdict", "est $", "cost $", "created"):
        table.add_column(column)
    for launch in session.scalars(select(LaunchRow).order_by(LaunchRow.created_at.desc()).limit(30)):
        done = sum(s.state == "done" for s in launch.seeds)
        cost = sum(s.cost_usd or 0 for s in launch.seeds)
        table.add_row(launch.group, launch.backend, launch.gpus, launch.state, f"{done}/{len(launch.seeds)}",
                      launch.verdict or "—", f"{launch.est_cost_usd or 0:.2f}", f"{cost:.2f}",
                      launch.created_at.strftime("%Y-%m-%d %H:%M"))
    return Fit(table, title="launches")


@command
def logs(
    run: Annotated[str, typer.Argument(help="GROUP/seedN (or GROUP/N).")],
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing as the log grows, until the seed ends.")] = False,
    db: DbOption = None,
) -> None:
    """Print one seed's log: the gathered log when it is done, else what has streamed so far."""
    from .launches import find_launch

    group, _, seed_text = run.rpartition("/")
    seed_text = seed_text.removeprefix("seed")
    if not group or not seed_text.lstrip("-").isdigit():
        fail(f"{run!r}: expected GROUP/seedN")
    seed = int(seed_text)
    sessions = open_db(db)

    def locate():
        with sessions() as session:
            launch = _guard(lambda: find_launch(session, group))
            row = next((s for s in launch.seeds if s.seed == seed), None)
            if row is None:
                fail(f"{group} has no seed {seed}; it has {', '.join(str(s.seed) for s in launch.seeds)}")
            folder = Path(launch.runs_dir) / group
            final = folder / f"train_seed{seed}.log"
            return (final if final.exists() else folder / f"seed{seed}" / f"attempt{row.attempt}.out"), row.state

    path, state = locate()
    offset = 0
    while True:
        if path.exists():
            with open(path, "rb") as fh:
                fh.seek(offset)
                chunk = fh.read()
            offset += len(chunk)
            sys.stdout.write(redact(chunk.decode("utf-8", errors="replace")))
            sys.stdout.flush()
        if not follow or state in TERMINAL:
            break
        time.sleep(1)
        new_path, state = locate()
        if new_path != path:
            path = new_path  # the gathered log holds the same bytes as the stream
    if not path.exists():
        err_console.print(f"no log yet for {group}/seed{seed} ({state})", highlight=False)
