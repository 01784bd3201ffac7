"""``verified_restore``: a restore of the database was proved (a passed restore drill in the
journal) recently enough, and no later drill failed.

A change that may need a restore to undo it (a patch, a migration) should not start on the
strength of a backup nobody has restored: only a passed drill counts, as in ``hisops backups``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from hisops.checks import BadArgument, CheckContext, CheckResult, CheckSpec
from hisops.journal.records import EVIDENCE, RUN_STARTED
from hisops.reports.backups import backup_overview, human_age, human_duration
from hisops.runbook.durations import parse_duration

DEFAULT_MAX_AGE_S = 86400
COLUMNS = ("database", "backup", "drilled_at", "age", "result", "rto")


def _database(args: Mapping[str, Any]) -> str:
    value = args.get("database")
    if not isinstance(value, str) or not value.strip():
        raise BadArgument("database", f"a database name is needed, not {value!r}")
    return value.strip()


def _max_age_s(args: Mapping[str, Any]) -> int:
    value = args.get("max_age", DEFAULT_MAX_AGE_S)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise BadArgument("max_age", f"{value!r} is not a duration (use 24h, 90m or seconds)")
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise BadArgument("max_age", str(exc)) from None
    if seconds <= 0:
        raise BadArgument("max_age", "must be longer than zero")
    return seconds


def _label(args: Mapping[str, Any]) -> str | None:
    value = args.get("label")
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise BadArgument("label", f"a backup label such as 20261126-054432F, not {value!r}")
    return value.strip()


def validate(args: Mapping[str, Any]) -> None:
    _database(args)
    _max_age_s(args)
    _label(args)


def verified_restore(ctx: CheckContext) -> CheckResult:
    database, limit_s = _database(ctx.args), _max_age_s(ctx.args)
    now = ctx.now if ctx.now.tzinfo is not None else ctx.now.replace(tzinfo=UTC)
    if ctx.journal is None:
        return CheckResult(problems=("no journal to read verified restores from",),
                           data={"database": database, "max_age_s": limit_s})
    records = ctx.journal.records(kinds=[EVIDENCE, RUN_STARTED])
    (status,) = backup_overview(records, now=now, stale_after_s=limit_s,
                                databases=[database])
    verified, failed = status.last_verified, status.last_drill_failed
    limit = human_age(limit_s)
    problems: list[str] = []
    notes: list[str] = []
    rows: list[dict[str, Any]] = []
    data: dict[str, Any] = {"database": database, "max_age_s": limit_s, "run_id": None,
                            "label": None, "drilled_at": None, "age_s": None}
    if verified is None:
        problems.append(f"no verified restore of {database} in the journal "
                        "(run the verify-backup runbook)")
    else:
        age_s = (now - verified.drilled_at).total_seconds()
        rto = human_duration(verified.rto_s) if verified.rto_s is not None else "unknown"
        where = f"backup {verified.label}, drilled {_short(verified.drilled_at)}"
        if age_s > limit_s:
            problems.append(f"the last verified restore of {database} ({where}) is "
                            f"{human_age(age_s)} old (limit {limit})")
        notes.append(f"last verified restore of {database}: {where}, {human_age(age_s)} ago, "
                     f"RTO {rto} (limit {limit})")
        rows.append({"database": database, "backup": verified.label,
                     "drilled_at": _short(verified.drilled_at), "age": human_age(age_s),
                     "result": "passed", "rto": rto})
        data.update(run_id=verified.run_id, label=verified.label,
                    drilled_at=verified.drilled_at.isoformat(), age_s=round(age_s, 3))
        wanted = _label(ctx.args)
        if wanted is not None and wanted != verified.label:
            # a copy made from a backup must be made from the one that was proved restorable
            problems.append(f"backup {wanted} is not the last verified backup of {database} "
                            f"(that is {verified.label}); refresh from it or verify {wanted}")
    if failed is not None:
        # backup_overview keeps a failed drill only when no passed drill came after it
        later = "a later restore drill" if verified is not None else "the last restore drill"
        problems.append(f"{later} of {database} (backup {failed.label or '?'}, drilled "
                        f"{_short(failed.drilled_at)}) failed: {failed.finding}")
        rows.append({"database": database, "backup": failed.label or "?",
                     "drilled_at": _short(failed.drilled_at),
                     "age": human_age((now - failed.drilled_at).total_seconds()),
                     "result": "FAILED", "rto": "-"})
        data["failed_drill"] = {"run_id": failed.run_id, "label": failed.label,
                                "drilled_at": failed.drilled_at.isoformat(),
                                "finding": failed.finding}
    return CheckResult(problems=tuple(problems), notes=tuple(notes),
                       columns=COLUMNS if rows else (), rows=tuple(rows), data=data)


def _short(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


SPEC = CheckSpec(
    name="verified_restore",
    func=verified_restore,
    required=frozenset({"database"}),
    optional=frozenset({"max_age", "label"}),
    summary="a restore drill of DATABASE passed within MAX_AGE (default 24h) and none failed "
            "since; with LABEL, that drill restored backup LABEL",
    validate=validate,
)
