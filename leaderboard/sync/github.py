"""Pull request metadata from GitHub's REST API, with httpx.

`GET /repos/{repo}/pulls?state=all&per_page=100`, page by page (the Link header's `next`). Each page
is asked for with the ETag it had last time (If-None-Match): a 304 costs no rate limit and the stored
page is used again. On a rate limit (403 or 429 with X-RateLimit-Remaining: 0, X-RateLimit-Reset or
Retry-After) it says when it resumes and waits, up to `max_wait_s`. The token (GITHUB_TOKEN, optional)
goes only into the Authorization header: it is never printed, logged or stored, and every message is
redacted of it. The API's address is configurable (GOLF_GITHUB_API) so tests talk to a fake server.
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable

import httpx
from sqlalchemy.orm import Session, sessionmaker

from golfcore.secrets import redact, register

from ..db import GitHubCacheRow, utcnow

DEFAULT_API = "https://api.github.com"
REPO_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}$")
MAX_PAGES = 1000  # 100,000 pull requests: far beyond any repository golf syncs
DEFAULT_MAX_WAIT_S = 900.0


class GitHubError(RuntimeError):
    """GitHub could not be asked, or refused; the message says why and what to do, in one line."""


@dataclass
class PullMeta:
    number: int
    title: str | None
    author: str | None
    state: str  # open | closed | merged
    created_at: datetime | None
    merged_at: datetime | None
    closed_at: datetime | None
    head_sha: str | None


def _time(value) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _compact(item) -> dict | None:
    """The fields golf keeps of one pull request object; None for anything that is not one."""
    if not isinstance(item, dict) or not isinstance(item.get("number"), int) or isinstance(item.get("number"), bool):
        return None
    user = item.get("user") if isinstance(item.get("user"), dict) else {}
    head = item.get("head") if isinstance(item.get("head"), dict) else {}
    text = lambda v, n: v[:n] if isinstance(v, str) else None  # noqa: E731
    return {"number": item["number"], "title": text(item.get("title"), 1000), "author": text(user.get("login"), 200),
            "state": text(item.get("state"), 16), "created_at": text(item.get("created_at"), 40),
            "merged_at": text(item.get("merged_at"), 40), "closed_at": text(item.get("closed_at"), 40),
            "head_sha": text(head.get("sha"), 64)}


def to_meta(item: dict) -> PullMeta:
    merged_at = _time(item.get("merged_at"))
    state = "merged" if merged_at else ("closed" if item.get("state") == "closed" else "open")
    return PullMeta(item["number"], item.get("title"), item.get("author"), state, _time(item.get("created_at")),
                    merged_at, _time(item.get("closed_at")), item.get("head_sha"))


def rate_limit_wait(response: httpx.Response, now: float) -> float | None:
    """Seconds to wait before asking again, when the answer is a rate limit; None otherwise."""
    if response.status_code not in (403, 429):
        return None
    headers = response.headers
    retry_after = headers.get("Retry-After", "")
    if retry_after.strip().isdigit():
        return float(retry_after.strip())
    reset = headers.get("X-RateLimit-Reset", "")
    if headers.get("X-RateLimit-Remaining") == "0" and reset.strip().isdigit():
        return max(0.0, float(reset.strip()) - now)
    if response.status_code == 429:
        return 60.0
    return None


class GitHub:
    def __init__(self, sessions: sessionmaker[Session], repo: str, api: str = DEFAULT_API, token: str | None = None,
                 say: Callable[[str], None] = print, sleep: Callable[[float], None] = time.sleep,
                 max_wait_s: float = DEFAULT_MAX_WAIT_S, timeout_s: float = 30.0):
        if not REPO_NAME.match(repo):
            raise GitHubError(f"--repo {repo!r}: expected OWNER/NAME")
        self.sessions, self.repo, self.api = sessions, repo, api.rstrip("/")
        self.say, self.sleep, self.max_wait_s = say, sleep, max_wait_s
        register(token)
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28",
                   "User-Agent": "golf-sync"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.client = httpx.Client(headers=headers, timeout=timeout_s, follow_redirects=True)
        self.requests = 0  # answered requests
        self.not_modified = 0  # of which 304: the stored page was used again

    def close(self) -> None:
        self.client.close()

    def pulls(self) -> list[PullMeta]:
        """Every pull request of the repository, open and closed."""
        url: str | None = f"{self.api}/repos/{self.repo}/pulls?state=all&per_page=100"
        items: dict[int, dict] = {}
        seen: set[str] = set()
        while url and url not in seen and len(seen) < MAX_PAGES:
            seen.add(url)
            page, url = self._page(url)
            for item in page:
                items.setdefault(item["number"], item)
        return [to_meta(items[n]) for n in sorted(items)]

    def _page(self, url: str) -> tuple[list[dict], str | None]:
        with self.sessions() as session:
            cached = session.get(GitHubCacheRow, url)
            cached = None if cached is None else (cached.etag, cached.body_json, cached.next_url)
        headers = {"If-None-Match": cached[0]} if cached and cached[0] else {}
        response = self._get(url, headers)
        if response.status_code == 304 and cached is not None:
            self.not_modified += 1
            return json.loads(cached[1]), cached[2]
        if response.status_code != 200:
            raise GitHubError(f"GitHub answered {response.status_code} for {self._shown(url)}: {self._message(response)}")
        try:
            body = response.json()
        except ValueError:
            raise GitHubError(f"GitHub's answer for {self._shown(url)} is not JSON") from None
        if not isinstance(body, list):
            raise GitHubError(f"GitHub's answer for {self._shown(url)} is not a list of pull requests")
        page = [c for c in map(_compact, body) if c is not None]
        next_url = response.links.get("next", {}).get("url")
        with self.sessions.begin() as session:
            session.merge(GitHubCacheRow(url=url, etag=response.headers.get("ETag"), next_url=next_url,
                                         body_json=json.dumps(page), fetched_at=utcnow()))
        return page, next_url

    def _get(self, url: str, headers: dict[str, str]) -> httpx.Response:
        for _ in range(10):
            try:
                response = self.client.get(url, headers=headers)
            except httpx.HTTPError as exc:
                raise GitHubError(f"cannot reach GitHub at {self.api}: {redact(str(exc)) or type(exc).__name__}") from None
            self.requests += 1
            wait = rate_limit_wait(response, time.time())
            if wait is None:
                return response
            resume = datetime.fromtimestamp(time.time() + wait, timezone.utc)
            if wait > self.max_wait_s:
                raise GitHubError(f"GitHub's rate limit is spent until {resume:%Y-%m-%d %H:%M:%S} UTC; set GITHUB_TOKEN "
                                  "or sync later")
            self.say(f"GitHub's rate limit reached: resuming at {resume:%H:%M:%S} UTC (in {wait:.0f} s)")
            self.sleep(wait)
        raise GitHubError("GitHub kept answering with its rate limit; sync later")

    def _shown(self, url: str) -> str:
        return redact(url.split("?", 1)[0])

    @staticmethod
    def _message(response: httpx.Response) -> str:
        try:
            message = response.json().get("message")
        except Exception:
            message = None
        return redact(str(message or response.reason_phrase or "no message"))[:200]
