"""Judge Oracle baseline items against a snapshot of the database, and say how to fix drift.

:func:`evaluate` takes one ``oracle_parameter``, ``oracle_profile`` or ``oracle_audit`` item
(:mod:`hisops.baselines.model`) and the snapshot :func:`collect` made
(:mod:`hisops.engines.oracle.baseline_sql`), and returns an :class:`OracleResult`: ok, drift or
error, what was expected and found, the exact SQL a DBA would run, and whether it takes a
restart. Nothing here connects or changes anything.

How values compare, as Oracle reads them: keywords without regard to case (``TRUE``/``true``,
``DB, EXTENDED``/``db,extended``); sizes with K/M/G/T/P suffixes in powers of 1024
(``sga_target`` 4G = 4294967296); profile limits as numbers, ``UNLIMITED`` being infinite for
min/max, within 0.0001 day because DBA_PROFILES shows password times to four decimals (1/24 ->
.0416); ``contains`` as a case-insensitive substring, since Oracle's list and attribute
parameters (``log_archive_config``, ``log_archive_dest_n``) share no list syntax.

A parameter complies only if it will still comply after a restart: a live value that the spfile
contradicts, or that was set in memory only, is drift. A live value that is wrong while the
spfile already holds a right one is drift needing only the restart.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal

from hisops.baselines import computed
from hisops.baselines.model import OracleAudit, OracleParameter, OracleProfile
from hisops.engines.oracle.baseline_sql import (
    ALL_SQL,
    AUDIT_POLICIES_SQL,
    PARAMETERS_SQL,
    PROFILES_SQL,
    AuditEntry,
    ParameterState,
    Snapshot,
    collect,
    parse_audit,
    parse_parameters,
    parse_profiles,
    snapshot,
    spfile_in_use,
)

__all__ = ["ALL_SQL", "AUDIT_POLICIES_SQL", "PARAMETERS_SQL", "PROFILES_SQL", "OracleResult",
           "Snapshot", "collect", "evaluate", "number", "parse_audit", "parse_parameters",
           "parse_profiles", "snapshot"]

log = logging.getLogger(__name__)

Status = Literal["ok", "drift", "error"]
Needs = Literal["none", "restart", "manual"]
OracleItem = OracleParameter | OracleProfile | OracleAudit
Scalar = str | int | float | bool
Expectation = OracleParameter | OracleProfile


@dataclass(frozen=True)
class OracleResult:
    """One item's verdict. ``fix`` is empty when no SQL helps (a restart, or a hand edit)."""

    status: Status
    expected: str
    actual: str
    needs: Needs = "none"  # none: takes effect at once; restart; manual: hisops will not do it
    fix: str = ""
    detail: str = ""


class _Unreadable(ValueError):
    """A value that a min/max cannot compare: the item cannot be judged."""


PROFILE_TOLERANCE = Fraction(1, 10000)  # DBA_PROFILES prints days to four decimals
_SIZE = re.compile(r"^([0-9]*\.?[0-9]+)\s*([KMGTP]?)$")
_RATIO = re.compile(r"^([0-9]+)\s*/\s*([0-9]+)$")
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4, "P": 1024**5}
_NAME = re.compile(r"^[A-Z][A-Z0-9_$#]*$")
# how Oracle enables its own policies by default (Security Guide 19c, predefined policies)
_ENABLE_CLAUSE = {"ORA_LOGON_FAILURES": " WHENEVER NOT SUCCESSFUL"}


def number(value: object) -> Fraction | float | None:
    """``4G`` -> 4294967296, ``.0416`` and ``1/24`` -> fractions, ``UNLIMITED`` -> infinity;
    None for anything that is not a number (keywords, names, booleans)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return Fraction(str(value))
    text = str(value).strip().upper()
    if text == "UNLIMITED":
        return float("inf")
    if ratio := _RATIO.match(text):
        return Fraction(int(ratio[1]), int(ratio[2])) if int(ratio[2]) else None
    if size := _SIZE.match(text):
        return Fraction(size[1]) * _UNITS[size[2]]
    return None


def _show(value: Scalar) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    return str(value)


def _norm(value: Scalar | None) -> str:
    text = "" if value is None else _show(value)
    return re.sub(r"\s*,\s*", ",", text).strip().upper()


def _same(actual: str | None, wanted: Scalar, tolerance: Fraction) -> bool:
    got, want = number(actual), number(wanted)
    if got is not None and want is not None:
        return got == want or abs(float(got) - float(want)) <= float(tolerance)
    return _norm(actual) == _norm(wanted)


def expected_text(item: Expectation) -> str:
    """What must hold, for people: ``TRUE``, ``one of A, B``, ``>= 300``, ``<= 10``."""
    if item.value is not None:
        return _show(item.value)
    if item.one_of is not None:
        return "one of " + ", ".join(_show(v) for v in item.one_of)
    if item.contains is not None:
        return f"contains {item.contains}"
    bounds = [f">= {_show(item.min)}"] if item.min is not None else []
    bounds += [f"<= {_show(item.max)}"] if item.max is not None else []
    return " and ".join(bounds)


def _holds(item: Expectation, actual: str | None, tolerance: Fraction = Fraction(0)) -> bool:
    if item.value is not None:
        return _same(actual, item.value, tolerance)
    if item.one_of is not None:
        return any(_same(actual, v, tolerance) for v in item.one_of)
    if item.contains is not None:
        return _norm(item.contains) in _norm(actual)
    if actual is None or not actual.strip():
        return False  # an empty value meets no bound
    got = number(actual)
    if got is None:
        raise _Unreadable(f"'{actual}' is not a number, so it cannot be compared with "
                          f"{expected_text(item)}")
    # floats: UNLIMITED is infinite; sizes up to 2**53 bytes stay exact
    value, low, high, slack = float(got), _bound(item.min), _bound(item.max), float(tolerance)
    return (low is None or value >= low - slack) and (high is None or value <= high + slack)


def _bound(bound: Scalar | None) -> float | None:
    if bound is None:
        return None
    limit = number(bound)
    if limit is None:
        raise _Unreadable(f"the baseline bound '{bound}' is not a number")
    return float(limit)


def _target(item: Expectation, actual: str | None) -> Scalar | None:
    """The value a fix sets: the value, the first allowed one, or the bound that was crossed."""
    if item.value is not None:
        return item.value
    if item.one_of:
        return item.one_of[0]
    if item.contains is not None:
        return None
    got, high = number(actual), number(item.max)
    if item.min is None or (got is not None and high is not None and got > high):
        return item.max
    return item.min


def _sql_value(value: Scalar, *, ratio: bool = False) -> str:
    """A value as ALTER SYSTEM / ALTER PROFILE take it: keywords, numbers, sizes and keyword
    lists bare (``DB,EXTENDED``), anything else a quoted string literal."""
    if isinstance(value, bool):
        return _show(value)
    text = str(value).strip()
    compact = re.sub(r"\s*,\s*", ",", text)
    word = r"[A-Za-z0-9_.$#/]+" if ratio else r"[A-Za-z0-9_.$#]+"
    if re.fullmatch(rf"{word}(,{word})*", compact):
        return compact
    return "'" + text.replace("'", "''") + "'"


def _identifier(name: str) -> str:
    return name if _NAME.match(name) else '"' + name.replace('"', '""') + '"'


def _rendered(item: Expectation, facts: Mapping[str, Any],
              host_vars: Mapping[str, Any]) -> Expectation:
    """The item with any ``{{ ... }}`` values computed from facts and inventory variables."""
    update: dict[str, Any] = {}
    for key in ("value", "min", "max", "contains"):
        given = getattr(item, key)
        if computed.is_template(given):
            update[key] = computed.render(given, facts, host_vars)
    if item.one_of is not None and any(computed.is_template(v) for v in item.one_of):
        update["one_of"] = [computed.render(v, facts, host_vars) for v in item.one_of]
    return item.model_copy(update=update) if update else item


def evaluate(item: OracleItem, snap: Snapshot, *, facts: Mapping[str, Any] | None = None,
             host_vars: Mapping[str, Any] | None = None) -> OracleResult:
    """One item against one instance's snapshot."""
    if isinstance(item, OracleAudit):
        return _audit(item, snap)
    try:
        item = _rendered(item, facts or {}, host_vars or {})
    except computed.ComputeError as exc:
        return OracleResult("error", "(computed)", "", detail=str(exc))
    try:
        if isinstance(item, OracleParameter):
            return _parameter(item, snap)
        return _profile(item, snap)
    except _Unreadable as exc:
        return OracleResult("error", expected_text(item), "", detail=str(exc))


def _needs(item: OracleItem, needs: Needs) -> Needs:
    return "manual" if item.fix == "manual" else needs


def _drift(item: OracleItem, expected: str, actual: str, needs: Needs, fix: str,
           detail: str) -> OracleResult:
    if item.fix == "manual":
        detail = "; ".join(d for d in (detail, "fixed by hand (fix: manual)",
                                       item.remediation) if d)
    return OracleResult("drift", expected, actual, _needs(item, needs), fix, detail)


# --- initialization parameters -----------------------------------------------------------------


def _alter_system(name: str, value: str, *, scope: str, state: ParameterState) -> str:
    param = f'"{name}"' if name.startswith("_") else name
    deferred = " DEFERRED" if state["modifiable"] == "DEFERRED" and scope != "SPFILE" else ""
    sid = state["spfile_sid"] or "*"
    return f"ALTER SYSTEM SET {param}={value}{deferred} SCOPE={scope} SID='{sid}';"


def _parameter(item: OracleParameter, snap: Snapshot) -> OracleResult:
    expected = expected_text(item)
    state = snap["parameters"].get(item.name)
    if state is None:
        return OracleResult("error", expected, "", detail=(
            f"V$SYSTEM_PARAMETER has no parameter '{item.name}' (misspelt, not a parameter of "
            "this release, or a hidden parameter that is not set)"))
    live, spfile = state["value"], state["spfile"]
    shown = state["display"] or live or ""
    actual = shown or "(empty)"
    held = state["spfile_display"] or spfile or ""
    live_ok = _holds(item, live)
    spfile_ok = spfile is not None and _holds(item, spfile)
    static = state["modifiable"] == "FALSE"
    if not spfile_in_use(snap):
        if live_ok:
            return OracleResult("ok", expected, actual)
        target = _target(item, live)
        fix = (_alter_system(item.name, _sql_value(target), scope="MEMORY", state=state)
               if target is not None and not static else "")
        return _drift(item, expected, actual, "manual", fix,
                      "the instance runs from a pfile: ALTER SYSTEM ... SCOPE=SPFILE or BOTH "
                      "fails (ORA-32001); change the pfile by hand"
                      + (" and restart" if static else " as well"))
    if live_ok:
        if spfile_ok or (spfile is None and not state["modified"]):
            return OracleResult("ok", expected, actual)
        fix = _alter_system(item.name, _sql_value(shown), scope="SPFILE", state=state)
        why = (f"the live value complies but the spfile holds {held}: the next "
               "restart would bring that back" if spfile is not None else
               "set in memory only (SCOPE=MEMORY), not in the spfile: the next restart "
               "returns it to its default")
        return _drift(item, expected, actual, "none", fix, why)
    if spfile_ok:
        if static:
            return _drift(item, expected, actual, "restart", "",
                          f"the spfile already holds {held}: takes effect at the next restart")
        fix = _alter_system(item.name, _sql_value(held), scope="BOTH", state=state)
        return _drift(item, expected, actual, "none", fix,
                      f"the spfile already holds {held}; set it live as well"
                      + _deferred_note(state))
    target = _target(item, live)
    if target is None:
        return _drift(item, expected, actual, "manual", "",
                      f"add {item.contains} to {item.name} by hand (its format is the "
                      "parameter's own)")
    if static:
        fix = _alter_system(item.name, _sql_value(target), scope="SPFILE", state=state)
        return _drift(item, expected, actual, "restart", fix,
                      "static parameter (ISSYS_MODIFIABLE FALSE): written to the spfile, it "
                      "takes effect at the next restart")
    fix = _alter_system(item.name, _sql_value(target), scope="BOTH", state=state)
    return _drift(item, expected, actual, "none", fix, _deferred_note(state).lstrip("; "))


def _deferred_note(state: ParameterState) -> str:
    if state["modifiable"] != "DEFERRED":
        return ""
    return ("; DEFERRED: sessions opened after the change get the new value, sessions already "
            "connected keep the old one")


# --- profiles ----------------------------------------------------------------------------------


def _profile(item: OracleProfile, snap: Snapshot) -> OracleResult:
    expected = expected_text(item)
    limits = snap["profiles"].get(item.profile)
    if limits is None:
        return OracleResult("error", expected, "",
                            detail=f"DBA_PROFILES has no profile {item.profile}")
    limit = limits.get(item.resource)
    if limit is None:
        return OracleResult("error", expected, "", detail=(
            f"profile {item.profile} has no resource {item.resource} in DBA_PROFILES "
            "(misspelt, or not a resource of this release)"))
    if limit.upper() == "DEFAULT":
        return OracleResult("error", expected, limit, detail=(
            f"{item.profile} inherits {item.resource} from DEFAULT, but the DEFAULT profile "
            "has no such row"))
    inherited = item.resource in snap["inherited"].get(item.profile, [])
    actual = f"{limit} (DEFAULT: from profile DEFAULT)" if inherited else limit
    if _holds(item, limit, PROFILE_TOLERANCE):
        return OracleResult("ok", expected, actual)
    target = _target(item, limit)
    value = _sql_value(target, ratio=True) if target is not None else ""
    fix = f"ALTER PROFILE {item.profile} LIMIT {item.resource} {value};" if value else ""
    notes = []
    if inherited:
        notes.append(f"inherited from the DEFAULT profile: the fix sets it on {item.profile} "
                     "itself")
    if item.resource == "PASSWORD_VERIFY_FUNCTION":
        notes.append("the function must exist first (?/rdbms/admin/utlpwdmg.sql, run as SYS, "
                     "creates the ORA12C_* functions)")
    return _drift(item, expected, actual, "none" if fix else "manual", fix, "; ".join(notes))


# --- unified audit policies --------------------------------------------------------------------


def _entries_text(entries: list[AuditEntry]) -> str:
    return ", ".join(f"{e['option']} {e['entity']} (success {'YES' if e['success'] else 'NO'}, "
                     f"failure {'YES' if e['failure'] else 'NO'})" for e in entries)


def _noaudit(policy: str, entries: list[AuditEntry]) -> list[str]:
    """NOAUDIT statements undoing each way the policy is enabled (AUDIT, 19c SQL Reference)."""
    users = [_identifier(e["entity"]) for e in entries
             if e["option"] == "BY USER" and e["entity"].upper() != "ALL USERS"]
    roles = [_identifier(e["entity"]) for e in entries if e["option"] == "BY GRANTED ROLE"]
    statements = []
    if any(e["option"] == "EXCEPT USER" or e["entity"].upper() == "ALL USERS"
           for e in entries):
        statements.append(f"NOAUDIT POLICY {policy};")
    if users:
        statements.append(f"NOAUDIT POLICY {policy} BY {', '.join(users)};")
    if roles:
        statements.append(f"NOAUDIT POLICY {policy} BY USERS WITH GRANTED ROLES "
                          f"{', '.join(roles)};")
    return statements


def _audit(item: OracleAudit, snap: Snapshot) -> OracleResult:
    audit = snap["audit"]
    mode = ("unified auditing only (V$OPTION Unified Auditing TRUE)" if audit["unified"]
            else "mixed-mode auditing: unified policies apply alongside AUDIT_TRAIL")
    expected = "enabled for all users" if item.enabled else "not enabled"
    state = audit["policies"].get(item.policy)
    if state is None:
        return OracleResult("error", expected, "", detail=(
            f"AUDIT_UNIFIED_POLICIES has no policy {item.policy} (misspelt, or not created "
            "in this database)"))
    actual = _entries_text(state["entries"]) if state["enabled"] else "not enabled"
    enable = f"AUDIT POLICY {item.policy}{_ENABLE_CLAUSE.get(item.policy, '')};"
    if not item.enabled:
        if not state["enabled"]:
            return OracleResult("ok", expected, actual, detail=mode)
        return _drift(item, expected, actual, "none",
                      "\n".join(_noaudit(item.policy, state["entries"])), mode)
    if state["all_users"]:
        return OracleResult("ok", expected, actual, detail=mode)
    if not state["enabled"]:
        return _drift(item, expected, actual, "none", enable,
                      f"takes effect for sessions opened after it; {mode}")
    # enabled for some users or roles, or for all but some: someone chose that list
    return _drift(item, expected, actual, "manual",
                  "\n".join([*_noaudit(item.policy, state["entries"]), enable]),
                  f"enabled for chosen users or roles only; a person decides whether it "
                  f"should cover everyone; {mode}")
