"""RunPod: one pod per seed from the trainer image, created and terminated with the `runpod` SDK.

Secrets (`-e HF_TOKEN=...`, the worker's token) reach the pod as its environment and nowhere
else: the spec in its command line carries none, and the pod is created with a GraphQL request
whose values travel as variables (the SDK pastes strings into the query unescaped), so no
value can change the query and none is shown in the pod's command.

The worker in the pod serves its progress, log and files over token-protected HTTP on an
exposed port, reached through RunPod's proxy. The token is derived from the API key and
the pod's name, so any golf process holding the key can reach the worker and none stores it.
Every pod is terminated: when its outputs are home, on failure, on Ctrl-C, by `golf cancel`,
and by the worker itself once its hard deadline and linger time have passed.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import re
import time
from pathlib import Path

import httpx

from ..gpus import GpuSpec
from golfcore.secrets import redact, register
from ..settings import api_key
from ..spec import WorkerSpec
from ..worker import TOKEN_ENV
from .base import Backend, InfraError, JobStatus, LaunchError, SeedJob, job_status_from_worker

IMAGE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@-]*$")
LOST_AFTER_S = 300  # a worker unreachable this long after it answered once is lost
CREATE_POD = """mutation CreatePod($input: PodFindAndDeployOnDemandInput) {
  podFindAndDeployOnDemand(input: $input) { id imageName machineId }
}"""


class RunPodBackend(Backend):
    name = "runpod"

    def __init__(self, settings: dict):
        super().__init__(settings)
        self.conf = settings["runpod"]
        self.last_contact: dict[str, float] = {}

    def key(self) -> str:
        key = api_key(self.settings, "runpod", "RUNPOD_API_KEY")
        if not key:
            raise LaunchError("RunPod needs an API key: set RUNPOD_API_KEY, or runpod.api_key in a "
                              "chmod-600 ~/.config/golf/config.toml")
        return key

    def sdk(self):
        import runpod

        runpod.api_key = self.key()
        return runpod

    def call(self, what: str, fn, *args, **kwargs):
        """An SDK call whose failure is the infrastructure's, with any secret scrubbed from the message."""
        try:
            return fn(*args, **kwargs)
        except LaunchError:
            raise
        except Exception as exc:
            raise InfraError(redact(f"RunPod {what}: {type(exc).__name__}: {exc}")[:500]) from None

    def preflight(self, gpus: GpuSpec, n_seeds: int) -> None:
        gpu_id = gpus.name_on(self.name)
        if not IMAGE_NAME.match(self.settings["image"]):
            raise LaunchError(f"image {self.settings['image']!r} is not a plain image reference")
        runpod = self.sdk()
        try:
            info = runpod.get_gpu(gpu_id, gpus.count)
        except ValueError as exc:
            raise LaunchError(f"RunPod does not offer {gpu_id}: {exc}") from None
        except Exception as exc:
            raise LaunchError(redact(f"RunPod: could not check {gpu_id}: {exc}")) from None
        most = info.get("maxGpuCount")
        if most is not None and gpus.count > int(most):
            raise LaunchError(f"RunPod offers at most {most} x {gpu_id} per pod; {gpus} was asked for")

    def prepare(self, job: SeedJob, runs_dir: Path) -> WorkerSpec:
        spec = job.spec
        spec.out_dir = f"{self.conf['out_dir']}/{job.group}/seed{job.seed}-a{job.attempt}"
        spec.data_dir = str(self.conf["data_dir"])
        spec.serve_port = int(self.conf["worker_port"])
        spec.linger_s = float(self.conf["linger_s"])
        spec.self_terminate = True
        spec.env = {k: v for k, v in spec.env.items() if k not in job.secret_env}  # they go as the pod's env
        return spec

    def pod_name(self, job: SeedJob) -> str:
        return f"golf-{job.group}-s{job.seed}-a{job.attempt}"

    def token(self, pod_name: str) -> str:
        key = api_key(self.settings, "runpod", "RUNPOD_API_KEY") or ""
        return hmac.new(key.encode(), f"golf-worker:{pod_name}".encode(), hashlib.sha256).hexdigest()

    def pod_input(self, job: SeedJob, env: dict[str, str]) -> dict:
        """The PodFindAndDeployOnDemandInput: the command holds the spec (no secrets), env the secrets."""
        return {
            "name": self.pod_name(job), "imageName": job.image, "gpuTypeId": job.gpus.name_on(self.name),
            "gpuCount": job.gpus.count, "cloudType": self.conf["cloud_type"], "supportPublicIp": True,
            "startSsh": False, "containerDiskInGb": int(self.conf["container_disk_gb"]),
            "volumeInGb": int(self.conf["volume_gb"]), "networkVolumeId": self.conf.get("network_volume_id") or None,
            "ports": f"{int(self.conf['worker_port'])}/http",
            "dockerArgs": f"python -m launcher.worker --spec {job.spec.encode()}",
            "env": [{"key": k, "value": v} for k, v in env.items()],
        }

    def describe(self, job: SeedJob) -> dict:
        pod = self.pod_input(job, {})
        blob = job.spec.encode()
        return {"pod": pod["name"], "gpu_type_id": pod["gpuTypeId"], "gpu_count": pod["gpuCount"],
                "cloud": pod["cloudType"], "ports": pod["ports"],
                "command": f"python -m launcher.worker --spec <{len(blob)} chars: the spec, base64>",
                "pod env": " ".join(f"{k}=***" for k in (TOKEN_ENV, *job.secret_env)),
                "deadline": f"{job.spec.hard_deadline_s or 0:.0f}s + linger {job.spec.linger_s:.0f}s, "
                            f"then the pod ends itself"}

    def submit(self, job: SeedJob) -> dict:
        name = self.pod_name(job)
        token = self.token(name)
        register(token)
        pod = self.graphql("create a pod", CREATE_POD, {"input": self.pod_input(job, {TOKEN_ENV: token, **job.secret_env})})
        pod = pod.get("podFindAndDeployOnDemand")
        if not pod or not pod.get("id"):
            raise InfraError(f"RunPod created no pod for {name} (no capacity?)")
        return {"pod_id": pod["id"], "name": name, "port": int(self.conf["worker_port"]),
                "created": time.time(), "slot": job.slot}

    def graphql(self, what: str, query: str, variables: dict) -> dict:
        """A GraphQL request with its values as variables, to the API the SDK uses (RUNPOD_API_BASE_URL)."""
        key = self.key()
        url = os.environ.get("RUNPOD_API_BASE_URL", "https://api.runpod.io").rstrip("/") + "/graphql"
        try:
            response = httpx.post(url, json={"query": query, "variables": variables}, timeout=30,
                                  headers={"Authorization": f"Bearer {key}"})
            if response.status_code == 401:
                raise LaunchError("RunPod refused the API key (401 Unauthorized)")
            answer = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise InfraError(redact(f"RunPod {what}: {type(exc).__name__}: {exc}")[:500]) from None
        if answer.get("errors") or response.status_code != 200:
            message = (answer.get("errors") or [{}])[0].get("message") or f"HTTP {response.status_code}"
            raise InfraError(redact(f"RunPod {what}: {message}")[:500])
        return answer.get("data") or {}

    # ---- the worker, through the proxy

    def url(self, handle: dict, path: str) -> str:
        base = str(self.conf["proxy_url"]).format(pod_id=handle["pod_id"], port=handle["port"])
        return base.rstrip("/") + path

    def request(self, method: str, handle: dict, path: str, **kwargs) -> httpx.Response:
        try:
            response = httpx.request(method, self.url(handle, path), timeout=15,
                                     headers={"Authorization": f"Bearer {self.token(handle['name'])}"}, **kwargs)
        except httpx.HTTPError as exc:
            raise InfraError(f"worker of {handle['name']} unreachable: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise InfraError(f"worker of {handle['name']} answered {response.status_code} to {path}")
        self.last_contact[handle["pod_id"]] = time.time()
        return response

    def poll(self, handle: dict) -> JobStatus:
        runpod = self.sdk()
        pod = self.call("get_pod", runpod.get_pod, handle["pod_id"])
        if not pod or pod.get("desiredStatus") in ("TERMINATED", "EXITED"):
            return JobStatus("lost", "infra", f"pod {handle['pod_id']} is gone")
        try:
            return job_status_from_worker(self.request("GET", handle, "/state").json()) or JobStatus("booting")
        except (InfraError, ValueError) as exc:
            now = time.time()
            seen = self.last_contact.get(handle["pod_id"])
            if seen is None and now - handle["created"] > float(self.conf["boot_timeout_s"]):
                return JobStatus("lost", "infra", f"pod {handle['pod_id']} did not boot in {self.conf['boot_timeout_s']}s")
            if seen is not None and now - seen > LOST_AFTER_S:
                return JobStatus("lost", "infra", f"lost contact with pod {handle['pod_id']}: {exc}")
            return JobStatus("booting" if seen is None else "running")

    def read_log(self, handle: dict, offset: int) -> bytes:
        return self.request("GET", handle, "/log", params={"offset": offset}).content

    def fetch_outputs(self, handle: dict, dest: Path) -> list[str]:
        dest.mkdir(parents=True, exist_ok=True)
        names = []
        for entry in self.request("GET", handle, "/files").json():
            name = Path(entry["name"]).name
            data = self.request("GET", handle, f"/files/{name}").content
            (dest / name).write_bytes(data)
            names.append(name)
        return names

    def release(self, handle: dict) -> None:
        try:
            self.request("POST", handle, "/release")
        except InfraError:
            pass
        self.cancel(handle)

    def cancel(self, handle: dict) -> None:
        runpod = self.sdk()
        try:
            runpod.terminate_pod(handle["pod_id"])
        except Exception as exc:
            if "not found" in str(exc).lower():  # terminated already
                return
            raise InfraError(redact(f"RunPod terminate_pod {handle['pod_id']}: {exc}")) from None

    def orphans(self, group: str, known: list[dict]) -> list[dict]:
        runpod = self.sdk()
        ids = {h.get("pod_id") for h in known}
        prefix = f"golf-{group}-s"
        return [{"pod_id": p["id"], "name": p["name"], "port": int(self.conf["worker_port"]), "created": 0}
                for p in self.call("get_pods", runpod.get_pods) or []
                if str(p.get("name", "")).startswith(prefix) and p["id"] not in ids]
