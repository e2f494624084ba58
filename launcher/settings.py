"""Launcher settings: built-in defaults, then ~/.config/golf/config.toml, then ./golf.toml
(or the file $GOLF_CONFIG names), then GOLF_* environment variables, then the command line.

A file that holds an API key must be private (mode 0600); golf refuses to read keys
from a file others can read.
"""
from __future__ import annotations

import copy
import os
import stat
import tomllib
from pathlib import Path

from golfcore import secrets

DEFAULTS: dict = {
    "launch": {
        "backend": "local",
        "gpus": "auto",  # auto: cpu when this machine has no CUDA GPU, else 8xH100
        "track": "10min_16mb",
        "dataset": "auto",  # auto: embedded for cpu, sp1024 for GPUs
        "retries": 1,
        "runs_dir": "runs",
        "poll_seconds": 2.0,
        "train_cap_s": 600,
        "eval_cap_s": 600,
        "margin_s": 120,  # beyond each cap before the worker kills the script (startup, compile)
        "setup_s": 900,  # boot, image pull and data before training: counted in the cost estimate
        "non_record_hours": 4.0,  # planned time per seed on the non-record track
    },
    # USD per GPU-hour, by backend then GPU type; on-demand list prices, override with your own.
    "prices": {
        "runpod": {"H100": 2.69, "H200": 3.59, "A100": 1.39},
        "modal": {"H100": 3.95, "H200": 4.54, "A100": 2.50},
        "skypilot": {"H100": 3.00, "H200": 3.80, "A100": 1.80},
        "local": {"H100": 0.0, "H200": 0.0, "A100": 0.0, "cpu": 0.0},
    },
    "local": {"slots": 0, "threads_per_seed": 2, "data_dir": "data"},
    "image": "ghcr.io/golf-pg/golf-trainer:latest",
    "runpod": {
        "cloud_type": "SECURE", "container_disk_gb": 60, "volume_gb": 0, "network_volume_id": "",
        "worker_port": 8765, "boot_timeout_s": 900, "linger_s": 900, "data_dir": "/workspace/data",
        "out_dir": "/workspace/golf-out", "proxy_url": "https://{pod_id}-{port}.proxy.runpod.net",
    },
    "modal": {
        "app_name": "golf-trainer", "data_volume": "golf-data", "outputs_volume": "golf-outputs", "secrets": [],
    },
    "skypilot": {"mode": "jobs", "outputs_bucket": "", "cloud": ""},
}

ENV_OVERRIDES = {
    "GOLF_BACKEND": ("launch", "backend"),
    "GOLF_GPUS": ("launch", "gpus"),
    "GOLF_RUNS_DIR": ("launch", "runs_dir"),
    "GOLF_DATA_DIR": ("local", "data_dir"),
    "GOLF_IMAGE": ("image",),
    "GOLF_RUNPOD_PROXY_URL": ("runpod", "proxy_url"),
}
API_KEY_FIELDS = {"runpod": "api_key"}


class SettingsError(ValueError):
    pass


def config_files() -> list[Path]:
    named = os.environ.get("GOLF_CONFIG")
    if named:
        return [Path(named)]
    home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return [home / "golf" / "config.toml", Path("golf.toml")]


def _merge(base: dict, extra: dict) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value


def _read(path: Path) -> dict:
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"{path}: {exc}") from None
    for section, field in API_KEY_FIELDS.items():
        if field in data.get(section, {}):
            mode = stat.S_IMODE(path.stat().st_mode)
            if mode & 0o077:
                raise SettingsError(f"{path} holds {section}.{field} but is readable by others "
                                    f"(mode {mode:o}); run `chmod 600 {path}`")
            secrets.register(str(data[section][field]))
    return data


def load_settings() -> dict:
    settings = copy.deepcopy(DEFAULTS)
    for path in config_files():
        if path.is_file():
            _merge(settings, _read(path))
    for name, where in ENV_OVERRIDES.items():
        if os.environ.get(name):
            target = settings
            for key in where[:-1]:
                target = target[key]
            target[where[-1]] = os.environ[name]
    return settings


def api_key(settings: dict, backend: str, env_name: str) -> str | None:
    """A backend's key from the environment, else from a private config file; never logged."""
    value = os.environ.get(env_name) or settings.get(backend, {}).get(API_KEY_FIELDS.get(backend, ""), None)
    secrets.register(value)
    return value or None


def price_per_gpu_hour(settings: dict, backend: str, kind: str) -> float:
    table = settings["prices"].get(backend, {})
    if kind not in table:
        raise SettingsError(f"no price for {kind} on {backend}; set [prices.{backend}] {kind} = USD per GPU-hour")
    return float(table[kind])
