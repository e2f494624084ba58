"""SkyPilot: one `sky.Task` per seed, run as a managed job (`sky.jobs.launch`, which recovers
from preemption) or on a cluster launched with down=True.

The worker writes its outputs to a bucket mounted at /outputs; the live log comes from
SkyPilot's own log tail, the files from the bucket. All calls to the SDK go through
`SkyClient`, the small adapter the backend is tested behind.
"""
from __future__ import annotations

import io
import re
import shlex
import subprocess
import tempfile
from pathlib import Path

from ..gpus import GpuSpec
from golfcore.secrets import is_secret_name, redact
from ..spec import WorkerSpec
from ..worker import copy_outputs
from .base import Backend, InfraError, JobStatus, LaunchError, SeedJob

OUTPUTS_MOUNT = "/outputs"
DATA_DIR = "/tmp/golf-data"
LINE_PREFIX = re.compile(rb"^\([^()\n]*pid=\d+\) ", re.M)  # SkyPilot's "(task, pid=123) " on each line

STATES = {  # ManagedJobStatus / JobStatus -> ours
    "PENDING": ("booting", None), "SUBMITTED": ("booting", None), "STARTING": ("booting", None),
    "INIT": ("booting", None), "SETTING_UP": ("preparing", None), "RECOVERING": ("booting", None),
    "RUNNING": ("running", None), "SUCCEEDED": ("done", None), "CANCELLING": ("cancelled", "cancelled"),
    "CANCELLED": ("cancelled", "cancelled"), "FAILED": ("failed", "script"), "FAILED_SETUP": ("lost", "infra"),
    "FAILED_PRECHECKS": ("lost", "infra"), "FAILED_NO_RESOURCE": ("lost", "infra"),
    "FAILED_CONTROLLER": ("lost", "infra"), "FAILED_DRIVER": ("lost", "infra"),
}


class SkyClient:
    """The SDK calls the backend makes; each returns plain values (ids, status names, bytes)."""

    def __init__(self, mode: str):
        self.mode = mode  # jobs | cluster

    def launch(self, task, name: str) -> str:
        import sky

        if self.mode == "jobs":
            job_id, _ = sky.get(sky.jobs.launch(task, name=name))
        else:
            job_id, _ = sky.get(sky.launch(task, cluster_name=name, down=True, idle_minutes_to_autostop=5))
        return str(job_id)

    def status(self, job_id: str, name: str) -> str | None:
        import sky

        if self.mode == "jobs":
            for job in sky.get(sky.jobs.queue(refresh=True)):
                if str(job["job_id"]) == job_id:
                    return str(getattr(job["status"], "value", job["status"]))
            return None
        statuses = sky.get(sky.job_status(name, job_ids=[int(job_id)]))
        status = statuses.get(int(job_id))
        return None if status is None else str(getattr(status, "value", status))

    def logs(self, job_id: str, name: str) -> bytes:
        import sky

        buffer = io.StringIO()
        if self.mode == "jobs":
            sky.jobs.tail_logs(job_id=int(job_id), follow=False, output_stream=buffer)
        else:
            sky.tail_logs(name, int(job_id), follow=False, output_stream=buffer)
        return buffer.getvalue().encode()

    def cancel(self, job_id: str, name: str) -> None:
        import sky

        if self.mode == "jobs":
            sky.get(sky.jobs.cancel(job_ids=[int(job_id)]))
        else:
            sky.get(sky.down(name))

    def download(self, bucket_url: str, dest: Path) -> None:
        """The SDK's own sync command for the bucket's store (aws s3 sync, gsutil rsync...)."""
        from sky import cloud_stores

        store = cloud_stores.get_storage_from_path(bucket_url)
        command = store.make_sync_dir_command(bucket_url, str(dest))
        subprocess.run(["bash", "-c", command], check=True, capture_output=True, timeout=1800)


class SkyPilotBackend(Backend):
    name = "skypilot"

    def __init__(self, settings: dict, client: SkyClient | None = None):
        super().__init__(settings)
        self.conf = settings["skypilot"]
        self.client = client or SkyClient(str(self.conf["mode"]))

    def preflight(self, gpus: GpuSpec, n_seeds: int) -> None:
        gpus.name_on(self.name)
        if not self.conf.get("outputs_bucket"):
            raise LaunchError("SkyPilot needs a bucket for the outputs: set [skypilot] outputs_bucket = "
                              "\"s3://...\" (or gs://, r2://) in golf.toml")
        if self.conf["mode"] not in ("jobs", "cluster"):
            raise LaunchError(f"[skypilot] mode = {self.conf['mode']!r}: use jobs or cluster")

    def prepare(self, job: SeedJob, runs_dir: Path) -> WorkerSpec:
        spec = job.spec
        spec.out_dir = f"{OUTPUTS_MOUNT}/{job.group}/seed{job.seed}-a{job.attempt}"
        spec.data_dir = DATA_DIR
        spec.env = {k: v for k, v in spec.env.items() if not is_secret_name(k)}  # secrets go in the task's envs
        return spec

    def job_name(self, job: SeedJob) -> str:
        return f"golf-{job.group}-s{job.seed}-a{job.attempt}".lower().replace("_", "-").replace(".", "-")[:63]

    def task(self, job: SeedJob, secret_env: dict[str, str] | None = None):
        import sky

        task = sky.Task(
            name=self.job_name(job),
            run=f"python -m launcher.worker --spec {shlex.quote(job.spec.encode())}",
            envs={"SEED": str(job.seed), **(secret_env or {})},
        )
        resources = {"accelerators": {job.gpus.name_on(self.name): job.gpus.count},
                     "image_id": f"docker:{job.image}", "disk_size": 256}
        if self.conf.get("cloud"):
            resources["cloud"] = sky.clouds.CLOUD_REGISTRY.from_str(self.conf["cloud"])
        task.set_resources(sky.Resources(**resources))
        if self.conf.get("outputs_bucket"):
            task.set_storage_mounts({OUTPUTS_MOUNT: sky.Storage(source=self.conf["outputs_bucket"],
                                                                mode=sky.StorageMode.MOUNT)})
        return task

    def describe(self, job: SeedJob) -> dict:
        return {"job": self.job_name(job), "mode": self.conf["mode"],
                "accelerators": f"{job.gpus.name_on(self.name)}:{job.gpus.count}", "image": f"docker:{job.image}",
                "outputs": f"{self.conf.get('outputs_bucket') or '(set skypilot.outputs_bucket)'}"
                           f"{job.spec.out_dir.removeprefix(OUTPUTS_MOUNT)}",
                "command": "python -m launcher.worker --spec <the spec, base64>"}

    def submit(self, job: SeedJob) -> dict:
        name = self.job_name(job)
        try:
            job_id = self.client.launch(self.task(job, job.secret_env), name)
        except Exception as exc:
            raise InfraError(redact(f"SkyPilot launch: {type(exc).__name__}: {exc}")[:500]) from None
        return {"job_id": job_id, "name": name, "out": job.spec.out_dir, "slot": job.slot}

    def poll(self, handle: dict) -> JobStatus:
        try:
            status = self.client.status(handle["job_id"], handle["name"])
        except Exception as exc:
            raise InfraError(redact(f"SkyPilot status: {type(exc).__name__}: {exc}")[:500]) from None
        if status is None:
            return JobStatus("lost", "infra", f"SkyPilot no longer knows job {handle['job_id']}")
        state, failure = STATES.get(status, ("running", None))
        reason = f"SkyPilot: {status}" if failure else None
        return JobStatus(state, failure, reason)

    def read_log(self, handle: dict, offset: int) -> bytes:
        try:
            data = LINE_PREFIX.sub(b"", self.client.logs(handle["job_id"], handle["name"]))
        except Exception as exc:
            raise InfraError(redact(f"SkyPilot logs: {type(exc).__name__}: {exc}")[:500]) from None
        return data[offset:]

    def fetch_outputs(self, handle: dict, dest: Path) -> list[str]:
        bucket = str(self.conf["outputs_bucket"]).rstrip("/") + handle["out"].removeprefix(OUTPUTS_MOUNT)
        with tempfile.TemporaryDirectory() as tmp:
            try:
                self.client.download(bucket, Path(tmp))
            except Exception as exc:
                raise InfraError(redact(f"SkyPilot outputs from {bucket}: {exc}")[:500]) from None
            return copy_outputs(Path(tmp), dest)

    def cancel(self, handle: dict) -> None:
        try:
            self.client.cancel(handle["job_id"], handle["name"])
        except Exception as exc:
            raise InfraError(redact(f"SkyPilot cancel {handle['job_id']}: {exc}")[:500]) from None
