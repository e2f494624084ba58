"""A fake RunPod GraphQL API on 127.0.0.1, for the real `runpod` SDK (RUNPOD_API_BASE_URL).

It records every query and mutation. Creating a pod (with GraphQL variables, as golf sends it)
starts the worker from the pod's dockerArgs as a local process, with the pod's env plus what
RunPod adds (RUNPOD_POD_ID, its RUNPOD_API_KEY); terminating one kills that process group. It
also plays RunPod's HTTP proxy: /proxy/<pod>-<port>/... is forwarded to the pod's worker.

Values in `secrets` may reach it only as a pod's env: every request (path, headers, body) is
searched for them with the env values left out, and each one found elsewhere is recorded in
`leaks` and refused.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from conftest import free_port
from launcher.spec import WorkerSpec

API_KEY = "rp_fake_key_0123456789"
POD_KEY = "rp_pod_scoped_key_987654"
GPU_TYPES = {"NVIDIA H100 80GB HBM3": 8, "NVIDIA H200": 8, "NVIDIA A100-SXM4-80GB": 8}


def _field(query: str, name: str) -> str | None:
    m = re.search(rf'\b{name}:\s*"((?:[^"\\]|\\.)*)"', query)
    return m.group(1) if m else None


@dataclass
class Pod:
    id: str
    name: str
    docker_args: str
    env: dict
    gpu_type: str
    gpu_count: int
    port: int  # the worker's port on this machine
    proc: subprocess.Popen | None = None
    status: str = "RUNNING"
    terminated_by: list[str] = field(default_factory=list)


class FakeRunPod:
    def __init__(self, repo: Path, workdir: Path, boot_failures: int = 0, secrets: tuple[str, ...] = ()):
        self.repo = repo
        self.workdir = workdir
        self.boot_failures = boot_failures  # this many pods never start their worker
        self.secrets = secrets
        self.leaks: list[str] = []  # "where: what" for every secret seen outside a pod's env
        self.pods: dict[str, Pod] = {}
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def proxy_url(self) -> str:
        return self.url + "/proxy/{pod_id}-{port}"

    def mutations(self, kind: str) -> list[dict]:
        return [r for r in self.requests if kind in r["query"]]

    def close(self) -> None:
        for pod in self.pods.values():
            self._kill(pod)
        self.server.shutdown()

    # ---- GraphQL

    def leaked(self, where: str, texts: list[str]) -> bool:
        found = [f"{where}: {secret[:4]}... in {text[:300]!r}" for text in texts for secret in self.secrets
                 if secret in text]
        with self.lock:
            self.leaks.extend(found)
        return bool(found)

    @staticmethod
    def outside_env(request_line: str, headers, body: bytes) -> list[str]:
        """Every string a request carries (its JSON body's values decoded) except the values of a
        created pod's env; a worker spec in a pod's command is read decoded, as it travels
        compressed and base64-encoded."""
        texts = [request_line, *(f"{k}: {v}" for k, v in headers.items()), body.decode("utf-8", errors="replace")]
        try:
            payload = json.loads(body) if body else None
        except ValueError:
            payload = None
        if isinstance(payload, dict):
            pod = (payload.get("variables") or {}).get("input") or {}
            for item in pod.get("env") or []:
                item["value"] = "<env>"
            texts[-1] = json.dumps(payload)
            stack = [payload]
            while stack:
                value = stack.pop()
                if isinstance(value, dict):
                    stack.extend(value.values())
                elif isinstance(value, list):
                    stack.extend(value)
                elif isinstance(value, str):
                    texts.append(value)
        texts += [WorkerSpec.decode(blob).to_json() for text in list(texts)
                  for blob in re.findall(r"--spec ([A-Za-z0-9_=-]+)", text)]
        return texts

    def graphql(self, query: str, key: str, variables: dict | None = None) -> dict:
        with self.lock:
            self.requests.append({"query": query, "key": key, "variables": variables})
        if "gpuTypes" in query:
            gpu_id = _field(query, "id")
            found = [{"id": gpu_id, "displayName": gpu_id, "maxGpuCount": GPU_TYPES[gpu_id], "memoryInGb": 80}] \
                if gpu_id in GPU_TYPES else []
            return {"data": {"gpuTypes": found}}
        if "podFindAndDeployOnDemand" in query:
            return {"data": {"podFindAndDeployOnDemand": self.create(self._pod_input(query, variables))}}
        if "podTerminate" in query:
            pod_id = _field(query, "podId")
            pod = self.pods.get(pod_id)
            if pod is None:
                return {"errors": [{"message": f"pod {pod_id} not found"}]}
            pod.terminated_by.append(key)
            pod.status = "TERMINATED"
            self._kill(pod)
            return {"data": {"podTerminate": None}}
        if "myself" in query:
            return {"data": {"myself": {"pods": [self._pod_json(p) for p in self.pods.values()
                                                 if p.status != "TERMINATED"]}}}
        if re.search(r"\bpod\(input", query):
            pod = self.pods.get(_field(query, "podId"))
            return {"data": {"pod": None if pod is None or pod.status == "TERMINATED" else self._pod_json(pod)}}
        return {"errors": [{"message": "unsupported query"}]}

    def _pod_json(self, pod: Pod) -> dict:
        return {"id": pod.id, "name": pod.name, "desiredStatus": pod.status, "gpuCount": pod.gpu_count,
                "imageName": "img", "runtime": None, "machine": {"gpuDisplayName": pod.gpu_type}}

    @staticmethod
    def _pod_input(query: str, variables: dict | None) -> dict:
        """The pod as sent with variables, or as the SDK pastes it into the query."""
        if variables and "input" in variables:
            return variables["input"]
        return {"name": _field(query, "name"), "dockerArgs": _field(query, "dockerArgs"),
                "gpuTypeId": _field(query, "gpuTypeId"), "gpuCount": re.search(r"gpuCount: (\d+)", query)[1],
                "env": [{"key": k, "value": v} for k, v in re.findall(r'\{ key: "([^"]*)", value: "([^"]*)" \}', query)]}

    def create(self, pod_input: dict) -> dict:
        env = {item["key"]: item["value"] for item in pod_input.get("env") or []}
        pod = Pod(id=f"pod{len(self.pods) + 1:03d}", name=pod_input["name"], docker_args=pod_input["dockerArgs"],
                  env=env, gpu_type=pod_input["gpuTypeId"], gpu_count=int(pod_input["gpuCount"]), port=free_port())
        self.pods[pod.id] = pod
        if self.boot_failures > 0:
            self.boot_failures -= 1
        else:
            self._start(pod)
        return {"id": pod.id, "imageName": "img", "env": [], "machineId": "m1", "machine": {"podHostId": "h1"}}

    def _start(self, pod: Pod) -> None:
        argv = shlex.split(pod.docker_args)
        assert argv[:3] == ["python", "-m", "launcher.worker"], argv
        env = {k: v for k, v in os.environ.items() if not k.startswith("RUNPOD_")}
        env.update(pod.env)
        env.update({"RUNPOD_POD_ID": pod.id, "RUNPOD_API_KEY": POD_KEY, "RUNPOD_API_BASE_URL": self.url,
                    "GOLF_WORKER_PORT": str(pod.port), "PYTHONPATH": str(self.repo)})
        log = open(self.workdir / f"{pod.id}.console", "wb")
        pod.proc = subprocess.Popen([sys.executable, *argv[1:]], env=env, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True, cwd=self.workdir)

    def _kill(self, pod: Pod) -> None:
        if pod.proc is not None and pod.proc.poll() is None:
            try:
                os.killpg(pod.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            pod.proc.wait()

    # ---- HTTP

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _reply(self, code: int, body: bytes, headers: dict | None = None) -> None:
                self.send_response(code)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if fake.leaked(f"POST {self.path}", fake.outside_env(self.requestline, self.headers, body)):
                    return self._reply(400, b"a secret outside the pod's env")
                if self.path.startswith("/proxy/"):
                    return self._proxy(body)
                key = self.headers.get("Authorization", "").removeprefix("Bearer ")
                if key not in (API_KEY, POD_KEY):
                    return self._reply(401, b"unauthorized")
                payload = json.loads(body)
                answer = fake.graphql(payload["query"], key, payload.get("variables"))
                self._reply(200, json.dumps(answer).encode(), {"Content-Type": "application/json"})

            def do_GET(self):
                if fake.leaked(f"GET {self.path}", fake.outside_env(self.requestline, self.headers, b"")):
                    return self._reply(400, b"a secret outside the pod's env")
                self._proxy(None)

            def _proxy(self, body):
                m = re.match(r"^/proxy/(pod\d+)-(\d+)(/.*)$", self.path)
                pod = fake.pods.get(m.group(1)) if m else None
                if pod is None or pod.status == "TERMINATED":
                    return self._reply(404, b"no such pod")
                request = urllib.request.Request(f"http://127.0.0.1:{pod.port}{m.group(3)}", data=body,
                                                 method=self.command,
                                                 headers={"Authorization": self.headers.get("Authorization", "")})
                try:
                    with urllib.request.urlopen(request, timeout=10) as response:
                        kept = {k: v for k, v in response.headers.items() if k in ("Content-Type", "X-Log-Size")}
                        self._reply(response.status, response.read(), kept)
                except urllib.error.HTTPError as exc:
                    self._reply(exc.code, exc.read())
                except OSError:
                    self._reply(502, b"bad gateway")  # what the proxy says while the pod boots

        return Handler
