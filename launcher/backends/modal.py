"""Modal: an App with the trainer image, one function call (`spawn`) per seed.

A Volume caches the dataset across runs; another receives each worker's outputs, which
the function commits as it goes, so the launcher reads the live log and the files from it.
The function-call id is the handle: any golf process can poll or cancel it.
"""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from ..gpus import GpuSpec
from golfcore.secrets import is_secret_name, redact
from ..spec import WorkerSpec
from ..worker import OUTPUT_FILES
from .base import Backend, InfraError, JobStatus, LaunchError, SeedJob, job_status_from_worker

DATA_MOUNT = "/data"
OUTPUTS_MOUNT = "/outputs"
COMMIT_EVERY_S = 10.0
FUNCTION_NAME = "run_seed"


def run_seed(blob: str) -> dict:
    """The function body, in the container: run the worker, committing its outputs as it goes."""
    import modal

    from launcher.spec import WorkerSpec
    from launcher.worker import Worker

    spec = WorkerSpec.decode(blob)
    worker = Worker(spec)
    outputs = None if modal.is_local() else modal.Volume.from_name(spec.env.get("GOLF_MODAL_OUTPUTS", "golf-outputs"))
    stop = threading.Event()

    def commit_loop():
        while not stop.wait(COMMIT_EVERY_S):
            outputs.commit()

    if outputs is not None:
        threading.Thread(target=commit_loop, daemon=True).start()
    try:
        return worker.run()
    finally:
        stop.set()
        if outputs is not None:
            outputs.commit()


class ModalBackend(Backend):
    name = "modal"

    def __init__(self, settings: dict):
        super().__init__(settings)
        self.conf = settings["modal"]
        self.deployed = False
        self._app = None

    def timeout_s(self, spec: WorkerSpec) -> int:
        if spec.hard_deadline_s is None:
            return int(float(self.settings["launch"]["non_record_hours"]) * 3600)
        return int(spec.hard_deadline_s + float(self.settings["launch"]["setup_s"]))

    def function_options(self, job: SeedJob) -> dict:
        """What the function is declared with (kept apart so it can be asserted on offline)."""
        import modal

        secrets = [modal.Secret.from_name(name) for name in self.conf["secrets"]]
        if job.secret_env:
            secrets.append(modal.Secret.from_dict(job.secret_env))
        return {
            "image": modal.Image.from_registry(job.image),
            "gpu": f"{job.gpus.name_on(self.name)}:{job.gpus.count}",
            "volumes": {DATA_MOUNT: modal.Volume.from_name(self.conf["data_volume"], create_if_missing=True),
                        OUTPUTS_MOUNT: modal.Volume.from_name(self.conf["outputs_volume"], create_if_missing=True)},
            "secrets": secrets,
            "timeout": self.timeout_s(job.spec),
            "serialized": True,
        }

    def build_app(self, job: SeedJob):
        import modal

        app = modal.App(self.conf["app_name"])
        function = app.function(**self.function_options(job), name=FUNCTION_NAME)(run_seed)
        return app, function

    def preflight(self, gpus: GpuSpec, n_seeds: int) -> None:
        gpus.name_on(self.name)
        from modal.config import config

        if not config.get("token_id"):
            raise LaunchError("Modal needs credentials: run `modal token new` or set MODAL_TOKEN_ID and MODAL_TOKEN_SECRET")

    def prepare(self, job: SeedJob, runs_dir: Path) -> WorkerSpec:
        spec = job.spec
        spec.out_dir = f"{OUTPUTS_MOUNT}/{job.group}/seed{job.seed}-a{job.attempt}"
        spec.data_dir = DATA_MOUNT
        spec.env = {k: v for k, v in spec.env.items() if not is_secret_name(k)}  # secrets travel as a modal.Secret
        spec.env["GOLF_MODAL_OUTPUTS"] = str(self.conf["outputs_volume"])
        return spec

    def describe(self, job: SeedJob) -> dict:
        return {"app": self.conf["app_name"], "function": FUNCTION_NAME,
                "gpu": f"{job.gpus.name_on(self.name)}:{job.gpus.count}", "image": job.image,
                "volumes": f"{self.conf['data_volume']}->{DATA_MOUNT}, {self.conf['outputs_volume']}->{OUTPUTS_MOUNT}",
                "secrets": ", ".join(self.conf["secrets"]) or "—", "timeout_s": self.timeout_s(job.spec),
                "outputs": f"{self.conf['outputs_volume']}:{job.spec.out_dir.removeprefix(OUTPUTS_MOUNT)}"}

    def _volume_path(self, handle: dict, name: str = "") -> str:
        return (handle["out"].removeprefix(OUTPUTS_MOUNT) + ("/" + name if name else "")).lstrip("/")

    def _outputs(self):
        import modal

        return modal.Volume.from_name(self.conf["outputs_volume"])

    def _read(self, handle: dict, name: str) -> bytes | None:
        try:
            return b"".join(self._outputs().read_file(self._volume_path(handle, name)))
        except FileNotFoundError:
            return None
        except Exception as exc:
            raise InfraError(redact(f"Modal volume read: {type(exc).__name__}: {exc}")[:500]) from None

    def submit(self, job: SeedJob) -> dict:
        try:
            app, function = self.build_app(job)
            if not self.deployed:
                app.deploy()
                self.deployed = True
            call = function.spawn(job.spec.encode())
        except Exception as exc:
            raise InfraError(redact(f"Modal: {type(exc).__name__}: {exc}")[:500]) from None
        return {"call_id": call.object_id, "out": job.spec.out_dir, "slot": job.slot, "submitted": time.time()}

    def poll(self, handle: dict) -> JobStatus:
        import modal
        from modal.exception import FunctionTimeoutError, OutputExpiredError

        call = modal.FunctionCall.from_id(handle["call_id"])
        try:
            result = call.get(timeout=0)
            return job_status_from_worker(result) or JobStatus("lost", "infra", "the function returned nothing")
        except (TimeoutError, OutputExpiredError):
            pass
        except FunctionTimeoutError:
            return JobStatus("timeout", "deadline", "Modal's function timeout passed")
        except Exception as exc:  # the container died, preemption, an internal failure
            return JobStatus("lost", "infra", redact(f"Modal: {type(exc).__name__}: {exc}")[:500])

        state = self._read(handle, "state.json")
        return job_status_from_worker(json.loads(state)) if state else JobStatus("booting")

    def read_log(self, handle: dict, offset: int) -> bytes:
        data = self._read(handle, "train.log") or b""
        return data[offset:]

    def fetch_outputs(self, handle: dict, dest: Path) -> list[str]:
        dest.mkdir(parents=True, exist_ok=True)
        names = []
        for entry in self._outputs().listdir(self._volume_path(handle)):
            name = Path(entry.path).name
            if OUTPUT_FILES.match(name):
                (dest / name).write_bytes(self._read(handle, name) or b"")
                names.append(name)
        return names

    def cancel(self, handle: dict) -> None:
        import modal

        try:
            modal.FunctionCall.from_id(handle["call_id"]).cancel(terminate_containers=True)
        except Exception as exc:
            raise InfraError(redact(f"Modal cancel {handle['call_id']}: {exc}")[:500]) from None
