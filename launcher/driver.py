"""Drive a launch to its end: submit seeds as room allows, follow them, retry infrastructure
failures, stream logs and curves into the database, bring outputs home, check the group.

Every step is written to the database as it happens, so `golf gather GROUP` can take over
from another terminal, or after this process died, and do only what is left.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from leaderboard.db import EventRow, LaunchPointRow, LaunchRow, LaunchSeedRow, utcnow
from leaderboard.logparse import parse_file
from golfcore.console import Fit
from leaderboard.report import fmt

from .backends.base import ACTIVE, TERMINAL, InfraError, JobStatus
from .plan import TRACKS, LaunchPlan
from .worker import OUTPUT_FILES
from golfcore.secrets import redact

BYTES_LIMIT = 16_000_000
TAIL_LINES = 15
LOST_AFTER_S = 300  # a job whose backend does not answer this long is lost
CANNOT_WRITE = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS}  # this machine refuses the seed's files


@contextlib.contextmanager
def _ctrl_c_between_steps() -> Iterator[threading.Event]:
    """Ctrl-C as an event the loop checks between its steps, never an exception inside one: raised in
    the middle of a database transaction or of the live display's locks, it could leave a lock held
    and the stop of every seed waiting on it. A second Ctrl-C interrupts at once, as usual."""
    interrupted = threading.Event()
    previous = signal.getsignal(signal.SIGINT) if threading.current_thread() is threading.main_thread() else None
    if previous is None or previous == signal.SIG_IGN:
        yield interrupted  # handlers belong to the main thread; an ignored SIGINT (a background job) stays ignored
        return

    def on_ctrl_c(signum, frame):
        interrupted.set()
        signal.signal(signal.SIGINT, previous)

    signal.signal(signal.SIGINT, on_ctrl_c)
    try:
        yield interrupted
    finally:
        signal.signal(signal.SIGINT, previous)


class DriverBusy(RuntimeError):
    pass


def group_dir(plan: LaunchPlan) -> Path:
    return plan.runs_dir / plan.group


def seed_dir(plan: LaunchPlan, seed: int) -> Path:
    return group_dir(plan) / f"seed{seed}"


def stream_path(plan: LaunchPlan, row: LaunchSeedRow) -> Path:
    """The log as streamed so far; for a failed attempt, its record (not a .log: never scored)."""
    return seed_dir(plan, row.seed) / f"attempt{row.attempt}.out"


def aware(when: datetime | None) -> datetime | None:
    if when is not None and when.tzinfo is None:  # SQLite hands back naive datetimes
        return when.replace(tzinfo=timezone.utc)
    return when


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def record_event(session: Session, kind: str, subject: str, message: str) -> None:
    session.add(EventRow(kind=kind, subject=subject, message=redact(message)[:2000]))


@dataclass
class Outcome:
    state: str  # done | failed | cancelled | detached
    verdict: str | None = None
    report: dict | None = None


class Driver:
    def __init__(self, sessions: sessionmaker[Session], plan: LaunchPlan, console: Console,
                 poll_s: float | None = None, db_url: str | None = None):
        self.sessions = sessions
        self.plan = plan
        self.backend = plan.backend
        self.console = console
        self.poll_s = float(poll_s if poll_s is not None else plan.settings["launch"]["poll_seconds"])
        self.db_url = db_url
        self.last_parse: dict[int, int] = {}  # seed row id -> stream size at the last parse
        self.poll_failing_since: dict[int, float] = {}  # seed row id -> when polling it began to fail

    # ---- the lease: one driver per group at a time

    def acquire(self) -> None:
        with self.sessions.begin() as session:
            launch = self._launch(session)
            beat = aware(launch.heartbeat_at)
            fresh = beat is not None and utcnow() - beat < timedelta(seconds=max(30.0, 5 * self.poll_s))
            if (launch.driver_pid and launch.driver_pid != os.getpid() and fresh
                    and launch.driver_host == socket.gethostname() and pid_alive(launch.driver_pid)):
                raise DriverBusy(f"{self.plan.group} is being followed by process {launch.driver_pid}; "
                                 "watch it with `golf status --watch`")
            launch.driver_pid, launch.driver_host, launch.heartbeat_at = os.getpid(), socket.gethostname(), utcnow()

    def _launch(self, session: Session) -> LaunchRow:
        return session.scalars(select(LaunchRow).where(LaunchRow.group == self.plan.group)).one()

    # ---- the loop

    def run(self, detach: bool = False) -> Outcome:
        self.acquire()
        # transient, and printed once more at the end: on a terminal the same picture; piped, the table
        # once, whole, ending in a newline (a live display's last frame does not)
        live = Live(self.table(), console=self.console, refresh_per_second=2, transient=True,
                    redirect_stdout=False, redirect_stderr=False)
        try:
            with live, _ctrl_c_between_steps() as interrupted:
                while True:
                    pending = self.step()
                    live.update(self.table())
                    if not pending or (detach and not self._queued()):
                        break
                    if interrupted.wait(self.poll_s):
                        raise KeyboardInterrupt
        except BaseException:  # Ctrl-C, a crash: nothing may be left running (and billing)
            self.cancel_all("the launcher was interrupted")
            with contextlib.suppress(Exception):  # never hide why the loop ended
                self.console.print(self.table())
            raise
        if detach and self._unfinished():
            self._release_lease()
            outcome = Outcome("detached")
        else:
            outcome = self.finish()
        self.console.print(self.table())  # with the launch's final state
        return outcome

    def _queued(self) -> bool:
        with self.sessions() as session:
            return bool(session.scalar(select(func.count()).select_from(LaunchSeedRow).join(LaunchRow).where(
                LaunchRow.group == self.plan.group, LaunchSeedRow.state == "queued")))

    def _unfinished(self) -> bool:
        with self.sessions() as session:
            return any(s.state not in TERMINAL for s in self._launch(session).seeds)

    def _release_lease(self) -> None:
        with self.sessions.begin() as session:
            launch = self._launch(session)
            launch.driver_pid = None
            launch.heartbeat_at = None

    def step(self) -> bool:
        """One pass over the seeds; returns whether any is unfinished."""
        with self.sessions() as session:
            launch = self._launch(session)
            launch.heartbeat_at = utcnow()
            if launch.state == "cancelled":
                session.commit()
                return False
            seeds = list(launch.seeds)
            busy = {json.loads(s.handle_json).get("slot", 0) for s in seeds if s.state in ACTIVE and s.handle_json}
            room = self.backend.capacity(self.plan.gpus) - len(busy)
            for row in seeds:
                if row.state == "queued" and room > 0:
                    slot = min(set(range(len(seeds) + 1)) - busy)
                    submitted = self.submit(session, row, slot)
                    session.commit()  # the handle is stored before anything else can go wrong
                    if submitted:
                        busy.add(slot)
                        room -= 1
                elif row.state in ACTIVE:
                    self.follow(session, row)
            session.commit()
            return any(s.state not in TERMINAL for s in seeds)

    def transition(self, session: Session, row: LaunchSeedRow, state: str, note: str = "") -> None:
        if row.state == state:
            return
        subject = f"{self.plan.group}/seed{row.seed}"
        record_event(session, "seed_state", subject, f"{row.state} -> {state}" + (f": {note}" if note else ""))
        self.console.print(f"seed {row.seed}: {state}" + (f" ({redact(note)})" if note else ""), highlight=False)
        row.state = state
        row.updated_at = utcnow()

    def submit(self, session: Session, row: LaunchSeedRow, slot: int) -> bool:
        job = self.plan.job(row.seed, row.attempt, slot)
        try:
            handle = self.backend.submit(job)
        except InfraError as exc:
            self.retry_or_fail(session, row, JobStatus("lost", "infra", f"could not start: {exc}"))
            return False
        row.handle_json = json.dumps(handle)
        row.submitted_at = utcnow()
        row.log_offset = 0
        self.transition(session, row, "submitted", f"attempt {row.attempt}" if row.attempt > 1 else "")
        return True

    def follow(self, session: Session, row: LaunchSeedRow) -> None:
        handle = json.loads(row.handle_json)
        try:
            status = self.backend.poll(handle)
            self.poll_failing_since.pop(row.id, None)
        except InfraError as exc:  # the service did not answer: lost only if it stays silent
            since = self.poll_failing_since.setdefault(row.id, time.monotonic())
            if time.monotonic() - since < LOST_AFTER_S:
                return
            status = JobStatus("lost", "infra", f"no answer for {LOST_AFTER_S}s: {exc}")
        try:
            self.stream(session, row, handle, drain=status.state in TERMINAL)  # at the end: every last byte
            if status.state in TERMINAL:
                self.conclude(session, row, handle, status)
        except InfraError as exc:  # outputs not reachable yet: the seed stays as it is, tried next poll
            record_event(session, "gather_retry", f"{self.plan.group}/seed{row.seed}", str(exc))
            self.console.print(f"[yellow]seed {row.seed}:[/yellow] {redact(str(exc))}; trying again",
                               highlight=False)
        except OSError as exc:  # this machine cannot hold its files (a full disk): the seed fails, nothing else
            if exc.errno not in CANNOT_WRITE:
                raise
            self.cannot_write(session, row, handle, exc)
            return
        if status.state in ACTIVE:
            if status.state == "running" and row.started_at is None:
                row.started_at = utcnow()
            self.transition(session, row, status.state)

    # ---- logs and live progress

    def stream(self, session: Session, row: LaunchSeedRow, handle: dict, drain: bool = False) -> None:
        path = stream_path(self.plan, row)
        path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            try:
                chunk = self.backend.read_log(handle, row.log_offset)
            except InfraError:
                return
            if not chunk:
                break
            with open(path, "ab") as fh:
                fh.write(chunk)
            row.log_offset += len(chunk)
            if not drain:
                break
        if path.exists() and self.last_parse.get(row.id) != row.log_offset:
            self.last_parse[row.id] = row.log_offset
            self.update_progress(session, row, path)

    def update_progress(self, session: Session, row: LaunchSeedRow, path: Path) -> None:
        run = parse_file(path).run
        if run.curve:
            last = session.scalars(select(LaunchPointRow).where(LaunchPointRow.seed_id == row.id)
                                   .order_by(LaunchPointRow.step.desc()).limit(1)).first()
            for p in run.curve:
                if last is not None and p.step < last.step:
                    continue
                if last is not None and p.step == last.step:  # a val line after the train line of its step
                    for name in ("train_time_s", "train_loss", "val_loss", "val_bpb"):
                        if getattr(p, name) is not None:
                            setattr(last, name, getattr(p, name))
                    continue
                session.add(LaunchPointRow(seed_id=row.id, step=p.step, train_time_s=p.train_time_s,
                                           train_loss=p.train_loss, val_loss=p.val_loss, val_bpb=p.val_bpb))
            row.step = run.curve[-1].step
            for name in ("train_time_s", "train_loss", "val_bpb"):  # the latest value each metric has
                setattr(row, name, next((getattr(p, name) for p in reversed(run.curve) if getattr(p, name) is not None),
                                        None))
        row.total_steps = run.iterations or row.total_steps
        if run.steps is not None:  # training is over: the steps and time it took, not the last logged step
            row.step = run.steps
        if run.train_time_s is not None:
            row.train_time_s = run.train_time_s
        if run.score is not None:
            row.val_bpb = run.score.val_bpb
        row.bytes_total = run.bytes_total or row.bytes_total

    # ---- the end of a seed

    def conclude(self, session: Session, row: LaunchSeedRow, handle: dict, status: JobStatus) -> None:
        if status.state == "done":
            self.bring_home(row, handle)  # may raise InfraError: then nothing below has happened
        row.failure, row.reason, row.exit_code = status.failure, status.reason, status.exit_code
        row.ended_at = utcnow()
        self.account(row)
        if status.state == "done":
            self.free(session, row, handle, self.backend.release)
            self.transition(session, row, "done", f"val_bpb {row.val_bpb:.6f}" if row.val_bpb is not None else "")
            return
        if status.failure == "infra" or status.state == "lost":
            self.free(session, row, handle, self.backend.cancel)
            self.retry_or_fail(session, row, status)
            return
        self.free(session, row, handle, self.backend.release)
        self.transition(session, row, status.state, status.reason or "")
        if status.failure in ("script", "deadline"):
            self.show_tail(row)

    def cannot_write(self, session: Session, row: LaunchSeedRow, handle: dict, exc: OSError) -> None:
        """The seed's files could not be written here: it fails with that reason (not retried: the
        box did its work), its job is stopped and freed (the scratch cleaned, a pod ended) and what was
        half-copied is removed; the log streamed so far is kept."""
        dest = seed_dir(self.plan, row.seed)
        for path in (dest.iterdir() if dest.is_dir() else ()):
            if OUTPUT_FILES.match(path.name):
                path.unlink(missing_ok=True)
        where = f" ({exc.filename})" if exc.filename else ""
        reason = f"could not write its files on this machine: {exc.strerror or exc}{where}"
        self.free(session, row, handle, self.backend.cancel)
        self.free(session, row, handle, self.backend.release)
        row.failure, row.reason = "infra", reason
        row.ended_at = utcnow()
        self.account(row)
        self.transition(session, row, "failed", reason)
        self.console.print(f"[red]seed {row.seed}:[/red] {escape(redact(reason))}; free some space, then launch it "
                           f"again", highlight=False)

    def free(self, session: Session, row: LaunchSeedRow, handle: dict, how) -> None:
        """Release or cancel a job; a failure is recorded and shown (`golf cancel` sweeps leftovers)."""
        try:
            how(handle)
        except Exception as exc:
            record_event(session, "release_failed", f"{self.plan.group}/seed{row.seed}", str(exc))
            self.console.print(f"[red]seed {row.seed}: could not free its job:[/red] {redact(str(exc))}; "
                               f"run `golf cancel {self.plan.group}`", highlight=False)

    def retry_or_fail(self, session: Session, row: LaunchSeedRow, status: JobStatus) -> None:
        if row.attempt <= self.plan.retries:
            self.transition(session, row, "queued", f"retrying after an infrastructure failure: {status.reason}")
            row.attempt += 1
            row.handle_json = None
            row.log_offset = 0
            row.started_at = row.ended_at = None
            session.execute(LaunchPointRow.__table__.delete().where(LaunchPointRow.seed_id == row.id))
            return
        row.failure, row.reason = status.failure or "infra", status.reason
        self.transition(session, row, "failed", status.reason or "infrastructure failure")

    def account(self, row: LaunchSeedRow) -> None:
        if row.submitted_at is None:
            return
        seconds = (aware(row.ended_at) - aware(row.submitted_at)).total_seconds()
        row.gpu_seconds = (row.gpu_seconds or 0.0) + seconds * max(1, self.plan.gpus.count)
        row.cost_usd = row.gpu_seconds / 3600 * self.plan.price()

    def bring_home(self, row: LaunchSeedRow, handle: dict) -> None:
        dest = seed_dir(self.plan, row.seed)
        self.backend.fetch_outputs(handle, dest)
        log = dest / "train.log"
        if log.exists():
            os.replace(log, group_dir(self.plan) / f"train_seed{row.seed}.log")
            stream_path(self.plan, row).unlink(missing_ok=True)
        (dest / "state.json").unlink(missing_ok=True)

    def show_tail(self, row: LaunchSeedRow) -> None:
        path = stream_path(self.plan, row)
        if not path.exists():
            return
        lines = path.read_text(errors="replace").splitlines()[-TAIL_LINES:]
        self.console.print(f"[red]seed {row.seed} failed[/red]: {redact(row.reason or '')}; the last lines of {path}:",
                           highlight=False)
        for line in lines:
            self.console.print(f"  {redact(line)}", highlight=False, markup=False)

    def cancel_all(self, reason: str, release_finished: bool = False) -> int:
        """Stop every active seed (and with release_finished, free what finished seeds still hold);
        returns how many jobs were stopped."""
        stopped = 0
        with self.sessions.begin() as session:
            launch = self._launch(session)
            handles = [json.loads(row.handle_json) for row in launch.seeds if row.handle_json]
            for row in launch.seeds:
                if not row.handle_json or not (row.state in ACTIVE or release_finished):
                    continue
                try:
                    self.backend.cancel(json.loads(row.handle_json))
                    stopped += row.state in ACTIVE
                except Exception as exc:  # keep going: the other seeds must be stopped too
                    record_event(session, "cancel_failed", f"{self.plan.group}/seed{row.seed}", str(exc))
                    self.console.print(f"[red]could not stop seed {row.seed}:[/red] {redact(str(exc))}",
                                       highlight=False)
                    continue
                if row.state in ACTIVE:
                    row.ended_at = utcnow()
                    self.account(row)
            for handle in self.backend.orphans(self.plan.group, handles):
                self.backend.cancel(handle)
                record_event(session, "orphan_stopped", self.plan.group, json.dumps(handle))
                stopped += 1
            for row in launch.seeds:
                if row.state not in TERMINAL:
                    row.failure, row.reason = "cancelled", reason
                    self.transition(session, row, "cancelled", reason)
            if launch.state == "running":
                launch.state = "cancelled"
            launch.driver_pid = None
        return stopped

    # ---- the end of the group

    def finish(self) -> Outcome:
        from leaderboard.importer import import_folder, source_key, stored_analysis

        with self.sessions() as session:
            launch = self._launch(session)
            states = [s.state for s in launch.seeds]
            already = launch.state
        if already == "cancelled":
            return Outcome("cancelled")
        folder = group_dir(self.plan)
        report = None
        verdict = None
        key = source_key(folder, folder)
        if "done" in states:
            self.write_claims(folder)
            outcome = import_folder(self.sessions, folder, key)
            if outcome.status == "failed":
                self.console.print(f"[red]import failed:[/red] {outcome.reason}", highlight=False)
            report = stored_analysis(self.sessions, key)  # what the database and the pages show
            verdict = report["verdict"] if report else None
        state = "done" if states and all(s == "done" for s in states) else "failed"
        with self.sessions.begin() as session:
            launch = self._launch(session)
            launch.state, launch.verdict = state, verdict
            launch.submission_key = key if report else None
            launch.driver_pid = None
            record_event(session, f"launch_{state}", self.plan.group, f"verdict {verdict}")
        return Outcome(state, verdict, report)

    def write_claims(self, folder: Path) -> None:
        """The track, for the checks: the group folder is not under records/<track>/."""
        path = folder / "submission.json"
        if not path.exists():
            path.write_text(json.dumps({"name": self.plan.group, "track": TRACKS[self.plan.track],
                                        "generated_by": "golf launch"}, indent=2) + "\n")

    # ---- the live table

    def table(self) -> Fit:
        with self.sessions() as session:
            return progress_table(self._launch(session), self.plan.caps[0])


def progress_table(launch: LaunchRow, train_cap: float | None) -> Fit:
    """Each seed: what happened once it is done; while it runs, where it stands and the train time
    projected to its last step (against the cap)."""
    table = Table(header_style="bold")
    for column in ("seed", "state", "try", "step", "elapsed s", "ETA s", "loss", "val_bpb", "train s/cap",
                   "bytes", "GPU h", "$"):
        table.add_column(column, justify="left" if column in ("state",) else "right")
    now = utcnow()
    for s in launch.seeds:
        started = aware(s.started_at or s.submitted_at)
        ended = aware(s.ended_at)
        elapsed = ((ended or now) - started).total_seconds() if started else None
        train_s = eta = None
        if s.state in TERMINAL:
            train_s = s.train_time_s
        elif s.step and s.total_steps and s.train_time_s:
            train_s = s.train_time_s / s.step * s.total_steps
            if train_cap is not None:
                train_s = min(train_s, train_cap)
            eta = max(0.0, train_s - s.train_time_s) if s.state == "running" else None
        cap_text = f"{fmt(train_s, '.0f')}/{fmt(train_cap, '.0f') if train_cap else '∞'}"
        bytes_text = fmt(s.bytes_total, ",")
        if s.bytes_total is not None and s.bytes_total > BYTES_LIMIT:
            bytes_text = f"[red]{bytes_text}[/red]"
        table.add_row(
            str(s.seed), s.state, str(s.attempt),
            f"{fmt(s.step)}/{fmt(s.total_steps)}", fmt(elapsed, ".0f"), fmt(eta, ".0f"),
            fmt(s.train_loss, ".4f"), fmt(s.val_bpb, ".4f"), cap_text, bytes_text,
            fmt(s.gpu_seconds / 3600 if s.gpu_seconds else None, ".2f"), fmt(s.cost_usd, ".2f"),
        )
    return Fit(table, title=f"{launch.group}  [{launch.backend} {launch.gpus}]  {launch.state}")
