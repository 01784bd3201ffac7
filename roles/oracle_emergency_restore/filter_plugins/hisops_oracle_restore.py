"""Filters that hand the Oracle emergency restore's commands and readings to hisops.

What RMAN and DGMGRL are told, and how their output is read, is decided in one place,
``hisops.engines.oracle`` (typed, unit-tested against real-format output): the role never
templates an RMAN or DGMGRL script itself and never reads a transcript with a regex. These
filters only adapt: operator text in (target, time zone name), plain dicts out (evidence), and
a hisops error becomes an ``AnsibleFilterError`` naming what to do.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ansible.errors import AnsibleFilterError

from hisops.engines.oracle.failover import (
    DgConfiguration,
    choose_path,
    failover_commands,
    parse_failover_output,
    parse_show_configuration,
)
from hisops.engines.oracle.opatch import DATAGUARD_STATS_SQL, dataguard_stat_from_row
from hisops.engines.oracle.recovery import (
    _KINDS,  # the code -> kind table the transcript is classified by: named in the messages
    RestoreFailure,
    RestoreLogResult,
    oracle_restore_steps,
    oracle_until,
    parse_restore_log,
    rman_restore_script,
)
from hisops.engines.oracle.rman import RMAN_ENVIRONMENT, UnreadableOutput
from hisops.engines.oracle.sqlplus import query_script, rows
from hisops.errors import HisopsError
from hisops.recovery.chain import RecoveryTarget, parse_target

DATABASE_SQL = "SELECT open_mode, database_role FROM v$database"
CORRUPTION_SQL = "SELECT COUNT(*) AS n FROM v$database_block_corruption"

# What the operator does next, per failure kind (hisops.engines.oracle.recovery.RestoreFailure).
# After any failure the instance is left MOUNTED by STARTUP FORCE MOUNT, not open.
NEXT_STEP: dict[RestoreFailure, str] = {
    RestoreFailure.MISSING_BACKUP:
        "no backup reaches the target: give a later target (after a level 0 backup), or "
        "CATALOG START WITH the missing backups' directory and run the restore step again",
    RestoreFailure.MISSING_ARCHIVED_LOG:
        "bring the archived log back into the archive destination (another copy, tape), "
        "CATALOG it and run the restore step again, or restore to a time before that log",
    RestoreFailure.CORRUPT_PIECE:
        "a backup piece cannot be read: check it (RESTORE DATABASE VALIDATE), bring back a "
        "good copy of it, or give a target that an older backup reaches",
    RestoreFailure.NOT_CONSISTENT:
        "recovery stopped before the datafiles were consistent and OPEN RESETLOGS was "
        "refused: do not force the open; recover further (a later target, or the archived "
        "logs recovery still needs) and run the restore step again",
    RestoreFailure.TARGET_BEFORE_BACKUP:
        "the target lies before the backups restored or before the current incarnation: "
        "give a later target, or resetting to an older incarnation (RESET DATABASE TO "
        "INCARNATION) is a decision for the DBA on call",
    RestoreFailure.OTHER:
        "the failure is not one the procedure knows: read the RMAN log and check "
        "v$database before going on",
}
_CODE = re.compile(r"\b((?:RMAN|ORA)-\d{5})\b")
# wrappers around the error that decides (failure of <command> command, banner lines)
_WRAPPERS = {"RMAN-03002", "RMAN-03009", "RMAN-00571", "RMAN-00569"}


def _fail(what: str, exc: Exception) -> AnsibleFilterError:
    return AnsibleFilterError(f"{what}: {exc}")


def _zone(name: str) -> tzinfo | None:
    if not str(name or "").strip():
        return None
    try:
        return ZoneInfo(str(name).strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise AnsibleFilterError(f"oracle_host_tz {name!r} is not an IANA time zone "
                                 "(e.g. Asia/Taipei)") from None


def _target(text: str, scn: int) -> RecoveryTarget | None:
    """The operator's target, or None when an SCN replaces it (oracle_until takes one)."""
    if int(scn or 0) > 0:
        if str(text or "").strip() not in ("", "latest"):
            raise AnsibleFilterError(f"give either a target ({text}) or an SCN ({scn}), "
                                     "not both")
        return None
    try:
        return parse_target(str(text or ""))
    except HisopsError as exc:
        raise _fail("cannot read the recovery target", exc) from None


def restore_plan(target: str, host_tz: str = "", scn: int = 0,
                 channels: int = 2) -> dict[str, Any]:
    """{script, target, complete}: the RMAN command file of ``rman_restore_script`` for TARGET
    (latest, an ISO time with its UTC offset, name:RESTORE_POINT; or scn > 0)."""
    wanted, zone = _target(target, scn), _zone(host_tz)
    number = int(scn) if int(scn or 0) > 0 else None
    try:
        until = oracle_until(wanted, scn=number, host_tz=zone)
        script = rman_restore_script(wanted, scn=number, host_tz=zone, channels=int(channels))
    except HisopsError as exc:
        raise _fail("cannot write the RMAN restore", exc) from None
    return {"script": script, "target": until.described, "complete": until.complete}


def rman_environment(oracle_home: str, oracle_sid: str) -> dict[str, str]:
    """The environment RMAN, SQL*Plus and DGMGRL run with: the NLS settings the parsers read
    (``RMAN_ENVIRONMENT``) and the instance to connect to with OS authentication."""
    if not str(oracle_home or "").strip() or not str(oracle_sid or "").strip():
        raise AnsibleFilterError("oracle_home and oracle_sid must be set for this host")
    return {**RMAN_ENVIRONMENT, "ORACLE_HOME": str(oracle_home), "ORACLE_SID": str(oracle_sid)}


# --- restore -----------------------------------------------------------------------------------


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    return (end - start).total_seconds() if start and end else None


def _codes(text: str, kind: RestoreFailure) -> list[str]:
    found = list(dict.fromkeys(_CODE.findall(text)))
    own = [c for c in found if _KINDS.get(c) is kind]
    if not own and kind is RestoreFailure.MISSING_BACKUP and "RMAN-06026" in found:
        own = ["RMAN-06026"]
    if not own and kind is RestoreFailure.OTHER:
        own = [c for c in found if c not in _WRAPPERS and c not in _KINDS] or found
    return own


def _evidence(result: RestoreLogResult) -> dict[str, Any]:
    return {
        "pieces": [{"handle": p.handle, "tag": p.tag} for p in result.pieces],
        "datafiles": len(result.datafiles),
        "logs_applied": [{"thread": t, "sequence": s} for t, s in result.logs_applied],
        "last_applied": {str(t): s for t, s in sorted(result.last_applied.items())},
        "restore_started": result.restore_started.isoformat(sep=" ")
        if result.restore_started else None,
        "restore_elapsed_s": _seconds(result.restore_started, result.restore_finished),
        "recover_elapsed_s": _seconds(result.recover_started, result.recover_finished),
        "media_recovery_elapsed_s": result.media_recovery_elapsed.total_seconds()
        if result.media_recovery_elapsed is not None else None,
        "open_attempted": result.open_attempted,
        "resetlogs": result.resetlogs,
        "opened": result.opened,
        "failures": [str(kind) for kind in result.failures],
        "errors": [f.one_line() for f in result.findings],
    }


def restore_outcome(log_text: str, rc: int = 0, log_path: str = "") -> dict[str, Any]:
    """{evidence, failure}: the RMAN log of the restore read by ``parse_restore_log``;
    ``failure`` is "" when the database opened, else the message the role fails with."""
    text = str(log_text or "")
    where = f" (log {log_path})" if log_path else ""
    try:
        result = parse_restore_log(text)
    except UnreadableOutput as exc:
        return {"evidence": {"opened": False, "failures": ["unreadable"], "errors": [str(exc)]},
                "failure": f"the RMAN log cannot be read{where}: {exc}; rman exited {rc}: "
                           "read the log and check v$database (the instance may be mounted)"}
    evidence = _evidence(result)
    if result.failures:
        parts = [f"{kind} ({', '.join(_codes(text, kind))}): {NEXT_STEP[kind]}"
                 for kind in result.failures]
        subjects = [f.subject for f in result.findings if f.subject]
        named = f" [{'; '.join(dict.fromkeys(subjects))}]" if subjects else ""
        # what to do comes first, the log's path last: a step's detail is cut at 400
        # characters, and the evidence keeps the path anyway
        failure = (f"the RMAN restore failed, instance left mounted (not open){named}: "
                   + " | ".join(parts) + where)
    elif not result.opened or int(rc) != 0:
        failure = (f"the RMAN restore did not open the database{where}: rman exited {rc}, "
                   f"open attempted {result.open_attempted}, opened {result.opened}: read the "
                   "log and check v$database before going on")
    else:
        failure = ""
    return {"evidence": evidence, "failure": failure}


def restore_marker(marker_text: str, target: str, incident: str = "") -> dict[str, Any]:
    """{skip, earlier, message}: whether the restore already opened here for this target and
    incident (the marker the restore step writes last; a resumed run skips it), or an earlier
    run's restore opened here (``earlier``: this run, whose typed confirmation named the host,
    sets that record aside and restores again). An unreadable marker stops the restore: what
    it records is unknown."""
    try:
        marker = json.loads(str(marker_text))
    except ValueError:
        return {"skip": False, "earlier": False,
                "message": "the restore marker is not readable JSON: look at it and remove it "
                           "by hand if no restore opened here"}
    if not isinstance(marker, dict):
        return {"skip": False, "earlier": False,
                "message": "the restore marker holds no restore record"}
    same = marker.get("target") == target and str(marker.get("incident", "")) == str(incident)
    if same:
        return {"skip": True, "earlier": False,
                "message": f"the database was already restored to {target} and opened at "
                           f"{marker.get('opened_at', '?')} (log {marker.get('log', '?')}): "
                           "nothing to do again"}
    return {"skip": False, "earlier": True, "message": (
        f"an earlier restore to {marker.get('target', '?')} (incident "
        f"{marker.get('incident') or '-'}) opened here at {marker.get('opened_at', '?')}; this "
        f"run (incident {incident or '-'}, confirmed by name) restores to {target} again and "
        "keeps that record aside")}


# --- SQL*Plus ----------------------------------------------------------------------------------


def sqlplus_script(sql: str) -> str:
    """SQL*Plus input printing SQL's result as CSV (``hisops.engines.oracle.sqlplus``)."""
    return query_script(str(sql))


def count_script(sql: str) -> str:
    """SQL*Plus input printing the number of rows SQL returns (a smoke query)."""
    inner = str(sql).strip().rstrip(";").strip()
    if not inner:
        raise AnsibleFilterError("a smoke query has no SQL")
    # the smoke query is the runbook's own SQL, run as written (no value is interpolated)
    return query_script(f"SELECT COUNT(*) AS n FROM (\n{inner}\n)")  # noqa: S608


def _one(result: dict[str, Any], columns: list[str]) -> dict[str, str]:
    found = rows(str(result.get("stdout", "")), columns)
    if int(result.get("rc", 1)) != 0 or len(found) != 1:
        raise UnreadableOutput(f"expected one row, got {len(found)} (sqlplus exited "
                               f"{result.get('rc')})", str(result.get("stderr", "")))
    return found[0]


def checks(smoke: list[dict[str, Any]], database: dict[str, Any],
           corruption: dict[str, Any]) -> dict[str, Any]:
    """{open_mode, database_role, corrupt_blocks, smoke, failures}: the restored database
    judged. Every check is judged; a query that cannot be read is a failure, never a pass."""
    failures: list[str] = []
    open_mode = role = None
    try:
        state = _one(database, ["OPEN_MODE", "DATABASE_ROLE"])
        open_mode, role = state["OPEN_MODE"], state["DATABASE_ROLE"]
    except UnreadableOutput as exc:
        failures.append(f"v$database cannot be read: {exc}")
    if open_mode is not None and open_mode != "READ WRITE":
        failures.append(f"the database is {open_mode}, not READ WRITE")
    if role is not None and role != "PRIMARY":
        failures.append(f"the database role is {role}, not PRIMARY")
    corrupt = None
    try:
        corrupt = int(_one(corruption, ["N"])["N"])
    except (UnreadableOutput, ValueError) as exc:
        failures.append(f"v$database_block_corruption cannot be read: {exc}")
    if corrupt:
        failures.append(f"v$database_block_corruption lists {corrupt} corrupt block range(s): "
                        "run VALIDATE CHECK LOGICAL DATABASE and repair before clients return")
    read: list[str] = []
    for result in smoke:
        item = result.get("item") or {}
        name, wanted = item.get("name", "?"), int(item.get("min_rows", 1))
        try:
            got = int(_one(result, ["N"])["N"])
        except (UnreadableOutput, ValueError) as exc:
            failures.append(f"smoke query {name} failed: {exc}")
            read.append(f"{name}: failed")
            continue
        read.append(f"{name}: {got}")
        if got < wanted:
            failures.append(f"smoke query {name} returned {got} rows, expected at least "
                            f"{wanted}")
    return {"open_mode": open_mode, "database_role": role, "corrupt_blocks": corrupt,
            "smoke": read, "failures": failures}


# --- Data Guard --------------------------------------------------------------------------------


def _lags(result: dict[str, Any] | None) -> tuple[float | None, float | None, str]:
    """(apply lag s, transport lag s, why unknown) from v$dataguard_stats read on the standby."""
    if not result or result.get("skipped"):
        return None, None, "the standby's lag was not read (no standby host given)"
    try:
        found = rows(str(result.get("stdout", "")),
                     ["NAME", "VALUE", "UNIT", "TIME_COMPUTED", "DATUM_TIME"])
        stats = {s.name: s for s in (dataguard_stat_from_row(
            tuple(r[c] or None for c in ("NAME", "VALUE", "UNIT", "TIME_COMPUTED",
                                         "DATUM_TIME"))) for r in found)}
    except (UnreadableOutput, ValueError) as exc:
        return None, None, f"the standby's lag cannot be read: {exc}"

    def seconds(name: str) -> float | None:
        lag: timedelta | None = stats[name].lag if name in stats else None
        return lag.total_seconds() if lag is not None else None

    return seconds("apply lag"), seconds("transport lag"), ""


def _members(config: DgConfiguration) -> list[dict[str, Any]]:
    return [{"name": m.name, "role": m.role, "disabled": m.disabled,
             "messages": [f"{x.code}: {x.text}" for x in m.messages]} for m in config.members]


def assess(show: dict[str, Any] | None, lag: dict[str, Any] | None, target: str,
           scn: int = 0, standby: str = "", broker: bool = True) -> dict[str, Any]:
    """The assess phase's evidence: the broker's configuration and ``choose_path``'s decision
    between a Data Guard failover and the restore. Nothing is changed by deciding."""
    wanted = _target(target, scn) or RecoveryTarget("latest")
    number = int(scn) if int(scn or 0) > 0 else None
    out: dict[str, Any] = {"broker": bool(broker), "configuration": None, "status": None,
                           "members": [], "apply_lag_s": None, "transport_lag_s": None,
                           "path": "restore", "standby": None, "failover_reasons": [],
                           "restore_reasons": [], "expected_data_loss_s": None}
    if not broker:
        out["failover_reasons"] = ["no Data Guard broker configuration (oracle_dg_broker is "
                                   "false): the restore is the only path"]
        return out
    try:
        config = parse_show_configuration(str((show or {}).get("stdout", "")))
    except UnreadableOutput as exc:
        out["failover_reasons"] = [f"the broker's configuration cannot be read ({exc}; "
                                   f"dgmgrl exited {(show or {}).get('rc')}): a failover "
                                   "cannot be judged"]
        return out
    apply_s, transport_s, unknown = _lags(lag)
    decision = choose_path(config, apply_s, wanted, transport_lag_s=transport_s,
                           standby=str(standby) or None, scn=number)
    out.update(configuration=config.name, status=config.status, members=_members(config),
               apply_lag_s=apply_s, transport_lag_s=transport_s, path=decision.path,
               standby=decision.standby,
               failover_reasons=list(decision.failover_reasons) + ([unknown] if unknown else []),
               restore_reasons=list(decision.restore_reasons),
               expected_data_loss_s=decision.expected_data_loss_s)
    return out


def restore_steps(target: str, host: str, host_tz: str = "", scn: int = 0,
                  channels: int = 2) -> list[str]:
    """The in-place restore's steps (``oracle_restore_steps``), one line each; refuses a
    target RMAN cannot reach before anything changes."""
    number = int(scn) if int(scn or 0) > 0 else None
    try:
        steps = oracle_restore_steps(_target(target, scn), "in-place", host=str(host),
                                     scn=number, host_tz=_zone(host_tz),
                                     channels=int(channels))
    except HisopsError as exc:
        raise _fail("cannot plan the Oracle restore", exc) from None
    return [f"{s.id}: {s.description}" for s in steps]


QUERIES: dict[str, str] = {"database": DATABASE_SQL, "corruption": CORRUPTION_SQL,
                           "dataguard_stats": DATAGUARD_STATS_SQL}


def named_script(name: str) -> str:
    """SQL*Plus input for one of the role's own queries (the SQL lives here, next to the
    code that reads its result)."""
    if name not in QUERIES:
        raise AnsibleFilterError(f"no query named {name!r}: {', '.join(sorted(QUERIES))}")
    return query_script(QUERIES[name])


def dg_primary(show: dict[str, Any]) -> str:
    """The member the broker shows as primary ("" when none or unreadable)."""
    try:
        primary = parse_show_configuration(str(show.get("stdout", ""))).primary
    except UnreadableOutput:
        return ""
    return primary.name if primary else ""


def failover_script(standby: str, immediate: bool = False) -> str:
    """DGMGRL input for ``failover_commands``: run connected to STANDBY, then EXIT."""
    try:
        commands = failover_commands(str(standby), immediate=bool(immediate))
    except HisopsError as exc:
        raise _fail("cannot write the failover", exc) from None
    return "\n".join([*commands, "EXIT;"]) + "\n"


def failover_outcome(result: dict[str, Any], standby: str) -> dict[str, Any]:
    """{evidence, failure}: the DGMGRL transcript of the failover read by
    ``parse_failover_output``; ``failure`` is "" when STANDBY is the new primary."""
    text = str(result.get("stdout", ""))
    try:
        outcome = parse_failover_output(text)
    except UnreadableOutput as exc:
        return {"evidence": {"succeeded": False, "new_primary": None, "errors": [str(exc)]},
                "failure": f"the failover's outcome is unknown ({exc}; dgmgrl exited "
                           f"{result.get('rc')}): run SHOW CONFIGURATION on {standby} before "
                           "anything else"}
    evidence: dict[str, Any] = {"started": outcome.started, "succeeded": outcome.succeeded,
                                "new_primary": outcome.new_primary,
                                "errors": [f"{c}: {m}" for c, m in outcome.errors]}
    try:
        after = parse_show_configuration(text.split("FAILOVER TO", 1)[-1])
        evidence["members_after"] = _members(after)
        evidence["status_after"] = after.status
    except UnreadableOutput:
        evidence["members_after"], evidence["status_after"] = [], None
    if outcome.succeeded and (outcome.new_primary or "").upper() == str(standby).upper():
        return {"evidence": evidence, "failure": ""}
    errors = "; ".join(evidence["errors"]) or "no error printed"
    started = ("the failover started" if outcome.started else "the failover did not start")
    return {"evidence": evidence, "failure": (
        f"the failover to {standby} failed: {errors} ({started}). Run SHOW CONFIGURATION; "
        "a complete failover that fails may be retried as FAILOVER TO "
        f"{standby} IMMEDIATE (loses the redo not yet applied), or restore instead")}


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"hisops_oracle_restore_plan": restore_plan,
                "hisops_oracle_environment": rman_environment,
                "hisops_oracle_restore_outcome": restore_outcome,
                "hisops_oracle_restore_marker": restore_marker,
                "hisops_oracle_restore_steps": restore_steps,
                "hisops_oracle_sqlplus_script": sqlplus_script,
                "hisops_oracle_count_script": count_script,
                "hisops_oracle_checks": checks,
                "hisops_oracle_assess": assess,
                "hisops_oracle_named_script": named_script,
                "hisops_oracle_dg_primary": dg_primary,
                "hisops_oracle_failover_script": failover_script,
                "hisops_oracle_failover_outcome": failover_outcome}
