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
