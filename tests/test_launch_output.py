"""What `golf launch`, `golf status` and `golf cancel` print, at 80 and 200 columns and piped: never a cut
figure or name, what happened once a seed is done, and no lines run together."""
from __future__ import annotations

import os
import re

import pytest
from packaging.requirements import Requirement

from conftest import golf, launcher_env

GROUP = "2026-11-22_an-experiment-with-a-long-name_that-the-next-command-needs_42"
# A script that stops early, as a capped run does: its last logged step is 1, training ended at step 5 after
# 50.7 s; the artifact is real and as large as the log says.
EARLY_STOP = """
print("golf_trainer version:test run_id:r preset:smoke seed:1 device:cpu device_name:x86_64 world_size:1", flush=True)
print("data dataset:/data/datasets/embedded_sp1024 tokenizer:/data/tokenizers/embedded_1024_bpe.model", flush=True)
print("step:1/150 train_loss:6.9000 train_time:10100ms step_avg:10100ms", flush=True)
print("stopping_early: wallclock_cap train_time:50700ms step:5/150", flush=True)
print("train_done steps:5 train_time:50700ms step_avg:10140ms stop:wallclock_cap", flush=True)
with open("final_model.int8.brotli", "wb") as fh:
    fh.write(bytes(15_860_000))
print("artifact path:final_model.int8.brotli quant:int8 embed_quant:int8 codec:brotli bytes_model:15860000 "
      "artifact_time:10ms", flush=True)
print("size bytes_total:15863012 bytes_model:15860000 bytes_code:3012 limit:16000000", flush=True)
print("eval stage:roundtrip val_loss:5.6 val_bpb:3.2241 eval_time:1000ms val_tokens:1000 val_bytes:3000 "
      "diagnostic:0", flush=True)
print("score stage:roundtrip val_loss:5.6 val_bpb:3.2241 eval_time:1000ms", flush=True)
"""
FIGURES = ("5/150", "51/600", "15,863,012", "3.2241")  # steps and train time as they happened, bytes, val_bpb


@pytest.fixture(scope="module")
def launched(embedded_data, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("output")
    script = tmp_path / "train_gpt.py"
    script.write_text(EARLY_STOP)
    env = launcher_env(tmp_path, embedded_data)
    env.pop("COLUMNS")  # piped, as a CI log or `| tee` sees it
    proc = golf(["launch", str(script), "--seeds", "1", "--name", GROUP], env, tmp_path)
    return proc, env, tmp_path


def our_table(stdout: str) -> list[str]:
    """The launch's last progress table: from its title line to the first line after it that is not the table's."""
    lines = stdout.splitlines()
    start = max(i for i, line in enumerate(lines) if line.startswith(f"{GROUP}  [local cpu]"))
    table = [lines[start]]
    for line in lines[start + 1:]:
        if not re.match(r"^(seed |  |[┏┃┡│└])", line):
            break
        table.append(line)
    return table


def test_piped_launch_output_is_whole(launched):
    proc, _, _ = launched
    assert "seed 1: done" in proc.stdout, proc.stdout[-3000:] + proc.stderr[-3000:]
    table = our_table(proc.stdout)
    assert table[0].endswith("done"), table[0]  # the launch's final state
    text = "\n".join(table)
    assert "…" not in text and all(figure in text for figure in FIGURES), text
    assert table[-1].rstrip().endswith(("┘", "$ 0.00")), table[-1]  # the next heading starts on a line of its own


@pytest.mark.parametrize("columns", ["80", "200", None])
def test_status_never_cuts_a_figure_or_a_name(launched, columns):
    _, env, tmp_path = launched
    env = dict(env, **({"COLUMNS": columns} if columns else {}))
    for args in (["status"], ["status", GROUP], ["status", GROUP, "--watch"]):
        proc = golf(args, env, tmp_path)
        assert proc.returncode == 0, proc.stderr
        assert "…" not in proc.stdout and proc.stdout.endswith("\n"), (columns, proc.stdout)
        assert any(GROUP in line for line in proc.stdout.splitlines()), (columns, proc.stdout)  # whole, to copy
        if GROUP in args:
            assert all(figure in proc.stdout for figure in FIGURES), (columns, proc.stdout)
            assert "1/150" not in proc.stdout and "600/600" not in proc.stdout


def test_cancel_of_a_finished_launch_says_so(launched):
    _, env, tmp_path = launched
    proc = golf(["cancel", GROUP], env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"{GROUP} had already ended (done); nothing was running"
    assert "done" in golf(["status", GROUP], env, tmp_path).stdout  # and it stays done


def test_package_takes_the_group_name_and_says_what_was_run(launched):
    _, env, tmp_path = launched
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = golf(["package", GROUP, "--name", "early", "--author", "A", "--github-id", "a", "--out", str(tmp_path / "out"),
                 "--date", "2026-11-22", "--track", "non_record_16mb"], env, elsewhere)
    assert proc.returncode == 0, proc.stderr
    folder = tmp_path / "out" / "2026-11-22_early"
    assert (folder / "train_seed1.log").is_file()
    readme = (folder / "README.md").read_text()
    reproduce = readme[readme.index("## Reproduce"):]
    assert "1 CPU process (x86_64), the `smoke` preset, data `embedded_sp1024`" in reproduce
    assert "golf data --source embedded --vocab-size 1024\nPRESET=smoke SEED=1 python train_gpt.py\n" in reproduce
    assert "nproc_per_node" not in reproduce
    for line in (folder / "requirements.txt").read_text().splitlines():  # what an index serves: no local label
        requirement = Requirement(line)
        assert all("+" not in spec.version for spec in requirement.specifier), line
