"""The small interface every backend implements, and what it reports about a job."""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path

from ..gpus import GpuSpec
from ..spec import WorkerSpec

# Worker and job states. A job is active until it reaches a terminal one.
ACTIVE = ("submitted", "booting", "preparing", "running", "collecting")
TERMINAL = ("done", "failed", "timeout", "cancelled", "lost")


class LaunchError(RuntimeError):
    """A plan that cannot run as asked: bad spec, missing credentials, unknown GPU. Nothing was created."""


class InfraError(RuntimeError):
    """The box failed, not the script (never booted, preempted, lost): the seed may be retried."""


@dataclass
class SeedJob:
    group: str
    seed: int
    attempt: int
    gpus: GpuSpec
    spec: WorkerSpec  # the backend fills in where outputs and data go on its side
    image: str
    slot: int = 0  # which of the backend's concurrent places (a GPU set on the local backend)
    secret_env: dict[str, str] = field(default_factory=dict)  # for backends that pass secrets apart from the spec


@dataclass
class JobStatus:
    state: str  # one of ACTIVE or TERMINAL, or "queued" while the backend waits for room
    failure: str | None = None  # script | infra | deadline | cancelled
    reason: str | None = None
    exit_code: int | None = None
    timings: dict = field(default_factory=dict)


class Backend(abc.ABC):
    name: str

    def __init__(self, settings: dict):
        self.settings = settings

    def check(self, gpus: GpuSpec) -> None:
        """Raise LaunchError (or GpuSpecError) when this backend can never run these GPUs; asks no
        service, so a dry run checks it too."""
        gpus.name_on(self.name)

    def preflight(self, gpus: GpuSpec, n_seeds: int) -> None:
        """Raise LaunchError when the plan cannot run here (before anything is created; may ask the service)."""
        self.check(gpus)

    def capacity(self, gpus: GpuSpec) -> int:
        """How many seeds may run at once; the rest wait their turn."""
        return 1 << 16

    @abc.abstractmethod
    def prepare(self, job: SeedJob, runs_dir: Path) -> WorkerSpec:
        """The worker spec as this backend's box will see it (out and data paths, serving)."""

    @abc.abstractmethod
    def describe(self, job: SeedJob) -> dict:
        """What would be created, for --dry-run: no calls to any service."""

    @abc.abstractmethod
    def submit(self, job: SeedJob) -> dict:
        """Start the job; return the handle (JSON-able: ids, never secrets)."""

    @abc.abstractmethod
    def poll(self, handle: dict) -> JobStatus: ...

    @abc.abstractmethod
    def read_log(self, handle: dict, offset: int) -> bytes:
        """The worker's log from a byte offset (possibly empty)."""

    @abc.abstractmethod
    def fetch_outputs(self, handle: dict, dest: Path) -> list[str]:
        """Copy the worker's outputs (train.log, result.json, worker.json, the artifact) into dest."""

    def release(self, handle: dict) -> None:
        """After a job ended and its outputs are home: free what still bills (pods, clusters)."""

    def orphans(self, group: str, known: list[dict]) -> list[dict]:
        """Jobs of this group the backend still runs that no stored handle names (a crash between
        creating one and recording it)."""
        return []

    @abc.abstractmethod
    def cancel(self, handle: dict) -> None:
        """Stop the job and whatever it runs on; safe to call twice or on a finished job."""


def job_status_from_worker(state: dict | None) -> JobStatus | None:
    if not state:
        return None
    name = state.get("state", "running")
    if name == "starting":
        name = "preparing"
    return JobStatus(state=name, failure=state.get("failure"), reason=state.get("reason"),
                     exit_code=state.get("exit_code"), timings=state.get("timings") or {})
