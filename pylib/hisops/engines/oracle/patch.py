"""Oracle Release Update patching as an ordered plan: standby-first apply, and its rollback.

The plan is data: steps with a host, an action, the real command line, whether it changes the
host and what downtime it costs. The Oracle patch role runs the commands; this module decides
their order and refuses to plan what must not run. The rules (Oracle's "Data Guard Standby-First
Patch Apply", MOS 1265700.1, and the patch README):

* Binaries first, standbys before the primary: a standby may run newer binaries than the
  primary's dictionary, never older ones. The SQL half (``datapatch``) runs once, on the
  primary, after every home is patched; a standby gets those changes through redo. datapatch
  never runs on a standby (it needs a database open read write).
* Before anything: OPatch at least the README's minimum, a clean conflict check on every home,
  and every standby's apply lag under the limit (a lag that cannot be read is not "fine").
* Rollback keeps the same invariant in reverse: the primary goes back first and datapatch
  (run from the rolled-back binaries) rolls the SQL back, then the standbys follow.

Commands carry no password: the oracle OS user runs ``sqlplus / as sysdba``, ``dgmgrl /`` and
``srvctl`` with OS authentication. A database registered with Oracle Restart / Grid
Infrastructure is switched to a new home with ``srvctl modify database -oraclehome``; one that is
not (``DatabaseHome.srvctl=False``) by rewriting its ``/etc/oratab`` line and restarting it, and
its listener, from the new home.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any

from hisops.engines.base import Finding
from hisops.engines.oracle.opatch import (
    CHECK_OPATCH,
    DATAGUARD_STATS_SQL,
    REGISTRY_SQLPATCH_SQL,
    DataGuardStat,
    Inventory,
    PrereqResult,
    apply_lag_findings,
    opatch_version_findings,
    release_of,
)
from hisops.engines.oracle.sqlplus import query_script
from hisops.errors import ParameterError

log = logging.getLogger(__name__)


# --- the estate --------------------------------------------------------------------------------


class Role(StrEnum):
    PRIMARY = "primary"
    PHYSICAL_STANDBY = "physical_standby"


class Strategy(StrEnum):
    IN_PLACE = "in_place"  # opatch apply into the home the database runs from (home down)
    OUT_OF_PLACE = "out_of_place"  # install a patched home beside it, restart the database there


class Downtime(StrEnum):
    NONE = "none"  # read-only, or work on a home no instance uses yet
    STANDBY = "standby"  # a standby is down or not applying: the primary serves, redo queues
    OUTAGE = "outage"  # the primary instance is down: the applications are down
    ONLINE = "online"  # the primary is open and used; SQL changes wait on library-cache locks


class Action(StrEnum):
    CHECK_OPATCH = "check_opatch_version"
    PREREQ_CONFLICT = "prereq_conflict"
    PREREQ_SPACE = "prereq_space"
    CHECK_APPLY_LAG = "check_apply_lag"
    INSTALL_HOME = "install_home"
    ROOT_SCRIPT = "root_script"
    VERIFY_HOME = "verify_home"
    COPY_CONFIG = "copy_config"
    STOP_APPLY = "stop_apply"
    STOP_DATABASE = "stop_database"
    STOP_LISTENER = "stop_listener"
    APPLY_PATCH = "apply_patch"
    ROLLBACK_PATCH = "rollback_patch"
    SWITCH_HOME = "switch_home"
    START_LISTENER = "start_listener"
    START_DATABASE = "start_database"
    START_APPLY = "start_apply"
    WAIT_APPLY_LAG = "wait_apply_lag"
    DATAPATCH = "datapatch"
    VERIFY_SQLPATCH = "verify_sqlpatch"


@dataclass(frozen=True)
class PatchTarget:
    patch_id: int  # 35643107
    release_update: str  # 19.21.0.0.231017
    patch_dir: str  # the unzipped patch, at the same path on every host
    opatch_minimum: str  # "OPatch 12.2.0.1.37 or later" in the README
    standby_first: bool = True  # README: "Data Guard Standby-First Installable"


@dataclass(frozen=True)
class DatabaseHome:
    """One database instance, its host and the home it runs from, as read before the run."""

    host: str
    db_unique_name: str
    sid: str
    role: Role
    oracle_home: str
    inventory: Inventory  # opatch lsinventory of oracle_home
    opatch_version: str  # the OPatch that applies the patch (out-of-place: opatch_zip's)
    prereq: PrereqResult  # CheckConflictAgainstOHWithDetail of the target against oracle_home
    dataguard_stats: tuple[DataGuardStat, ...] = ()  # standby: read just before planning
    srvctl: bool = True  # registered with Oracle Restart/GI; False: /etc/oratab, sqlplus, lsnrctl
    listener: str = "LISTENER"  # srvctl=False: the listener that runs from oracle_home
    open_read_only: bool = False  # an Active Data Guard standby opens read only


@dataclass(frozen=True)
class Estate:
    target: PatchTarget
    homes: tuple[DatabaseHome, ...]
    strategy: Strategy = Strategy.IN_PLACE
    new_home: str | None = None  # out-of-place: the patched home, same path on every host
    base_image: str | None = None  # out-of-place: the 19c home image zip it is installed from
    response_file: str | None = None  # out-of-place: runInstaller response file (no secrets)
    opatch_zip: str | None = None  # out-of-place: p6880880 for the new home
    apply_lag_limit: timedelta = timedelta(seconds=30)
    broker: bool = True  # the Data Guard broker runs apply (dgmgrl); False: SQL managed recovery


# --- the plan ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PatchStep:
    number: int
    host: str
    action: Action
    command: str
    changes_host: bool
    downtime: Downtime
    database: str = ""  # DB_UNIQUE_NAME; "" for a step on a whole home
    oracle_home: str = ""  # the home the command runs from or acts on
    run_as: str = "oracle"
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"action": self.action.value, "downtime": self.downtime.value}


@dataclass(frozen=True)
class OraclePatchPlan:
    operation: str  # apply / rollback
    target: PatchTarget
    strategy: Strategy
    steps: tuple[PatchStep, ...]
    skipped: tuple[str, ...] = ()  # homes already at the target: nothing to do there

    def to_dict(self) -> dict[str, Any]:
        return {"operation": self.operation, "patch_id": self.target.patch_id,
                "release_update": self.target.release_update, "strategy": self.strategy.value,
                "steps": [s.to_dict() for s in self.steps], "skipped": list(self.skipped)}


class PlanRefused(ParameterError):
    """The estate or the plan breaks a patching rule; nothing was run. Carries the findings."""

    def __init__(self, findings: Sequence[Finding]) -> None:
        self.findings = tuple(findings)
        super().__init__("refusing to plan: " + "; ".join(f.one_line() for f in findings),
                         field="estate")


_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,29}$")
_HOST = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$")
_PATH = re.compile(r"^/[A-Za-z0-9._/+-]+$")
_HOME_STEPS = frozenset({Action.APPLY_PATCH, Action.ROLLBACK_PATCH, Action.SWITCH_HOME})


def _check_names(estate: Estate) -> None:
    """Everything that ends up in a command line is checked: no quoting, no injection."""
    extra = [("new_home", estate.new_home), ("base_image", estate.base_image),
             ("response_file", estate.response_file), ("opatch_zip", estate.opatch_zip)]
    fields = [("target.patch_dir", estate.target.patch_dir, _PATH)] + [
        (name, value, _PATH) for name, value in extra]
    for i, h in enumerate(estate.homes):
        fields += [(f"homes[{i}].host", h.host, _HOST), (f"homes[{i}].oracle_home",
                   h.oracle_home, _PATH)] + [(f"homes[{i}].{name}", value, _NAME) for name, value
                                              in (("db_unique_name", h.db_unique_name),
                                                  ("sid", h.sid), ("listener", h.listener))]
    for name, value, pattern in fields:
        if value is not None and not pattern.match(value):
            raise ParameterError("an absolute path of letters, digits and . _ / + -"
                                 if pattern is _PATH else "not a valid name", field=name)
    missing = [name for name, value in extra if value is None]
    if estate.strategy is Strategy.OUT_OF_PLACE and missing:
        raise ParameterError("required for an out-of-place patch", field=", ".join(missing))


def _at_target(h: DatabaseHome, target: PatchTarget) -> bool:
    ru = h.inventory.release_update
    return h.inventory.patch(target.patch_id) is not None and ru is not None and (
        release_of(ru) == release_of(target.release_update))


def _done(h: DatabaseHome, estate: Estate) -> bool:
    """Already patched: the home is at the target and (out-of-place) the database runs there."""
    return _at_target(h, estate.target) and (
        estate.strategy is Strategy.IN_PLACE or h.oracle_home == estate.new_home)


def _where(h: DatabaseHome) -> str:
    return f"{h.host}:{h.db_unique_name} ({h.oracle_home})"


def _refusals(estate: Estate, homes: Sequence[DatabaseHome]) -> list[Finding]:
    target = estate.target
    found: list[Finding] = []
    roles: dict[tuple[str, str], set[Role]] = {}
    for h in estate.homes:
        roles.setdefault((h.host, h.oracle_home), set()).add(h.role)
    found += [Finding(CHECK_OPATCH, f"{host}:{home}", "the home serves a primary and a standby: "
                      "it cannot be patched standby first") for (host, home), r in roles.items()
              if len(r) > 1]
    if not target.standby_first and any(h.role is Role.PHYSICAL_STANDBY for h in homes):
        found.append(Finding(CHECK_OPATCH, str(target.patch_id), "the patch is not Data Guard "
                             "Standby-First Installable: it needs the README's own procedure"))
    for h in homes:
        where = _where(h)
        if h.inventory.home != h.oracle_home:
            found.append(Finding(CHECK_OPATCH, where, f"lsinventory is of {h.inventory.home}"))
        ru = h.inventory.release_update
        if ru and release_of(ru) > release_of(target.release_update):
            found.append(Finding(CHECK_OPATCH, where, f"the home is at {ru}, newer than "
                                 f"{target.release_update}: this plan does not downgrade"))
        if estate.new_home == h.oracle_home and not _at_target(h, target):
            found.append(Finding(CHECK_OPATCH, where, "runs from the new home, which is not at "
                                 f"{target.release_update}"))
        found += opatch_version_findings(h.opatch_version, target.opatch_minimum, where)
        if h.prereq.home and h.prereq.home != h.oracle_home:
            found.append(Finding(CHECK_OPATCH, where, f"the conflict check ran on {h.prereq.home}"))
        if h.prereq.blocking:
            clash = ", ".join(f"{c.kind} with {c.other_id}" for c in h.prereq.conflicts)
            found.append(Finding(CHECK_OPATCH, where, f"prereq {h.prereq.check} failed"
                                 + (f": {clash}" if clash else f" {h.prereq.message}".rstrip())))
        if h.role is Role.PHYSICAL_STANDBY:
            found += apply_lag_findings(h.dataguard_stats, limit=estate.apply_lag_limit,
                                        subject=where)
    return found


# --- commands ----------------------------------------------------------------------------------


def _env(home: str, sid: str = "") -> str:
    return f"env ORACLE_HOME={home}" + (f" ORACLE_SID={sid}" if sid else "")


def _sqlplus(home: str, sid: str, *lines: str) -> str:
    body = "\n".join(("WHENEVER SQLERROR EXIT FAILURE", *lines, "EXIT"))
    return f"{_env(home, sid)} {home}/bin/sqlplus -S -L / as sysdba <<'EOF'\n{body}\nEOF"


def _query(home: str, sid: str, sql: str) -> str:
    """A query whose result the role reads as CSV (:func:`hisops.engines.oracle.sqlplus.rows`)."""
    return (f"{_env(home, sid)} {home}/bin/sqlplus -S -L / as sysdba <<'EOF'\n"
            f"{query_script(sql)}EOF")


def _opatch(home: str, args: str, *, in_patch: str = "") -> str:
    cd = f"cd {in_patch} && " if in_patch else ""
    return f"{cd}{_env(home)} {home}/OPatch/opatch {args}"


class _Builder:
    """Collects steps in order and numbers them."""

    def __init__(self, estate: Estate) -> None:
        self.estate, self.steps = estate, list[PatchStep]()

    def add(self, h: DatabaseHome, action: Action, command: str, *, changes: bool,
            downtime: Downtime, home: str = "", db: bool = True, run_as: str = "oracle",
            note: str = "") -> None:
        self.steps.append(PatchStep(
            number=len(self.steps) + 1, host=h.host, action=action, command=command,
            changes_host=changes, downtime=downtime, database=h.db_unique_name if db else "",
            oracle_home=home or h.oracle_home, run_as=run_as, note=note))

    def down(self, h: DatabaseHome) -> Downtime:
        return Downtime.OUTAGE if h.role is Role.PRIMARY else Downtime.STANDBY

    def apply_control(self, h: DatabaseHome, home: str, on: bool) -> None:
        if self.estate.broker:
            state = "APPLY-ON" if on else "APPLY-OFF"
            command = (f"{_env(home, h.sid)} {home}/bin/dgmgrl -silent / "
                       f"\"EDIT DATABASE {h.db_unique_name} SET STATE='{state}';\"")
        else:
            command = _sqlplus(home, h.sid, "ALTER DATABASE RECOVER MANAGED STANDBY DATABASE "
                               + ("DISCONNECT FROM SESSION;" if on else "CANCEL;"))
        self.add(h, Action.START_APPLY if on else Action.STOP_APPLY, command, changes=True,
                 downtime=Downtime.STANDBY, home=home)

    def stop(self, h: DatabaseHome, home: str) -> None:
        command = (f"{_env(home)} {home}/bin/srvctl stop database -db {h.db_unique_name} "
                   "-stopoption immediate" if h.srvctl
                   else _sqlplus(home, h.sid, "SHUTDOWN IMMEDIATE"))
        self.add(h, Action.STOP_DATABASE, command, changes=True, downtime=self.down(h), home=home)

    def start(self, h: DatabaseHome, home: str) -> None:
        standby = h.role is Role.PHYSICAL_STANDBY
        option = ('"read only"' if h.open_read_only else "mount") if standby else "open"
        if h.srvctl:
            command = (f"{_env(home)} {home}/bin/srvctl start database -db {h.db_unique_name} "
                       f"-startoption {option}")
        else:
            sql = ["STARTUP MOUNT", "ALTER DATABASE OPEN READ ONLY;"] if h.open_read_only else [
                "STARTUP MOUNT" if standby else "STARTUP"]
            command = _sqlplus(home, h.sid, *sql)
        self.add(h, Action.START_DATABASE, command, changes=True, downtime=self.down(h),
                 home=home, note=f"start from {home}")

    def listener(self, h: DatabaseHome, home: str, *, start: bool) -> None:
        verb = "start" if start else "stop"
        self.add(h, Action.START_LISTENER if start else Action.STOP_LISTENER,
                 f"{_env(home)} {home}/bin/lsnrctl {verb} {h.listener}", changes=True,
                 downtime=self.down(h), home=home, db=False)

    def wait_lag(self, h: DatabaseHome, home: str) -> None:
        self.add(h, Action.WAIT_APPLY_LAG, _query(home, h.sid, DATAGUARD_STATS_SQL),
                 changes=False, downtime=Downtime.NONE, home=home,
                 note=f"repeat until apply_lag_findings(limit={self.estate.apply_lag_limit}) "
                      "is empty")

    def switch(self, h: DatabaseHome, old: str, new: str) -> None:
        command = (f"{_env(new)} {new}/bin/srvctl modify database -db {h.db_unique_name} "
                   f"-oraclehome {new}" if h.srvctl else
                   f"sed -i.hisops.bak 's#^{h.sid}:{old}:#{h.sid}:{new}:#' /etc/oratab")
        self.add(h, Action.SWITCH_HOME, command, changes=True, downtime=self.down(h), home=new,
                 run_as="oracle" if h.srvctl else "root",  # sed -i writes a new file in /etc
                 note=f"from {old} to {new} (" + ("Oracle Restart registration" if h.srvctl
                                                  else "/etc/oratab line") + ")")

    def group(self, group: list[DatabaseHome], old: str, new: str, patch: Action | None) -> None:
        """Take every database of one home down, move the home (or the databases) to the new
        level, bring them back; a standby's apply restarts and its lag must come down."""
        for h in group:
            if h.role is Role.PHYSICAL_STANDBY:
                self.apply_control(h, old, on=False)
            self.stop(h, old)
        first, target = group[0], self.estate.target
        oratab = list({h.listener: h for h in group if not h.srvctl}.values())
        for h in oratab:
            self.listener(h, old, start=False)
        if patch is None:
            for h in group:
                self.switch(h, old, new)
        else:
            apply = patch is Action.APPLY_PATCH
            self.add(first, patch, _opatch(old, "apply -silent" if apply else
                                           f"rollback -id {target.patch_id} -silent",
                                           in_patch=target.patch_dir if apply else ""),
                     changes=True, downtime=self.down(first), db=False)
            self.add(first, Action.VERIFY_HOME, _opatch(old, "lsinventory"), changes=False,
                     downtime=self.down(first), db=False, note="parse_lsinventory: RU level")
        for h in oratab:
            self.listener(h, new, start=True)
        for h in group:
            self.start(h, new)
            if h.role is Role.PHYSICAL_STANDBY:
                self.apply_control(h, new, on=True)
                self.wait_lag(h, new)

    def datapatch(self, h: DatabaseHome, home: str, *, action: str, version: str | None) -> None:
        self.add(h, Action.DATAPATCH, f"{_env(home, h.sid)} {home}/OPatch/datapatch -verbose",
                 changes=True, downtime=Downtime.ONLINE, home=home,
                 note="primary only; parse_datapatch(...).findings() must be empty")
        self.add(h, Action.VERIFY_SQLPATCH, _query(home, h.sid, REGISTRY_SQLPATCH_SQL),
                 changes=False, downtime=Downtime.NONE, home=home,
                 note=f"sqlpatch_findings(patch_id={self.estate.target.patch_id}, "
                      f"action={action!r}, version={version!r}) must be empty")


def _groups(homes: Iterable[DatabaseHome]) -> list[list[DatabaseHome]]:
    groups: dict[tuple[str, str], list[DatabaseHome]] = {}
    for h in homes:
        groups.setdefault((h.host, h.oracle_home), []).append(h)
    return list(groups.values())


# --- planning ----------------------------------------------------------------------------------


def plan_patch(estate: Estate, *, hosts: Collection[str] | None = None,
               datapatch: bool = True) -> OraclePatchPlan:
    """The ordered apply plan. ``hosts`` limits the binary work to some hosts (standby-first
    over several nights); ``datapatch=True`` then still requires every home outside them to be
    at the target already. Raises :class:`PlanRefused` with every broken rule at once."""
    _check_names(estate)
    scope = [h for h in estate.homes if hosts is None or h.host in hosts]
    pending = [h for h in scope if not _done(h, estate)]
    findings = _refusals(estate, pending)
    if datapatch:
        behind = [h for h in estate.homes if h not in scope and not _done(h, estate)]
        findings += [Finding(CHECK_OPATCH, _where(h), "datapatch would run while this home is "
                             f"still at {h.inventory.release_update}: patch it first or plan "
                             "with datapatch=False") for h in behind]
        if not any(h.role is Role.PRIMARY for h in scope):
            findings.append(Finding(CHECK_OPATCH, "", "datapatch needs the primary in the plan"))
    if findings:
        raise PlanRefused(findings)
    target, b = estate.target, _Builder(estate)
    out_of_place = estate.strategy is Strategy.OUT_OF_PLACE
    for h in {(h.host, h.oracle_home): h for h in pending}.values():
        # out of place, the OPatch that applies the RU is the staged one the new home gets
        b.add(h, Action.CHECK_OPATCH, f"unzip -p {estate.opatch_zip} OPatch/version.txt"
              if out_of_place else _opatch(h.oracle_home, "version"), changes=False,
              downtime=Downtime.NONE, db=False,
              note=f"parse_opatch_version: at least {target.opatch_minimum}")
        b.add(h, Action.PREREQ_CONFLICT, _opatch(h.oracle_home, "prereq "
              "CheckConflictAgainstOHWithDetail -ph ./", in_patch=target.patch_dir),
              changes=False, downtime=Downtime.NONE, db=False, note="parse_prereq: not blocking")
        if not out_of_place:
            b.add(h, Action.PREREQ_SPACE, _opatch(h.oracle_home, "prereq CheckSystemSpace -ph ./",
                                                  in_patch=target.patch_dir),
                  changes=False, downtime=Downtime.NONE, db=False)
    for h in pending:
        if h.role is Role.PHYSICAL_STANDBY:
            b.add(h, Action.CHECK_APPLY_LAG, _query(h.oracle_home, h.sid, DATAGUARD_STATS_SQL),
                  changes=False,
                  downtime=Downtime.NONE, note=f"under {estate.apply_lag_limit} before starting")
    new = estate.new_home or ""
    if out_of_place:
        _prepare_new_homes(b, estate, pending, new)
    ordered = [h for h in pending if h.role is Role.PHYSICAL_STANDBY] + [
        h for h in pending if h.role is Role.PRIMARY]
    for group in _groups(ordered):
        old = group[0].oracle_home
        b.group(group, old, new if out_of_place else old,
                None if out_of_place else Action.APPLY_PATCH)
    primaries = [h for h in scope if h.role is Role.PRIMARY] if datapatch else []
    for h in primaries:
        b.datapatch(h, new if out_of_place else h.oracle_home, action="APPLY",
                    version=target.release_update)
    for h in (scope if primaries else []):
        if h.role is Role.PHYSICAL_STANDBY:
            b.wait_lag(h, new if out_of_place else h.oracle_home)
    plan = OraclePatchPlan("apply", target, estate.strategy, tuple(b.steps), tuple(
        f"{_where(h)} is already at {target.release_update}" for h in scope if h not in pending))
    validate_plan(plan, estate)
    return plan


def _prepare_new_homes(b: _Builder, estate: Estate, pending: Sequence[DatabaseHome],
                       new: str) -> None:
    """Install the patched home beside the old one on each host (no downtime), then copy each
    database's configuration into it."""
    for h in {h.host: h for h in pending}.values():
        b.add(h, Action.INSTALL_HOME,
              f"mkdir -p {new} && unzip -q -o {estate.base_image} -d {new} && rm -rf "
              f"{new}/OPatch && unzip -q -o {estate.opatch_zip} -d {new} && cd {new} && "
              f"{_env(new)} ./runInstaller -silent -applyRU {estate.target.patch_dir} "
              f"-responseFile {estate.response_file}", changes=True, downtime=Downtime.NONE,
              home=new, db=False, note=f"skip when {new}/bin/oracle exists")
        b.add(h, Action.ROOT_SCRIPT, f"{new}/root.sh", changes=True, downtime=Downtime.NONE,
              home=new, db=False, run_as="root")
        b.add(h, Action.VERIFY_HOME, _opatch(new, "lsinventory"), changes=False,
              downtime=Downtime.NONE, home=new, db=False,
              note=f"parse_lsinventory: at {estate.target.release_update}")
    for h in pending:
        old, sid = h.oracle_home, h.sid
        b.add(h, Action.COPY_CONFIG,
              f"for f in spfile{sid}.ora init{sid}.ora orapw{sid}; do if [ -f {old}/dbs/$f ]; "
              f"then cp -p {old}/dbs/$f {new}/dbs/; fi; done; "
              f"cp -p {old}/network/admin/*.ora {new}/network/admin/ 2>/dev/null || true",
              changes=True, downtime=Downtime.NONE, home=new,
              note="parameter and password files, Oracle Net files kept in the old home")


def plan_rollback(estate: Estate) -> OraclePatchPlan:
    """The way back from :func:`plan_patch` for the same estate description: in place
    ``opatch rollback -id N``, out of place a switch back to each database's old home. The
    primary goes first and datapatch, run from the restored binaries, rolls the SQL back (it
    compares the SQL registry with the binaries); the standbys follow, so no standby ever runs
    older binaries than the primary's dictionary."""
    _check_names(estate)
    target, b = estate.target, _Builder(estate)
    out_of_place = estate.strategy is Strategy.OUT_OF_PLACE
    if out_of_place and any(h.oracle_home == estate.new_home for h in estate.homes):
        raise PlanRefused([Finding(CHECK_OPATCH, _where(h), "describe the home to go back to, "
                                   "not the new one") for h in estate.homes
                           if h.oracle_home == estate.new_home])
    primaries = [h for h in estate.homes if h.role is Role.PRIMARY]
    if not primaries:
        raise PlanRefused([Finding(CHECK_OPATCH, "", "no primary: nothing to roll the SQL back")])
    new = estate.new_home or ""
    ordered = primaries + [h for h in estate.homes if h.role is Role.PHYSICAL_STANDBY]
    for number, group in enumerate(_groups(ordered)):
        old = group[0].oracle_home
        if out_of_place:
            b.group(group, new, old, None)
        else:
            b.group(group, old, old, Action.ROLLBACK_PATCH)
        if number == len(_groups(primaries)) - 1:
            for h in primaries:
                before = h.inventory.release_update
                b.datapatch(h, h.oracle_home, action="ROLLBACK", version=before if before and (
                    release_of(before) != release_of(target.release_update)) else None)
    plan = OraclePatchPlan("rollback", target, estate.strategy, tuple(b.steps))
    validate_plan(plan, estate)
    return plan


def plan_host_rollback(estate: Estate, host: str, *, patch_installed: bool) -> OraclePatchPlan:
    """Put the binaries of ``host``'s databases back after a failed apply on that host, before
    datapatch has run (the dictionary is untouched, so no SQL rollback): in place
    ``opatch rollback`` when the patch is in the home (``patch_installed``, read again after the
    failure), out of place a switch back to the old home. The databases start as they were
    (a standby mounted or read only, its apply on). Steps that stop what a failure has already
    stopped may fail; the role running this plan tolerates those (stop_*), not the others."""
    _check_names(estate)
    homes = [h for h in estate.homes if h.host == host]
    if not homes:
        raise ParameterError(f"no database of {host} in the estate", field="host")
    b = _Builder(estate)
    for group in _groups(homes):
        old = group[0].oracle_home
        if estate.strategy is Strategy.OUT_OF_PLACE:
            b.group(group, estate.new_home or "", old, None)
        elif patch_installed:
            b.group(group, old, old, Action.ROLLBACK_PATCH)
        else:  # nothing reached the home: bring the databases back as they were
            for h in group:
                b.start(h, old)
                if h.role is Role.PHYSICAL_STANDBY:
                    b.apply_control(h, old, on=True)
    return OraclePatchPlan("rollback", estate.target, estate.strategy, tuple(b.steps))


def _home_step(plan: OraclePatchPlan, h: DatabaseHome) -> int | None:
    """Index of the step that moves ``h`` to the other patch level."""
    for i, s in enumerate(plan.steps):
        if s.host == h.host and s.action in _HOME_STEPS and (
                s.database == h.db_unique_name if s.action is Action.SWITCH_HOME
                else s.oracle_home == h.oracle_home):
            return i
    return None


def validate_plan(plan: OraclePatchPlan, estate: Estate) -> None:
    """Refuse a plan (built here or edited by hand) that breaks the ordering rules: datapatch
    only on a primary; on apply only after every home not yet at the target moved, standbys
    before primaries; on rollback the primary first, then datapatch, then the standbys."""
    roles = {(h.host, h.db_unique_name): h.role for h in estate.homes}
    rollback = plan.operation == "rollback"
    moving = estate.homes if rollback else tuple(h for h in estate.homes if not _done(h, estate))
    at = {h: _home_step(plan, h) for h in moving}
    problems = []
    for i, step in enumerate(plan.steps):
        if step.action is not Action.DATAPATCH:
            continue
        where = f"step {step.number} ({step.host}:{step.database})"
        if roles.get((step.host, step.database)) is not Role.PRIMARY:
            problems.append(f"{where}: datapatch runs on the primary only, a standby gets the "
                            "SQL changes through redo")
        for h, index in at.items():
            first = h.role is Role.PRIMARY or not rollback
            if first and (index is None or index > i):
                problems.append(f"{where}: datapatch before {_where(h)} is "
                                + ("rolled back" if rollback else "patched"))
            if not first and index is not None and index < i:
                problems.append(f"{where}: standby {_where(h)} rolled back before the SQL")
    placed = {h: i for h, i in at.items() if i is not None}
    for s, i in placed.items():
        for p, j in placed.items():
            if (s.role, p.role) != (Role.PHYSICAL_STANDBY, Role.PRIMARY):
                continue
            if not rollback and i > j:
                problems.append(f"primary {_where(p)} is patched before standby {_where(s)}")
            if rollback and i < j:
                problems.append(f"standby {_where(s)} goes back before primary {_where(p)}")
    if problems:
        raise PlanRefused([Finding(CHECK_OPATCH, "", p) for p in dict.fromkeys(problems)])

