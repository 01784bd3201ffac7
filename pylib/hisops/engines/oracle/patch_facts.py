"""From what the hosts answer to an :class:`~hisops.engines.oracle.patch.Estate`.

The patch plan is computed in two places from the same readings: the ``oracle_patch_preflight``
guard (before the run, probing every home over SSH) and the ``oracle_patch`` role (at each
step, from what it has just read on its hosts). Both ask each home the read-only questions of
:func:`read_commands` and build the estate here, so the plan shown and the plan run cannot
disagree on how a reading is understood.

Per host, from the inventory: ``oracle_home``, ``oracle_sid``, ``oracle_db_unique_name``
(default: the SID), ``oracle_dg_role`` (``primary`` / ``physical_standby``; default: a host of
the ``db_standby`` group is a physical standby, any other a primary: a GoldenGate replica is
its own primary), ``oracle_srvctl`` (registered with Oracle Restart / Grid Infrastructure,
default true), ``oracle_listener`` and ``oracle_open_read_only`` (Active Data Guard).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from hisops.engines.oracle.opatch import (
    DATAGUARD_STATS_SQL,
    REGISTRY_COLUMNS,
    DataGuardStat,
    dataguard_stat_from_row,
    parse_lsinventory,
    parse_opatch_version,
    parse_prereq,
)

# the same command lines the plan's own check steps run
from hisops.engines.oracle.patch import (
    DatabaseHome,
    Estate,
    PatchTarget,
    Role,
    Strategy,
    _opatch,
    _query,
)
from hisops.engines.oracle.sqlplus import rows, typed
from hisops.errors import ParameterError

DATAGUARD_COLUMNS = ("NAME", "VALUE", "UNIT", "TIME_COMPUTED", "DATUM_TIME")
STANDBY_GROUP = "db_standby"


@dataclass(frozen=True)
class HomeVars:
    """One database's inventory description, checked."""

    host: str
    oracle_home: str
    sid: str
    db_unique_name: str
    role: Role
    srvctl: bool = True
    listener: str = "LISTENER"
    open_read_only: bool = False


def _bool(value: Any, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def home_vars(host: str, hostvars: Mapping[str, Any], groups: Iterable[str]) -> HomeVars:
    """Read and check one host's Oracle variables; a missing one is an error naming it."""
    missing = [v for v in ("oracle_home", "oracle_sid") if not hostvars.get(v)]
    if missing:
        raise ParameterError(f"{host}: inventory variable(s) {', '.join(missing)} not set",
                             field=missing[0])
    declared = hostvars.get("oracle_dg_role")
    if declared is None:
        role = Role.PHYSICAL_STANDBY if STANDBY_GROUP in set(groups) else Role.PRIMARY
    else:
        try:
            role = Role(str(declared))
        except ValueError:
            raise ParameterError(f"{host}: oracle_dg_role is {declared!r}, expected primary or "
                                 "physical_standby", field="oracle_dg_role") from None
    sid = str(hostvars["oracle_sid"])
    return HomeVars(host=host, oracle_home=str(hostvars["oracle_home"]), sid=sid,
                    db_unique_name=str(hostvars.get("oracle_db_unique_name") or sid), role=role,
                    srvctl=_bool(hostvars.get("oracle_srvctl"), True),
                    listener=str(hostvars.get("oracle_listener") or "LISTENER"),
                    open_read_only=_bool(hostvars.get("oracle_open_read_only"), False))


def read_commands(home: HomeVars, target: PatchTarget) -> dict[str, str]:
    """The read-only questions asked of a home before planning (as the oracle OS user)."""
    out = {"opatch_version": _opatch(home.oracle_home, "version"),
           "lsinventory": _opatch(home.oracle_home, "lsinventory"),
           "prereq": _opatch(home.oracle_home, "prereq CheckConflictAgainstOHWithDetail -ph ./",
                             in_patch=target.patch_dir)}
    if home.role is Role.PHYSICAL_STANDBY:
        out["dataguard_stats"] = _query(home.oracle_home, home.sid, DATAGUARD_STATS_SQL)
    return out


def dataguard_stats(text: str) -> tuple[DataGuardStat, ...]:
    """``DATAGUARD_STATS_SQL`` printed as CSV by SQL*Plus."""
    return tuple(dataguard_stat_from_row(tuple(r[c] for c in DATAGUARD_COLUMNS))
                 for r in rows(text, DATAGUARD_COLUMNS))


def registry_rows(text: str) -> list[dict[str, Any]]:
    """``REGISTRY_SQLPATCH_SQL`` (columns ``REGISTRY_COLUMNS``) printed as CSV, typed as
    python-oracledb returns the rows."""
    return [typed(r, integers=("PATCH_ID",), timestamps=("ACTION_TIME",))
            for r in rows(text, REGISTRY_COLUMNS)]


def home_from_readings(home: HomeVars, readings: Mapping[str, str]) -> DatabaseHome:
    """A :class:`DatabaseHome` from the answers to :func:`read_commands` (stdout texts). The
    parsers raise ``UnreadableOutput`` on text they cannot read: the plan is never built
    from a guess."""
    missing = [k for k in ("opatch_version", "lsinventory", "prereq") if k not in readings]
    if home.role is Role.PHYSICAL_STANDBY and "dataguard_stats" not in readings:
        missing.append("dataguard_stats")
    if missing:
        raise ParameterError(f"{home.host}: no reading of {', '.join(missing)}", field="readings")
    return DatabaseHome(
        host=home.host, db_unique_name=home.db_unique_name, sid=home.sid, role=home.role,
        oracle_home=home.oracle_home, inventory=parse_lsinventory(readings["lsinventory"]),
        opatch_version=parse_opatch_version(readings["opatch_version"]),
        prereq=parse_prereq(readings["prereq"]),
        dataguard_stats=dataguard_stats(readings["dataguard_stats"])
        if home.role is Role.PHYSICAL_STANDBY else (),
        srvctl=home.srvctl, listener=home.listener, open_read_only=home.open_read_only)


def target_from(params: Mapping[str, Any]) -> PatchTarget:
    """The runbook's patch parameters (patch_id, release_update, patch_dir, opatch_minimum)."""
    try:
        patch_id = int(params["patch_id"])
    except (KeyError, TypeError, ValueError):
        raise ParameterError("a whole patch number is required", field="patch_id") from None
    for name in ("release_update", "patch_dir", "opatch_minimum"):
        if not str(params.get(name) or "").strip():
            raise ParameterError("required", field=name)
    return PatchTarget(patch_id=patch_id, release_update=str(params["release_update"]),
                       patch_dir=str(params["patch_dir"]),
                       opatch_minimum=str(params["opatch_minimum"]),
                       standby_first=_bool(params.get("standby_first"), True))


def estate_from(params: Mapping[str, Any], homes: Iterable[DatabaseHome]) -> Estate:
    """The estate the planner takes, from the runbook's parameters and the homes read."""
    try:
        strategy = Strategy(str(params.get("strategy") or Strategy.IN_PLACE.value))
    except ValueError:
        raise ParameterError("in_place or out_of_place", field="strategy") from None

    def optional(name: str) -> str | None:
        value = str(params.get(name) or "").strip()
        return value or None

    return Estate(target=target_from(params), homes=tuple(homes), strategy=strategy,
                  new_home=optional("new_home"), base_image=optional("base_image"),
                  response_file=optional("response_file"), opatch_zip=optional("opatch_zip"),
                  apply_lag_limit=timedelta(seconds=float(params.get("max_apply_lag_s", 30))),
                  broker=_bool(params.get("broker"), True))


OUTLINE_COLUMNS = ("#", "host", "database", "role", "what", "downtime")


def outline(homes: Iterable[HomeVars], *, out_of_place: bool = False) -> list[dict[str, Any]]:
    """The order :func:`~hisops.engines.oracle.patch.plan_patch` gives, from the inventory alone:
    what the plan preview shows while the homes cannot be read (no commands: those come from
    the readings). Standbys first, the primaries (a GoldenGate replica's database is its own
    primary) after them, datapatch on each primary last, then each standby's lag."""
    homes = list(homes)
    standbys = [h for h in homes if h.role is Role.PHYSICAL_STANDBY]
    primaries = [h for h in homes if h.role is Role.PRIMARY]
    move = "switch to the patched home" if out_of_place else "opatch apply"
    rows = ([(h, f"apply off, stop, {move}, start, apply on, wait for the lag", "standby")
             for h in standbys]
            + [(h, f"stop, {move}, start", "outage") for h in primaries]
            + [(h, "datapatch -verbose, then the DBA_REGISTRY_SQLPATCH check", "online")
               for h in primaries]
            + [(h, "wait for the lag (datapatch's changes arrive by redo)", "none")
               for h in standbys])
    return [{"#": n, "host": h.host, "database": h.db_unique_name, "role": h.role.value,
             "what": what, "downtime": downtime}
            for n, (h, what, downtime) in enumerate(rows, start=1)]
