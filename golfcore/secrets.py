"""Keep secrets out of everything golf prints, stores or writes.

A secret is the value of any environment variable whose name says it is one
(HF_TOKEN, RUNPOD_API_KEY, AWS_SECRET_ACCESS_KEY: a KEY, TOKEN, SECRET,
PASSWORD or CREDENTIALS word), plus values registered at run time
(an API key read from a config file), plus the password of any `scheme://user:password@` URL
(a database's). `mask_url` masks a URL for display; `redact` replaces every known value in a text.
"""
from __future__ import annotations

import os
import re
from urllib.parse import unquote

# whole words of the name: HF_TOKEN and RUNPOD_API_KEY are secrets, TRAIN_BATCH_TOKENS is not
SECRET_NAME = re.compile(r"(^|_)(KEY|APIKEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?|AUTH)(_|$)", re.I)
MASK = "***"
MIN_SECRET_CHARS = 6  # shorter values would mask ordinary words and numbers

_registered: set[str] = set()


def is_secret_name(name: str) -> bool:
    return bool(SECRET_NAME.search(name))


def register(value: str | None) -> None:
    if value and len(value) >= MIN_SECRET_CHARS:
        _registered.add(value)


def secret_values(extra_env: dict[str, str] | None = None) -> list[str]:
    values = set(_registered)
    for env in (os.environ, extra_env or {}):
        for name, value in env.items():
            if is_secret_name(name) and len(value) >= MIN_SECRET_CHARS:
                values.add(value)
    return sorted(values, key=len, reverse=True)  # longest first: a secret containing another is masked whole


def redact(text: str, extra_env: dict[str, str] | None = None) -> str:
    return mask(mask_url(text), secret_values(extra_env))


def mask(text: str, values: list[str]) -> str:
    """Mask the given secret values (from secret_values: a caller masking many lines looks them up once)."""
    for value in values:
        if value in text:
            text = text.replace(value, MASK)
    return text


def redact_env(env: dict[str, str]) -> dict[str, str]:
    """The env to show or store: secret-named values masked, other values redacted of known secrets."""
    return {k: (MASK if is_secret_name(k) else redact(v, env)) for k, v in env.items()}


# `scheme://user:PASSWORD@`: greedy up to the last `@` before the path, as a careless URL may hold one
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][\w+.-]*://[^:/@\s]*:)(?P<password>[^/\s]*)@")


def mask_url(url: str) -> str:
    """A URL (a database's) as it may be shown: its password masked, and registered, as written
    and percent-decoded, so that `redact` also masks it wherever an error message repeats it."""
    for m in _URL_PASSWORD.finditer(url):
        register(m.group("password"))
        register(unquote(m.group("password")))
    return _URL_PASSWORD.sub(lambda m: f"{m.group('head')}{MASK}@", url)
