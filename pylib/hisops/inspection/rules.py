"""Inspection rules: data, not code. Each turns one metric into a finding with the contract's
severity level (1-4) and a recommended action.

A rule names a metric (``os.disk.data.used_pct``), a comparison and a threshold per level; the
worst level whose threshold is crossed is the finding's severity. Thresholds are overridable
per host or group with the inventory variable ``hisops_inspection_thresholds``
(``{rule_id: {2: 85, 3: 75}}``, or ``{rule_id: off}`` to silence a rule where it does not
apply). A rule may say what it means when its metric could not be measured (``missing``).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hisops import paths
from hisops.errors import InputError
from hisops.runbook.loader import _data_path, format_field
from hisops.yamlfile import read_yaml_bytes

Scalar = int | float | bool | str
Level = Literal[1, 2, 3, 4]
OPS: dict[str, Callable[[Any, Any], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
    "==": operator.eq, "!=": operator.ne}
OVERRIDES_VAR = "hisops_inspection_thresholds"


class RulesError(InputError):
    """A rules file that cannot be used (exit 2)."""


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_.-]{0,62}$")]
    title: str
    title_zh: str
    metric: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_.]*$")]
    op: Literal[">", ">=", "<", "<=", "==", "!="]
    levels: dict[Level, Scalar] = Field(min_length=1)
    unit: str = ""
    groups: list[str] | None = None  # inventory groups it applies to (default: every host)
    roles: list[Literal["primary", "standby", "subscriber", "host"]] | None = None
    missing: Level | None = None  # the severity when the metric could not be measured
    subject: str | None = None  # a metric naming what the finding is about (a table, ...)
    detail: str | None = None  # the finding's text: "{value}" and "{metric.name}" filled in
    detail_zh: str | None = None  # the same in Chinese (the report's default language)
    recommendation: str
    recommendation_zh: str

    @model_validator(mode="after")
    def _ordered(self) -> Rule:
        # thresholds must get stricter toward level 1, or a level could never be reached
        if self.op in (">", ">=", "<", "<="):
            given = [self.levels[k] for k in sorted(self.levels)]
            if any(isinstance(v, bool | str) for v in given):
                raise ValueError(f"{self.op} needs numeric thresholds")
            values = [float(v) for v in given]
            steps = zip(values, values[1:], strict=False)
            worse_is_higher = self.op in (">", ">=")
            if any((a < b) if worse_is_higher else (a > b) for a, b in steps):
                raise ValueError("level 1 must be the most severe threshold "
                                 "(thresholds ordered by level)")
        return self


class RuleSet(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: list[Rule] = Field(min_length=1)


@dataclass(frozen=True)
class Finding:
    key: str  # rule|host|subject: the identity a problem is tracked by
    rule: str
    host: str
    subject: str
    severity: int
    title: str
    title_zh: str
    detail: str
    detail_zh: str
    recommendation: str
    recommendation_zh: str
    value: Any


def default_rules_path() -> Path:
    return paths.project_root() / "rules" / "inspection.yml"


def load_rules(path: Path | None = None) -> list[Rule]:
    path = path or default_rules_path()
    _, document = read_yaml_bytes(path, RulesError)
    try:
        rules = RuleSet.model_validate(document.data).rules
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = _data_path(tuple(first["loc"]), document.data)
        message = "unknown field" if first["type"] == "extra_forbidden" else str(
            first["msg"]).removeprefix("Value error, ")
        raise RulesError(message, file=str(path), line=document.line_of(loc),
                         field=format_field(loc)) from None
    seen: set[str] = set()
    for index, rule in enumerate(rules):
        if rule.id in seen:
            loc = ("rules", index, "id")
            raise RulesError(f"rule id '{rule.id}' is used twice", file=str(path),
                             line=document.line_of(loc), field=format_field(loc))
        seen.add(rule.id)
    return rules


def thresholds(rule: Rule, host_vars: Mapping[str, Any]) -> dict[int, Scalar] | None:
    """The rule's levels with the host's overrides; None when the host switches it off."""
    override = (host_vars.get(OVERRIDES_VAR) or {}).get(rule.id)
    if override in ("off", False):
        return None
    levels: dict[int, Scalar] = {int(k): v for k, v in rule.levels.items()}
    if isinstance(override, Mapping):
        levels.update({int(k): v for k, v in override.items()})
    return levels


def applies(rule: Rule, groups: list[str], role: str) -> bool:
    if rule.groups is not None and not set(rule.groups) & set(groups):
        return False
    return rule.roles is None or role in rule.roles


def judge(rule: Rule, host: str, metrics: Mapping[str, Any], levels: Mapping[int, Scalar]
          ) -> Finding | None:
    subject = str(metrics.get(rule.subject, "")) if rule.subject else ""
    value = metrics.get(rule.metric)
    if value is None:
        if rule.missing is None:
            return None
        return _finding(rule, host, subject, rule.missing, None,
                        f"{rule.metric} could not be measured", f"{rule.metric} 无法测量")
    compare = OPS[rule.op]
    for level in sorted(levels):
        try:
            crossed = compare(value, levels[level])
        except TypeError:
            return None  # a metric of another type than the rule expects: not this rule's
        if crossed:
            compared = f"{_show(value, rule.unit)} {rule.op} {_show(levels[level], rule.unit)}"
            text = (_fill(rule.detail, value, metrics, rule.unit) if rule.detail
                    else f"{compared} (level {level} threshold)")
            text_zh = (_fill(rule.detail_zh, value, metrics, rule.unit) if rule.detail_zh
                       else f"{compared}（{level}级阈值）" if not rule.detail else text)
            return _finding(rule, host, subject, level, value, text, text_zh)
    return None


_PLACEHOLDER = re.compile(r"\{([a-z][a-z0-9_.]*)\}")


def _fill(template: str, value: Any, metrics: Mapping[str, Any], unit: str) -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "value":
            return _show(value, unit)
        found = metrics.get(name)
        return "?" if found is None else _show(found, "")
    return _PLACEHOLDER.sub(one, template)


def _show(value: Any, unit: str) -> str:
    if isinstance(value, float):
        value = round(value, 2)
    return f"{value}{unit}" if unit and not isinstance(value, bool) else str(value)


def _finding(rule: Rule, host: str, subject: str, level: int, value: Any,
             detail: str, detail_zh: str) -> Finding:
    return Finding(key=f"{rule.id}|{host}|{subject}", rule=rule.id, host=host,
                   subject=subject, severity=level, title=rule.title, title_zh=rule.title_zh,
                   detail=detail, detail_zh=detail_zh, recommendation=rule.recommendation,
                   recommendation_zh=rule.recommendation_zh, value=value)
