"""A launch plan: the seeds, where they run, what each costs; shown by --dry-run, stored in the database."""
from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets as pysecrets
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.table import Table

from .backends import get_backend
from .backends.base import Backend, LaunchError, SeedJob
from .gpus import GpuSpec
from golfcore.secrets import is_secret_name, redact, redact_env
from .settings import price_per_gpu_hour
from .spec import WorkerSpec

TRACKS = {"10min_16mb": "track_10min_16mb", "non_record_16mb": "track_non_record_16mb"}
GROUP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
MAX_SCRIPT_BYTES = 2_000_000


@dataclass
class LaunchPlan:
    group: str
    backend_name: str
    gpus: GpuSpec
    seeds: list[int]
    script: Path | None  # None: golf's reference trainer
    env: dict[str, str]
    track: str  # 10min_16mb | non_record_16mb
    dataset: str
    retries: int
    runs_dir: Path
    settings: dict
    backend: Backend = field(repr=False, default=None)

    def __post_init__(self):
        if self.backend is None:
            self.backend = get_backend(self.backend_name, self.settings)

    @property
    def record_track(self) -> bool:
        return self.track == "10min_16mb"

    @property
    def image(self) -> str:
        return str(self.settings["image"])

    @property
    def caps(self) -> tuple[float | None, float | None]:
        launch = self.settings["launch"]
        if self.record_track:
            return float(launch["train_cap_s"]), float(launch["eval_cap_s"])
        return None, None

    def hours_per_seed(self) -> float:
        launch = self.settings["launch"]
        if self.record_track:
            return (float(launch["setup_s"]) + float(launch["train_cap_s"]) + float(launch["eval_cap_s"])
                    + 2 * float(launch["margin_s"])) / 3600
        return float(launch["non_record_hours"])

    def price(self) -> float:
        if self.gpus.is_cpu:
            return 0.0
        return price_per_gpu_hour(self.settings, self.backend_name, self.gpus.kind)

    def cost_per_seed(self) -> float:
        return self.hours_per_seed() * max(1, self.gpus.count) * self.price()

    def estimated_cost(self) -> float:
        return self.cost_per_seed() * len(self.seeds)

    def worker_spec(self, seed: int) -> WorkerSpec:
        train_cap, eval_cap = self.caps
        script_text = None
        if self.script is not None:
            script_text = self.script.read_text()
        return WorkerSpec(
            group=self.group, seed=seed, nproc=max(1, self.gpus.count), gpu=str(self.gpus), dataset=self.dataset,
            out_dir="", data_dir="", script_name=self.script.name if self.script else None, script_text=script_text,
            env=dict(self.env), train_cap_s=train_cap, eval_cap_s=eval_cap,
            margin_s=float(self.settings["launch"]["margin_s"]),
        )

    def job(self, seed: int, attempt: int = 1, slot: int = 0) -> SeedJob:
        job = SeedJob(group=self.group, seed=seed, attempt=attempt, gpus=self.gpus, spec=self.worker_spec(seed),
                      image=self.image, slot=slot,
                      secret_env={k: v for k, v in self.env.items() if is_secret_name(k)})
        self.backend.prepare(job, self.runs_dir)
        return job

    def as_dict(self) -> dict:
        """The plan as shown and stored: env values that are secrets are masked."""
        script = None
        if self.script is not None:
            script = {"path": str(self.script), "sha256": hashlib.sha256(self.script.read_bytes()).hexdigest()}
        seeds = []
        capacity = max(1, self.backend.capacity(self.gpus))
        for i, seed in enumerate(self.seeds):
            job = self.job(seed, slot=i % capacity)
            described = {k: redact(str(v), self.env) for k, v in self.backend.describe(job).items()}
            seeds.append({"seed": seed, **described})
        train_cap, eval_cap = self.caps
        return {
            "group": self.group, "backend": self.backend_name, "gpus": str(self.gpus),
            "gpu_type": self.gpus.name_on(self.backend_name), "image": self.image,
            "script": script or "golf reference trainer", "track": TRACKS[self.track], "dataset": self.dataset,
            "env": redact_env(self.env), "retries": self.retries, "train_cap_s": train_cap, "eval_cap_s": eval_cap,
            "hours_per_seed": round(self.hours_per_seed(), 3), "usd_per_gpu_hour": self.price(),
            "estimated_cost_usd": round(self.estimated_cost(), 2), "seeds": seeds,
        }


def validate_plan(plan: LaunchPlan) -> None:
    if not GROUP_NAME.match(plan.group):
        raise LaunchError(f"group name {plan.group!r}: use letters, digits, '.', '_' and '-' (at most 100)")
    if not plan.seeds:
        raise LaunchError("--seeds needs at least one seed")
    if len(set(plan.seeds)) != len(plan.seeds):
        raise LaunchError("--seeds lists a seed twice")
    if plan.script is not None:
        if not plan.script.is_file():
            raise LaunchError(f"{plan.script}: no such script")
        if plan.script.stat().st_size > MAX_SCRIPT_BYTES:
            raise LaunchError(f"{plan.script} is {plan.script.stat().st_size:,} bytes; a counted train_gpt.py "
                              f"must fit in 16 MB with the model, and golf ships at most {MAX_SCRIPT_BYTES:,}")
    if plan.gpus.is_cpu and plan.dataset != "embedded":
        raise LaunchError(f"--gpus cpu trains on the embedded data, not {plan.dataset} (use --dataset embedded)")
    plan.backend.check(plan.gpus)


def parse_seeds(text: str) -> list[int]:
    try:
        return [int(s) for s in text.replace(" ", "").split(",") if s]
    except ValueError:
        raise LaunchError(f"--seeds {text!r}: expected comma-separated integers, e.g. 42,314,999") from None


def default_group(script: Path | None, gpus: GpuSpec) -> str:
    stem = re.sub(r"[^A-Za-z0-9]+", "-", script.stem if script else "reference").strip("-")[:40] or "script"
    return f"{dt.date.today().isoformat()}_{stem}_{gpus}_{pysecrets.token_hex(2)}"


def render_plan(plan_dict: dict, console: Console) -> None:
    console.rule(f"[bold]plan[/bold] {plan_dict['group']}")
    head = Table(show_header=False, show_edge=False)
    for key in ("backend", "gpus", "gpu_type", "image", "script", "track", "dataset", "retries", "train_cap_s",
                "eval_cap_s", "hours_per_seed", "usd_per_gpu_hour", "estimated_cost_usd"):
        value = plan_dict[key]
        if isinstance(value, dict):
            value = f"{value['path']} (sha256 {value['sha256'][:12]})"
        head.add_row(key, "—" if value is None else str(value))
    head.add_row("env", " ".join(f"{k}={v}" for k, v in plan_dict["env"].items()) or "—")
    console.print(head)
    for s in plan_dict["seeds"]:
        console.print(f"[bold]seed {s['seed']}[/bold]", highlight=False)
        for key, value in s.items():
            if key != "seed":
                console.print(f"  {key}: {value}", highlight=False, markup=False)
