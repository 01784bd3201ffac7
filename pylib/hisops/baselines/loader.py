"""Load and validate a baseline file before any host is contacted.

Beyond the schema: a PostgreSQL parameter must be one PostgreSQL knows, its expected value
must be one it would accept (units understood: ``128MB`` is fine for ``shared_buffers``,
``128MQ`` is not), and a computed value's template must parse and, on sample facts, give
such a value. Every error is one line naming the file, line and item field (exit 2).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from hisops import paths
from hisops.baselines import computed, units
from hisops.baselines.catalog import Parameter, pg_parameter
from hisops.baselines.model import Baseline, PgSetting
from hisops.errors import InputError
from hisops.runbook.loader import _data_path, format_field
from hisops.yamlfile import YamlDocument, read_yaml_bytes


class BaselineError(InputError):
    """A baseline that cannot be used (exit 2)."""


@dataclass(frozen=True)
class LoadedBaseline:
    baseline: Baseline
    path: Path
    digest: str  # sha256 of the file: journaled with each check

    @property
    def name(self) -> str:
        return self.baseline.baseline


def baselines_dir() -> Path:
    return paths.project_root() / "baselines"


def available() -> list[Path]:
    folder = baselines_dir()
    return sorted(folder.glob("*.yml")) if folder.is_dir() else []


def resolve(name_or_path: str | Path) -> Path:
    """A path as given, or a shipped baseline by name (``cis-postgresql-15``)."""
    path = Path(name_or_path)
    if path.suffix in (".yml", ".yaml") or path.exists():
        return path
    candidate = baselines_dir() / f"{name_or_path}.yml"
    if candidate.exists():
        return candidate
    names = ", ".join(p.stem for p in available()) or "none"
    raise BaselineError(f"no baseline named '{name_or_path}' (shipped: {names})",
                        file=str(candidate))


def load_baseline(name_or_path: str | Path) -> LoadedBaseline:
    path = resolve(name_or_path)
    raw, document = read_yaml_bytes(path, BaselineError)
    if not isinstance(document.data, dict):
        raise BaselineError("a baseline is a YAML mapping with baseline, title, engine, scope "
                            "and items", file=str(path), line=1)
    try:
        baseline = Baseline.model_validate(document.data)
    except ValidationError as exc:
        raise _schema_error(exc, document) from None
    for index, item in enumerate(baseline.items):
        if isinstance(item, PgSetting):
            _check_setting(item, document, index)
    return LoadedBaseline(baseline=baseline, path=path,
                          digest=hashlib.sha256(raw).hexdigest())


def _schema_error(exc: ValidationError, document: YamlDocument) -> BaselineError:
    first = exc.errors()[0]
    loc = _data_path(tuple(first["loc"]), document.data)
    message = str(first["msg"]).removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown field"
    elif first["type"] == "missing":
        message = "required field is missing"
    elif first["type"] in ("union_tag_invalid", "union_tag_not_found"):
        got = first["input"].get("kind") if isinstance(first.get("input"), dict) else None
        message = (f"unknown item kind '{got}'" if got is not None else "an item needs a kind")
        message += " (kinds: pg_setting, pg_hba, pg_roles, pg_extension, pg_data_directory, " \
                   "sysctl, limit, sshd, file_line, oracle_parameter, oracle_profile, " \
                   "oracle_audit)"
        loc = (*loc, "kind")
    extra = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return BaselineError(message + extra, file=document.path, line=document.line_of(loc),
                         field=_item_field(loc, document.data))


def _item_field(loc: tuple[str | int, ...], data: Any) -> str:
    """items[3].value -> items[3](log_connections).value: the item's id helps people."""
    text = format_field(loc)
    if len(loc) >= 2 and loc[0] == "items" and isinstance(loc[1], int):
        try:
            item_id = data["items"][loc[1]].get("id")
        except (KeyError, IndexError, TypeError, AttributeError):
            item_id = None
        if item_id:
            text = text.replace(f"items[{loc[1]}]", f"items[{loc[1]}]({item_id})", 1)
    return text


def _check_setting(item: PgSetting, document: YamlDocument, index: int) -> None:
    def fail(message: str, key: str) -> BaselineError:
        loc: tuple[str | int, ...] = ("items", index, key)
        return BaselineError(message, file=document.path, line=document.line_of(loc),
                             field=_item_field(loc, document.data))

    parameter = pg_parameter(item.name)
    if parameter is None:
        raise fail(f"PostgreSQL has no parameter '{item.name}'", "name")
    for key in ("value", "min", "max", "one_of", "contains"):
        given = getattr(item, key)
        if given is None:
            continue
        for value in (given if isinstance(given, list) else [given]):
            try:
                check_value(parameter, value, ranged=key in ("min", "max"))
            except (units.UnitError, computed.ComputeError) as exc:
                raise fail(f"{item.name}: {exc}", key) from None
    if item.contains is not None and parameter.vartype != "string":
        raise fail(f"{item.name} is a {parameter.vartype}, not a list: 'contains' cannot hold",
                   "contains")


def check_value(parameter: Parameter, value: object, *, ranged: bool = False) -> object:
    """The value normalised as PostgreSQL would read it; UnitError when it would refuse it."""
    if computed.is_template(value):
        assert isinstance(value, str)  # noqa: S101 - narrowed by is_template
        computed.check_syntax(value)
        try:
            value = computed.render(value, computed.SAMPLE_FACTS, {})
        except computed.ComputeError as exc:
            if "vars" in str(exc):
                return None  # depends on inventory variables: checked per host at run time
            raise
    if ranged and parameter.vartype not in ("integer", "real"):
        raise units.UnitError(f"min/max need a numeric parameter, not a {parameter.vartype}")
    if isinstance(value, bool) and parameter.vartype != "bool":
        raise units.UnitError(f"{value} is a boolean (quote it, or write the value)")
    normalised = units.normalise(value, parameter.vartype, parameter.unit)  # type: ignore[arg-type]
    if parameter.vartype == "enum" and parameter.enumvals and \
            normalised not in {v.lower() for v in parameter.enumvals}:
        raise units.UnitError(f"'{value}' is not one of {', '.join(parameter.enumvals)}")
    return normalised
