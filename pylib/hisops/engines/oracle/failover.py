"""Data Guard failover as the alternative to restoring: the DGMGRL commands, their output read
back, and the choice between failing over and restoring.

A failover turns a physical standby into the primary in minutes instead of the hours of a
restore, but it can only go *forward*: the standby applies the same redo as the primary, so a
logical error (a dropped table, a bad update) is on the standby too once applied. It is offered
only for the target ``latest``, i.e. for a lost or broken primary, never to undo an error.

Commands carry no password: the oracle OS user runs ``dgmgrl -silent /`` on the standby host
(FAILOVER must be issued connected to the standby that becomes the primary). The parsers read
DGMGRL 12.2+ output (``Members:``; 11.2 printed ``Databases:``, also read) and tolerate both
spellings of ``Fast-Start Failover: DISABLED`` / ``Disabled``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Literal

from hisops.engines.oracle.rman import UnreadableOutput
from hisops.errors import ParameterError
from hisops.recovery.chain import RecoveryTarget
from hisops.recovery.plan import Step

log = logging.getLogger(__name__)

# DB_UNIQUE_NAME: up to 30 characters, letters, digits, _ $ # (unquoted in DGMGRL).
_UNIQUE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_$#]{0,29}$")

Path = Literal["failover", "restore"]


def _name(value: str, field: str) -> str:
    if not _UNIQUE_NAME.match(value):
        raise ParameterError(f"{value!r} is not a DB_UNIQUE_NAME (letter, then up to 29 "
                             "letters, digits, _ $ #)", field=field)
    return value


# --- commands ----------------------------------------------------------------------------------


def failover_commands(standby: str, *, immediate: bool = False) -> list[str]:
    """DGMGRL statements, run connected to STANDBY: state, readiness, failover, state again.

    A complete failover (the default) first applies all redo the standby received; IMMEDIATE
    skips that and loses it, and is meant only for when a complete failover fails (Oracle's
    FAILOVER usage notes). VALIDATE DATABASE (12.1+) prints "Ready for Failover"; it changes
    nothing.
    """
    name = _name(standby, "standby")
    return ["SHOW CONFIGURATION;", f"VALIDATE DATABASE {name};",
            f"FAILOVER TO {name}{' IMMEDIATE' if immediate else ''};", "SHOW CONFIGURATION;"]


def reinstate_commands(old_primary: str) -> list[str]:
    """After a failover, bring the old primary back as a standby: start it MOUNT, then from the
    new primary ``REINSTATE DATABASE``. The broker flashes it back to the SCN where the standby
    became primary and converts it (FLASHBACK DATABASE + CONVERT TO PHYSICAL STANDBY), which
    needs Flashback Database on the old primary; without it the old primary is re-created."""
    name = _name(old_primary, "old_primary")
    return [f"REINSTATE DATABASE {name};", "SHOW CONFIGURATION;"]


# --- SHOW CONFIGURATION -------------------------------------------------------------------------

_ROLES = {
    "primary database": "primary", "physical standby database": "physical standby",
    "logical standby database": "logical standby", "snapshot standby database":
    "snapshot standby", "far sync instance": "far sync",
}
_MEMBER = re.compile(r"^\s*(\S+)\s+- (\(\*\) )?([A-Za-z ]+?)(?:\s+\((disabled)\))?\s*$")
_MESSAGE = re.compile(r"^\s*(?:(Error|Warning): )?(ORA-\d+): (.*?)\s*$")
_FSFO = re.compile(r"^Fast-Start Failover:\s+(\S+)", re.IGNORECASE)
_STATUS = re.compile(r"^(SUCCESS|WARNING|ERROR)\b(?:\s+\(status updated (\d+) seconds? ago\))?")


@dataclass(frozen=True)
class DgMessage:
    severity: str  # "error", "warning" or "" (a bare ORA- line, e.g. ORA-16661 when disabled)
    code: str  # as printed: DGMGRL drops leading zeros (ORA-1034)
    text: str


@dataclass(frozen=True)
class DgMember:
    name: str
    role: str  # primary, physical standby, logical standby, snapshot standby, far sync
    disabled: bool
    fast_start_target: bool  # marked (*)
    messages: tuple[DgMessage, ...]


@dataclass(frozen=True)
class DgConfiguration:
    name: str
    protection_mode: str
    members: tuple[DgMember, ...]
    fast_start_failover: str  # lower case: "disabled", "enabled", ...
    status: str  # SUCCESS, WARNING or ERROR
    status_age_s: int | None
    messages: tuple[DgMessage, ...]  # configuration-level ORA- lines

    def member(self, name: str) -> DgMember | None:
        return next((m for m in self.members if m.name.upper() == name.upper()), None)

    @property
    def primary(self) -> DgMember | None:
        return next((m for m in self.members if m.role == "primary"), None)


def parse_show_configuration(text: str) -> DgConfiguration:
    """The last ``SHOW CONFIGURATION`` in TEXT. Raises UnreadableOutput without a
    ``Configuration -`` heading and a ``Configuration Status:`` value."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("Configuration - ")]
    if not starts:
        raise UnreadableOutput("no 'Configuration -' in the DGMGRL output", _tail(lines))
    block = lines[starts[-1]:]
    name = block[0].split(" - ", 1)[1].strip()
    protection, fsfo, status, age = "", "", "", None
    members: list[DgMember] = []
    config_messages: list[DgMessage] = []
    in_members = False
    for i, line in enumerate(block[1:], 1):
        stripped = line.strip()
        if stripped.startswith("Protection Mode:"):
            protection = stripped.split(":", 1)[1].strip()
        elif stripped in {"Members:", "Databases:", "Members Not Receiving Redo:"}:
            in_members = True
        elif m := _FSFO.match(stripped):
            fsfo, in_members = m[1].lower(), False
        elif stripped == "Configuration Status:":
            found = _STATUS.match(block[i + 1].strip()) if i + 1 < len(block) else None
            if found is None:
                raise UnreadableOutput("unreadable Configuration Status",
                                       block[i + 1] if i + 1 < len(block) else "")
            status, age = found[1], int(found[2]) if found[2] else None
            break
        elif (msg := _MESSAGE.match(line)) is not None:
            message = DgMessage((msg[1] or "").lower(), msg[2], msg[3])
            if in_members and members:
                last = members[-1]
                members[-1] = DgMember(last.name, last.role, last.disabled,
                                       last.fast_start_target, (*last.messages, message))
            else:
                config_messages.append(message)
        elif in_members and (mem := _MEMBER.match(line)) is not None:
            role = _ROLES.get(mem[3].strip().lower())
            if role is None:
                raise UnreadableOutput("unknown member role in SHOW CONFIGURATION", line)
            members.append(DgMember(mem[1], role, bool(mem[4]), bool(mem[2]), ()))
    if not status:
        raise UnreadableOutput("no 'Configuration Status:' in the DGMGRL output", _tail(lines))
    return DgConfiguration(name, protection, tuple(members), fsfo, status, age,
                           tuple(config_messages))


# --- FAILOVER -----------------------------------------------------------------------------------

_SUCCEEDED = re.compile(r'^Failover succeeded, new primary is "([^"]+)"')
_FAILED = re.compile(r"^(?:Failed\.|Unable to failover)")
_ERROR = re.compile(r"^(?:Error: )?((?:ORA|DGM)-\d+): (.*?)\s*$")


@dataclass(frozen=True)
class FailoverResult:
    started: bool  # "Performing failover NOW" was printed
    succeeded: bool
    new_primary: str | None
    errors: tuple[tuple[str, str], ...]  # (code, message)


def parse_failover_output(text: str) -> FailoverResult:
    """Read the output of ``FAILOVER TO``. Success needs DGMGRL's own "Failover succeeded"
    line; an explicit failure or an error without it is a failure; output with neither
    raises UnreadableOutput (a failover whose outcome is unknown is not taken for done)."""
    lines = [line.strip() for line in text.splitlines()]
    echo = next((i for i, line in enumerate(lines) if line.upper().startswith(
        "DGMGRL> FAILOVER")), None)
    if echo is not None:  # only the FAILOVER's own output, not a SHOW CONFIGURATION after it
        after = lines[echo + 1:]
        lines = after[:next((i for i, line in enumerate(after) if line.startswith("DGMGRL>")),
                            len(after))]
    started = any(line.startswith("Performing failover NOW") for line in lines)
    new_primary = next((m[1] for line in lines if (m := _SUCCEEDED.match(line))), None)
    errors = tuple((m[1], m[2]) for line in lines if (m := _ERROR.match(line)))
    failed = any(_FAILED.match(line) for line in lines)
    if new_primary is None and not failed and not errors:
        raise UnreadableOutput("no failover outcome in the DGMGRL output", _tail(lines))
    succeeded = new_primary is not None and not failed
    return FailoverResult(started, succeeded, new_primary if succeeded else None, errors)


# --- the choice ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PathDecision:
    path: Path
    standby: str | None  # the failover target, when one was considered
    failover_reasons: tuple[str, ...]  # for (when chosen) or against failing over
    restore_reasons: tuple[str, ...]
    expected_data_loss_s: float | None  # failover: redo the standby has not received


def choose_path(config: DgConfiguration, apply_lag_s: float | None, target: RecoveryTarget,
                *, transport_lag_s: float | None = None, standby: str | None = None,
                scn: int | None = None) -> PathDecision:
    """Fail over or restore. Failover only when the target is ``latest`` (no ``scn``), a
    physical standby of CONFIG is enabled and free of broker errors, and its apply lag is
    known. Data lost by a complete failover is what the standby has not *received*: the
    transport lag (the apply lag is applied before the role change and only delays it)."""
    against: list[str] = []
    restore = ["a restore reaches any target the backups and archived logs cover, at the cost "
               "of hours and of a RESETLOGS for a point in time"]
    if target.kind != "latest" or scn is not None:
        against.append("the target is a point in time: a failover cannot go back, the standby "
                       "applies the same redo and has (or will have) the same error, e.g. a "
                       "dropped table is dropped there too")
    candidates = [m for m in config.members if m.role == "physical standby"]
    chosen = None
    if standby is not None:
        chosen = config.member(standby)
        if chosen is None or chosen.role != "physical standby":
            against.append(f"{standby} is not a physical standby in configuration "
                           f"{config.name}")
            chosen = None
    elif len(candidates) == 1:
        chosen = candidates[0]
    elif candidates:
        against.append("several physical standbys: name the one to fail over to")
    else:
        against.append(f"configuration {config.name} has no physical standby")
    if chosen is not None:
        if chosen.disabled:
            against.append(f"{chosen.name} is disabled in the broker")
        # a bare ORA- line (ORA-16661 "needs to be reinstated") is no mere warning either
        errors = [f"{m.code}: {m.text}" for m in chosen.messages if m.severity != "warning"]
        if errors:
            against.append(f"{chosen.name} has broker errors: {'; '.join(errors)}")
    if apply_lag_s is None:
        against.append("the standby's apply lag is unknown: how long the failover takes and "
                       "what it holds cannot be judged")
    if against or chosen is None or apply_lag_s is None:
        return PathDecision("restore", chosen.name if chosen else None, tuple(against),
                            tuple(restore), None)
    reasons = [f"{chosen.name} is an enabled physical standby with apply lag {apply_lag_s:g} s "
               "(applied before it opens as primary)"]
    if transport_lag_s is None:
        reasons.append("data loss unknown: the transport lag was not measured")
    else:
        reasons.append(f"expected data loss: the {transport_lag_s:g} s of redo it has not "
                       "received (transport lag)")
    warnings = [f"{m.code}: {m.text}" for m in chosen.messages if m.severity == "warning"]
    if warnings:
        reasons.append(f"broker warnings on {chosen.name}: {'; '.join(warnings)}")
    primary = config.primary
    if primary is not None and not any(m.severity == "error" for m in primary.messages):
        reasons.append(f"the broker shows no error on {primary.name}: if it is reachable, a "
                       "SWITCHOVER loses nothing")
    return PathDecision("failover", chosen.name, tuple(reasons),
                        ("slower than a failover; only needed to go back in time",),
                        transport_lag_s)


def failover_steps(standby: str, old_primary: str, *, standby_host: str, primary_host: str,
                   immediate: bool = False) -> list[Step]:
    """The failover path as plan steps, mirroring the restore's."""
    commands = failover_commands(standby, immediate=immediate)
    _name(old_primary, "old_primary")
    return [
        Step("fence", primary_host,
             f"Fence {old_primary}: shut it down or cut it off; it must not take writes again "
             "as a primary (the broker keeps a failed-over primary from opening, ORA-16649)"),
        Step("validate", standby_host, f"{commands[0]} {commands[1]} Expect 'Ready for "
                                       "Failover: Yes'"),
        Step("failover", standby_host, f"{commands[2]} Expect 'Failover succeeded, new "
                                       f"primary is \"{standby}\"'"),
        Step("integrity-checks", standby_host,
             "Check the new primary before clients return: open read write, v$database "
             "DATABASE_ROLE PRIMARY, smoke queries"),
        Step("repoint-clients", standby_host,
             f"Re-point the applications' services and connect strings to {standby}"),
        Step("reinstate", primary_host,
             f"Start {old_primary} MOUNT, then from {standby}: REINSTATE DATABASE "
             f"{old_primary} (needs Flashback Database on it; otherwise re-create it)"),
        Step("post-checks", standby_host,
             "Archive a log on the new primary, check the reinstated standby applies it, and "
             "start a level 0 backup of the new primary"),
    ]


def _tail(lines: list[str]) -> str:
    rest = [line.strip() for line in lines if line.strip()]
    return rest[-1] if rest else "(no output)"
