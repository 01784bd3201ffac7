"""``unprotected``: none of the guard's hosts is protected (production, disaster recovery).

Some work must never touch a protected host, whatever anyone types: a refresh overwrites the
target's database with a copy of another one, so a refresh aimed at production is refused
outright, not merely asked to be confirmed. (Other changes to protected hosts need a typed
``--confirm`` and, where the environment says so, a second person's approval.)
"""

from __future__ import annotations

from hisops.checks import CheckContext, CheckResult, CheckSpec

COLUMNS = ("host", "environment", "protected")


def unprotected(ctx: CheckContext) -> CheckResult:
    if str(ctx.args.get("applies", True)).lower() == "false":
        # the runbook's mode does not need the guard (an emergency restore that is not a
        # drill may touch production: it is confirmed and approved instead)
        return CheckResult(notes=("does not apply to this run",))
    if not ctx.hosts:
        return CheckResult(problems=("no host matches the guard's pattern",))
    protected = set(ctx.inventory.any_protected(ctx.hosts))
    rows = tuple({"host": h, "environment": str(ctx.inventory.host_vars(h).get(
                  "hisops_environment", "")), "protected": "yes" if h in protected else "no"}
                 for h in ctx.hosts)
    why = str(ctx.args.get("reason") or "this work overwrites it")
    problems = tuple(f"{h} is protected ({rows_env(rows, h)}): {why}" for h in ctx.hosts
                     if h in protected)
    return CheckResult(problems=problems, columns=COLUMNS, rows=rows,
                       data={"hosts": list(ctx.hosts), "protected": sorted(protected)})


def rows_env(rows: tuple[dict[str, str], ...], host: str) -> str:
    env = next((r["environment"] for r in rows if r["host"] == host), "")
    return f"environment {env}" if env else "hisops_protected"


SPEC = CheckSpec(
    name="unprotected",
    func=unprotected,
    required=frozenset(),
    optional=frozenset({"reason", "applies"}),
    summary="none of the guard's hosts is protected (hisops_protected); REASON says why not; "
            "APPLIES false turns the guard off for this run's mode",
)
