"""What keeps the web pages fast: every GET answer kept in memory per database generation.

The database holds one generation number that every write the pages show bumps (leaderboard.db), so
each `golf serve` worker process, with one small read per request, knows whether what it kept is
still current: an answer is rendered once per generation and URL, then sent from memory. Its ETag
names the generation, so a client that sends it back in If-None-Match gets a 304 without a page
being looked up at all. Pages that change without an import (/live, the files of a folder, static
files, which have their own ETags) pass through.
"""
from __future__ import annotations

import gc
import hashlib
import threading
from collections import OrderedDict
from typing import Callable

MAX_ENTRIES = 4096
MAX_BYTES = 64 * 1024 * 1024  # per worker process: about a thousand pages of the corpus
PASS_THROUGH = ("/live", "/api/live", "/static/")
KEPT_HEADERS = (b"content-type", b"content-disposition")


def cacheable(method: str, path: str) -> bool:
    return method == "GET" and not path.startswith(PASS_THROUGH) and "/files/" not in path


def etag(generation: int, key: bytes) -> bytes:
    return b'"g%d-%s"' % (generation, hashlib.blake2b(key, digest_size=8).hexdigest().encode())


def matches(if_none_match: bytes, tag: bytes) -> bool:
    """Whether an If-None-Match header (a list of tags, weak or strong, or *) names this tag."""
    return any(t.strip().removeprefix(b"W/") in (tag, b"*") for t in if_none_match.split(b","))


class Kept:
    """The answers of one generation, least recently used dropped first beyond the limits."""

    def __init__(self, generation: int):
        self.generation = generation
        self.answers: OrderedDict[bytes, tuple[int, list, bytes]] = OrderedDict()
        self.bytes = 0
        self.lock = threading.Lock()
        self.memo: dict = {}  # what several pages of this generation need (a track's standings)

    def get(self, key: bytes):
        with self.lock:
            answer = self.answers.get(key)
            if answer is not None:
                self.answers.move_to_end(key)
            return answer

    def put(self, key: bytes, answer: tuple[int, list, bytes]) -> None:
        with self.lock:
            if key in self.answers:
                return
            self.answers[key] = answer
            self.bytes += len(answer[2])
            while len(self.answers) > MAX_ENTRIES or self.bytes > MAX_BYTES:
                _, dropped = self.answers.popitem(last=False)
                self.bytes -= len(dropped[2])


class PageCache:
    """ASGI middleware: GET answers kept per (generation, path and query), ETag and 304 on If-None-Match.
    Only 200s are kept; anything else is rendered each time."""

    def __init__(self, app, generation: Callable[[], int]):
        self.app = app
        self.generation = generation
        self.kept = Kept(-1)

    def current(self) -> Kept:
        number = self.generation()
        if number != self.kept.generation:
            self.kept = Kept(number)  # every answer of the older generation is stale
        return self.kept

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not cacheable(scope["method"], scope["path"]):
            return await self.app(scope, receive, send)
        try:  # one indexed read of one row: cheaper inline than a hop to a thread
            kept = self.current()
        except Exception:  # the database cannot say: the app answers (its error page, if it cannot either)
            return await self.app(scope, receive, send)
        key = scope["path"].encode("utf-8", "surrogateescape") + b"?" + scope["query_string"]
        tag = etag(kept.generation, key)
        if any(matches(value, tag) for name, value in scope["headers"] if name == b"if-none-match"):
            await send({"type": "http.response.start", "status": 304,
                        "headers": [(b"etag", tag), (b"cache-control", b"no-cache")]})
            await send({"type": "http.response.body", "body": b""})
            return
        answer = kept.get(key)
        if answer is not None:
            status, headers, body = answer
            await send({"type": "http.response.start", "status": status,
                        "headers": [*headers, (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})
            return
        scope["golf.kept"] = kept
        started: dict = {}
        chunks: list[bytes] = []

        async def keep(message):
            if message["type"] == "http.response.start":
                started.update(message)
                if message["status"] == 200:
                    message = {**message, "headers": [*message.get("headers", []), (b"etag", tag),
                                                      (b"cache-control", b"no-cache")]}
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body") and started.get("status") == 200:
                    headers = [(n, v) for n, v in started.get("headers", []) if n.lower() in KEPT_HEADERS]
                    kept.put(key, (200, [*headers, (b"etag", tag), (b"cache-control", b"no-cache")], b"".join(chunks)))
            await send(message)

        await self.app(scope, receive, keep)


def memo(scope: dict, key, compute: Callable[[], object]):
    """`compute()` once per generation (per worker process) for the request's generation; each time when
    the request did not come through the cache."""
    kept = scope.get("golf.kept")
    if kept is None:
        return compute()
    found = kept.memo.get(key)
    if found is None:
        found = kept.memo[key] = compute()
    return found


def quiet_gc() -> None:
    """Keep the garbage collector out of the request path: what startup built (modules, templates, the
    app) is frozen out of every later collection, and the youngest generation collects ten times less
    often (a request makes many short-lived objects, almost none of them cyclic)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(7000, 20, 20)
