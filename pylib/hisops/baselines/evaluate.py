"""Judge each baseline item against a host's snapshot: ok, drift, error or n/a.

A result says what was expected and what is there, how it would be fixed and what the fix
needs (nothing, a reload, a restart, or a person). ``desired.py`` turns drifts into what the
``pg_baseline`` role enforces, using the ``target`` a result carries.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from hisops.baselines import computed, units
from hisops.baselines.catalog import Parameter, pg_parameter
from hisops.baselines.collect import Snapshot
from hisops.baselines.model import (
    FileLine,
    Limit,
    PgDataDirectory,
    PgExtension,
    PgHbaRule,
    PgRoles,
    PgSetting,
    Sshd,
    Sysctl,
)

OK, DRIFT, ERROR, NA = "ok", "drift", "error", "n/a"


@dataclass(frozen=True)
class Result:
    item: str
    status: str
    expected: str
    actual: str
    fix: str = ""
    needs: str = "none"  # none reload restart manual
    detail: str = ""
    target: dict[str, Any] = field(default_factory=dict)  # what the role is given to fix it


@dataclass(frozen=True)
class HostContext:
    host: str
    snapshot: Snapshot
    host_vars: Mapping[str, Any]

    @property
    def facts(self) -> dict[str, Any]:
        return dict(self.snapshot.data.get("facts") or {})

    @property
    def kernel_shared(self) -> bool:
        return bool(self.host_vars.get("hisops_kernel_shared", False))


def evaluate(item: Any, ctx: HostContext) -> Result:
    handler = _HANDLERS.get(type(item))
    if handler is None:
        return Result(item.id, ERROR, "", "", detail=f"{item.kind} is checked by its engine "
                      "(no evaluator for this inventory's engine)")
    try:
        result: Result = handler(item, ctx)
    except (units.UnitError, computed.ComputeError) as exc:
        return Result(item.id, ERROR, "", "", detail=str(exc))
    if result.status == DRIFT and item.fix == "manual":
        fix = item.remediation or result.fix
        return Result(result.item, DRIFT, result.expected, result.actual, fix=fix,
                      needs="manual", detail=result.detail)
    return result


def _pg(ctx: HostContext, part: str) -> tuple[Any, str]:
    pg, error = ctx.snapshot.part("pg")
    if pg is None:
        return None, error or "PostgreSQL was not read"
    assert isinstance(pg, dict)  # noqa: S101 - the pg part is a mapping
    return pg.get(part), ""


# --- PostgreSQL parameters ----------------------------------------------------------------------


def _setting(item: PgSetting, ctx: HostContext) -> Result:
    parameter = pg_parameter(item.name)
    assert parameter is not None  # noqa: S101 - the loader refused unknown names
    settings, error = _pg(ctx, "settings")
    if settings is None:
        return Result(item.id, ERROR, _describe(item), "", detail=error)
    live = settings.get(item.name)
    if live is None:
        return Result(item.id, ERROR, _describe(item), "",
                      detail=f"the server has no parameter {item.name} (not loaded?)")
    # the live row carries the real unit/type (the catalog may be a placeholder for extensions)
    parameter = Parameter(item.name, live["vartype"], live.get("unit"), live["context"],
                          parameter.enumvals, parameter.min, parameter.max)
    expected = _expected(item, parameter, ctx)
    actual_value = units.normalise(live["setting"], parameter.vartype, parameter.unit)
    actual = str(live.get("display") or live["setting"])
    holds, target = _holds(item, parameter, expected, actual_value, actual)
    needs = parameter.needs
    if holds:
        return Result(item.id, OK, _describe(item, expected), actual)
    configured = (_pg(ctx, "file_settings")[0] or {}).get(item.name)
    detail = ""
    if live.get("pending_restart") and configured is not None:
        detail = f"configured as {configured}, waiting for a restart"
    if needs == "manual":
        return Result(item.id, DRIFT, _describe(item, expected), actual, fix=item.remediation
                      or f"{item.name} is fixed when the cluster is created (initdb)",
                      needs="manual", detail=detail)
    fix = f"ALTER SYSTEM SET {item.name} = '{target}'; " + (
        "restart" if needs == "restart" else "SELECT pg_reload_conf()")
    return Result(item.id, DRIFT, _describe(item, expected), actual, fix=fix, needs=needs,
                  detail=detail, target={"settings": [{"name": item.name, "value": str(target)}]})


def _expected(item: PgSetting, parameter: Parameter, ctx: HostContext) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("value", "min", "max", "one_of", "contains"):
        given = getattr(item, key)
        if given is None:
            continue
        if isinstance(given, list):
            out[key] = [computed.render(v, ctx.facts, ctx.host_vars) for v in given]
        else:
            out[key] = computed.render(given, ctx.facts, ctx.host_vars)
    return out


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def _holds(item: PgSetting, parameter: Parameter, expected: dict[str, Any], actual: object,
           actual_text: str) -> tuple[bool, str]:
    """(whether it holds, the value to set when it does not)."""
    def norm(value: Any) -> object:
        return units.normalise(_text(value), parameter.vartype, parameter.unit)

    if "value" in expected:
        return actual == norm(expected["value"]), _text(expected["value"])
    if "one_of" in expected:
        choices = expected["one_of"]
        return actual in [norm(c) for c in choices], _text(choices[0])
    if "contains" in expected:
        present = [p.strip().strip('"') for p in actual_text.split(",") if p.strip()]
        wanted = expected["contains"]
        return wanted in present, ",".join([*present, wanted])
    assert isinstance(actual, Decimal)  # noqa: S101 - min/max only on numeric parameters
    low = norm(expected["min"]) if "min" in expected else None
    high = norm(expected["max"]) if "max" in expected else None
    unlimited = actual == -1  # -1: disabled/unlimited for most numeric parameters
    if low is not None and (actual < low and not unlimited):  # type: ignore[operator]
        return False, _text(expected["min"])
    if high is not None and (actual > high or unlimited):  # type: ignore[operator]
        return False, _text(expected["max"])
    return True, ""


def _describe(item: Any, expected: Mapping[str, Any] | None = None) -> str:
    source = expected if expected is not None else {
        k: getattr(item, k) for k in ("value", "min", "max", "one_of", "contains")
        if getattr(item, k, None) is not None}
    parts = []
    if "value" in source:
        parts.append(_text(source["value"]))
    if "one_of" in source:
        parts.append("one of " + ", ".join(_text(v) for v in source["one_of"]))
    if "contains" in source:
        parts.append(f"contains {source['contains']}")
    if "min" in source:
        parts.append(f">= {_text(source['min'])}")
    if "max" in source:
        parts.append(f"<= {_text(source['max'])}")
    return " and ".join(parts)


# --- pg_hba, roles, extensions, data directory ---------------------------------------------------


def _hba_text(rule: Mapping[str, Any]) -> str:
    address = _cidr(rule)
    return " ".join(str(p) for p in (rule["type"], ",".join(rule["database"] or []),
                                     ",".join(rule["user_name"] or []), address,
                                     rule["auth_method"]) if p)


def _cidr(rule: Mapping[str, Any]) -> str:
    if not rule.get("address"):
        return ""
    if not rule.get("netmask"):
        return str(rule["address"])  # a host name or samehost/samenet/all
    try:
        net = ipaddress.ip_network(f"{rule['address']}/{rule['netmask']}", strict=False)
    except ValueError:
        return f"{rule['address']} {rule['netmask']}"
    return str(net)


def _listed(wanted: list[str] | str | None, value: Any) -> bool:
    if wanted is None:
        return True
    choices = [wanted] if isinstance(wanted, str) else wanted
    values = value if isinstance(value, list) else [value]
    return any(str(v) in choices for v in values)


def _matches(item: PgHbaRule, rule: Mapping[str, Any]) -> bool:
    if not (_listed(item.type, rule["type"]) and _listed(item.method, rule["auth_method"])
            and _listed(item.database, rule["database"] or [])
            and _listed(item.user, rule["user_name"] or [])):
        return False
    if item.address is None:
        return True
    try:
        return ipaddress.ip_network(item.address, strict=False) == ipaddress.ip_network(
            _cidr(rule), strict=False)
    except ValueError:
        return item.address == _cidr(rule)


def _hba_entry(rule: Mapping[str, Any], state: str) -> dict[str, Any]:
    return {"contype": rule["type"], "databases": ",".join(rule["database"] or []),
            "users": ",".join(rule["user_name"] or []), "address": _cidr(rule),
            "method": rule["auth_method"], "options": _options(rule.get("options")),
            "state": state}


def _options(options: Any) -> str:
    return " ".join(options) if isinstance(options, list) else (options or "")


def _hba(item: PgHbaRule, ctx: HostContext) -> Result:
    rules, error = _pg(ctx, "hba")
    if rules is None:
        return Result(item.id, ERROR, "", "", detail=error)
    broken = [r for r in rules if r.get("error")]
    if broken:
        return Result(item.id, ERROR, "", "", detail=f"pg_hba line {broken[0]['line']}: "
                      f"{broken[0]['error']}")
    if item.state == "absent":
        hits = [r for r in rules if _matches(item, r)]
        expected = "no rule " + _hba_pattern(item)
        if not hits:
            return Result(item.id, OK, expected, "none")
        actual = "; ".join(f"line {r['line']}: {_hba_text(r)}" for r in hits)
        return Result(item.id, DRIFT, expected, actual,
                      fix="remove " + "; ".join(_hba_text(r) for r in hits) + "; reload",
                      needs="reload",
                      target={"hba": [_hba_entry(r, "absent") for r in hits]})
    wanted = {"type": item.type, "database": [item.database], "user_name": [item.user],
              "address": item.address, "netmask": None, "auth_method": item.method,
              "options": item.options}
    text = _hba_text(wanted)
    present = any(_hba_text(r) == text and _options(r.get("options")) == (item.options or "")
                  for r in rules)
    if present:
        return Result(item.id, OK, text, "present")
    return Result(item.id, DRIFT, text, "missing", fix=f"add {text}; reload", needs="reload",
                  target={"hba": [{"contype": item.type, "databases": item.database,
                                   "users": item.user, "address": item.address or "",
                                   "method": item.method, "options": item.options or "",
                                   "state": "present"}]})


def _hba_pattern(item: PgHbaRule) -> str:
    parts = []
    for label, value in (("type", item.type), ("database", item.database),
                         ("user", item.user), ("address", item.address),
                         ("method", item.method)):
        if value is not None:
            parts.append(f"{label} {'/'.join(value) if isinstance(value, list) else value}")
    return "with " + ", ".join(parts)


def _roles(item: PgRoles, ctx: HostContext) -> Result:
    roles, error = _pg(ctx, "roles")
    if roles is None:
        return Result(item.id, ERROR, "", "", detail=error)
    if item.rule == "superusers_only":
        expected = "superusers: " + (", ".join(item.allowed) or "none")
        extra = [r["name"] for r in roles if r["super"] and r["name"] not in item.allowed]
        if not extra:
            return Result(item.id, OK, expected, "superusers: " + ", ".join(
                r["name"] for r in roles if r["super"]))
        return Result(item.id, DRIFT, expected, "also superuser: " + ", ".join(extra),
                      fix="; ".join(f'ALTER ROLE "{n}" NOSUPERUSER' for n in extra),
                      target={"roles": [{"name": n, "role_attr_flags": "NOSUPERUSER"}
                                        for n in extra]})
    if item.rule == "password_required":
        bad = [r["name"] for r in roles if r["login"] and not r["password"]
               and r["name"] not in item.exempt]
        expected, what = "every login role has a password", "without a password: "
    else:
        bad = [r["name"] for r in roles if r["login"] and r["password"] and not r["scram"]
               and r["name"] not in item.exempt]
        expected, what = "every password is a SCRAM-SHA-256 verifier", "not SCRAM: "
    if not bad:
        return Result(item.id, OK, expected, "yes")
    return Result(item.id, DRIFT, expected, what + ", ".join(bad),
                  fix="set a new password for " + ", ".join(bad)
                  + " (with password_encryption = scram-sha-256)", needs="manual")


def _extension(item: PgExtension, ctx: HostContext) -> Result:
    extensions, error = _pg(ctx, "extensions")
    if extensions is None:
        return Result(item.id, ERROR, "", "", detail=error)
    found = extensions.get(item.database)
    if isinstance(found, dict):
        return Result(item.id, ERROR, item.state, "", detail=str(found.get("error")))
    installed = item.name in (found or [])
    expected = f"{item.name} {item.state} in {item.database}"
    if installed == (item.state == "present"):
        return Result(item.id, OK, expected, "installed" if installed else "not installed")
    verb = "CREATE EXTENSION" if item.state == "present" else "DROP EXTENSION"
    return Result(item.id, DRIFT, expected, "installed" if installed else "not installed",
                  fix=f"{verb} {item.name} (database {item.database})",
                  target={"extensions": [{"name": item.name, "db": item.database,
                                          "state": item.state}]})


def _datadir(item: PgDataDirectory, ctx: HostContext) -> Result:
    found, error = _pg(ctx, "datadir")
    if found is None:
        return Result(item.id, ERROR, "", "", detail=error)
    allowed = int(item.mode, 8)
    mode = int(found["mode"], 8)
    expected = f"{item.owner}:{item.group} mode {item.mode} or stricter"
    actual = f"{found['owner']}:{found['group']} mode {found['mode']}"
    if found["owner"] == item.owner and found["group"] == item.group and not mode & ~allowed:
        return Result(item.id, OK, expected, actual)
    return Result(item.id, DRIFT, expected, actual,
                  fix=f"chown {item.owner}:{item.group}, chmod {item.mode} the data directory",
                  target={"datadir": {"owner": item.owner, "group": item.group,
                                      "mode": item.mode.rjust(4, "0")}})


# --- OS: sysctl, limits, sshd, files -------------------------------------------------------------


def _sysctl(item: Sysctl, ctx: HostContext) -> Result:
    expected_desc = _describe(item)
    if ctx.kernel_shared:
        return Result(item.id, NA, expected_desc, "", detail="a container shares its host's "
                      "kernel: kernel parameters belong to the machine, not this host")
    values, error = ctx.snapshot.part("sysctl")
    if values is None:
        return Result(item.id, ERROR, expected_desc, "", detail=error)
    assert isinstance(values, dict)  # noqa: S101 - the sysctl part is a mapping
    actual = values.get(item.name)
    if actual is None:
        return Result(item.id, ERROR, expected_desc, "", detail=f"no {item.name} on this kernel")
    holds, target = _plain_holds(item, ctx, actual)
    if holds:
        return Result(item.id, OK, expected_desc, actual)
    return Result(item.id, DRIFT, expected_desc, actual, fix=f"sysctl {item.name}={target} "
                  "(and /etc/sysctl.d)", target={"sysctl": [{"name": item.name,
                                                              "value": target}]})


def _plain_holds(item: Sysctl, ctx: HostContext, actual: str) -> tuple[bool, str]:
    if item.value is not None:
        want = _text(computed.render(item.value, ctx.facts, ctx.host_vars))
        return actual == want, want
    if item.one_of is not None:
        choices = [_text(v) for v in item.one_of]
        return actual in choices, choices[0]
    if item.contains is not None:
        return item.contains in actual.split(), f"{actual} {item.contains}".strip()
    number = Decimal(actual.split()[0])
    if item.min is not None and number < Decimal(str(item.min)):
        return False, _text(item.min)
    if item.max is not None and number > Decimal(str(item.max)):
        return False, _text(item.max)
    return True, ""


def _limit(item: Limit, ctx: HostContext) -> Result:
    lines, error = ctx.snapshot.part("limits")
    want = item.value if item.value is not None else item.min
    expected = (f"{item.domain} {item.type} {item.item} "
                + (f"= {want}" if item.value is not None else f">= {want}"))
    if lines is None:
        return Result(item.id, ERROR, expected, "", detail=error)
    kinds = ("soft", "hard") if item.type == "-" else (item.type,)
    effective: dict[str, str] = {}
    for entry in lines:
        _path, domain, ltype, name, value = (str(field) for field in entry)
        if domain == item.domain and name == item.item:
            for kind in (("soft", "hard") if ltype == "-" else (ltype,)):
                effective[kind] = value  # later files win, as pam_limits reads them
    actual = ", ".join(f"{k} {effective.get(k, 'unset')}" for k in kinds)
    ok = all(_limit_holds(effective.get(k), item) for k in kinds)
    if ok:
        return Result(item.id, OK, expected, actual)
    return Result(item.id, DRIFT, expected, actual, needs="none",
                  fix=f"{item.domain} {item.type} {item.item} {want} in "
                      "/etc/security/limits.d (new sessions; restart the service)",
                  detail="takes effect for new sessions",
                  target={"limits": [{"domain": item.domain, "limit_type": item.type,
                                      "limit_item": item.item, "value": str(want)}]})


def _limit_holds(value: str | None, item: Limit) -> bool:
    if value is None:
        return False
    if item.value is not None:
        return value == str(item.value)
    if value in ("unlimited", "infinity"):
        return True
    if item.min == "unlimited":
        return False
    try:
        return int(value) >= int(str(item.min))
    except ValueError:
        return False


def _sshd(item: Sshd, ctx: HostContext) -> Result:
    values, error = ctx.snapshot.part("sshd")
    want = _text(item.value)
    if values is None:
        return Result(item.id, ERROR, want, "", detail=error)
    assert isinstance(values, dict)  # noqa: S101 - the sshd part is a mapping
    actual = values.get(item.key)
    if actual is not None and actual.lower() == _sshd_value(want).lower():
        return Result(item.id, OK, want, actual)
    return Result(item.id, DRIFT, want, actual or "unset",
                  fix=f"{item.key} {want} in /etc/ssh/sshd_config; reload sshd",
                  needs="reload", target={"sshd": [{"key": item.key, "value": want}]})


def _sshd_value(value: str) -> str:
    # sshd -T prints the canonical spelling: "prohibit-password" is shown as "without-password"
    return {"prohibit-password": "without-password"}.get(value.lower(), value)


def _file_line(item: FileLine, ctx: HostContext) -> Result:
    files, error = ctx.snapshot.part("files")
    expected = (f"{item.path}: " + (f"line '{item.line}'" if item.line else
                                    f"a line matching /{item.pattern}/")
                + (" present" if item.state == "present" else " absent"))
    if files is None:
        return Result(item.id, ERROR, expected, "", detail=error)
    found = files.get(item.id) or {}  # type: ignore[union-attr]
    if found.get("error") and found.get("exists"):
        return Result(item.id, ERROR, expected, "", detail=str(found["error"]))
    if item.line is not None:
        there = bool(found.get("line"))
        if item.state == "present" and item.pattern:
            # a present line replaces what the pattern matches: other matches are drift
            others = [m for m in found.get("matches", []) if m != item.line]
            there = there and not others
    else:
        there = bool(found.get("matches"))
    actual = ("; ".join(found.get("matches", [])) or ("present" if there else "absent")) \
        if found.get("exists") else "file missing"
    if there == (item.state == "present"):
        return Result(item.id, OK, expected, actual)
    return Result(item.id, DRIFT, expected, actual,
                  fix=("write" if item.state == "present" else "remove") + f" the line in "
                  f"{item.path}", target={"lines": [{"path": item.path, "line": item.line or "",
                                                     "regexp": item.pattern or "",
                                                     "state": item.state}]})


_HANDLERS: dict[type, Any] = {
    PgSetting: _setting, PgHbaRule: _hba, PgRoles: _roles, PgExtension: _extension,
    PgDataDirectory: _datadir, Sysctl: _sysctl, Limit: _limit, Sshd: _sshd,
    FileLine: _file_line,
}
