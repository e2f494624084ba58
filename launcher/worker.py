"""The worker: the one entrypoint every backend runs on the GPU box, once per seed.

    python -m launcher.worker --spec <base64>   (or --spec-file spec.json)

It prepares the dataset into a cache (checking every shard's header and size), runs the
script under torchrun with SEED and the env, tees its output to OUT/train.log, kills the
script's whole process tree when a cap plus its margin passes (and whatever it left running
when it ends), and collects the artifact, result.json and its own timings into OUT. Progress is in OUT/state.json and, with a serve port, over
token-protected HTTP for launchers that cannot read OUT directly.
"""
from __future__ import annotations

import argparse
import contextlib
import ctypes
import fcntl
import hmac
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import psutil

from golfcore.loggrammar import ARTIFACT_EVENTS, parse_event
from golfcore.secrets import mask, redact, secret_values
from .spec import WorkerSpec

TERMINAL = ("done", "failed", "timeout", "cancelled")
# A line saying the artifact is written: training is over and the evaluation clock starts.
# the artifact is on disk: golf's own event, or the baseline's size lines that most scripts keep
BASELINE_ARTIFACT_LINE = re.compile(r"(?i)(serialized model|total submission size)")
OUTPUT_FILES = re.compile(r"^(train\.log|result\.json|worker\.json|state\.json|final_model[\w.+-]*)$")
TOKEN_ENV = "GOLF_WORKER_TOKEN"
GRACE_S = 10.0  # between SIGTERM and SIGKILL
PR_SET_CHILD_SUBREAPER = 36
MAX_LOG_CHUNK = 4 << 20


def write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def output_files(folder: Path) -> list[Path]:
    """What a worker hands back: the log, its state and timings, result.json, the artifact."""
    return [p for p in sorted(folder.iterdir()) if p.is_file() and OUTPUT_FILES.match(p.name)]


def copy_outputs(src: Path, dest: Path) -> list[str]:
    dest.mkdir(parents=True, exist_ok=True)
    files = output_files(src)
    for path in files:
        shutil.copy2(path, dest / path.name)
    return [p.name for p in files]


def read_state(out_dir: Path) -> dict | None:
    try:
        return json.loads((out_dir / "state.json").read_text())
    except (OSError, ValueError):
        return None


# ---- data


@contextmanager
def file_lock(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def verify_dataset(dataset: Path) -> dict[str, int]:
    """Token counts per split; raises ShardError naming the first bad shard."""
    from trainer.shards import ShardError, read_shard_header

    counts = {}
    for split in ("train", "val"):
        shards = sorted(dataset.glob(f"fineweb_{split}_*.bin"))
        if not shards:
            raise ShardError(f"{dataset}: no {split} shards")
        counts[split] = sum(read_shard_header(p) for p in shards)
    return counts


def prepare_dataset(name: str, data_dir: Path, log) -> tuple[Path, Path]:
    """(dataset dir, tokenizer) in the cache, prepared once under a lock shared by concurrent seeds."""
    from trainer.data import fetch_fineweb, prepare_embedded
    from trainer.shards import ShardError, dataset_candidates

    vocab = 1024 if name in ("embedded", "sp1024") else 8192
    fineweb, embedded = dataset_candidates(data_dir, vocab)
    dataset, tokenizer = embedded if name == "embedded" else fineweb
    with file_lock(data_dir / ".golf-prepare.lock"):
        try:
            counts = verify_dataset(dataset)
            if not tokenizer.is_file():
                raise ShardError(f"{tokenizer} is missing")
            log(f"data: cached {dataset} ({counts['train']:,} train, {counts['val']:,} val tokens)")
        except ShardError as exc:
            log(f"data: preparing {name} ({exc})")
            if name == "embedded":
                prepare_embedded(data_dir, vocab, progress=log)
            else:
                fetch_fineweb(data_dir, name, int(os.environ.get("GOLF_TRAIN_SHARDS", "80")), progress=log)
            counts = verify_dataset(dataset)
            log(f"data: ready {dataset} ({counts['train']:,} train, {counts['val']:,} val tokens)")
    return dataset, tokenizer


# ---- the script and its process tree


def become_subreaper() -> None:
    """Linux: a process the script leaves behind (a child in its own session whose parent died) becomes
    this worker's child instead of init's, so the script's whole tree stays below the worker."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def signal_tree(script: subprocess.Popen, sig: int) -> None:
    """The script's process group while its leader runs (after, the group id may be another's), and
    every process below this worker, in any session."""
    if script.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(script.pid, sig)
    for proc in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            proc.send_signal(sig)


def reap_children() -> None:
    """Collect the exit status of every child that has ended (the orphans this worker adopted)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return



def writes_artifact(line: str) -> bool:
    event = parse_event(line)
    return event.name in ARTIFACT_EVENTS if event is not None else bool(BASELINE_ARTIFACT_LINE.search(line))


def script_command(spec: WorkerSpec, workdir: Path) -> list[str]:
    if spec.script_text is not None:
        script = workdir / (spec.script_name or "train_gpt.py")
        script.write_text(spec.script_text)
        target = [str(script)]
    else:
        target = ["-m", "trainer"]
    if spec.nproc > 1 or not spec.gpu.startswith("cpu"):
        return [sys.executable, "-m", "torch.distributed.run", "--standalone",
                f"--nproc_per_node={spec.nproc}", *target]
    return [sys.executable, *target]


def script_env(spec: WorkerSpec, workdir: Path, dataset: Path, tokenizer: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", TOKEN_ENV)}
    env["PYTHONUNBUFFERED"] = "1"
    if spec.script_text is None:  # the reference trainer: its preset, and its run folder in the scratch dir
        env["PRESET"] = "smoke" if spec.gpu.startswith("cpu") else "baseline"
        env["RUNS_DIR"] = str(workdir / "runs")
        project = str(Path(__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (project, env.get("PYTHONPATH")) if p)
    if spec.threads:
        env["OMP_NUM_THREADS"] = str(spec.threads)
    env.update({"DATA_PATH": str(dataset), "TOKENIZER_PATH": str(tokenizer),
                "VOCAB_SIZE": "8192" if spec.dataset == "sp8192" else "1024"})
    env.update(spec.env)
    env["SEED"] = str(spec.seed)
    env["RUN_ID"] = f"{spec.group}_seed{spec.seed}"
    return env


class Worker:
    def __init__(self, spec: WorkerSpec):
        self.spec = spec
        self.out = Path(spec.out_dir)
        self.work = self.out / "work"
        self.state: dict = {"state": "starting", "seed": spec.seed, "group": spec.group, "log_bytes": 0,
                            "started_at": time.time(), "pid": os.getpid(), "host": socket.gethostname()}
        self.lock = threading.Lock()
        self.log_fh = None
        self.cancelled = threading.Event()
        self.released = threading.Event()
        self.proc: subprocess.Popen | None = None
        self.artifact_at: float | None = None
        self.secrets = secret_values(spec.env)  # looked up once: every log line is masked with them

    # state and log

    def update(self, **fields) -> None:
        with self.lock:
            self.state.update(fields, updated_at=time.time())
            write_json(self.out / "state.json", self.state)

    def log(self, line: str) -> None:
        line = mask(line.rstrip("\n"), self.secrets)
        with self.lock:
            self.log_fh.write(line + "\n")
            self.log_fh.flush()
            self.state["log_bytes"] = self.log_fh.tell()
        print(line, flush=True)

    # phases

    def run(self) -> dict:
        self.out.mkdir(parents=True, exist_ok=True)
        previous = read_state(self.out)
        if previous and previous.get("state") in TERMINAL:  # a restarted container: never train twice
            self.state = previous
            return previous
        if self.work.exists():
            shutil.rmtree(self.work)
        self.work.mkdir()
        self.log_fh = open(self.out / "train.log", "w", encoding="utf-8")
        try:
            self.update(state="preparing")
            t0 = time.time()
            try:
                dataset, tokenizer = prepare_dataset(self.spec.dataset, Path(self.spec.data_dir), self.log)
            except Exception as exc:  # a missing or corrupt dataset is the box's problem, not the script's
                self.log(f"worker: data preparation failed: {exc}")
                self.update(state="failed", failure="infra", reason=mask(f"data: {exc}"[:500], self.secrets))
                return self.finish(t0, time.time())
            t_data = time.time()
            if self.cancelled.is_set():
                self.update(state="cancelled", failure="cancelled", reason="cancelled before the script started")
                return self.finish(t0, t_data)
            self.run_script(dataset, tokenizer)
            self.collect()
            return self.finish(t0, t_data)
        finally:
            self.log_fh.close()

    def run_script(self, dataset: Path, tokenizer: Path) -> None:
        command = script_command(self.spec, self.work)
        env = script_env(self.spec, self.work, dataset, tokenizer)
        self.log(f"worker: seed {self.spec.seed} on {self.spec.gpu}: {' '.join(command[1:])}")
        self.proc = subprocess.Popen(command, cwd=self.work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     start_new_session=True, text=True, errors="replace", bufsize=1)
        self.update(state="running", script_pid=self.proc.pid, script_started_at=time.time())
        reader = threading.Thread(target=self._tee, daemon=True)
        reader.start()
        started = time.monotonic()
        verdict = None
        while self.proc.poll() is None:
            if self.cancelled.is_set():
                verdict = ("cancelled", "cancelled", "cancelled by the launcher")
            else:
                verdict = self._deadline_passed(started)
            if verdict:
                self.log(f"worker: {verdict[2]}; stopping the script")
                self.terminate()
                break
            time.sleep(0.2)
        code = self.proc.wait()
        self.kill_leftovers()  # a script's helper processes never outlive it
        reader.join(timeout=5)
        self.update(exit_code=code, script_ended_at=time.time())
        if verdict:
            self.update(state=verdict[0], failure=verdict[1], reason=verdict[2])
        elif code != 0:
            self.update(state="failed", failure="script", reason=f"the script exited with code {code}")
        else:
            self.update(state="collecting")

    def _tee(self) -> None:
        for line in self.proc.stdout:
            if self.artifact_at is None and writes_artifact(line):
                self.artifact_at = time.monotonic()
            self.log(line)

    def _deadline_passed(self, started: float) -> tuple[str, str, str] | None:
        spec, now = self.spec, time.monotonic()
        if spec.hard_deadline_s is not None and now - started > spec.hard_deadline_s:
            return ("timeout", "deadline", f"hard deadline: {spec.hard_deadline_s:.0f}s since the script started")
        if self.artifact_at is None and spec.train_cap_s is not None and now - started > spec.train_cap_s + spec.margin_s:
            return ("timeout", "deadline",
                    f"no artifact {spec.train_cap_s:.0f}s (train cap) + {spec.margin_s:.0f}s (margin) after the start")
        if self.artifact_at is not None and spec.eval_cap_s is not None and \
                now - self.artifact_at > spec.eval_cap_s + spec.margin_s:
            return ("timeout", "deadline",
                    f"evaluation still running {spec.eval_cap_s:.0f}s (eval cap) + {spec.margin_s:.0f}s (margin) after the artifact")
        return None

    def terminate(self) -> None:
        """SIGTERM the script's whole tree, then SIGKILL what is left once the script is gone or the
        grace period has passed."""
        if self.proc is None:
            return
        signal_tree(self.proc, signal.SIGTERM)
        try:
            self.proc.wait(timeout=GRACE_S)
        except subprocess.TimeoutExpired:
            pass
        self.kill_leftovers()

    def kill_leftovers(self) -> None:
        if self.proc is None:
            return
        signal_tree(self.proc, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=5.0)
        reap_children()

    def collect(self) -> None:
        """result.json and the artifact from wherever the script left them, into OUT."""
        found = [p for p in self.work.rglob("*") if p.is_file() and
                 (p.name == "result.json" or p.name.startswith("final_model"))]
        for path in sorted(found, key=lambda p: p.stat().st_mtime):
            shutil.copy2(path, self.out / path.name)
        if self.state["state"] == "collecting":
            self.update(state="done", failure=None, reason=None)

    def finish(self, t0: float, t_data: float) -> dict:
        now = time.time()
        timings = {"data_s": round(t_data - t0, 3), "wall_s": round(now - t0, 3)}
        if "script_started_at" in self.state:
            timings["script_s"] = round(self.state.get("script_ended_at", now) - self.state["script_started_at"], 3)
        self.update(ended_at=now, timings=timings)
        write_json(self.out / "worker.json", {
            "seed": self.spec.seed, "group": self.spec.group, "gpu": self.spec.gpu, "nproc": self.spec.nproc,
            "dataset": self.spec.dataset, "state": self.state["state"], "failure": self.state.get("failure"),
            "reason": self.state.get("reason"), "exit_code": self.state.get("exit_code"), "timings": timings,
            "host": self.state["host"], "gpu_names": gpu_names(),
        })
        return self.state


def gpu_names() -> list[str]:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=10)
        return [line.strip() for line in out.stdout.splitlines() if line.strip()]
    except (OSError, subprocess.SubprocessError):
        return []


# ---- HTTP: progress and files for launchers that cannot read OUT (RunPod)


def make_handler(worker: Worker, token: str):
    out = worker.out

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # the request log would go to the train log's stdout
            pass

        def _authorized(self) -> bool:
            given = self.headers.get("Authorization", "")
            if hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                return True
            self._send(401, b'{"error": "unauthorized"}')
            return False

        def _send(self, code: int, body: bytes, kind: str = "application/json", headers: dict | None = None) -> None:
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if not self._authorized():
                return
            url = urlparse(self.path)
            if url.path == "/state":
                with worker.lock:
                    body = json.dumps(worker.state).encode()
                self._send(200, body)
            elif url.path == "/log":
                try:
                    offset = max(0, int(parse_qs(url.query).get("offset", ["0"])[0]))
                except ValueError:
                    self._send(400, b'{"error": "offset must be an integer"}')
                    return
                path = out / "train.log"
                size = path.stat().st_size if path.exists() else 0
                data = b""
                if offset < size:
                    with open(path, "rb") as fh:
                        fh.seek(offset)
                        data = fh.read(MAX_LOG_CHUNK)
                self._send(200, data, "application/octet-stream", {"X-Log-Size": str(size)})
            elif url.path == "/files":
                files = [{"name": p.name, "bytes": p.stat().st_size} for p in output_files(out)]
                self._send(200, json.dumps(files).encode())
            elif url.path.startswith("/files/"):
                name = url.path[len("/files/"):]
                path = out / name
                if not OUTPUT_FILES.match(name) or not path.is_file():
                    self._send(404, b'{"error": "no such file"}')
                    return
                self._send(200, path.read_bytes(), "application/octet-stream")
            else:
                self._send(404, b'{"error": "not found"}')

        def do_POST(self) -> None:
            if not self._authorized():
                return
            path = urlparse(self.path).path
            if path == "/cancel":
                worker.cancelled.set()
            elif path == "/release":
                worker.released.set()
            else:
                self._send(404, b'{"error": "not found"}')
                return
            self._send(200, b'{"ok": true}')

    return Handler


def serve(worker: Worker, port: int, token: str) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("0.0.0.0", port), make_handler(worker, token))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def terminate_own_pod() -> None:
    """On RunPod: the pod's own id and key are in its environment; stop billing now."""
    pod_id = os.environ.get("RUNPOD_POD_ID")
    if not pod_id:
        return
    import runpod

    runpod.api_key = os.environ.get("RUNPOD_API_KEY")
    try:
        runpod.terminate_pod(pod_id)
    except Exception as exc:  # the launcher may have terminated it already
        print(f"worker: could not terminate pod {pod_id}: {redact(str(exc))}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m launcher.worker", description=__doc__.split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--spec", help="the worker spec, encoded (base64 of lzma JSON)")
    source.add_argument("--spec-file", type=Path, help="the worker spec as a JSON file")
    args = parser.parse_args(argv)
    try:
        spec = WorkerSpec.decode(args.spec) if args.spec else WorkerSpec.from_json(args.spec_file.read_text())
    except Exception as exc:
        print(f"error: bad worker spec: {exc}", file=sys.stderr)
        return 2
    become_subreaper()
    worker = Worker(spec)
    deadline = time.monotonic() + (spec.hard_deadline_s or float("inf")) + spec.linger_s + 3600
    if spec.self_terminate and spec.hard_deadline_s is not None:
        # the last line of defence against a pod billing forever: whatever happens below
        timer = threading.Timer(deadline - time.monotonic(), terminate_own_pod)
        timer.daemon = True
        timer.start()

    def on_signal(signum, _frame):
        worker.cancelled.set()
        if worker.proc is None or worker.proc.poll() is not None:
            raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server = None
    if spec.serve_port:
        if not os.environ.get(TOKEN_ENV):
            print(f"error: serving needs a token in ${TOKEN_ENV}", file=sys.stderr)
            return 2
        worker.out.mkdir(parents=True, exist_ok=True)
        # the container runtime may map the port (GOLF_WORKER_PORT); the spec names the one exposed
        server = serve(worker, int(os.environ.get("GOLF_WORKER_PORT") or spec.serve_port), os.environ[TOKEN_ENV])
    try:
        final = worker.run()
    except KeyboardInterrupt:
        worker.terminate()
        worker.update(state="cancelled", failure="cancelled", reason="cancelled")
        final = worker.state
    if server is not None:
        worker.released.wait(timeout=spec.linger_s)
        server.shutdown()
    if spec.self_terminate:
        terminate_own_pod()
    os._exit(0 if final.get("state") == "done" else 1)  # the deadline timer must not keep us alive


if __name__ == "__main__":
    raise SystemExit(main())
