"""A local mirror of the official repository, read with `git` run as a subprocess (never a shell).

The mirror is a bare repository that fetches main's branches and every pull request's head
(`+refs/pull/*/head:refs/pull/*/head`). Nothing from the repository is ever executed: files are
read as raw blobs (`git cat-file --batch`, so no filter or attribute of the repository applies) into
folders golf owns, and every path is checked to stay inside them. `reads` counts the files read and
`diffs` the pull requests compared with main, so a caller can show (and a test can check) that an
unchanged pull request is not read again.
"""
from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from golfcore.secrets import mask_url, redact

RECORDS = "records"
ZERO = "0" * 40
GIT_TIMEOUT_S = 300
BLOB_MODES = {"100644", "100755"}  # plain files; links (120000) and submodules (160000) are never followed


class GitError(RuntimeError):
    """git failed, or the repository is not what golf expects; the message says which, in one line."""


@dataclass(frozen=True)
class Folder:
    """A records folder in one commit: its path in the repository and its tree's id (its content)."""

    path: str
    tree: str


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_TERMINAL_PROMPT="0", GIT_CONFIG_NOSYSTEM="1", LC_ALL="C", GIT_OPTIONAL_LOCKS="0")
    return env


def folder_of(path: str) -> str | None:
    """The submission folder a records file belongs to: records/<track>/<name> (or records/<name> for a
    folder put straight under records/); None for a file directly under records/ or a track folder."""
    parts = path.split("/")
    if len(parts) < 3 or parts[0] != RECORDS:
        return None
    if parts[1].startswith("track_"):
        return "/".join(parts[:3]) if len(parts) >= 4 else None
    return "/".join(parts[:2])


def _git_message(stderr: bytes, fallback: str) -> str:
    """The line of git's complaint that says what went wrong (its first fatal or error line)."""
    lines = [line.strip() for line in stderr.decode(errors="replace").splitlines() if line.strip()]
    for line in lines:
        if line.startswith(("fatal:", "error:")):
            return redact(line.split(":", 1)[1].strip())
    return redact(lines[-1] if lines else fallback)


def _safe_parts(path: str) -> list[str] | None:
    parts = path.split("/")
    if any(p in ("", ".", "..", ".git") or "\x00" in p for p in parts):
        return None
    return parts


class Mirror:
    def __init__(self, path: Path):
        self.path = path
        self.reads = 0  # files read out of git
        self.diffs = 0  # pull requests compared with main

    # ---- running git

    def git(self, *args: str, input: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess:
        cmd = ["git", "-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null", f"--git-dir={self.path}", *args]
        try:
            proc = subprocess.run(cmd, input=input, capture_output=True, env=_env(), timeout=GIT_TIMEOUT_S)
        except FileNotFoundError:
            raise GitError("git is not installed (golf sync runs it)") from None
        except subprocess.TimeoutExpired:
            raise GitError(f"git {args[0]} took longer than {GIT_TIMEOUT_S} s") from None
        if check and proc.returncode != 0:
            raise GitError(f"git {args[0]} failed: {_git_message(proc.stderr, f'exit {proc.returncode}')}")
        return proc

    def text(self, *args: str) -> str:
        return self.git(*args).stdout.decode(errors="surrogateescape")

    # ---- the mirror itself

    def update(self, source: str) -> None:
        """Create the mirror on first use, then fetch main's branches and every pull request's head."""
        if not (self.path / "HEAD").exists():
            self.path.mkdir(parents=True, exist_ok=True)
            self.git("init", "--bare", "--quiet")
        self.git("config", "remote.origin.url", source)
        proc = self.git("fetch", "--prune", "--no-tags", "--quiet", "--no-write-fetch-head", "origin",
                        "+refs/heads/*:refs/heads/*", "+refs/pull/*/head:refs/pull/*/head", check=False)
        if proc.returncode != 0:
            raise GitError(f"cannot fetch {mask_url(source)}: {_git_message(proc.stderr, 'git fetch failed')}")

    def branch(self, name: str) -> str | None:
        proc = self.git("rev-parse", "--verify", "--quiet", f"refs/heads/{name}^{{commit}}", check=False)
        return proc.stdout.decode().strip() or None if proc.returncode == 0 else None

    def pull_heads(self) -> dict[int, str]:
        """{number: head commit} for every refs/pull/N/head."""
        heads = {}
        for line in self.text("for-each-ref", "--format=%(objectname) %(refname)", "refs/pull").splitlines():
            sha, ref = line.split(" ", 1)
            number = ref.removeprefix("refs/pull/").removesuffix("/head")
            if ref.endswith("/head") and number.isdigit() and len(number) < 10:
                heads[int(number)] = sha
        return heads

    # ---- the commit graph

    def is_ancestor(self, commit: str, of: str) -> bool:
        return self.git("merge-base", "--is-ancestor", commit, of, check=False).returncode == 0

    def merge_base(self, a: str, b: str) -> str | None:
        proc = self.git("merge-base", a, b, check=False)
        return proc.stdout.decode().strip() or None if proc.returncode == 0 else None

    def fork_point(self, head: str, main: str) -> str | None:
        """Where a pull request left main. For a head main has merged, the merge-base with main is the
        head itself: the fork point is then its merge-base with main just before the merge commit."""
        if not self.is_ancestor(head, main):
            return self.merge_base(main, head)
        first_parents = set(self.text("rev-list", "--first-parent", main).split())
        for commit in self.text("rev-list", "--ancestry-path", "--reverse", f"{head}..{main}").split():
            if commit in first_parents:  # the merge commit on main's own line
                parent = self.text("rev-parse", f"{commit}^1").strip()
                return self.merge_base(parent, head)
        proc = self.git("rev-parse", "--verify", "--quiet", f"{head}^1", check=False)  # merged by fast-forward
        return proc.stdout.decode().strip() or None

    def commit_time(self, rev: str) -> datetime | None:
        out = self.git("log", "-1", "--format=%ct", rev, check=False).stdout.decode().strip()
        return datetime.fromtimestamp(int(out), timezone.utc) if out.isdigit() else None

    def first_commit_time(self, base: str | None, head: str) -> datetime | None:
        """The author date of the pull request's first commit after its fork point."""
        span = f"{base}..{head}" if base else head
        times = [int(t) for t in self.text("log", "--format=%at", span).split() if t.isdigit()]
        return datetime.fromtimestamp(min(times), timezone.utc) if times else None

    def merge_time(self, head: str, main: str) -> datetime | None:
        """When main took the head in: the first commit after it on the way to main (its own date when
        main fast-forwarded to it)."""
        after = self.text("log", "--ancestry-path", "--reverse", "--format=%ct", f"{head}..{main}").split()
        return datetime.fromtimestamp(int(after[0]), timezone.utc) if after else self.commit_time(head)

    def first_added(self, main: str, path: str) -> datetime | None:
        """The date of the first commit on main that added a file under `path`."""
        out = self.text("log", "--reverse", "--diff-filter=A", "--format=%ct", main, "--", path).split()
        return datetime.fromtimestamp(int(out[0]), timezone.utc) if out else None

    # ---- trees and files

    def added_folders(self, base: str, head: str) -> list[Folder]:
        """The records folders holding files the head adds relative to `base`, with their trees at head."""
        self.diffs += 1
        out = self.git("diff", "--name-status", "--no-renames", "-z", base, head, "--", f"{RECORDS}/").stdout
        fields = out.split(b"\0")
        paths = set()
        for status, path in zip(fields[0::2], fields[1::2]):
            if status == b"A":
                folder = folder_of(path.decode(errors="surrogateescape"))
                if folder is not None:
                    paths.add(folder)
        return [Folder(p, t) for p in sorted(paths) if (t := self.tree(head, p))]

    def tree(self, rev: str, path: str) -> str | None:
        proc = self.git("rev-parse", "--verify", "--quiet", f"{rev}:{path}", check=False)
        return proc.stdout.decode().strip() or None if proc.returncode == 0 else None

    def folders(self, rev: str) -> list[Folder]:
        """Every records folder in a commit: records/<track>/<name>."""
        folders = []
        for mode, kind, sha, path in self._ls_tree(rev, f"{RECORDS}/", recursive=False):
            if kind != "tree":
                continue
            for _, inner_kind, inner_sha, inner in self._ls_tree(rev, f"{path}/", recursive=False):
                if inner_kind == "tree" and folder_of(inner + "/x") == inner:
                    folders.append(Folder(inner, inner_sha))
        return folders

    def _ls_tree(self, rev: str, path: str, recursive: bool) -> list[tuple[str, str, str, str]]:
        args = ["ls-tree", "-z", *(["-r"] if recursive else []), rev, "--", path]
        entries = []
        for record in self.git(*args).stdout.split(b"\0"):
            if record:
                meta, _, name = record.partition(b"\t")
                mode, kind, sha = meta.decode().split()
                entries.append((mode, kind, sha, name.decode(errors="surrogateescape")))
        return entries

    def extract(self, rev: str, folder: str, dest: Path) -> list[str]:
        """Write the files of `folder` as they are in `rev` into `dest` (a new folder). Returns what was
        left out: links, submodules, names that would leave the folder."""
        left_out: list[str] = []
        blobs: list[tuple[str, list[str]]] = []
        for mode, kind, sha, path in self._ls_tree(rev, f"{folder}/", recursive=True):
            parts = _safe_parts(path[len(folder) + 1:])
            if kind != "blob" or mode not in BLOB_MODES or parts is None:
                left_out.append(f"{path} ({'a link' if mode == '120000' else 'a ' + kind if parts else 'an unsafe name'})")
                continue
            blobs.append((sha, parts))
        dest.mkdir(parents=True, exist_ok=True)  # a folder with nothing readable still exists: a finding
        if blobs:
            self._write_blobs(blobs, dest)
        return left_out

    def _write_blobs(self, blobs: list[tuple[str, list[str]]], root: Path) -> None:
        out = self.git("cat-file", "--batch", input="".join(f"{sha}\n" for sha, _ in blobs).encode()).stdout
        position = 0
        resolved = root.resolve()
        for sha, parts in blobs:
            end = out.index(b"\n", position)
            header = out[position:end].split()
            if len(header) != 3 or header[1] != b"blob":
                raise GitError(f"git cat-file: unexpected answer for {sha}: {header[:2]!r}")
            size = int(header[2])
            data = out[end + 1:end + 1 + size]
            position = end + 1 + size + 1
            target = root.joinpath(*parts)
            if not target.resolve().is_relative_to(resolved):
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            self.reads += 1
