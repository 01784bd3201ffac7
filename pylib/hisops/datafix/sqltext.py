"""The SQL text of a data correction: bind parameters and what each statement may be.

A datafix's SQL names runbook parameters as ``:name`` binds (the form Oracle uses, and the
one a DBA reads as "a value goes here"); values are never pasted into the text, so a
parameter cannot change what a statement does, and the reviewed text is the executed text.
PostgreSQL's driver wants ``%(name)s``: :func:`to_psycopg` rewrites the binds and doubles
literal percent signs, skipping string literals, quoted names, comments, dollar-quoted bodies
and ``::`` casts. Transaction control is refused: one ``COMMIT`` inside a fix would end the
one transaction that makes the fix all-or-nothing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

BIND = re.compile(r"[a-z_][a-z0-9_]*")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")
_DOLLAR = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")
FIX_VERBS = frozenset({"update", "delete", "with"})
QUERY_VERBS = frozenset({"select", "with"})
Place = str  # "where" (a find condition), "fix" (a fix statement), "verify" (a verify query)
SqlPath = tuple[str | int, ...]  # where in the step: ("find", 0, "where"), ("fix", 1), ...


class SqlTextError(ValueError):
    """A statement a datafix cannot run (the message names what is wrong)."""


@dataclass(frozen=True)
class Parsed:
    binds: tuple[str, ...]  # in order of first use
    psycopg: str  # the statement with %(name)s binds and literal % doubled
    words: tuple[str, ...]  # lower-cased keywords outside literals and comments


def parse(text: str) -> Parsed:
    out: list[str] = []
    binds: list[str] = []
    words: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in "'\"":
            end = _quoted_end(text, i, c)
            out.append(text[i:end].replace("%", "%%"))
            i = end
        elif text.startswith("--", i):
            end = text.find("\n", i)
            end = n if end < 0 else end
            out.append(text[i:end].replace("%", "%%"))
            i = end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise SqlTextError("unterminated /* comment")
            out.append(text[i:end + 2].replace("%", "%%"))
            i = end + 2
        elif c == "$" and (m := _DOLLAR.match(text, i)):
            tag = m.group(0)
            end = text.find(tag, m.end())
            if end < 0:
                raise SqlTextError(f"unterminated {tag} quoted text")
            out.append(text[i:end + len(tag)].replace("%", "%%"))
            i = end + len(tag)
        elif c == ":" and text.startswith("::", i):
            out.append("::")
            i += 2
        elif c == ":" and (m := BIND.match(text, i + 1)):
            binds.append(m.group(0))
            out.append(f"%({m.group(0)})s")
            i = m.end()
        elif c == "%":
            out.append("%%")
            i += 1
        elif c.isalpha() or c == "_":
            m = _WORD.match(text, i)
            assert m is not None  # noqa: S101 - c starts a word
            words.append(m.group(0).lower())
            out.append(m.group(0))
            i = m.end()
        elif c == ";":
            if text[i + 1:].strip():
                raise SqlTextError("one statement per entry: a ';' is followed by more SQL")
            i += 1  # a trailing ';' is harmless; the driver wants none
        else:
            out.append(c)
            i += 1
    return Parsed(binds=tuple(dict.fromkeys(binds)), psycopg="".join(out).strip(),
                  words=tuple(words))


def _quoted_end(text: str, start: int, quote: str) -> int:
    i = start + 1
    while True:
        end = text.find(quote, i)
        if end < 0:
            raise SqlTextError(f"unterminated {quote} quoted text")
        if text.startswith(quote * 2, end):  # '' inside a literal, "" inside a name
            i = end + 2
            continue
        return end + 1


def check_statement(text: str, allowed: frozenset[str], what: str) -> Parsed:
    """Parse TEXT and refuse a statement whose first word is not in ALLOWED."""
    parsed = parse(text)
    if not parsed.words:
        raise SqlTextError(f"{what} is empty")
    first = parsed.words[0]
    if first not in allowed:
        # COMMIT, ROLLBACK, SAVEPOINT, SET, CALL (a procedure may commit) and DDL all end here
        verbs = " or ".join(sorted(w.upper() for w in allowed))
        raise SqlTextError(f"{what} must start with {verbs}, not {first.upper()}")
    return parsed


def check_condition(text: str) -> Parsed:
    """A find ``where`` condition: an expression, not a statement."""
    parsed = parse(text)
    if not parsed.words and not parsed.psycopg:
        raise SqlTextError("the condition is empty")
    return parsed


def check_sql(text: str, place: Place) -> Parsed:
    """TEXT checked for its place in a sql step: no templates, and the kind of statement the
    place allows (the loader and the task's arguments check the same way)."""
    if "{{" in text or "{%" in text:
        raise SqlTextError("templates are not allowed in SQL: name parameters as :name binds "
                           "(a value pasted into SQL can change what it does)")
    if place == "where":
        return check_condition(text)
    if place == "fix":
        return check_statement(text, FIX_VERBS, "a fix statement")
    return check_statement(text, QUERY_VERBS, "a verify query")


def step_sql(wheres: Sequence[str], fixes: Sequence[str], verifies: Sequence[str]
             ) -> Iterator[tuple[SqlPath, str, Place]]:
    """Every SQL text of a sql step with its path in the step and its place."""
    for i, text in enumerate(wheres):
        yield ("find", i, "where"), text, "where"
    for i, text in enumerate(fixes):
        yield ("fix", i), text, "fix"
    for i, text in enumerate(verifies):
        yield ("verify", i, "sql"), text, "verify"
