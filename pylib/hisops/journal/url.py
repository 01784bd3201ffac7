"""Journal locations: parse a URL or path, and keep passwords out of every message."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qsl, unquote

from hisops.errors import JournalError

ENV_JOURNAL = "HISOPS_JOURNAL"
ENV_HOME = "HISOPS_HOME"
DEFAULT_FILE = "journal.sqlite3"

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_QUERY_PASSWORD = re.compile(r"(?i)(password=)[^&#]*")


@dataclass(frozen=True)
class JournalLocation:
    backend: Literal["sqlite", "postgres"]
    path: Path | None = None  # sqlite
    url: str | None = None  # postgres (may hold a password: never log it)


def redact_url(url: str) -> str:
    """The URL with any password (in user info or query) replaced by ``***``."""
    match = _SCHEME.match(url)
    if match:
        rest = url[match.end():]
        # The rightmost '@' ends the user info, even if the password has an unescaped '@'.
        at = rest.rfind("@")
        if at >= 0 and ":" in rest[:at]:
            user = rest[:at].split(":", 1)[0]
            url = f"{match.group(0)}{user}:***@{rest[at + 1:]}"
    return _QUERY_PASSWORD.sub(r"\1***", url)


def url_secrets(url: str) -> list[str]:
    """Passwords in a URL, raw and percent-decoded, so they can be scrubbed from messages."""
    found: list[str] = []
    match = _SCHEME.match(url)
    if match:
        rest = url[match.end():]
        at = rest.rfind("@")
        if at >= 0 and ":" in rest[:at]:
            found.append(rest[:at].split(":", 1)[1])
    if "?" in url:
        query = url.split("?", 1)[1].split("#", 1)[0]
        found.extend(v for k, v in parse_qsl(query, keep_blank_values=True)
                     if k.lower() == "password")
        found.extend(m.group(0)[len("password="):] for m in _QUERY_PASSWORD.finditer(query))
    secrets = {s for raw in found for s in (raw, unquote(raw)) if s}
    return sorted(secrets, key=len, reverse=True)  # longest first: no partial leftovers


def scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def default_journal_path() -> Path:
    home = os.environ.get(ENV_HOME) or str(Path("~/.hisops").expanduser())
    return Path(home).expanduser() / DEFAULT_FILE


def parse_journal_url(url: str | None) -> JournalLocation:
    """Decide the backend: None -> $HISOPS_JOURNAL -> $HISOPS_HOME/journal.sqlite3."""
    if url is None:
        url = os.environ.get(ENV_JOURNAL) or None
        if url is None:
            path = default_journal_path()
            try:
                path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            except OSError as exc:
                raise JournalError(f"cannot create journal directory {path.parent}: {exc}") from exc
            return JournalLocation("sqlite", path=path)
    url = url.strip()
    if not url:
        raise JournalError("journal URL is empty")
    match = _SCHEME.match(url)
    if match is None:
        return JournalLocation("sqlite", path=_file_path(url))
    scheme = match.group(1).lower()
    if scheme in ("postgresql", "postgres"):
        return JournalLocation("postgres", url=url)
    if scheme == "sqlite":
        rest = url[match.end():]
        if not rest.startswith("/") or rest == "/":
            raise JournalError(
                f"bad journal URL {redact_url(url)}: use sqlite:///absolute/path/journal.sqlite3"
            )
        # sqlite:///abs/path; sqlite:////abs/path (SQLAlchemy's spelling) means the same.
        return JournalLocation("sqlite", path=_file_path("/" + unquote(rest).lstrip("/")))
    raise JournalError(
        f"unsupported journal URL scheme '{scheme}' in {redact_url(url)}: "
        "use sqlite:///path, a file path, or postgresql://..."
    )


def _file_path(text: str) -> Path:
    path = Path(text).expanduser().absolute()
    if path.is_dir():
        raise JournalError(f"journal path {path} is a directory, expected a file")
    if not path.parent.is_dir():
        raise JournalError(f"journal directory {path.parent} does not exist")
    return path
