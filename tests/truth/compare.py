"""Compare golf's per-run figures with a hand-read ground truth (tests/truth/sample_*.json).

    python tests/truth/compare.py tests/truth/sample_a.json [--corpus /tmp/pg/parameter-golf-records]

Each truth file lists corpus folders and, per log, the runs a person read by eye. golf's run for a
truth run is the one from the same log whose line span holds the truth run's score line (or its
first line when it has no score). A figure is right when it equals the hand value: scores to 1e-8,
bytes, seeds and steps exactly, times within 0.5 s (1 s or 1 % for evaluation, whose timers round).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tarfile
from pathlib import Path

FIGURES = ("val_bpb", "val_loss", "bytes_total", "seed", "steps", "train_time_s", "eval_time_s")
CORPUS_TARBALL = "corpus/parameter-golf-records.tar.xz"
CORPUS_ROOT = "parameter-golf-records"


def agrees(figure: str, want, got) -> bool:
    if want is None or got is None:
        return want is None and got is None
    if figure in ("val_bpb", "val_loss"):
        return abs(want - got) <= 1e-8
    if figure == "train_time_s":
        return abs(want - got) <= 0.5
    if figure == "eval_time_s":
        return abs(want - got) <= max(1.0, 0.01 * want)
    return want == got


def extract(shared: Path, folders: list[str], dest: Path) -> Path:
    """The truth's folders out of the corpus tarball (one pass over it)."""
    prefixes = tuple(f"{CORPUS_ROOT}/{f}/" for f in folders)
    with tarfile.open(shared / CORPUS_TARBALL) as tar:
        members = [m for m in tar if m.isfile() and m.name.startswith(prefixes)]
        tar.extractall(dest, members=members, filter="data")
    return dest / CORPUS_ROOT


def golf_runs(corpus: Path, folders: list[str], python: str = sys.executable) -> dict[str, list[dict]]:
    """`golf check --json` over the folders: folder -> its runs as golf reports them."""
    paths = [str(corpus / f) for f in folders if (corpus / f).is_dir()]
    proc = subprocess.run([python, "-m", "launcher.cli", "check", *paths, "--json"],
                          capture_output=True, text=True, timeout=600)
    document = json.loads(proc.stdout)
    out: dict[str, list[dict]] = {}
    for sub in document["submissions"]:
        rel = Path(sub["path"]).resolve().relative_to(corpus.resolve()).as_posix()
        out[rel] = sub["runs"]
    return out


def match(runs: list[dict], log: str, truth_run: dict) -> dict | None:
    same_log = [r for r in runs if r["log"] == log]
    anchor = truth_run.get("score_line") or truth_run.get("first_line") or 1
    for r in same_log:
        if r.get("first_line", 1) <= anchor <= r.get("last_line", 10**12):
            return r
    return same_log[-1] if len(same_log) == 1 else None


def compare(truth: dict, runs_by_folder: dict[str, list[dict]]) -> tuple[int, list[str]]:
    """(figures compared, one line per disagreement)."""
    compared, wrong = 0, []
    for folder, entry in truth["folders"].items():
        runs = runs_by_folder.get(folder, [])
        for log, truth_runs in entry["logs"].items():
            for i, want in enumerate(truth_runs):
                got = match(runs, log, want)
                for figure in FIGURES:
                    compared += 1
                    value = None if got is None else got.get(figure)
                    if not agrees(figure, want.get(figure), value):
                        wrong.append(f"{folder} {log} run {i + 1}: {figure} hand {want.get(figure)!r} golf {value!r}")
    return compared, wrong


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("truth", type=Path)
    parser.add_argument("--corpus", type=Path, default=Path("/tmp/pg") / CORPUS_ROOT)
    args = parser.parse_args()
    truth = json.loads(args.truth.read_text())
    compared, wrong = compare(truth, golf_runs(args.corpus, list(truth["folders"])))
    for line in wrong:
        print(line)
    print(f"{compared - len(wrong)} of {compared} figures right ({100 * (compared - len(wrong)) / compared:.1f}%)")


if __name__ == "__main__":
    main()
