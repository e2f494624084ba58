"""A git repository with the shape of the official one, built by the tests: main with
records/track_10min_16mb/..., and pull requests as refs/pull/N/head (merged, squash-merged, open,
closed), made of real records folders with fixed commit dates.

    main      2026-03-20  records/.../2026-03-20_Int6_MLP3x...  (committed to main directly)
    #3 closed 2026-03-22  adds 2026-03-19_SlidingWindow_FP16Emb...  never merged
    #1 merged 2026-03-23  adds 2026-03-23_LeakyReLU_LegalTTT...  merged with a merge commit on 03-24
    #2 open   2026-03-25  adds 2026-03-24_74M_Ternary...  worse than the record of its day (#1)
    #6 open   2026-03-26  forked before #1 was merged: adds a copy of #1's folder and 2026-04-09_A2_Muon097
    #5 open   2026-04-04  adds 2026-04-04_SP4096_DepthRecurrence...  beats #1, not #7
    #4 open   2026-04-09  adds a folder that trains on validation data before its artifact (PR 1485 of the corpus)
    #7 merged 2026-04-13  adds 2026-04-13_VarLenAttn_PhasingTTT2000, squash-merged on 04-14
"""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from conftest import RECORDS

TRACK = "track_10min_16mb"
BASE = "2026-03-20_Int6_MLP3x_SmearGate_BigramHash_MuonWD_SWA"
MERGED = "2026-03-23_LeakyReLU_LegalTTT_ParallelMuon"  # PR 1
WORSE = "2026-03-24_74M_Ternary_UNet_FP8_10L_8192BPE_YaRN_NeoMuon"  # PR 2
CLOSED = "2026-03-19_SlidingWindow_FP16Emb_10L_MuonWD_OvertoneInit"  # PR 3
VAL_DATA = "2026-04-09_SP8192_Recur345_Par7_EMA_QK5_PreQuantTTT"  # PR 4
BETTER = "2026-04-04_SP4096_DepthRecurrence_ParallelResid_MuonEqR"  # PR 5
SIXTH = "2026-04-09_A2_Muon097_3Seed"  # PR 6, beside a copy of PR 1's folder
SQUASHED = "2026-04-13_VarLenAttn_PhasingTTT2000"  # PR 7


def _val_data_folder() -> Path:
    """PR 1485 of the wild corpus, as it was proposed: pre-quant TTT, epochs on the validation set
    before the artifact."""
    return Path(__file__).parent / "sync_fixtures" / VAL_DATA


@dataclass
class Upstream:
    path: Path
    heads: dict[int, str] = field(default_factory=dict)
    created: dict[int, str] = field(default_factory=dict)  # the first commit's date of each PR

    def git(self, *args: str, date: str = "2026-03-20T12:00:00+00:00") -> str:
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("GIT_")},
               "GIT_AUTHOR_NAME": "Tester", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "Tester",
               "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_AUTHOR_DATE": date, "GIT_COMMITTER_DATE": date,
               "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(self.path)}
        return subprocess.run(["git", *args], cwd=self.path, env=env, check=True, capture_output=True,
                              text=True).stdout.strip()

    def add_folder(self, name: str, source: Path | None = None, as_name: str | None = None) -> None:
        dest = self.path / "records" / TRACK / (as_name or name)
        shutil.copytree(source or RECORDS / TRACK / name, dest, ignore=shutil.ignore_patterns("EXPECTED.json"))

    def commit(self, message: str, date: str) -> str:
        self.git("add", "-A", date=date)
        self.git("commit", "-q", "-m", message, date=date)
        return self.git("rev-parse", "HEAD")

    def pull(self, number: int, branch: str) -> None:
        sha = self.git("rev-parse", branch)
        self.git("update-ref", f"refs/pull/{number}/head", sha)
        self.heads[number] = sha

    def branch_from(self, name: str, start: str) -> None:
        self.git("checkout", "-q", "-b", name, start)

    def update_pull(self, number: int, change, date: str) -> str:
        """A new commit on a pull request's branch: its head moves."""
        self.git("checkout", "-q", f"pr{number}")
        change(self)
        sha = self.commit(f"update #{number}", date)
        self.pull(number, f"pr{number}")
        self.git("checkout", "-q", "main")
        return sha


def build(path: Path) -> Upstream:
    path.mkdir(parents=True)
    up = Upstream(path)
    up.git("init", "-q", "-b", "main")
    (path / "README.md").write_text("# Parameter Golf (test copy)\n")
    (path / "train_gpt.py").write_text("print('never run by golf')\n")
    up.add_folder(BASE)
    start = up.commit("initial records", "2026-03-20T12:00:00+00:00")

    def pr(number: int, name: str, date: str, start_at: str = "main", extra=None) -> None:
        up.branch_from(f"pr{number}", start_at)
        if extra:
            extra(up)
        up.add_folder(name, _val_data_folder() if name == VAL_DATA else None)
        up.commit(f"Record: {name}", date)
        up.created[number] = date
        up.pull(number, f"pr{number}")
        up.git("checkout", "-q", "main")

    pr(3, CLOSED, "2026-03-22T09:00:00+00:00")
    pr(1, MERGED, "2026-03-23T10:00:00+00:00")
    pr(6, SIXTH, "2026-03-26T08:00:00+00:00", start_at=start, extra=lambda u: u.add_folder(MERGED))
    up.git("merge", "-q", "--no-ff", "-m", "Merge pull request #1", "pr1", date="2026-03-24T15:00:00+00:00")
    pr(2, WORSE, "2026-03-25T11:00:00+00:00")
    pr(5, BETTER, "2026-04-04T13:00:00+00:00")
    pr(4, VAL_DATA, "2026-04-09T16:00:00+00:00")
    pr(7, SQUASHED, "2026-04-13T18:00:00+00:00")
    up.add_folder(SQUASHED)  # squash merge: the same files in a new commit of main's own
    up.commit("Record: VarLenAttn (#7)", "2026-04-14T09:00:00+00:00")
    return up
