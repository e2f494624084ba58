"""`golf check`: analyze every folder (each on its own: one hostile folder never hides the others)
and show the analyses as JSON or as text that never cuts a figure, a verdict or a name."""
from __future__ import annotations

import traceback
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from golfcore.console import Fit

from .analysis import ContextFor, analyze_folder
from .submission import find_submissions

STATUS_STYLE = {"pass": "green", "warn": "yellow", "fail": "red", "unknown": "dim"}
VERDICT_STYLE = {"record": "bold green", "valid": "cyan", "invalid": "bold red", "needs-review": "yellow"}
CLAIMS_STYLE = {"agree": "green", "minor": "yellow", "contradict": "red"}


def check_paths(paths: list[Path], context_for: ContextFor | None = None) -> dict:
    folders: list[Path] = []
    errors: list[str] = []
    for path in paths:
        if not path.exists():
            errors.append(f"{path}: no such folder")
            continue
        walk_warnings: list[str] = []
        found = find_submissions(path, walk_warnings)
        errors.extend(walk_warnings)
        if not found:
            errors.append(f"{path}: no submission folder (submission.json or logs) found")
        folders.extend(found)
    analyses = []
    for folder in folders:
        try:
            analyses.append(analyze_folder(folder, context_for)[1])
        except Exception as exc:  # a bug met on hostile input: this folder fails alone, with a clear line
            where = traceback.extract_tb(exc.__traceback__)[-1]
            errors.append(f"{folder}: could not be analyzed ({type(exc).__name__}: {str(exc)[:200]} at "
                          f"{Path(where.filename).name}:{where.lineno}); please report it")
    return {"submissions": analyses, "errors": errors}


def fmt(value, spec: str = "") -> str:
    """A value for a table cell: — for missing, as is when it does not fit the format."""
    if value is None:
        return "—"
    try:
        return format(value, spec) if spec else str(value)
    except (TypeError, ValueError):
        return str(value)


def _run_fields(r: dict) -> list[tuple[str, str]]:
    return [
        ("seed", fmt(r["seed"])), ("val_bpb", fmt(r["val_bpb"], ".8f")), ("val_loss", fmt(r["val_loss"], ".8f")),
        ("stage", fmt(r["score_stage"])), ("bytes", fmt(r["bytes_total"], ",")),
        ("train s", fmt(r["train_time_s"], ".1f")), ("eval s", fmt(r["eval_time_s"], ".1f")), ("steps", fmt(r["steps"])),
    ]


def _run_name(r: dict) -> str:
    name = r["log"] if r["runs_in_log"] == 1 else f"{r['log']} #{r['run']} (lines {r['first_line']}-{r['last_line']})"
    return name + ("" if r["counts"] else f"  [not counted: {r['left_out']}]")


def render(document: dict, console: Console) -> None:
    for error in document["errors"]:
        console.print(f"[red]error:[/red] {escape(error)}", highlight=False)
    for sub in document["submissions"]:
        render_submission(sub, console)


def render_submission(sub: dict, console: Console) -> None:
    style = VERDICT_STYLE.get(sub["verdict"], "")
    claims_style = CLAIMS_STYLE.get(sub["claims"], "")
    console.print()
    console.print(f"[{style}]{sub['verdict'].upper()}[/{style}]  [bold]{escape(sub['name'])}[/bold]  "
                  f"(claims: [{claims_style}]{sub['claims']}[/{claims_style}])", highlight=False)
    console.print(f"{escape(sub['path'])}  ({sub['track']})", highlight=False, style="dim")
    if sub["runs"]:
        runs = Table(show_edge=False, header_style="bold")
        runs.add_column("log", no_wrap=True)
        for column, _ in _run_fields(sub["runs"][0]):
            runs.add_column(column, justify="left" if column == "stage" else "right", no_wrap=True)
        for r in sub["runs"]:
            runs.add_row(escape(_run_name(r)), *(escape(v) for _, v in _run_fields(r)),
                         style=None if r["counts"] else "dim")
        console.print(Fit(runs))
    summary = sub["summary"]
    if summary["mean_val_bpb"] is not None:
        std = f" ± {summary['std_val_bpb']:.5f}" if summary["std_val_bpb"] is not None else ""
        console.print(f"mean val_bpb {summary['mean_val_bpb']:.8f}{std} over {summary['n_seeds']} seed(s): "
                      f"{escape(sub['counted_because'])}", highlight=False)
    for c in sub["checks"]:
        color = STATUS_STYLE[c["status"]]
        console.print(f"[{color}]{c['status']:>7}[/{color}]  {c['id']}: {escape(c['message'])}", highlight=False)
    if sub["reasons"] and sub["verdict"] != "record":
        because = "valid, not a record because" if sub["verdict"] == "valid" else f"{sub['verdict']} because"
        console.print(f"[bold]{because}[/bold] " + escape("; ".join(sub["reasons"])), highlight=False)
    for warning in sub["warnings"]:
        console.print(f"[yellow]warning:[/yellow] {escape(warning)}", highlight=False)
    for r in sub["runs"]:
        for warning in r["warnings"]:
            console.print(f"[yellow]warning:[/yellow] {escape(r['log'])}: {escape(warning)}", highlight=False)
