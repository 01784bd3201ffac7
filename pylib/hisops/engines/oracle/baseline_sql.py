"""What an Oracle baseline check reads from the database, and the snapshot it makes of it.

Three queries (initialization parameters live and in the spfile, profile limits, unified audit
policies), pure parsers from their rows (tuples in the column order of the SQL, as
python-oracledb returns them) to one plain-dict snapshot, and :func:`collect` to run them on a
thin-mode connection. :mod:`hisops.engines.oracle.baseline` judges baseline items against the
snapshot; keeping reading and judging apart lets unit tests feed recorded rows
(``tests/fixtures/oracle/baseline``) and lets ``tests/oracle_live`` prove the rows a real server
returns still parse. Columns follow the Oracle Database Reference 19c (V$SYSTEM_PARAMETER,
V$SPPARAMETER, DBA_PROFILES, AUDIT_UNIFIED_ENABLED_POLICIES, V$OPTION).

Connect to a non-CDB or to CDB$ROOT: in a PDB V$SYSTEM_PARAMETER shows the PDB's values while
the spfile holds the root's. The user needs SELECT_CATALOG_ROLE (and AUDIT_VIEWER where the
audit view is refused).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypedDict

from hisops.engines.oracle.sql import RowShapeError

if TYPE_CHECKING:
    import oracledb

log = logging.getLogger(__name__)

Row = Sequence[Any]

# --- SQL ---------------------------------------------------------------------------------------

#: Every parameter as the instance runs it, with what the spfile holds for this instance.
#: V$SPPARAMETER lists the spfile's entries for every SID (RAC: '*' and 'HISPRD1', 'HISPRD2');
#: an entry for this instance's SID overrides the '*' one, as at startup, so the SID-specific
#: entry is picked first. SIDs compare case-insensitively. A list parameter (control_files) has
#: one spfile row per value, joined in ORDINAL order with ', ' as V$SYSTEM_PARAMETER shows it.
#: Column 9 is the SID of the spfile entry used ('*' or this instance's), so a fix can target it.
#: No spfile entry (NULL columns 7-9): not set in the spfile, or the instance runs from a pfile
#: (then every ISSPECIFIED is FALSE and the ``spfile`` parameter is empty).
PARAMETERS_SQL = """
SELECT p.name, p.display_value, p.value, p.isdefault, p.ismodified, p.issys_modifiable,
       s.value, s.display_value, s.sid
  FROM v$system_parameter p
  LEFT OUTER JOIN (
        SELECT name, sid,
               LISTAGG(value, ', ' ON OVERFLOW TRUNCATE)
                 WITHIN GROUP (ORDER BY ordinal) AS value,
               LISTAGG(display_value, ', ' ON OVERFLOW TRUNCATE)
                 WITHIN GROUP (ORDER BY ordinal) AS display_value,
               ROW_NUMBER() OVER (PARTITION BY name
                                  ORDER BY CASE WHEN sid = '*' THEN 2 ELSE 1 END) AS pick
          FROM v$spparameter
         WHERE isspecified = 'TRUE'
           AND UPPER(sid) IN ('*', UPPER(SYS_CONTEXT('USERENV', 'INSTANCE_NAME')))
         GROUP BY name, sid
       ) s
    ON s.name = p.name AND s.pick = 1
 ORDER BY p.name
""".strip()

#: Every limit of every profile. LIMIT is text: a number (password times in days, shown to four
#: decimals: 1/24 -> .0416), UNLIMITED, DEFAULT (take the DEFAULT profile's), NULL or a
#: verify function's name.
PROFILES_SQL = """
SELECT profile, resource_name, resource_type, limit
  FROM dba_profiles
 ORDER BY profile, resource_name
""".strip()

#: Whether the instance runs unified auditing only (V$OPTION 'Unified Auditing' TRUE; FALSE is
#: mixed mode, where unified policies are still enforced), then every unified audit policy the
#: database defines (AUDIT_UNIFIED_POLICIES has a row per audit option: DISTINCT) with one row
#: per user or role AUDIT_UNIFIED_ENABLED_POLICIES says it is enabled for, or NULLs when it is
#: not enabled. A policy missing from the answer does not exist; the first outer join keeps one
#: row even then, for the V$OPTION value.
AUDIT_POLICIES_SQL = """
SELECT o.value, d.policy_name, p.enabled_option, p.entity_name, p.entity_type,
       p.success, p.failure
  FROM v$option o
  LEFT OUTER JOIN (SELECT DISTINCT policy_name FROM audit_unified_policies) d ON 1 = 1
  LEFT OUTER JOIN audit_unified_enabled_policies p ON p.policy_name = d.policy_name
 WHERE o.parameter = 'Unified Auditing'
 ORDER BY d.policy_name, p.enabled_option, p.entity_name
""".strip()

ALL_SQL: dict[str, str] = {
    "parameters": PARAMETERS_SQL,
    "profiles": PROFILES_SQL,
    "audit": AUDIT_POLICIES_SQL,
}

MODIFIABLE = ("FALSE", "IMMEDIATE", "DEFERRED")

# --- the snapshot ------------------------------------------------------------------------------


class ParameterState(TypedDict):
    value: str | None  # V$SYSTEM_PARAMETER.VALUE: sizes in bytes (4294967296)
    display: str | None  # DISPLAY_VALUE, as SHOW PARAMETER prints it (4G)
    spfile: str | None  # what the spfile holds for this instance; None: not in the spfile
    spfile_display: str | None
    spfile_sid: str | None  # '*' or this instance's SID: which spfile entry applies
    isdefault: bool  # not given in the parameter file at startup
    modified: bool  # changed with ALTER SYSTEM since startup
    modifiable: str  # ISSYS_MODIFIABLE: FALSE (restart), IMMEDIATE, DEFERRED (new sessions)


class AuditEntry(TypedDict):
    option: str  # BY USER, EXCEPT USER, BY GRANTED ROLE, INVALID
    entity: str  # a user or role name, or ALL USERS
    entity_type: str  # USER, ROLE
    success: bool
    failure: bool


class PolicyState(TypedDict):
    enabled: bool  # enabled for anyone at all
    all_users: bool  # enabled BY USER for ALL USERS
    entries: list[AuditEntry]


class AuditState(TypedDict):
    unified: bool  # pure unified auditing (V$OPTION); False: mixed mode
    policies: dict[str, PolicyState]


class Snapshot(TypedDict):
    parameters: dict[str, ParameterState]
    profiles: dict[str, dict[str, str]]  # PROFILE -> RESOURCE -> limit, DEFAULT resolved
    inherited: dict[str, list[str]]  # PROFILE -> resources whose limit said DEFAULT
    audit: AuditState


# --- parsers (pure) ----------------------------------------------------------------------------


def _text(what: str, row: Row, index: int, *, nullable: bool = False) -> str | None:
    value = row[index]
    if value is None and nullable:
        return None
    if not isinstance(value, str):
        raise RowShapeError(what, row, f"column {index + 1} is not text")
    return value


def _required(what: str, row: Row, index: int) -> str:
    value = _text(what, row, index)
    assert value is not None  # noqa: S101 - _text returns text unless nullable
    return value


def _flag(what: str, row: Row, index: int, true: str, false: str) -> bool:
    value = _required(what, row, index).strip().upper()
    if value not in (true, false):
        raise RowShapeError(what, row, f"column {index + 1} is neither {true} nor {false}")
    return value == true


def _width(what: str, row: Row, width: int) -> None:
    if len(row) != width:
        raise RowShapeError(what, row, f"expected {width} columns, got {len(row)}")


def parse_parameters(rows: Iterable[Row]) -> dict[str, ParameterState]:
    """PARAMETERS_SQL rows -> {name: state}. Names are lower case as Oracle stores them."""
    what = "v$system_parameter"
    found: dict[str, ParameterState] = {}
    for row in rows:
        _width(what, row, 9)
        modifiable = _required(what, row, 5).strip().upper()
        if modifiable not in MODIFIABLE:
            raise RowShapeError(what, row, "ISSYS_MODIFIABLE is not FALSE, IMMEDIATE or "
                                "DEFERRED")
        modified = _required(what, row, 4).strip().upper()  # MODIFIED or FALSE
        found[_required(what, row, 0).lower()] = ParameterState(
            value=_text(what, row, 2, nullable=True),
            display=_text(what, row, 1, nullable=True),
            spfile=_text(what, row, 6, nullable=True),
            spfile_display=_text(what, row, 7, nullable=True),
            spfile_sid=_text(what, row, 8, nullable=True),
            isdefault=_flag(what, row, 3, "TRUE", "FALSE"),
            modified=modified != "FALSE", modifiable=modifiable)
    return found


def parse_profiles(rows: Iterable[Row]) -> tuple[dict[str, dict[str, str]],
                                                 dict[str, list[str]]]:
    """PROFILES_SQL rows -> ({PROFILE: {RESOURCE: limit}}, {PROFILE: [inherited resources]}).
    A DEFAULT limit is replaced by the DEFAULT profile's; it stays DEFAULT only when the DEFAULT
    profile has no such row (the evaluation reports that as an error)."""
    what = "dba_profiles"
    raw: dict[str, dict[str, str]] = {}
    for row in rows:
        _width(what, row, 4)
        limit = _text(what, row, 3, nullable=True)
        raw.setdefault(_required(what, row, 0), {})[_required(what, row, 1)] = (
            "NULL" if limit is None else limit.strip())
    base = raw.get("DEFAULT", {})
    inherited: dict[str, list[str]] = {}
    for profile, limits in raw.items():
        for resource, limit in limits.items():
            if limit.upper() == "DEFAULT" and profile != "DEFAULT":
                inherited.setdefault(profile, []).append(resource)
                limits[resource] = base.get(resource, "DEFAULT")
    return raw, inherited


def parse_audit(rows: Iterable[Row]) -> AuditState:
    """AUDIT_POLICIES_SQL rows -> {"unified": bool, "policies": {POLICY: state}}, every
    defined policy present, enabled or not."""
    what = "audit_unified_enabled_policies"
    unified: bool | None = None
    policies: dict[str, PolicyState] = {}
    for row in rows:
        _width(what, row, 7)
        unified = _flag("v$option", row, 0, "TRUE", "FALSE")
        name = _text(what, row, 1, nullable=True)
        if name is None:
            continue  # the outer join's row: no policy defined at all
        state = policies.setdefault(name, PolicyState(enabled=False, all_users=False,
                                                      entries=[]))
        if row[2] is None:
            continue  # defined, not enabled
        entry = AuditEntry(option=_required(what, row, 2).strip().upper(),
                           entity=_required(what, row, 3).strip(),
                           entity_type=(_text(what, row, 4, nullable=True) or "").strip(),
                           success=_flag(what, row, 5, "YES", "NO"),
                           failure=_flag(what, row, 6, "YES", "NO"))
        state["enabled"] = True
        state["entries"].append(entry)
        if entry["option"] == "BY USER" and entry["entity"].upper() == "ALL USERS":
            state["all_users"] = True
    if unified is None:
        raise RowShapeError("v$option", (), "no 'Unified Auditing' row: not Oracle 12c or later")
    return AuditState(unified=unified, policies=policies)


def snapshot(parameter_rows: Iterable[Row], profile_rows: Iterable[Row],
             audit_rows: Iterable[Row]) -> Snapshot:
    """The three answers, parsed into the snapshot the evaluation reads."""
    profiles, inherited = parse_profiles(profile_rows)
    return Snapshot(parameters=parse_parameters(parameter_rows), profiles=profiles,
                    inherited=inherited, audit=parse_audit(audit_rows))


def spfile_in_use(snap: Snapshot) -> bool:
    """The instance started from an spfile (the ``spfile`` parameter names it)."""
    state = snap["parameters"].get("spfile")
    return bool(state and (state["value"] or "").strip())


# --- I/O ---------------------------------------------------------------------------------------


def _fetch(conn: oracledb.Connection, sql: str) -> list[tuple[Any, ...]]:
    with conn.cursor() as cursor:
        cursor.execute(sql)
        rows: list[tuple[Any, ...]] = cursor.fetchall()
    return rows


def collect(conn: oracledb.Connection) -> Snapshot:
    """Run the three queries on an open (thin-mode) connection and return the snapshot. The
    connection is the caller's: opened with secrets from the secrets store, closed by them."""
    answers = {}
    for name, sql in ALL_SQL.items():
        log.debug("oracle baseline: querying %s", name)
        answers[name] = _fetch(conn, sql)
    return snapshot(answers["parameters"], answers["profiles"], answers["audit"])
