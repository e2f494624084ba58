"""`golf sync`: every pull request of the official repository imported, judged and kept up to date.

One sync:
1. fetches the mirror (main's branches and every `refs/pull/N/head`, see mirror.py);
2. asks GitHub for each pull request's title, author, state and dates (github.py), unless offline or
   unreachable: then merged is inferred from the git graph (the head is in main, or main holds the
   folder it adds with the same content) and the dates from the commits, and the row says so;
3. imports main's records folders as accepted, each linked to the pull request that brought it;
4. for each pull request whose head moved since the last sync, finds the records folders it adds
   relative to where it left main, writes their files out of git and imports each keyed
   `pr<N>/records/<track>/<name>`; a head that did not move is not read again. When main moved (a new
   record may stand) or a pull request's dates or state changed, the stored folders are judged again
   without reading git.

Files are written under the sync folder (files/main/..., files/prs/pr<N>/...), which the web pages
read, and replaced whole when they change.
"""
from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from golfcore.secrets import mask_url

from ..db import AcceptanceOverrideRow, EventRow, PullRequestRow, SubmissionRow, SyncStateRow, as_utc, utcnow
from ..importer import ImportJob, ImportOutcome, import_jobs, source_key
from ..references import DatabaseReferences
from ..submission import find_submissions
from .github import DEFAULT_API, REPO_NAME, GitHub, GitHubError, PullMeta
from .mirror import Folder, GitError, Mirror

DEFAULT_REPO = "openai/parameter-golf"
__all__ = ["DEFAULT_API", "DEFAULT_REPO", "GitError", "GitHubError", "SyncError", "SyncOptions", "SyncReport",
           "default_folder", "run_sync"]


class SyncError(RuntimeError):
    """The sync cannot go on; one line saying why."""


@dataclass
class SyncOptions:
    repo: str = DEFAULT_REPO
    source: str | None = None  # --git: a path or URL (default: the repository on GitHub)
    folder: Path | None = None  # --mirror: the mirror and the files it wrote
    offline: bool = False
    api: str = DEFAULT_API
    token: str | None = None
    branch: str = "main"
    policy: str = "readme"
    overrides: dict[str, bool] = field(default_factory=dict)  # submission key -> accepted


@dataclass
class SyncReport:
    main_sha: str = ""
    main_moved: bool = False
    prs: Counter = field(default_factory=Counter)  # new | moved | updated | unchanged
    folders: Counter = field(default_factory=Counter)  # imported | updated | unchanged | failed | removed
    metadata: str = "inferred from git"
    api_requests: int = 0
    api_not_modified: int = 0
    files_read: int = 0
    diffs: int = 0
    warnings: list[str] = field(default_factory=list)
    failures: list[ImportOutcome] = field(default_factory=list)


Progress = Callable[[str, int, int | None], None]  # (what is being done, steps done, steps in all when known)


def default_folder(repo: str) -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "golf" / "sync" / repo.replace("/", "__")


@dataclass
class _Pull:
    """What golf knows of one pull request during a sync."""

    number: int
    head: str | None = None
    base: str | None = None
    folders: dict[str, str] = field(default_factory=dict)  # path -> tree at head
    first_commit_at: datetime | None = None
    in_main: bool = False
    read_now: bool = False  # its head is new or moved: its folders are read from git
    meta: PullMeta | None = None  # from GitHub
    stored: dict | None = None  # its row before this sync


def _state(session: Session, name: str) -> str | None:
    row = session.get(SyncStateRow, name)
    return row.value if row is not None else None


def _set_state(session: Session, name: str, value: str) -> None:
    session.merge(SyncStateRow(name=name, value=value, updated_at=utcnow()))


def _stored_pulls(sessions: sessionmaker[Session]) -> dict[int, dict]:
    with sessions() as session:
        return {p.number: {c.name: getattr(p, c.name) for c in PullRequestRow.__table__.columns}
                for p in session.scalars(select(PullRequestRow))}


def _source(options: SyncOptions) -> str:
    source = options.source or f"https://github.com/{options.repo}.git"
    if "://" not in source and not source.startswith("git@") and Path(source).exists():
        return str(Path(source).resolve())
    return source


def run_sync(sessions: sessionmaker[Session], options: SyncOptions, say: Callable[[str], None] = print,
             progress: Progress | None = None) -> SyncReport:
    progress = progress or (lambda _what, _done, _total: None)
    if not REPO_NAME.match(options.repo):
        raise SyncError(f"--repo {options.repo!r}: expected OWNER/NAME")
    report = SyncReport()
    folder = options.folder or default_folder(options.repo)
    mirror = Mirror(folder / "mirror.git")
    files = folder / "files"
    source = _source(options)
    progress(f"fetching {mask_url(source)}", 0, None)
    mirror.update(source)
    main = mirror.branch(options.branch)
    if main is None:
        raise SyncError(f"{mask_url(source)} has no branch {options.branch!r} (--branch names main's branch)")
    heads = mirror.pull_heads()
    if not heads:
        report.warnings.append(f"{mask_url(source)} has no pull request refs (refs/pull/N/head): only main is synced")
    report.main_sha = main
    with sessions.begin() as session:
        last_main = _state(session, "main_sha")
        last_repo = _state(session, "repo")
        for key, accepted in options.overrides.items():
            session.merge(AcceptanceOverrideRow(key=key, accepted=accepted, note="golf sync", created_at=utcnow()))
    if last_repo is not None and last_repo != options.repo:
        raise SyncError(f"this database syncs {last_repo}, not {options.repo}; use another --db")
    report.main_moved = last_main != main
    stored = _stored_pulls(sessions)

    metadata = None if options.offline else _metadata(sessions, options, say, report)
    progress("comparing pull requests with main", 0, None)
    pulls = _git_facts(mirror, heads, stored, main, report.main_moved)
    for number, meta in (metadata or {}).items():
        pulls.setdefault(number, _Pull(number, stored=stored.get(number))).meta = meta
    main_folders = {f.path: f.tree for f in mirror.folders(main)}
    brought_by = _attribute(main_folders, pulls)
    changed_meta = _store_pulls(sessions, pulls, brought_by, mirror, main, report)

    references = DatabaseReferences(sessions, options.policy)
    recheck_all = report.main_moved or bool(options.overrides) or bool(changed_meta)
    _sync_main(sessions, mirror, main, main_folders, brought_by, files / "main", references, recheck_all, report,
               progress)
    _sync_pulls(sessions, mirror, pulls, files / "prs", references, report.main_moved or bool(options.overrides),
                changed_meta, report, progress)
    with sessions.begin() as session:
        _set_state(session, "main_sha", main)
        _set_state(session, "repo", options.repo)
        _set_state(session, "source", mask_url(source))
        _set_state(session, "synced_at", utcnow().isoformat())
        session.add(EventRow(kind="sync", subject=options.repo, message=(
            f"main {main[:12]}; pull requests {dict(report.prs)}; folders {dict(report.folders)}")[:500]))
    report.files_read, report.diffs = mirror.reads, mirror.diffs
    return report


def _metadata(sessions, options: SyncOptions, say, report: SyncReport) -> dict[int, PullMeta] | None:
    try:
        github = GitHub(sessions, options.repo, options.api, options.token, say=say)
    except GitHubError as exc:
        raise SyncError(str(exc)) from None
    try:
        pulls = {m.number: m for m in github.pulls()}
        report.metadata = "GitHub"
        return pulls
    except GitHubError as exc:
        report.warnings.append(f"{exc}; pull request states and dates are inferred from git")
        return None
    finally:
        report.api_requests, report.api_not_modified = github.requests, github.not_modified
        github.close()


def _git_facts(mirror: Mirror, heads: dict[int, str], stored: dict[int, dict], main: str,
               main_moved: bool) -> dict[int, _Pull]:
    """Fork point, added folders and first commit of each pull request: read from git for a head not read
    before, else taken from the database."""
    pulls = {}
    for number, head in sorted(heads.items()):
        old = stored.get(number)
        pull = _Pull(number, head, stored=old)
        if old is not None and old["synced_sha"] == head:
            pull.base = old["base_sha"]
            pull.folders = {f["path"]: f["tree"] for f in json.loads(old["folders_json"] or "[]")}
            pull.first_commit_at = as_utc(old["first_commit_at"])
            pull.in_main = bool(old["in_main"])
            if main_moved and pull.folders and not pull.in_main:
                pull.in_main = pull.base != head and mirror.is_ancestor(head, main)
        else:
            pull.read_now = True
            pull.base = mirror.fork_point(head, main)
            if pull.base is not None:
                pull.folders = {f.path: f.tree for f in mirror.added_folders(pull.base, head)}
                pull.first_commit_at = mirror.first_commit_time(pull.base, head)
                pull.in_main = pull.base != head and mirror.is_ancestor(head, main)
        pulls[number] = pull
    return pulls


def _attribute(main_folders: dict[str, str], pulls: dict[int, _Pull]) -> dict[str, int]:
    """Which pull request brought each of main's folders: among those adding that path, the merged one
    with the same content first; merged means GitHub says so, or (without GitHub) main holds its head."""
    brought_by = {}
    for path, tree in main_folders.items():
        candidates = [p for p in pulls.values() if path in p.folders]
        if not candidates:
            continue

        def rank(p: _Pull):
            merged = p.meta.state == "merged" if p.meta is not None else p.in_main
            created = p.meta.created_at if p.meta is not None and p.meta.created_at else p.first_commit_at
            return (merged and p.folders[path] == tree, p.folders[path] == tree, merged,
                    -(created.timestamp() if created else float("inf")), -p.number)

        best = max(candidates, key=rank)
        merged = best.meta.state == "merged" if best.meta is not None else best.in_main
        if merged or best.folders[path] == tree:
            brought_by[path] = best.number
    return brought_by


def _store_pulls(sessions, pulls: dict[int, _Pull], brought_by: dict[str, int], mirror: Mirror, main: str,
                 report: SyncReport) -> set[int]:
    """Write each pull request's row; returns the numbers whose dates or state changed (their folders
    are judged again)."""
    brought = {}
    for path, number in brought_by.items():
        brought.setdefault(number, []).append(path)
    changed: set[int] = set()
    with sessions.begin() as session:
        for number, pull in sorted(pulls.items()):
            row = session.get(PullRequestRow, number)
            is_new = row is None
            if is_new:
                row = PullRequestRow(number=number, state="open", state_inferred=True)
                session.add(row)
            values = _pull_values(row, is_new, pull, number in brought, brought.get(number, []), mirror, main)
            moved = {name for name, value in values.items() if _differs(getattr(row, name), value)}
            for name in moved:  # only what changed is written: an unchanged row keeps its updated_at
                setattr(row, name, values[name])
            if not is_new and moved & {"state", "created_at", "merged_at"}:
                changed.add(number)
            kind = "new" if is_new else "moved" if pull.read_now else "updated" if number in changed else "unchanged"
            report.prs[kind] += 1
    return changed


def _differs(old, new) -> bool:
    if isinstance(old, datetime) or isinstance(new, datetime):
        return as_utc(old) != as_utc(new)
    return old != new


def _pull_values(row: PullRequestRow, is_new: bool, pull: _Pull, brought_main_folder: bool, brought: list[str],
                 mirror: Mirror, main: str) -> dict:
    values: dict = {}
    if pull.meta is not None:
        meta = pull.meta
        values.update(title=meta.title, author=meta.author, state=meta.state, state_inferred=False,
                      created_at=meta.created_at, merged_at=meta.merged_at, closed_at=meta.closed_at)
    else:  # inferred from git; what GitHub said last stays, unless git shows an open one merged
        merged = (pull.in_main and pull.head is not None) or brought_main_folder
        inferred = is_new or bool(row.state_inferred)
        if merged and row.state != "merged":
            values.update(state="merged", state_inferred=True, merged_at=mirror.merge_time(pull.head, main)
                          if pull.in_main else min(filter(None, (mirror.first_added(main, p) for p in brought)),
                                                   default=None))
        elif inferred and not merged:
            values.update(state="open", state_inferred=True, merged_at=None)
        if inferred:
            values["created_at"] = pull.first_commit_at
    if pull.head is not None:
        values.update(head_sha=pull.head, base_sha=pull.base, first_commit_at=pull.first_commit_at,
                      in_main=pull.in_main,
                      folders_json=json.dumps([{"path": p, "tree": t} for p, t in sorted(pull.folders.items())]))
    elif pull.meta is not None:
        values["head_sha"] = pull.meta.head_sha
    return values


def _replace_folder(mirror: Mirror, rev: str, paths: list[str], dest: Path, at_repository_paths: bool = True) -> None:
    """`dest` made to hold exactly `paths` as they are in `rev`, each at its repository path under `dest`
    (or, for one path, `dest` itself holding its files); replaced whole, or left as it was on failure."""
    staging = dest.with_name(f".{dest.name}.partial")
    old = dest.with_name(f".{dest.name}.old")
    for leftover in (staging, old):
        shutil.rmtree(leftover, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        for path in paths:
            place = staging / path if at_repository_paths else staging
            left_out = mirror.extract(rev, path, place)
            if left_out:
                (place / ".golf-left-out.txt").write_text(
                    "files of this folder golf did not read from git:\n" + "\n".join(left_out) + "\n",
                    errors="replace")
        if dest.exists():
            dest.rename(old)
        staging.rename(dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


def _jobs(root: Path, prefix: str, accepted: bool, pr_of: Callable[[str], int | None]) -> list[ImportJob]:
    if not root.is_dir():
        return []
    jobs = []
    for found in find_submissions(root):
        key = prefix + source_key(found, root)
        jobs.append(ImportJob(found, key, accepted, pr_of(source_key(found, root))))
    return jobs


def _count(report: SyncReport, outcomes: list[ImportOutcome]) -> None:
    for outcome in outcomes:
        report.folders[outcome.status] += 1
        if outcome.status == "failed":
            report.failures.append(outcome)


def _sync_main(sessions, mirror: Mirror, main: str, main_folders: dict[str, str], brought_by: dict[str, int],
               root: Path, references: DatabaseReferences, recheck_all: bool, report: SyncReport,
               progress: Progress) -> None:
    """Main's folders, accepted; a folder that left main since is kept, no longer accepted."""
    with sessions() as session:
        last = json.loads(_state(session, "main_folders") or "{}")
    changed = sorted(p for p, tree in main_folders.items() if last.get(p) != tree or not (root / p).is_dir())
    if not changed and not recheck_all and set(last) == set(main_folders):
        return
    for done, path in enumerate(changed):
        progress(f"reading main: {path.rsplit('/', 1)[-1][:50]}", done, len(changed))
        _replace_folder(mirror, main, [path], root / path, at_repository_paths=False)
    gone = sorted(set(last) - set(main_folders))

    def pr_of(key: str) -> int | None:
        return next((n for p, n in brought_by.items() if key == p or key.startswith(p + "/")), None)

    jobs = [job for job in _jobs(root, "", True, pr_of)
            if any(job.key == p or job.key.startswith(p + "/") for p in (main_folders if recheck_all else changed))]
    jobs += [ImportJob(job.folder, job.key, False, job.pr) for job in _jobs(root, "", False, pr_of)
             if any(job.key == p or job.key.startswith(p + "/") for p in gone)]
    done = iter(range(1, len(jobs) + 1))
    outcomes = import_jobs(sessions, jobs, references,
                           on_folder=lambda o: progress(f"main: {o.folder.name[:50]}", next(done, len(jobs)), len(jobs)))
    _count(report, outcomes)
    with sessions.begin() as session:
        _set_state(session, "main_folders", json.dumps(main_folders, sort_keys=True))


def _sync_pulls(sessions, mirror: Mirror, pulls: dict[int, _Pull], root: Path, references: DatabaseReferences,
                recheck_all: bool, changed_meta: set[int], report: SyncReport, progress: Progress) -> None:
    work = [p for p in pulls.values() if p.head is not None and (p.read_now or recheck_all or p.number in changed_meta)
            and (p.folders or p.read_now)]
    for done, pull in enumerate(sorted(work, key=lambda p: p.number)):
        folder = root / f"pr{pull.number}"
        progress(f"pull request #{pull.number}", done, len(work))
        if pull.read_now:
            if pull.folders:
                _replace_folder(mirror, pull.head, sorted(pull.folders), folder)
            else:
                shutil.rmtree(folder, ignore_errors=True)
        jobs = _jobs(folder, f"pr{pull.number}/", False, lambda _key, n=pull.number: n)
        outcomes = import_jobs(sessions, jobs, references)
        _count(report, outcomes)
        if pull.read_now:
            report.folders["removed"] += _remove_stale(sessions, pull.number, {j.key for j in jobs})
        if not any(o.status == "failed" for o in outcomes):
            with sessions.begin() as session:
                row = session.get(PullRequestRow, pull.number)
                row.synced_sha, row.synced_at = pull.head, utcnow()


def _remove_stale(sessions, number: int, keys: set[str]) -> int:
    """Rows of folders the pull request no longer adds (its head moved on without them)."""
    with sessions.begin() as session:
        stale = [row for row in session.scalars(select(SubmissionRow).where(
            SubmissionRow.pr_number == number, SubmissionRow.key.startswith(f"pr{number}/", autoescape=True)))
            if row.key not in keys]
        for row in stale:
            session.add(EventRow(kind="submission_removed", subject=row.key,
                                 message=f"pull request #{number} no longer adds this folder"))
            session.delete(row)
    return len(stale)
