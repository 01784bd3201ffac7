"""``post_refresh``: what a fresh test copy must change before anyone uses it.

A copy of production carries production's credentials and production's interface endpoints:
left as they are, a tester logs in with the production application password and a test order
goes to the real laboratory system or the insurance gateway. This task, run after masking,
resets the application accounts' passwords (to the run's secret ``test_password``) and points
every interface endpoint at a test stub, in one transaction, and journals what it changed
(names and counts, never a password).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from psycopg import sql

from hisops.envs import dbconn
from hisops.executors.results import HostOutcome, HostStatus
from hisops.tasks import BadArgument, HostDone, TaskContext, TaskResult, TaskSpec, per_host

IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
EVIDENCE_TYPE = "env_refresh"


def _identifier(arg: str, value: Any) -> str:
    if not isinstance(value, str) or not IDENTIFIER.fullmatch(value):
        raise BadArgument(arg, f"{value!r} is not a plain lower-case SQL name")
    return value


def _table(arg: str, value: Any) -> tuple[str, str]:
    if not isinstance(value, str) or value.count(".") != 1:
        raise BadArgument(arg, f"a schema-qualified table such as his_config.endpoints, "
                               f"not {value!r}")
    schema, table = value.split(".")
    return _identifier(arg, schema), _identifier(arg, table)


def validate(args: Mapping[str, Any]) -> None:
    accounts = args.get("accounts", [])
    if not isinstance(accounts, list):
        raise BadArgument("accounts", "a list of role names")
    for name in accounts:
        _identifier("accounts", name)
    endpoints = args.get("endpoints")
    if endpoints is not None:
        if not isinstance(endpoints, Mapping):
            raise BadArgument("endpoints", "a mapping: table, name_column, url_column, stub")
        unknown = set(endpoints) - {"table", "name_column", "url_column", "stub"}
        if unknown:
            raise BadArgument("endpoints", f"unknown key(s): {', '.join(sorted(unknown))}")
        _table("endpoints", endpoints.get("table"))
        for key in ("name_column", "url_column"):
            _identifier("endpoints", endpoints.get(key))
        stub = endpoints.get("stub")
        if not isinstance(stub, str) or "{name}" not in stub:
            raise BadArgument("endpoints", "stub must be a URL pattern with {name}")
    _identifier("database", args.get("database", "his"))


def post_refresh(ctx: TaskContext) -> TaskResult:
    validate(ctx.args)

    def one(host: str) -> HostOutcome | HostDone:
        if ctx.check_mode:
            return HostOutcome(host=host, status=HostStatus.SKIPPED,
                               detail="check mode: would reset accounts and endpoints")
        done = _on_host(ctx, host)
        return HostDone(f"{len(done['accounts_reset'])} account(s) reset, "
                        f"{done['endpoints_repointed']} endpoint(s) pointed at stubs", done)

    return per_host(ctx, EVIDENCE_TYPE, one)


def _on_host(ctx: TaskContext, host: str) -> dict[str, Any]:
    args = ctx.args
    accounts = list(args.get("accounts", []))
    password = ctx.secret("test_password") if accounts else ""
    port = int(args["port"]) if args.get("port") else None
    with dbconn.connect(ctx.inventory, host, dbname=str(args.get("database", "his")),
                        secrets=ctx.secrets.values, port=port) as conn:
        reset = []
        for role in accounts:
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s",
                                  (role,)).fetchone()
            if exists is None:
                raise RuntimeError(f"application account {role} does not exist on {host}")
            # ALTER ROLE takes no bound parameters: the password is quoted as a literal here.
            # The statement is not logged by hisops, and log_statement = ddl would log it on
            # the server, so the session turns statement logging off first.
            conn.execute("SET LOCAL log_statement = 'none'")
            conn.execute("SET LOCAL log_min_duration_statement = -1")
            conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(password)))
            reset.append(role)
        repointed = 0
        endpoints = args.get("endpoints")
        if endpoints:
            schema, table = _table("endpoints", endpoints["table"])
            stub = str(endpoints["stub"])
            before, after = stub.split("{name}", 1)
            cur = conn.execute(sql.SQL("UPDATE {}.{} SET {} = %s || {} || %s").format(
                sql.Identifier(schema), sql.Identifier(table),
                sql.Identifier(endpoints["url_column"]),
                sql.Identifier(endpoints["name_column"])), (before, after))
            repointed = cur.rowcount
        conn.commit()
    ctx.note(host, f"reset {', '.join(reset) or 'no account'}; {repointed} endpoint(s) "
                   "now point at stubs")
    return {"host": host, "accounts_reset": reset, "endpoints_repointed": repointed,
            "stub": str((endpoints or {}).get("stub", ""))}


SPEC = TaskSpec(
    name="post_refresh",
    func=post_refresh,
    required=frozenset(),
    optional=frozenset({"database", "port", "accounts", "endpoints"}),
    summary="reset application accounts' passwords (secret test_password) and point "
            "interface endpoints at test stubs, in one transaction",
    validate=validate,
)
