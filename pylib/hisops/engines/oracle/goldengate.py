"""GoldenGate replica health: GGSCI ``info all`` / ``lag`` text and the Microservices REST answer.

The HIS reporting replica is fed by GoldenGate. A replica whose Replicat stopped or abended
still answers queries, with data that silently grows old, so the checks treat a process that
does not run as an error, never as "nothing to report". Like the RMAN parsers
(:mod:`hisops.engines.oracle.rman`) these are pure and strict: a table they cannot read raises
:class:`~hisops.engines.oracle.rman.UnreadableOutput`. Formats and their public sources:
``tests/fixtures/oracle/goldengate/SOURCES.md``.

The role runs :data:`GGSCI_COMMANDS` as an obey file in ``ggsci`` as the GoldenGate OS user
(classic architecture: GGSCI needs no login for ``info`` and ``lag``), or reads the
Administration Service's ``/services/v2/{extracts|replicats}/{name}/info/status`` with a
credential from the vault (Microservices); nothing here carries or logs a credential.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from hisops.engines.base import Finding, Severity
from hisops.engines.oracle.rman import UnreadableOutput

log = logging.getLogger(__name__)

CHECK_GOLDENGATE = "goldengate"

# The obey file the role feeds to ggsci: the process table, then the lag each Replicat reports
# itself (more precise than the checkpoint lag of ``info all``). No DBLOGIN, so no credential.
GGSCI_COMMANDS = "info all\nlag replicat *\n"


class GgStatus(StrEnum):
    RUNNING = "RUNNING"
    STOPPED = "STOPPED"
    ABENDED = "ABENDED"
    STARTING = "STARTING"  # started, checkpoint file not yet locked
    KILLED = "KILLED"  # REST only: the process was killed


class LagState(StrEnum):
    AT_EOF = "at_eof"  # caught up: "At EOF, no more records to process."
    PROCESSING = "processing"  # a lag was reported and records remain to be processed
    NO_RECORDS = "no_records"  # "No records yet processed." (just started, or idle since)
    NOT_RUNNING = "not_running"  # GGSCI could not ask: the process does not run


@dataclass(frozen=True)
class GgProcess:
    """One row of ``info all`` (or one REST status answer)."""

    program: str  # MANAGER, EXTRACT, REPLICAT, JAGENT, PMSRVR
    status: GgStatus
    group: str = ""  # empty for MANAGER, JAGENT, PMSRVR
    lag: timedelta | None = None  # lag at the last checkpoint
    since_checkpoint: timedelta | None = None  # time since that checkpoint
    last_started: datetime | None = None  # REST only

    @property
    def name(self) -> str:
        return f"{self.program} {self.group}".strip()

    def to_dict(self) -> dict[str, Any]:
        return {"program": self.program, "status": self.status.value, "group": self.group,
                "lag_s": _seconds(self.lag), "since_checkpoint_s": _seconds(self.since_checkpoint),
                "last_started": self.last_started.isoformat() if self.last_started else None}


@dataclass(frozen=True)
class GgLag:
    """What ``LAG EXTRACT|REPLICAT`` printed for one group."""

    program: str  # EXTRACT or REPLICAT
    group: str
    seconds: int | None  # "Last record lag"; None when no record was processed or not running
    state: LagState

    @property
    def name(self) -> str:
        return f"{self.program} {self.group}"


def _seconds(value: timedelta | None) -> int | None:
    return None if value is None else int(value.total_seconds())


# --- info all ----------------------------------------------------------------------------------

_PROGRAMS = ("MANAGER", "EXTRACT", "REPLICAT", "JAGENT", "PMSRVR")
_GROUPED = {"EXTRACT", "REPLICAT"}
_INFO_HEAD = re.compile(r"^\s*Program\s+Status\s+Group\s+Lag at Chkpt\s+Time Since Chkpt\s*$")
_HMS = r"\d+:\d\d:\d\d"  # hours run past 99 (``653:55:55`` is a real abended Replicat)
_INFO_ROW = re.compile(rf"^\s*([A-Z]+)\s+([A-Z]+)(?:\s+([A-Za-z0-9_$#]+)"
                       rf"(?:\s+({_HMS}|UNKNOWN)\s+({_HMS}))?)?\s*$")
_PROMPT = re.compile(r"^\s*(?:GGSCI|OGG)\b[^>]*>|^\s*Command \d+ (?:succeeded|failed)")


def _hms(text: str | None) -> timedelta | None:
    if text is None or text == "UNKNOWN":
        return None
    hours, minutes, seconds = (int(p) for p in text.split(":"))
    return timedelta(hours=hours, minutes=minutes, seconds=seconds)


def _row(line: str) -> GgProcess:
    row = _INFO_ROW.match(line)
    if not row or row[1] not in _PROGRAMS or row[2] not in GgStatus.__members__:
        raise UnreadableOutput("unreadable GGSCI 'info all' row", line)
    program, group = row[1], row[3] or ""
    if (program in _GROUPED) != bool(group):
        raise UnreadableOutput("an EXTRACT/REPLICAT row needs a group, no other row has one",
                               line)
    return GgProcess(program=program, status=GgStatus(row[2]), group=group,
                     lag=_hms(row[4]), since_checkpoint=_hms(row[5]))


def parse_info_all(text: str) -> list[GgProcess]:
    """Rows of the first ``info all`` table in a GGSCI (or Admin Client) transcript.

    The table runs from its heading to the first blank line after a row, or to the next
    prompt. A row of an unknown program or status, or a transcript without the table (ggsci
    not found, manager unreachable), raises :class:`UnreadableOutput`.
    """
    lines = text.splitlines()
    start = next((i for i, line in enumerate(lines) if _INFO_HEAD.match(line)), None)
    if start is None:
        tail = [line.strip() for line in lines if line.strip()]
        raise UnreadableOutput("no GGSCI 'info all' table in the output",
                               tail[-1] if tail else "(no output)")
    rows: list[GgProcess] = []
    for line in lines[start + 1:]:
        if _PROMPT.match(line):
            break
        if not line.strip():
            if rows:
                break
            continue
        rows.append(_row(line))
    if not rows:
        raise UnreadableOutput("the GGSCI 'info all' table has no rows (not even MANAGER)")
    return rows


# --- lag ---------------------------------------------------------------------------------------

_SENDING = re.compile(r"^\s*Sending GETLAG request to (EXTRACT|REPLICAT) (\S+?)\s*\.\.\.\s*$")
_LAST_LAG = re.compile(r"^\s*Last record lag:? ((?:[\d,]+ (?:hours?|minutes?|seconds?),? ?)+)\.?"
                       r"\s*$")
_LAG_PART = re.compile(r"([\d,]+) (hour|minute|second)")
_AT_EOF = re.compile(r"^\s*At EOF, no more records to process\.?\s*$")
_NO_RECORDS = re.compile(r"^\s*No records yet processed\.?\s*$")
_NOT_RUNNING = re.compile(r"^\s*ERROR: (EXTRACT|REPLICAT) (\S+) not currently running\.?\s*$")
_UNIT = {"hour": 3600, "minute": 60, "second": 1}


def _lag_seconds(text: str) -> int:
    return sum(int(n.replace(",", "")) * _UNIT[unit] for n, unit in _LAG_PART.findall(text))


def parse_lag(text: str) -> list[GgLag]:
    """One :class:`GgLag` per group in ``LAG REPLICAT <group|*>`` / ``LAG EXTRACT`` output.

    ``Last record lag`` gives the seconds; ``At EOF`` says the group has caught up; a lag
    without ``At EOF`` means records are still waiting. A group GGSCI asked that answered none
    of these, or output with no group at all, raises :class:`UnreadableOutput`.
    """
    lags: list[GgLag] = []
    current: tuple[str, str] | None = None
    seconds: int | None = None
    state: LagState | None = None

    def close() -> None:
        if current is None:
            return
        if state is None and seconds is None:
            raise UnreadableOutput(f"no lag reported for {current[0]} {current[1]}")
        lags.append(GgLag(current[0], current[1], seconds,
                          state or LagState.PROCESSING))

    for line in text.splitlines():
        if m := _SENDING.match(line):
            close()
            current, seconds, state = (m[1], m[2].upper()), None, None
        elif m := _NOT_RUNNING.match(line):
            close()
            current = None
            lags.append(GgLag(m[1], m[2].upper(), None, LagState.NOT_RUNNING))
        elif current is None:
            continue
        elif m := _LAST_LAG.match(line):
            seconds = _lag_seconds(m[1])
        elif _AT_EOF.match(line):
            state = state or LagState.AT_EOF  # "no records yet" says more than "at EOF"
        elif _NO_RECORDS.match(line):
            state = LagState.NO_RECORDS
        elif _PROMPT.match(line):
            close()
            current = None
    close()
    if not lags:
        raise UnreadableOutput("no GGSCI LAG answer in the output")
    return lags


# --- Microservices REST ------------------------------------------------------------------------

_REST_KIND = {"ogg:extractStatus": "EXTRACT", "ogg:replicatStatus": "REPLICAT"}
_SELF_LINK = re.compile(r"/services/v\d+/(extracts|replicats)/([A-Za-z_$][A-Za-z0-9_$]*)/")


def _count(response: Mapping[str, Any], key: str) -> int:
    value = response.get(key)
    # The 23ai example answer prints ``"lag":"0"``; the schema says integer. Both are read.
    if isinstance(value, str) and value.isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise UnreadableOutput(f"GoldenGate REST status has no readable {key!r}", repr(value))


def _rest_error(payload: Mapping[str, Any]) -> str:
    messages = payload.get("messages") or []
    errors = [m for m in messages if isinstance(m, Mapping)
              and str(m.get("severity", "")).upper() == "ERROR"]
    return "; ".join(f"{m.get('code', '')}: {m.get('title', '')}" for m in errors)


def parse_rest_status(payload: Mapping[str, Any], *, name: str = "") -> GgProcess:
    """A :class:`GgProcess` from the Administration Service's ``.../info/status`` answer.

    The envelope is ``api:standardResponse`` (``links``, ``messages``, ``response``); the
    response is ``ogg:extractStatus`` or ``ogg:replicatStatus`` with ``status``, ``lag`` and
    ``sinceLagReported`` in seconds and ``lastStarted`` (null before the first start). The
    answer does not carry the group's name: it is taken from ``name`` or the ``self`` link.
    An answer with ERROR messages and no status, or of another schema, is unreadable.
    """
    response = payload.get("response")
    if not isinstance(response, Mapping):
        raise UnreadableOutput("GoldenGate REST answer without a 'response'",
                               _rest_error(payload) or str(payload.get("$schema", "")))
    program = _REST_KIND.get(str(response.get("$schema", "")))
    if program is None:
        raise UnreadableOutput("not an extract or replicat status answer",
                               str(response.get("$schema", "")))
    group = name.upper()
    if not group:
        for link in payload.get("links") or []:
            href = str(link.get("href", "")) if isinstance(link, Mapping) else ""
            if (m := _SELF_LINK.search(href)) and m[1][:-1].upper() == program:
                group = m[2].upper()
                break
    if not group:
        raise UnreadableOutput(f"the {program} status answer names no group: pass name=")
    status = str(response.get("status", "")).upper()
    if status not in GgStatus.__members__:
        raise UnreadableOutput("unknown GoldenGate process status", status)
    started = response.get("lastStarted")
    try:
        last_started = (datetime.fromisoformat(started.replace("Z", "+00:00"))
                        if isinstance(started, str) else None)
    except ValueError:
        raise UnreadableOutput("unreadable lastStarted", str(started)) from None
    return GgProcess(program=program, status=GgStatus(status), group=group,
                     lag=timedelta(seconds=_count(response, "lag")),
                     since_checkpoint=timedelta(seconds=_count(response, "sinceLagReported")),
                     last_started=last_started)


# --- findings ----------------------------------------------------------------------------------


def _lag_finding(subject: str, lag: timedelta, what: str, warn: timedelta,
                 critical: timedelta, note: str = "") -> Finding | None:
    if lag > critical:
        return Finding(CHECK_GOLDENGATE, subject, f"{what} {_fmt(lag)}{note} is over the "
                       f"critical limit of {_fmt(critical)}: the replica is behind",
                       Severity.ERROR)
    if lag > warn:
        return Finding(CHECK_GOLDENGATE, subject, f"{what} {_fmt(lag)}{note} is over the "
                       f"warning limit of {_fmt(warn)}", Severity.WARNING)
    return None


def _fmt(value: timedelta) -> str:
    total = int(value.total_seconds())
    return f"{total // 3600:02d}:{total // 60 % 60:02d}:{total % 60:02d}"


def gg_findings(processes: Sequence[GgProcess], lags: Iterable[GgLag] = (), *,
                lag_warn: timedelta = timedelta(seconds=60),
                lag_critical: timedelta = timedelta(minutes=5),
                replica: bool = True) -> list[Finding]:
    """Judge one GoldenGate home: its processes (``info all`` or REST) and ``lag`` answers.

    ABENDED or KILLED is an error; STOPPED is an error for MANAGER, EXTRACT and REPLICAT (a
    replica that does not apply is a wrong replica), not for the JAGENT/PMSRVR monitoring
    agents; STARTING is a warning. A checkpoint lag or a last-record lag over ``lag_warn`` is
    a warning, over ``lag_critical`` an error, and so is a running group whose last checkpoint
    is older than ``lag_critical`` (a hung process). A replica host (``replica=True``) with no
    REPLICAT, or a source host with no EXTRACT, is an error. No process at all is unreadable.
    """
    if not processes:
        raise UnreadableOutput("no GoldenGate process to judge")
    if lag_warn > lag_critical:
        raise ValueError("lag_warn must not exceed lag_critical")
    findings: list[Finding] = []
    not_running: set[str] = set()
    for proc in processes:
        if proc.status in {GgStatus.ABENDED, GgStatus.KILLED}:
            not_running.add(proc.name)
            findings.append(Finding(CHECK_GOLDENGATE, proc.name,
                                    f"{proc.status.value}: read the report file "
                                    f"(VIEW REPORT {proc.group or proc.program}) and the ggserr "
                                    "log before restarting", Severity.ERROR))
        elif proc.status is GgStatus.STOPPED and proc.program in {"MANAGER", *_GROUPED}:
            not_running.add(proc.name)
            findings.append(Finding(CHECK_GOLDENGATE, proc.name, "STOPPED: nothing is "
                                    "replicated while it is down", Severity.ERROR))
        elif proc.status is GgStatus.STARTING:
            findings.append(Finding(CHECK_GOLDENGATE, proc.name, "STARTING: not yet processing;"
                                    " check again", Severity.WARNING))
        if proc.program not in _GROUPED:
            continue
        if proc.lag is not None and (
                found := _lag_finding(proc.name, proc.lag, "lag at checkpoint", lag_warn,
                                      lag_critical)):
            findings.append(found)
        if (proc.status is GgStatus.RUNNING and proc.since_checkpoint is not None
                and proc.since_checkpoint > lag_critical):
            findings.append(Finding(CHECK_GOLDENGATE, proc.name, f"no checkpoint for "
                                    f"{_fmt(proc.since_checkpoint)}: the process may be hung",
                                    Severity.ERROR))
    for lag in lags:
        if lag.state is LagState.NOT_RUNNING:
            if lag.name not in not_running:
                findings.append(Finding(CHECK_GOLDENGATE, lag.name, "not currently running "
                                        "(LAG could not reach it)", Severity.ERROR))
        elif lag.seconds is not None:
            note = "" if lag.state is LagState.AT_EOF else " (records still to process)"
            found = _lag_finding(lag.name, timedelta(seconds=lag.seconds), "last record lag",
                                 lag_warn, lag_critical, note)
            if found:
                findings.append(found)
    needed = "REPLICAT" if replica else "EXTRACT"
    if not any(p.program == needed for p in processes):
        findings.append(Finding(CHECK_GOLDENGATE, needed, f"no {needed} group on this "
                                f"{'replica' if replica else 'source'} host: nothing "
                                f"{'applies' if replica else 'captures'} changes",
                                Severity.ERROR))
    return findings
