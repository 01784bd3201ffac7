"""Opening a journal: where it lives, bad URLs, secrets in messages, lock-holder liveness."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from hisops.errors import JournalError
from hisops.journal import LockHolder, is_holder_alive, open_journal, redact_url
from hisops.journal import records as rk

# A password that must never appear in a message, raw or percent-encoded.
PW_MARK = "s3cr@t/pw"
PW_MARK_ENCODED = "s3cr%40t%2Fpw"


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A 127.0.0.1 port that is bound but not listening: connections are refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def test_sqlite_url_and_plain_path_name_the_same_file(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    with open_journal(f"sqlite://{path}") as journal:
        journal.append("run-a", rk.RUN_STARTED, {})
        assert journal.location == f"sqlite://{path}"
    for same in (str(path), f"sqlite:///{path}"):  # SQLAlchemy's four-slash spelling too
        with open_journal(same) as journal:
            assert [r.run_id for r in journal.records()] == ["run-a"]


def test_default_journal_is_created_under_hisops_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "not-yet" / "home"
    monkeypatch.setenv("HISOPS_HOME", str(home))
    monkeypatch.delenv("HISOPS_JOURNAL", raising=False)

    with open_journal() as journal:
        journal.append("run-a", rk.RUN_STARTED, {})

    assert (home / "journal.sqlite3").is_file()


def test_hisops_journal_env_wins_over_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HISOPS_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HISOPS_JOURNAL", str(tmp_path / "team.sqlite3"))

    open_journal().close()

    assert (tmp_path / "team.sqlite3").is_file()
    assert not (tmp_path / "home").exists()


def test_journal_with_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    open_journal(str(path)).close()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE journal_meta SET value = '99' WHERE key = 'schema_version'")
    conn.close()

    with pytest.raises(JournalError, match="schema version 99"):
        open_journal(str(path))


@pytest.mark.parametrize(("url", "message"), [
    ("", "empty"),
    ("   ", "empty"),
    (f"mysql://admin:{PW_MARK_ENCODED}@127.0.0.1/his", "unsupported journal URL scheme 'mysql'"),
    ("sqlite://relative/journal.sqlite3", "sqlite:///absolute/path"),
    ("/no/such/dir/journal.sqlite3", "does not exist"),
])
def test_bad_url_is_a_one_line_journal_error(url: str, message: str) -> None:
    with pytest.raises(JournalError, match=message) as caught:
        open_journal(url)

    assert "\n" not in str(caught.value)
    assert "s3cr" not in str(caught.value)


def test_directory_is_not_a_journal(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="is a directory"):
        open_journal(str(tmp_path))


@pytest.mark.parametrize("template", [
    f"postgresql://admin:{PW_MARK_ENCODED}@127.0.0.1:{{port}}/his",
    f"postgres://admin:{PW_MARK}@127.0.0.1:{{port}}/his",
    f"postgresql://admin@127.0.0.1:{{port}}/his?password={PW_MARK_ENCODED}&sslmode=disable",
    f"postgresql://admin:{PW_MARK_ENCODED}@127.0.0.1:notaport/his",
])
def test_unreachable_postgres_error_never_shows_the_password(
    template: str, refused_port: int
) -> None:
    url = template.format(port=refused_port)

    with pytest.raises(JournalError) as caught:
        open_journal(url)

    message = str(caught.value)
    assert "127.0.0.1" in message
    assert "\n" not in message
    for shown in (message, str(caught.value.__cause__ or "")):
        assert "s3cr" not in shown


@pytest.mark.parametrize(("url", "redacted"), [
    ("postgresql://admin:pw@db:5432/his", "postgresql://admin:***@db:5432/his"),
    ("postgresql://admin:p@ss@db/his", "postgresql://admin:***@db/his"),
    ("postgresql://db/his?user=a&password=pw&sslmode=require",
     "postgresql://db/his?user=a&password=***&sslmode=require"),
    ("postgresql://admin@db/his", "postgresql://admin@db/his"),
    ("sqlite:///var/lib/hisops/journal.sqlite3", "sqlite:///var/lib/hisops/journal.sqlite3"),
])
def test_redact_url(url: str, redacted: str) -> None:
    assert redact_url(url) == redacted


def _holder(pid: int, machine: str) -> LockHolder:
    return LockHolder(run_id="run-a", operator="ana", started_at="2025-01-31T08:00:00+00:00",
                      pid=pid, machine=machine)


def test_is_holder_alive_on_this_machine() -> None:
    here = socket.gethostname()
    finished = subprocess.Popen(["true"])
    finished.wait()  # reaped: its pid no longer exists

    assert is_holder_alive(_holder(os.getpid(), here)) is True
    assert is_holder_alive(_holder(finished.pid, here)) is False
    assert is_holder_alive(_holder(0, here)) is False


def test_is_holder_alive_is_unknown_for_another_machine() -> None:
    assert is_holder_alive(_holder(os.getpid(), socket.gethostname() + "-elsewhere")) is None
