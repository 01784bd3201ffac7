"""psql on a probed host, shared by the remote probes (standard library only).

Not imported there: ``probe.script_text`` puts this file's body in place of the probe's
``from hisops.executors.remote_psql import ...`` line, so one self-contained script travels.
"""

from __future__ import annotations

import glob
import re
import subprocess


def _psql_binary() -> str:
    """The newest server's psql: Debian's /usr/bin/psql is a Perl wrapper that costs ~35 ms
    per start (measured), and a probe starts several."""
    found = glob.glob("/usr/lib/postgresql/*/bin/psql") + glob.glob("/usr/pgsql-*/bin/psql")
    found.sort(key=lambda path: [int(x) for x in re.findall(r"[0-9]+", path)])
    return found[-1] if found else "psql"


PSQL = _psql_binary()


def psql(port: int, sql: str, database: str = "postgres", timeout: float = 60) -> str:
    """The single value a query returns (as the postgres OS user over the local socket: peer
    authentication, no password), or RuntimeError with psql's message."""
    # a fixed argv, no shell; runuser is found on the host's PATH
    done = subprocess.run(  # noqa: S603
        ["runuser", "-u", "postgres", "--", PSQL, "-X", "-At",  # noqa: S607
         "-v", "ON_ERROR_STOP=1", "-h", "/var/run/postgresql", "-p", str(port),
         "-d", database, "-c", sql],
        capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(" ".join(done.stderr.split()) or f"psql exited {done.returncode}")
    return done.stdout.strip()
