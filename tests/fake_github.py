"""A fake GitHub REST API on 127.0.0.1, serving `GET /repos/{owner}/{name}/pulls` as GitHub does:
pages with a Link header, ETags (304 to a matching If-None-Match), and, when asked, one 403 rate-limit
answer whose X-RateLimit-Reset is a second ahead. It records every request it got."""
from __future__ import annotations

import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


class FakeGitHub:
    def __init__(self, repo: str, pulls: list[dict], per_page: int = 3, rate_limit_once_on_page: int | None = None):
        self.repo, self.pulls, self.per_page = repo, pulls, per_page
        self.rate_limit_pending = rate_limit_once_on_page
        self.requests: list[dict] = []  # {"path", "headers", "status"}
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> "FakeGitHub":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def page(self, number: int) -> tuple[bytes, str, int]:
        items = sorted(self.pulls, key=lambda p: -p["number"])  # GitHub lists newest first
        chunk = items[(number - 1) * self.per_page: number * self.per_page]
        body = json.dumps(chunk).encode()
        pages = max(1, -(-len(items) // self.per_page))
        return body, f'W/"{hashlib.sha256(body).hexdigest()[:20]}"', pages

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def _send(self, status: int, body: bytes = b"", headers: dict | None = None) -> None:
                fake.requests.append({"path": self.path, "headers": dict(self.headers), "status": status})
                self.send_response(status)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                parsed = urlparse(self.path)
                if parsed.path != f"/repos/{fake.repo}/pulls":
                    return self._send(404, b'{"message": "Not Found"}', {"Content-Type": "application/json"})
                query = parse_qs(parsed.query)
                number = int(query.get("page", ["1"])[0])
                if fake.rate_limit_pending == number:
                    fake.rate_limit_pending = None
                    return self._send(403, b'{"message": "API rate limit exceeded"}', {
                        "Content-Type": "application/json", "X-RateLimit-Remaining": "0",
                        "X-RateLimit-Reset": str(int(time.time()) + 1)})
                body, etag, pages = fake.page(number)
                headers = {"Content-Type": "application/json", "ETag": etag, "X-RateLimit-Remaining": "4999"}
                base = f"{fake.url}/repos/{fake.repo}/pulls?state=all&per_page={fake.per_page}"
                links = []
                if number < pages:
                    links.append(f'<{base}&page={number + 1}>; rel="next"')
                links.append(f'<{base}&page={pages}>; rel="last"')
                headers["Link"] = ", ".join(links)
                if self.headers.get("If-None-Match") == etag:
                    return self._send(304, b"", {"ETag": etag})
                return self._send(200, body, headers)

        return Handler


def pull(number: int, created: str, sha: str, state: str = "open", merged: str | None = None,
         closed: str | None = None, title: str | None = None, login: str = "someone") -> dict:
    """One pull request object as GitHub returns it (the fields golf reads, and a few it does not)."""
    return {"number": number, "title": title or f"Record #{number}", "user": {"login": login, "id": number},
            "state": state, "created_at": created, "updated_at": created, "closed_at": closed, "merged_at": merged,
            "head": {"sha": sha, "ref": f"branch{number}"}, "base": {"ref": "main"}, "draft": False,
            "html_url": f"https://github.com/x/y/pull/{number}"}
