"""open_journal: one entry point that picks the backend from a URL or path."""

from __future__ import annotations

import logging

from hisops.journal.base import Journal
from hisops.journal.url import parse_journal_url

log = logging.getLogger(__name__)


def open_journal(url: str | None = None) -> Journal:
    """Open (and create if absent) the journal at ``url``.

    ``url`` is ``sqlite:///abs/path``, a plain file path, or ``postgresql://...``; None
    means ``$HISOPS_JOURNAL``, else ``$HISOPS_HOME/journal.sqlite3`` (``~/.hisops``).
    """
    location = parse_journal_url(url)
    if location.backend == "postgres":
        assert location.url is not None  # noqa: S101 - parse_journal_url guarantees it
        # Imported here so that SQLite users never load the PostgreSQL driver.
        from hisops.journal.postgres import PostgresJournal

        return PostgresJournal(location.url)
    from hisops.journal.sqlite import SqliteJournal

    assert location.path is not None  # noqa: S101
    return SqliteJournal(location.path)
