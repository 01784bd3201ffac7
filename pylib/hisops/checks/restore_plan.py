"""``restore_plan``: the emergency restore's plan, read from the hosts before anything changes.

It reads the repository's catalogue (``pgbackrest info``) on the repository host, the free
space where the restored data goes on the target host, and the journal's passed restore drills,
and builds :func:`hisops.recovery.build_plan`: the backup chain and WAL range that reach the
target, the disk it needs, the hosts it touches, the ETA from measured drills and the level-1
incident clock. Everything is read-only. A plan that cannot work (no backup reaches the target,
a broken chain, an archive gap, too little disk) refuses the run before the damaged instance is
stopped; a plan that misses a deadline still runs (there is no faster one) and says so.

The plan is journaled with the guard result (its ``data``), so the timeline report after the
run compares what was planned with what happened.

An Oracle host (the inventory's engine groups) is planned by RMAN itself from its catalogue:
this check then says so, proves the target can be given to RMAN (a time needs the host's zone,
``oracle_host_tz``; a transaction id is refused: Oracle stops at an SCN, not a transaction) and
refuses new-host mode (for Oracle that is a Data Guard failover, which the ``oracle_assess`` step
weighs). The RMAN preview is the verify-backup runbook's, not repeated here.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from hisops.checks import BadArgument, CheckContext, CheckResult, CheckSpec
from hisops.errors import HisopsError
from hisops.journal.records import EVIDENCE, RUN_STARTED
from hisops.recovery import (
    RESTORE_MODES,
    InfoFormatError,
    NoBackupForTarget,
    build_plan,
    drill_timings,
    parse_target,
    stanza_info,
)

COLUMNS = ("step", "host", "what")
INFO_TIMEOUT_S = 60


def _text(args: Mapping[str, Any], name: str, default: str | None = None) -> str:
    value = args.get(name, default)
    if not isinstance(value, str) or not value.strip():
        raise BadArgument(name, f"a non-empty text is needed, not {value!r}")
    return value.strip()


def _incident_at(args: Mapping[str, Any], now: datetime) -> datetime:
    value = args.get("incident_at") or ""
    if not isinstance(value, str):
        raise BadArgument("incident_at", f"an ISO 8601 time, not {value!r}")
    if not value.strip():
        return now
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        raise BadArgument("incident_at", f"{value!r} is not an ISO 8601 time") from None
    if when.tzinfo is None:
        raise BadArgument("incident_at", f"{value!r} has no UTC offset "
                          "(write it as 2026-11-27 03:05:00+08:00)")
    return when


def validate(args: Mapping[str, Any]) -> None:
    for name in ("database", "host", "repository"):
        _text(args, name)
    try:
        parse_target(str(args.get("target", "latest")))
    except HisopsError as exc:
        raise BadArgument("target", str(exc)) from None
    if args.get("mode", "in-place") not in RESTORE_MODES:
        raise BadArgument("mode", f"one of {', '.join(RESTORE_MODES)}")
    _incident_at(args, datetime.now(UTC))


def _run(ctx: CheckContext, host: str, command: str) -> str:
    from hisops.executors import ssh as ssh_exec

    conn = ssh_exec.connection_for(host, ctx.inventory.host_vars(host))
    outcome = ssh_exec.run_command([conn], command, timeout_s=INFO_TIMEOUT_S)[host]
    if outcome.rc != 0:
        why = (outcome.stderr.strip().splitlines() or [outcome.detail or "no output"])[-1]
        raise RuntimeError(f"{host}: {command.split(' -- ')[-1][:80]}: {why}")
    return outcome.stdout


def _free_bytes(ctx: CheckContext, host: str, data_dir: str) -> int | None:
    # the filesystem of the data directory, or of its nearest existing parent (a crashed
    # host may have lost the directory itself)
    probe = (f"d={shlex.quote(data_dir)}; while [ ! -e \"$d\" ]; do d=$(dirname \"$d\"); done; "
             "df -B1 --output=avail \"$d\" | tail -n 1")
    out = _run(ctx, host, probe).strip()
    return int(out) if out.isdigit() else None


def _journal_evidence(ctx: CheckContext, kind: str, subject: str) -> list[dict[str, Any]]:
    if ctx.journal is None:
        return []
    out = []
    for record in ctx.journal.records(kinds=[EVIDENCE]):
        payload = record.payload
        if payload.get("type") == kind and payload.get("subject") == subject:
            evidence = payload.get("evidence")
            if isinstance(evidence, dict):
                out.append(evidence)
    return out


# the emergency restore's steps whose time the drills' restore/recovery/check timings do not
# cover: measured from earlier emergency-restore runs instead
_AROUND_RESTORE = ("fence", "stop", "prepare", "set_aside", "open", "standby", "post_checks")


def _procedure_times(ctx: CheckContext, runbook: str = "emergency-restore") -> list[float]:
    """Seconds each earlier successful emergency restore spent outside restore, recover and
    checks (drills included: they run the same steps)."""
    if ctx.journal is None:
        return []
    from hisops.journal.state import fold

    started = [r.run_id for r in ctx.journal.records(kinds=[RUN_STARTED])
               if r.payload.get("runbook") == runbook]
    out = []
    for run_id in started[-20:]:
        state = fold(run_id, ctx.journal.records(run_id))
        if state.status != "succeeded":
            continue
        total = 0.0
        for step_id in _AROUND_RESTORE:
            step = state.steps.get(step_id)
            if step is None or not step.started_at or not step.ended_at:
                continue
            total += (datetime.fromisoformat(step.ended_at)
                      - datetime.fromisoformat(step.started_at)).total_seconds()
        out.append(round(total, 1))
    return out


def _oracle_plan(ctx: CheckContext, host: str) -> CheckResult:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from hisops.engines.oracle.recovery import oracle_until
    from hisops.recovery.clock import incident_clock, render_clock

    args = ctx.args
    problems: list[str] = []
    if str(args.get("mode", "in-place")) != "in-place":
        problems.append(f"{host} runs Oracle: restore it in place; a new host for Oracle is a "
                        "Data Guard failover (the oracle_assess step weighs it)")
    zone_name = str(ctx.inventory.host_vars(host).get("oracle_host_tz") or "")
    target = parse_target(str(args.get("target", "latest")))
    zone = None
    if zone_name:
        try:
            zone = ZoneInfo(zone_name)
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(f"{host}: oracle_host_tz {zone_name!r} is not a time zone")
    try:
        until = oracle_until(target, host_tz=zone)
    except HisopsError as exc:
        problems.append(f"{host}: {exc}")
        until = None
    notes: tuple[str, ...] = (
        f"{host} runs Oracle: RMAN restores from its own catalogue (RESTORE, RECOVER, OPEN "
        "RESETLOGS) in the oracle_restore step; the oracle_assess step reads the Data Guard "
        "broker first and says whether a failover would be faster",)
    if until is not None:
        notes += (f"recovery: {until.described}",)
    data: dict[str, Any] = {
        "engine": "oracle",
        "target": {"kind": target.kind, "value": target.value,
                   "described": until.described if until is not None else target.describe()}}
    # the incident clock, as the PostgreSQL plan journals it: the timeline report counts the
    # level-1 deadlines from its started_at (no restore drill measures RMAN: no ETA)
    now = ctx.now if ctx.now.tzinfo is not None else ctx.now.replace(tzinfo=UTC)
    try:
        clock = incident_clock(_incident_at(args, now), now, None)
    except HisopsError as exc:
        problems.append(str(exc))
    else:
        notes += tuple(line for line in render_clock(clock).splitlines() if line.strip())
        data["clock"] = clock.to_dict()
    return CheckResult(problems=tuple(problems), notes=notes, data=data)


def restore_plan(ctx: CheckContext) -> CheckResult:
    args = ctx.args
    database, host = _text(args, "database"), _text(args, "host")
    if host in ctx.inventory.host_names and ctx.inventory.engine(host) == "oracle":
        return _oracle_plan(ctx, host)
    repository = _text(args, "repository")
    repo_user = _text(args, "repository_user", "pgbackrest")
    data_dir = _text(args, "data_dir", "/var/lib/postgresql/15/main")
    mode = str(args.get("mode", "in-place"))
    drill = args.get("drill") is True or str(args.get("drill")).lower() == "true"
    pattern = str(args.get("standbys") or "").strip()
    standbys = tuple(ctx.inventory.hosts(pattern)) if pattern else ()
    now = ctx.now if ctx.now.tzinfo is not None else ctx.now.replace(tzinfo=UTC)
    target = parse_target(str(args.get("target", "latest")))
    info_cmd = (f"runuser -u {shlex.quote(repo_user)} -- pgbackrest "
                f"--stanza={shlex.quote(database)} --output=json info")
    try:
        info = stanza_info(_run(ctx, repository, info_cmd), database)
    except InfoFormatError as exc:
        return CheckResult(problems=(f"the repository's catalogue cannot be read: {exc}",))
    free = _free_bytes(ctx, host, data_dir)
    drills = drill_timings(_journal_evidence(ctx, "restore_drill", database),
                           _journal_evidence(ctx, "backup", database))
    try:
        plan = build_plan(database=database, stanza=info, target=target,
                          mode=mode,  # type: ignore[arg-type]  # validate() checked it
                          target_host=host, standby_hosts=standbys,
                          incident_at=_incident_at(args, now), now=now, drills=drills,
                          free_bytes=free, drill=drill, procedure_s=_procedure_times(ctx),
                          primary=str(args.get("primary") or "") or None)
    except NoBackupForTarget as exc:
        return CheckResult(problems=(str(exc),), data={"target": target.describe()})
    rows = tuple({"step": f"{n}. {s.id}", "host": s.host, "what": s.description}
                 for n, s in enumerate(plan.steps, 1))
    notes = tuple(line for line in plan.render().splitlines() if line.strip())
    data = json.loads(json.dumps(plan.to_dict(), default=str))
    return CheckResult(problems=plan.problems, notes=notes, columns=COLUMNS, rows=rows,
                       data=data)


SPEC = CheckSpec(
    name="restore_plan",
    func=restore_plan,
    required=frozenset({"database", "host", "repository"}),
    optional=frozenset({"target", "mode", "standbys", "repository_user", "data_dir",
                        "incident_at", "drill", "primary"}),
    summary="the emergency restore's plan (backup chain, WAL, disk, ETA, incident clock) "
            "can reach the target",
    validate=validate,
)
