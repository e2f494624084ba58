"""The web leaderboard: server-rendered pages and a JSON API over the tracker's database.

Read-only unless a token is configured, which turns on `POST /api/runs` (a launcher publishing
a finished group to a shared server). Every README, log and JSON value is untrusted: Markdown
is rendered with raw HTML off (markdown-it escapes it and refuses javascript: links), every
other value is escaped by Jinja, and a Content-Security-Policy forbids scripts outright. Every
response carries the security headers, errors and 500s included.

Publishing checks the token and the declared size before it reads a byte of the body, caps the
body while it streams in, and writes nothing until the whole folder is valid.
"""
import hmac
import json
import re
import shutil
import tempfile
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Callable

from fastapi import FastAPI, Header, HTTPException, Path as PathParam, Query, Request
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from markdown_it import MarkdownIt
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from . import prs, queries
from .charts import day_number, line_chart
from .db import ArtifactRow, SubmissionRow, generation, open_database
from .report import fmt
from .significance import welch_improvement
from .queries import NON_RECORD_TRACK, RECORD_TRACK
from .safefiles import inside as is_inside
from .webcache import PageCache, memo, quiet_gc

TEMPLATES = Path(__file__).resolve().parent / "templates" / "web"
STATIC = Path(__file__).resolve().parent / "static"
CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                    "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}
MAX_LOG_VIEW_BYTES = 5_000_000
MAX_UPLOAD_BYTES = 50_000_000
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,120}$")
TRACK_PARAM = {"record": RECORD_TRACK, "non-record": NON_RECORD_TRACK}

VerdictQ = Annotated[str | None, Query(pattern="^(" + "|".join(queries.VERDICTS) + ")$")]
StatusQ = Annotated[str | None, Query(pattern="^(" + "|".join(queries.STATUSES) + ")$")]
SortQ = Annotated[str, Query(pattern="^(" + "|".join(sorted(queries.SORTS)) + ")$")]
OrderQ = Annotated[str, Query(pattern="^(asc|desc)$")]
PageQ = Annotated[int, Query(ge=1, le=1_000_000)]
PerPageQ = Annotated[int, Query(ge=1, le=queries.MAX_PER_PAGE)]
TextQ = Annotated[str | None, Query(max_length=200)]
MAX_ID = 2**62  # SQLite integers are 64-bit
IdP = Annotated[int, PathParam(ge=1, le=MAX_ID)]
QUEUE_PAGE = 25  # pull requests per page of the review queue

markdown = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def _aligned_cell(renderer, tokens, idx, options, env):
    """Table alignment as a class: the CSP allows no inline style."""
    token = tokens[idx]
    style = token.attrs.pop("style", None)
    if style:
        token.attrSet("class", "align-" + style.rsplit(":", 1)[-1].strip())
    return renderer.renderToken(tokens, idx, options, env)


markdown.add_render_rule("th_open", _aligned_cell)
markdown.add_render_rule("td_open", _aligned_cell)


class SecurityHeaders:
    """ASGI middleware outside everything else, so that even the server-error response has the headers."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).update(SECURITY_HEADERS)
            await send(message)

        await self.app(scope, receive, send_with_headers)


class LeaderboardApp(FastAPI):
    generation: Callable[[], int]  # the database's generation (see leaderboard.webcache)

    def build_middleware_stack(self):
        return SecurityHeaders(PageCache(super().build_middleware_stack(), self.generation))


class PublishedFolder(BaseModel):
    """A records folder sent by a launcher: its files by name (text only: logs, JSON, README, code)."""

    name: str = Field(pattern=SAFE_NAME.pattern)
    track: str = Field(pattern="^(record|non-record)$")
    files: dict[str, str]


def create_app(db_url: str | None = None, token: str | None = None, ingest_dir: Path | None = None) -> FastAPI:
    sessions: sessionmaker[Session] = open_database(db_url, write=token is not None)  # read-only unless publishing
    engine = sessions.kw["bind"]

    @asynccontextmanager
    async def lifespan(_app):
        quiet_gc()  # after startup built everything it keeps
        yield

    app = LeaderboardApp(title="golf leaderboard", version="0.1.0", docs_url=None, redoc_url=None,  # no CDN scripts
                         description="Parameter Golf submissions, every number re-derived from their logs.",
                         lifespan=lifespan)

    def current_generation() -> int:
        with engine.connect() as conn:
            return generation(conn)

    app.generation = current_generation
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    templates = Jinja2Templates(directory=TEMPLATES)
    templates.env.filters["markdown"] = lambda text: markdown.render(text or "")
    templates.env.globals["fmt"] = fmt

    def page(request: Request, name: str, status: int = 200, **context) -> HTMLResponse:
        return templates.TemplateResponse(request, name, context, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError):
        """A page for a person who edited a page's URL; the API keeps FastAPI's JSON answer."""
        if request.url.path.startswith("/api/"):
            return await request_validation_exception_handler(request, exc)
        problems = [f"{'.'.join(str(part) for part in e['loc'][1:]) or 'request'}: {e['msg']}" for e in exc.errors()]
        return page(request, "error.html", 422, heading="Bad request", problems=problems)

    @app.exception_handler(500)
    async def server_error(request: Request, exc: Exception):
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": "internal server error"}, status_code=500)
        return page(request, "error.html", 500, heading="Something went wrong",
                    problems=["the server could not show this page; the error is in its log"])

    def filters(track: str, verdict, status, author, q, sort, order, page_no, per_page) -> queries.Filters:
        return queries.Filters(track=track, verdict=verdict, status=status, author=author or None, q=q or None,
                               sort=sort, order=order, page=page_no, per_page=per_page)

    def ranking(request: Request, session: Session, track: str) -> queries.Standings:
        return memo(request.scope, ("standings", track), lambda: queries.standings(session, track))

    def detail_of(request: Request, session: Session, sid: int) -> dict | None:
        track = session.scalar(select(SubmissionRow.track).where(SubmissionRow.id == sid))
        return None if track is None else queries.submission_detail(session, sid, ranking(request, session, track))

    # ---- pages

    def board(request: Request, track_name: str, verdict, status, author, q, sort, order, page_no, per_page):
        track = TRACK_PARAM[track_name]
        with sessions() as session:
            data = queries.leaderboard(session, filters(track, verdict, status, author, q, sort, order, page_no,
                                                        per_page), ranking(request, session, track))
        args = {"verdict": verdict or "", "status": status or "", "author": author or "", "q": q or "",
                "sort": sort, "order": order, "per_page": per_page}
        return page(request, "index.html", data=data, track_name=track_name, args=args, verdicts=queries.VERDICTS,
                    statuses=queries.STATUSES)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index(request: Request, verdict: VerdictQ = None, status: StatusQ = None, author: TextQ = None,
              q: TextQ = None, sort: SortQ = "rank", order: OrderQ = "asc", page: PageQ = 1, per_page: PerPageQ = 50):
        return board(request, "record", verdict, status, author, q, sort, order, page, per_page)

    @app.get("/non-record", response_class=HTMLResponse, include_in_schema=False)
    def non_record(request: Request, verdict: VerdictQ = None, status: StatusQ = None, author: TextQ = None,
                   q: TextQ = None, sort: SortQ = "rank", order: OrderQ = "asc", page: PageQ = 1,
                   per_page: PerPageQ = 50):
        return board(request, "non-record", verdict, status, author, q, sort, order, page, per_page)

    @app.get("/prs", response_class=HTMLResponse, include_in_schema=False)
    def review_queue_page(request: Request, page: PageQ = 1):
        with sessions() as session:
            data = review_queue_data(session, page)
        return templates.TemplateResponse(request, "prs.html", {"data": data})

    @app.get("/prs/{number}", response_class=HTMLResponse, include_in_schema=False)
    def pr_page(request: Request, number: IdP):
        with sessions() as session:
            pr = prs.pr_detail(session, number)
        if pr is None:
            return page(request, "404.html", 404, what=f"pull request #{number} in golf's database")
        return page(request, "pr.html", pr=pr)

    @app.get("/submissions/{sid}", response_class=HTMLResponse, include_in_schema=False)
    def submission_page(request: Request, sid: IdP):
        with sessions() as session:
            detail = detail_of(request, session, sid)
            if detail is None:
                return page(request, "404.html", 404, what=f"submission {sid}")
            curves = queries.curves(session, [sid])[sid]
        pretty_json = _pretty_json(detail["submission_json"])
        charts = {
            "val_bpb": line_chart([(f"seed {c['seed']}", [(p["step"], p["val_bpb"]) for p in c["points"]])
                                   for c in curves], "step", "val_bpb", "val_bpb per seed"),
            "train_loss": line_chart([(f"seed {c['seed']}", [(p["step"], p["train_loss"]) for p in c["points"]])
                                      for c in curves], "step", "train loss", "train loss per seed"),
        }
        return page(request, "submission.html", s=detail, pretty_json=pretty_json, charts=charts,
                    disagreements=_disagreements(detail))

    @app.get("/submissions/{sid}/files/{path:path}", response_class=PlainTextResponse, include_in_schema=False)
    def submission_file(sid: IdP, path: str):
        with sessions() as session:
            sub = session.get(SubmissionRow, sid)
            known = sub is not None and session.scalar(select(ArtifactRow.id).where(
                ArtifactRow.submission_id == sid, ArtifactRow.path == path, ArtifactRow.kind.in_(
                    ("log", "json", "readme", "code", "other"))))
            if not known:
                raise HTTPException(404, "no such file")
            file = _inside(Path(sub.source_path), path)
        return PlainTextResponse(file.read_bytes()[:MAX_LOG_VIEW_BYTES].decode("utf-8", errors="replace"),
                                 headers={"Content-Disposition": "inline"})

    @app.get("/runs/{rid}", response_class=HTMLResponse, include_in_schema=False)
    def run_page(request: Request, rid: IdP, q: TextQ = None):
        with sessions() as session:
            run = queries.run_detail(session, rid)
        if run is None:
            return page(request, "404.html", 404, what=f"run {rid}")
        lines = []
        try:
            text = _inside(Path(run["source_path"]), run["log"]).read_bytes()[:MAX_LOG_VIEW_BYTES]
            lines = text.decode("utf-8", errors="replace").splitlines()
        except HTTPException:
            pass
        score_prefix = "score stage:" if any(line.startswith("score stage:") for line in lines) else None
        shown = [(i + 1, line, bool(q and q.lower() in line.lower()),
                  bool(score_prefix and line.startswith(score_prefix)) or bool(
                      run["val_bpb"] is not None and f"{run['val_bpb']:.8f}" in line))
                 for i, line in enumerate(lines)]
        if q:
            shown = [row for row in shown if row[2]]
        chart = line_chart([("val_bpb", [(p["step"], p["val_bpb"]) for p in run["curve"]])], "step", "val_bpb")
        loss_chart = line_chart([("train loss", [(p["step"], p["train_loss"]) for p in run["curve"]])], "step",
                                "train loss")
        return page(request, "run.html", r=run, lines=shown, q=q or "", chart=chart, loss_chart=loss_chart,
                    total_lines=len(lines))

    @app.get("/live", response_class=HTMLResponse, include_in_schema=False)
    def live_page(request: Request):
        with sessions() as session:
            launches = queries.live_launches(session)
        for launch in launches:
            launch["chart"] = line_chart([(f"seed {s['seed']}", [(p["step"], p["train_loss"]) for p in s["points"]])
                                          for s in launch["seeds"]], "step", "train loss")
        return page(request, "live.html", launches=launches)

    @app.get("/compare", response_class=HTMLResponse, include_in_schema=False)
    def compare_page(request: Request, ids: Annotated[str, Query(max_length=100)] = ""):
        data = compare_data(ids)
        overlay = line_chart([(f"{s['name'][:30]} s{c['seed']}", [(p["step"], p["val_bpb"]) for p in c["points"]])
                              for s in data["submissions"] for c in s["curves"]], "step", "val_bpb", "val_bpb")
        return page(request, "compare.html", data=data, overlay=overlay)

    @app.get("/frontier", response_class=HTMLResponse, include_in_schema=False)
    def frontier_page(request: Request):
        with sessions() as session:
            data = queries.frontier(session)
        records = [p for p in data["records"] if p["date"]]
        contenders = [p for p in data["open_prs"] if p["date"]]
        chart = line_chart([("record val_bpb", [(day_number(p["date"]), p["val_bpb"]) for p in records])],
                           "date (the day each was judged on)", "val_bpb", "record val_bpb by date", x_dates=True,
                           dots=[(day_number(p["date"]), p["val_bpb"], f"PR #{p['pr']}: {p['name']}")
                                 for p in contenders], dots_label="open PRs that would beat the record")
        return page(request, "frontier.html", data=data, chart=chart)

    # ---- JSON API

    @app.get("/api/leaderboard", tags=["leaderboard"])
    def api_leaderboard(request: Request, track: Annotated[str, Query(pattern="^(record|non-record)$")] = "record",
                        verdict: VerdictQ = None, status: StatusQ = None, author: TextQ = None, q: TextQ = None,
                        sort: SortQ = "rank", order: OrderQ = "asc", page: PageQ = 1, per_page: PerPageQ = 50) -> dict:
        """The ranking: filters, sorting and paging as on the pages."""
        with sessions() as session:
            return queries.leaderboard(session, filters(TRACK_PARAM[track], verdict, status, author, q, sort, order,
                                                        page, per_page), ranking(request, session, TRACK_PARAM[track]))

    @app.get("/api/submissions/{sid}", tags=["submissions"])
    def api_submission(request: Request, sid: IdP) -> dict:
        with sessions() as session:
            detail = detail_of(request, session, sid)
        if detail is None:
            raise HTTPException(404, f"no submission {sid}")
        return detail

    @app.get("/api/submissions/{sid}/checks", tags=["checks"])
    def api_checks(request: Request, sid: IdP) -> list[dict]:
        return api_submission(request, sid)["checks"]

    @app.get("/api/prs", tags=["pull requests"])
    def api_review_queue(page: PageQ = 1) -> dict:
        """The review queue: open pull requests, those breaking a rule first, then those in doubt, then the
        rest; newest first in each group."""
        with sessions() as session:
            return review_queue_data(session, page)

    @app.get("/api/prs/{number}", tags=["pull requests"])
    def api_pr(number: IdP) -> dict:
        """Everything golf knows about one pull request."""
        with sessions() as session:
            pr = prs.pr_detail(session, number)
        if pr is None:
            raise HTTPException(404, f"no pull request #{number} in golf's database")
        return pr

    @app.get("/api/runs/{rid}", tags=["runs"])
    def api_run(rid: IdP) -> dict:
        with sessions() as session:
            run = queries.run_detail(session, rid)
        if run is None:
            raise HTTPException(404, f"no run {rid}")
        run.pop("source_path")
        return run

    @app.get("/api/frontier", tags=["leaderboard"])
    def api_frontier() -> dict:
        with sessions() as session:
            return queries.frontier(session)

    @app.get("/api/compare", tags=["submissions"])
    def api_compare(ids: Annotated[str, Query(max_length=100)] = "") -> dict:
        return compare_data(ids)

    @app.get("/api/live", tags=["runs"])
    def api_live() -> list[dict]:
        with sessions() as session:
            return queries.live_launches(session)

    @app.post("/api/runs", tags=["runs"], status_code=201, openapi_extra={"requestBody": {
        "required": True, "content": {"application/json": {"schema": PublishedFolder.model_json_schema()}}}})
    async def api_publish(request: Request, authorization: Annotated[str | None, Header()] = None) -> dict:
        """Publish a finished group (off unless the server was started with --token): a PublishedFolder
        as JSON, at most 50 MB."""
        if token is None:
            raise HTTPException(404, "publishing is off on this server")
        if not authorization or not hmac.compare_digest(authorization.encode(), f"Bearer {token}".encode()):
            raise HTTPException(401, "a valid bearer token is needed")
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > MAX_UPLOAD_BYTES):
            raise HTTPException(413, f"the folder is too large (at most {MAX_UPLOAD_BYTES:,} bytes)")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_UPLOAD_BYTES:
                raise HTTPException(413, f"the folder is too large (at most {MAX_UPLOAD_BYTES:,} bytes)")
        try:
            document = json.loads(body)  # Python's JSON: a lone surrogate is named below
        except ValueError as exc:
            raise HTTPException(422, f"not JSON: {exc}") from None
        try:
            folder = PublishedFolder.model_validate(document)
        except ValidationError as exc:
            raise HTTPException(422, exc.errors(include_url=False, include_context=False, include_input=False)) from None
        return await run_in_threadpool(publish, folder)

    def publish(folder: PublishedFolder) -> dict:
        """Every file is checked and encoded first; the folder is written beside its place and renamed
        into it, and taken back out (the previous one restored) when the import refuses it."""
        from .importer import import_folder, source_key

        bad = [name for name in folder.files if not SAFE_NAME.fullmatch(name)]
        if bad or not folder.files:
            raise HTTPException(422, f"file names must be plain names: {bad[:3]}")
        encoded = {}
        for name, content in folder.files.items():
            try:
                encoded[name] = content.encode("utf-8")
            except UnicodeEncodeError:
                raise HTTPException(422, f"{name} is not valid text (a lone surrogate)") from None
        root = Path(ingest_dir or tempfile.mkdtemp(prefix="golf-ingest-"))
        dest = root / TRACK_PARAM[folder.track] / folder.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".golf-publish-", dir=dest.parent))  # hidden: imports skip it
        previous = dest.with_name(f"{staging.name}-previous")
        try:
            for name, data in encoded.items():
                (staging / name).write_bytes(data)
            staging.chmod(0o755)
            if dest.exists():
                dest.rename(previous)
            staging.rename(dest)
            key = source_key(dest, root)
            outcome = import_folder(sessions, dest, key)
            if outcome.status == "failed":
                raise HTTPException(422, outcome.reason)
        except BaseException:
            if previous.exists() or not staging.exists():  # the new folder is in place: take it back out
                shutil.rmtree(dest, ignore_errors=True)
            if previous.exists():
                previous.rename(dest)
            raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
            shutil.rmtree(previous, ignore_errors=True)
        with sessions() as session:
            sid = session.scalar(select(SubmissionRow.id).where(SubmissionRow.key == key))
        return {"status": outcome.status, "id": sid}

    def review_queue_data(session: Session, page_no: int) -> dict:
        order = prs.queue_order(session)
        total = len(order)
        return {"total": total, "page": page_no, "per_page": QUEUE_PAGE, "pages": max(1, -(-total // QUEUE_PAGE)),
                "concerns": {c: sum(prs.CONCERNS[i] == c for _, i in order) for c in prs.CONCERNS},
                "items": prs.review_queue(session, QUEUE_PAGE, (page_no - 1) * QUEUE_PAGE, order)}

    def compare_data(ids_text: str) -> dict:
        try:
            ids = list(dict.fromkeys(int(x) for x in ids_text.split(",") if x.strip()))
        except ValueError:
            raise HTTPException(422, "ids must be comma-separated integers") from None
        if not 2 <= len(ids) <= 4 or not all(1 <= i <= MAX_ID for i in ids):
            raise HTTPException(422, "compare 2 to 4 submissions by id: ?ids=1,2")
        with sessions() as session:
            details = [queries.submission_detail(session, i) for i in ids]
            if any(d is None for d in details):
                raise HTTPException(404, "no such submission")
            curves = queries.curves(session, ids)
        subs = []
        for d in details:
            counted = [r for r in d["runs"] if r["counts"] and r["val_loss"] is not None]
            subs.append({k: d[k] for k in ("id", "name", "author", "verdict", "mean_val_bpb", "std_val_bpb",
                                           "n_seeds", "bytes_max", "train_time_s", "eval_time_s", "track")}
                        | {"val_losses": [r["val_loss"] for r in counted], "val_bpbs": [r["val_bpb"] for r in counted],
                           "curves": curves[d["id"]]})
        tests = []
        for a in subs:
            for b in subs:
                if a["id"] < b["id"] and a["val_losses"] and b["val_losses"]:
                    tests.append({"new": a["id"], "reference": b["id"], **welch_improvement(
                        a["val_losses"], b["val_losses"], a["val_bpbs"], b["val_bpbs"]).as_dict()})
        return {"submissions": subs, "welch": tests}

    return app


def _inside(root: Path, relative: str) -> Path:
    """A file of a submission folder; nothing a request names may leave it."""
    path = root / relative
    if not is_inside(path, root) or not path.is_file():
        raise HTTPException(404, "no such file")
    return path


def _pretty_json(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


def _disagreements(detail: dict) -> dict[int, list[str]]:
    """Per seed, the fields where the logs and submission.json's per-seed claims differ."""
    claimed = detail["claimed"].get("per_seed", {}) or {}
    out: dict[int, list[str]] = {}
    for seed in detail["seeds"]:
        claim = claimed.get(str(seed["seed"])) or {}
        for field in ("val_bpb", "val_loss"):
            mine, theirs = seed.get(field), claim.get(field)
            if isinstance(mine, (int, float)) and isinstance(theirs, (int, float)) and abs(mine - theirs) > 5e-5:
                out.setdefault(seed["seed"], []).append(field)
    return out
