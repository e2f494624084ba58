"""What every `golf` command shares: the consoles, the one way to fail, option parsing."""
from __future__ import annotations

from enum import Enum
from typing import Annotated, Optional

import typer
from rich.console import Console

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

class Track(str, Enum):
    record = "10min_16mb"
    non_record = "non_record_16mb"


DbOption = Annotated[Optional[str], typer.Option("--db", help="SQLAlchemy URL of the database (default: $GOLF_DB or sqlite:///golf.db).")]


def _fail(message: str, code: int = 2) -> None:
    err_console.print(f"[red]error:[/red] {message}", highlight=False)
    raise typer.Exit(code)


def _parse_env(pairs: list[str]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key or not key.replace("_", "").isalnum():
            _fail(f"--env expects KEY=VALUE, got {pair!r}")
        env[key] = value
    return env


def _open_db(db: str | None):
    """The sessionmaker for --db, or one clear line: a bad URL, a locked or newer database."""
    from leaderboard.db import database_url, open_database

    from .secrets import redact

    try:
        return open_database(db)
    except Exception as exc:
        _fail(f"cannot open {database_url(db)}: {redact(str(exc))}")
