"""`golf check`: each submission's runs, checks and verdict, as JSON or as Rich tables."""
from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from .rules import Reference, run_checks, verdict
from .significance import DEFAULT_ALPHA, DEFAULT_THRESHOLD_NATS
from .submission import Submission, analyze, find_submissions

STATUS_STYLE = {"pass": "green", "warn": "yellow", "fail": "red", "unknown": "dim"}
VERDICT_STYLE = {"record": "bold green", "non-record": "cyan", "invalid": "bold red", "needs-review": "yellow"}


def reference_from_folder(path: Path) -> Reference:
    sub = analyze(path)
    return Reference(
        name=sub.name,
        val_losses=[s.val_loss for s in sub.seeds if s.val_loss is not None],
        val_bpbs=[s.val_bpb for s in sub.seeds if s.val_bpb is not None],
    )


def reference_from_db(spec: str, url: str | None, exclude_key: str | None = None) -> Reference:
    """`best` (the best record-track record), or a submission by id, key or exact name."""
    from sqlalchemy import or_, select

    from .db import RunRow, SubmissionRow, open_database
    from .submission import RECORD_TRACK

    sessions = open_database(url)
    with sessions() as session:
        query = select(SubmissionRow)
        if spec == "best":
            query = query.where(SubmissionRow.track == RECORD_TRACK, SubmissionRow.verdict == "record",
                                SubmissionRow.mean_val_bpb.is_not(None))
            if exclude_key:
                query = query.where(SubmissionRow.key != exclude_key)
            query = query.order_by(SubmissionRow.mean_val_bpb)
        else:
            conditions = [SubmissionRow.key == spec, SubmissionRow.name == spec]
            if spec.isdigit():
                conditions.append(SubmissionRow.id == int(spec))
            query = query.where(or_(*conditions))
        row = session.scalars(query.limit(1)).first()
        if row is None:
            raise LookupError(f"no submission matches --against {spec!r} in the database")
        runs = session.scalars(select(RunRow).where(RunRow.submission_id == row.id, RunRow.counts.is_(True))).all()
        return Reference(
            name=row.name,
            val_losses=[r.val_loss for r in runs if r.val_loss is not None],
            val_bpbs=[r.val_bpb for r in runs if r.val_bpb is not None],
        )


def submission_report(sub: Submission, reference: Reference | None = None,
                      threshold: float = DEFAULT_THRESHOLD_NATS, alpha: float = DEFAULT_ALPHA) -> dict:
    checks = run_checks(sub, reference, threshold, alpha)
    outcome, reasons = verdict(sub, checks)
    return {
        "path": str(sub.path),
        "track": sub.track,
        "name": sub.name,
        "claimed": sub.claims.as_dict(),
        "runs": [r.as_json() for r in sub.runs],
        "seeds": [s.as_json() for s in sub.seeds],
        "summary": {
            "n_seeds": len(sub.seeds),
            "mean_val_bpb": sub.mean("val_bpb"), "std_val_bpb": sub.std("val_bpb"),
            "mean_val_loss": sub.mean("val_loss"), "std_val_loss": sub.std("val_loss"),
        },
        "checks": [c.as_dict() for c in checks],
        "verdict": outcome,
        "not_a_record_because": reasons,
        "warnings": sub.warnings,
    }


def check_paths(paths: list[Path], reference: Reference | None = None, threshold: float = DEFAULT_THRESHOLD_NATS,
                alpha: float = DEFAULT_ALPHA) -> dict:
    folders: list[Path] = []
    errors = []
    for path in paths:
        if not path.exists():
            errors.append(f"{path}: no such folder")
            continue
        found = find_submissions(path)
        if not found:
            errors.append(f"{path}: no submission folder (submission.json or logs) found")
        folders.extend(found)
    reports = [submission_report(analyze(f), reference, threshold, alpha) for f in folders]
    return {"submissions": reports, "errors": errors}


def fmt(value, spec: str = "") -> str:
    """A value for a table cell: — for missing, as is when it does not fit the format."""
    if value is None:
        return "—"
    try:
        return format(value, spec) if spec else str(value)
    except (TypeError, ValueError):
        return str(value)


def render(document: dict, console: Console) -> None:
    for error in document["errors"]:
        console.print(f"[red]error:[/red] {error}", highlight=False)
    for sub in document["submissions"]:
        style = VERDICT_STYLE.get(sub["verdict"], "")
        console.rule(f"[bold]{sub['name']}[/bold]  [{style}]{sub['verdict']}[/{style}]")
        console.print(f"{sub['path']}  ({sub['track']})", highlight=False, style="dim")
        runs = Table(show_edge=False, header_style="bold")
        for column in ("log", "seed", "val_bpb", "val_loss", "stage", "bytes", "train s", "eval s", "steps"):
            runs.add_column(column, justify="left" if column in ("log", "stage") else "right")
        for r in sub["runs"]:
            runs.add_row(r["log"], fmt(r["seed"]), fmt(r["val_bpb"], ".8f"), fmt(r["val_loss"], ".8f"),
                         fmt(r["score_stage"]), fmt(r["bytes_total"], ","), fmt(r["train_time_s"], ".1f"),
                         fmt(r["eval_time_s"], ".1f"), fmt(r["steps"]))
        console.print(runs)
        summary = sub["summary"]
        if summary["mean_val_bpb"] is not None:
            std = f" ± {summary['std_val_bpb']:.5f}" if summary["std_val_bpb"] is not None else ""
            console.print(f"mean val_bpb {summary['mean_val_bpb']:.8f}{std} over {summary['n_seeds']} seed(s)", highlight=False)
        checks = Table(show_edge=False, show_header=False)
        checks.add_column("status")
        checks.add_column("check")
        checks.add_column("reason", overflow="fold")
        for c in sub["checks"]:
            checks.add_row(f"[{STATUS_STYLE[c['status']]}]{c['status']}[/]", c["id"], c["message"])
        console.print(checks)
        for warning in sub["warnings"]:
            console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
        for r in sub["runs"]:
            for warning in r["warnings"]:
                console.print(f"[yellow]warning:[/yellow] {r['log']}: {warning}", highlight=False)
