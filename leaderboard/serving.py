"""The web app as uvicorn's worker processes build it (`golf serve --workers N`): each worker calls
`app_from_env`, which reads what `golf serve` put in the environment (the database URL, the
publishing token, the ingest folder) and builds the same app `golf serve` builds for one process."""
from __future__ import annotations

import os
from pathlib import Path

from fastapi import FastAPI

DB_ENV, TOKEN_ENV, INGEST_ENV = "GOLF_DB", "GOLF_SERVE_TOKEN", "GOLF_INGEST_DIR"


def app_from_env() -> FastAPI:
    from .web import create_app

    return create_app(os.environ.get(DB_ENV), token=os.environ.get(TOKEN_ENV) or None,
                      ingest_dir=Path(os.environ.get(INGEST_ENV) or "published"))
