"""Query results read from SQL*Plus on the database host, as CSV.

The patch and restore roles query the database where they run, as the oracle OS user with OS
authentication (``sqlplus -S -L / as sysdba``): no password reaches the controller. SQL*Plus
12.2 and later print a result set as CSV with ``SET MARKUP CSV ON QUOTE ON`` (heading line of
column names, each value quoted, ``""`` for a quote inside); the session formats of
:data:`QUERY_SETTINGS` make dates and timestamps unambiguous. :func:`rows` reads that text
strictly: an ``ORA-``/``SP2-`` error, or a line that does not fit the heading, is an
:class:`~hisops.engines.oracle.rman.UnreadableOutput`, never an empty answer.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from hisops.engines.oracle.rman import UnreadableOutput

#: Lines that start every query script the roles run. FEEDBACK OFF: no "n rows selected." line.
QUERY_SETTINGS = (
    "WHENEVER SQLERROR EXIT FAILURE",
    "SET MARKUP CSV ON QUOTE ON",
    "SET FEEDBACK OFF HEADING ON PAGESIZE 50000 LINESIZE 32767 TRIMSPOOL ON",
    "ALTER SESSION SET NLS_DATE_FORMAT = 'YYYY-MM-DD HH24:MI:SS';",
    "ALTER SESSION SET NLS_TIMESTAMP_FORMAT = 'YYYY-MM-DD HH24:MI:SS.FF6';",
)
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S.%f"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
_ERROR = re.compile(r"^\s*((?:ORA|SP2)-\d{4,5}):?\s*(.*)$", re.MULTILINE)


def query_script(sql: str) -> str:
    """The SQL*Plus input that prints ``sql``'s result as CSV and exits (``EXIT`` last, so an
    error stops it with a non-zero status)."""
    return "\n".join((*QUERY_SETTINGS, sql.strip().rstrip(";") + ";", "EXIT")) + "\n"


def rows(text: str, columns: Sequence[str]) -> list[dict[str, str]]:
    """The result rows of one query, as {COLUMN: text}; ``columns`` is what the query selects
    (upper case), checked against the heading. No heading at all is an empty result (SQL*Plus
    prints nothing for no rows)."""
    if error := _ERROR.search(text):
        raise UnreadableOutput(f"sqlplus reported {error[1]}", error[2].strip() or error[0])
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        return []
    reader = csv.reader(io.StringIO("\n".join(lines)))
    heading = [c.strip().upper() for c in next(reader)]
    wanted = [c.upper() for c in columns]
    if heading != wanted:
        raise UnreadableOutput("sqlplus output has another heading than the query's columns",
                               f"expected {','.join(wanted)}, got {','.join(heading)}")
    out = []
    for number, values in enumerate(reader, start=2):
        if len(values) != len(heading):
            raise UnreadableOutput("sqlplus output has a line that is not a row of the result",
                                   f"line {number}: {len(values)} values, {len(heading)} columns")
        out.append(dict(zip(heading, values, strict=True)))
    return out


def typed(row: dict[str, str], *, integers: Sequence[str] = (), timestamps: Sequence[str] = (),
          dates: Sequence[str] = ()) -> dict[str, Any]:
    """``row`` with the named columns converted as python-oracledb would return them (an empty
    value is NULL: None). A value that does not convert raises ``ValueError`` naming it."""
    out: dict[str, Any] = {k: (v if v != "" else None) for k, v in row.items()}
    for name, convert in ([(c, int) for c in integers]
                          + [(c, lambda v: datetime.strptime(v, TIMESTAMP_FORMAT))
                             for c in timestamps]
                          + [(c, lambda v: datetime.strptime(v, DATE_FORMAT)) for c in dates]):
        value = out.get(name)
        if value is None:
            continue
        try:
            out[name] = convert(value)
        except ValueError:
            raise ValueError(f"column {name}: {value!r} is not of the expected type") from None
    return out
