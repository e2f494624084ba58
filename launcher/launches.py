"""Launches in the database: created from a plan, and a plan rebuilt from one (for gather and cancel)."""
from __future__ import annotations

import copy
import hashlib
import json
import os
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from leaderboard.db import LaunchRow, LaunchSeedRow, utcnow

from .backends.base import LaunchError
from .driver import record_event
from .gpus import parse_gpus
from .plan import LaunchPlan
from golfcore.console import plural
from golfcore.secrets import MASK


def create_launch(sessions: sessionmaker[Session], plan: LaunchPlan, plan_dict: dict) -> None:
    stored = dict(plan_dict, runs_dir=str(plan.runs_dir.resolve()), seed_list=plan.seeds,
                  launch_settings=plan.settings["launch"])
    with sessions.begin() as session:
        if session.scalar(select(LaunchRow.id).where(LaunchRow.group == plan.group)) is not None:
            raise LaunchError(f"a launch named {plan.group} exists; pick another --name, "
                              f"or follow it with `golf gather {plan.group}`")
        launch = LaunchRow(group=plan.group, backend=plan.backend_name, gpus=str(plan.gpus),
                           script=str(plan.script.resolve()) if plan.script else None, track=plan.track,
                           dataset=plan.dataset, runs_dir=str(plan.runs_dir.resolve()), retries=plan.retries,
                           plan_json=json.dumps(stored), est_cost_usd=plan_dict["estimated_cost_usd"], state="running")
        launch.seeds = [LaunchSeedRow(position=i, seed=seed, state="queued", attempt=1, updated_at=utcnow())
                        for i, seed in enumerate(plan.seeds)]
        session.add(launch)
        record_event(session, "launch_created", plan.group,
                     f"{plural(len(plan.seeds), 'seed')} on {plan.backend_name} {plan.gpus}, "
                     f"est ${plan_dict['estimated_cost_usd']}")


def find_launch(session: Session, group: str) -> LaunchRow:
    launch = session.scalars(select(LaunchRow).where(LaunchRow.group == group)).first()
    if launch is None:
        known = session.scalars(select(LaunchRow.group).order_by(LaunchRow.created_at.desc()).limit(5)).all()
        hint = f"; recent: {', '.join(known)}" if known else "; the database has no launches"
        raise LaunchError(f"no launch named {group}{hint}")
    return launch


def load_plan(sessions: sessionmaker[Session], group: str, settings: dict, need_env: bool) -> LaunchPlan:
    """The plan of a stored launch. Secret env values are not stored: with need_env (seeds still to
    submit) they must be in this process's environment again."""
    with sessions() as session:
        launch = find_launch(session, group)
        stored = json.loads(launch.plan_json)
        script = Path(launch.script) if launch.script else None
    env = {}
    for key, value in stored["env"].items():
        if value == MASK:
            if key not in os.environ and need_env:
                raise LaunchError(f"{group} has seeds still to start with the secret {key}; "
                                  f"set {key} in the environment and run this again")
            value = os.environ.get(key, "")
        env[key] = value
    if script is not None and need_env:
        if not script.is_file():
            raise LaunchError(f"{script}, the script of {group}, is gone; seeds still to start cannot run")
        if hashlib.sha256(script.read_bytes()).hexdigest() != stored["script"]["sha256"]:
            raise LaunchError(f"{script} changed since {group} was launched; its remaining seeds would run other code")
    settings = copy.deepcopy(settings)
    settings["launch"].update(stored["launch_settings"])
    settings["image"] = stored["image"]
    return LaunchPlan(group=group, backend_name=stored["backend"], gpus=parse_gpus(stored["gpus"]),
                      seeds=list(stored["seed_list"]), script=script, env=env,
                      track="10min_16mb" if stored["track"] == "track_10min_16mb" else "non_record_16mb",
                      dataset=stored["dataset"], retries=int(stored["retries"]), runs_dir=Path(stored["runs_dir"]),
                      settings=settings)
