"""The baseline schema: strict pydantic models, one per item kind.

A baseline says once how a database host must be configured. Each item has an id, a title
(English and Chinese), the rationale, the hospital's severity level (1-4), a scope (inventory
groups) and, by its ``kind``, what must hold. Checking and fixing are separate modules
(``evaluate`` and ``desired``); this one only says what a well-formed baseline is.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ITEM_ID = r"^[A-Za-z][A-Za-z0-9_.-]{0,62}$"
GROUP = r"^[A-Za-z_][A-Za-z0-9_-]*$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Scalar = str | int | float | bool


class _Item(Strict):
    id: str = Field(pattern=ITEM_ID)
    title: str = Field(min_length=1)
    title_zh: str = ""
    rationale: str = ""
    severity: Literal[1, 2, 3, 4]
    section: str = ""  # e.g. the CIS benchmark section "3.1.20"
    scope: list[Annotated[str, Field(pattern=GROUP)]] | None = None  # default: the baseline's
    fix: Literal["auto", "manual"] = "auto"
    remediation: str = ""  # how to fix by hand (shown for manual items)


class _Expectation(Strict):
    """Exactly one way to state the expected value; min and max may go together."""

    value: Scalar | None = None  # may be a template: "{{ (facts.memory_mb * 0.25) | int }}MB"
    one_of: list[Scalar] | None = None
    min: Scalar | None = None
    max: Scalar | None = None
    contains: str | None = None  # a list-valued setting (shared_preload_libraries) holds this

    @model_validator(mode="after")
    def _one_expectation(self) -> _Expectation:
        given = [name for name in ("value", "one_of", "contains")
                 if getattr(self, name) is not None]
        ranged = self.min is not None or self.max is not None
        if len(given) + (1 if ranged else 0) != 1:
            raise ValueError("say what must hold with exactly one of value, one_of, "
                             "min/max or contains")
        return self


class PgSetting(_Item, _Expectation):
    kind: Literal["pg_setting"]
    name: str = Field(pattern=r"^[a-z_][a-z0-9_.]*$")


class PgHbaRule(_Item):
    """A pg_hba rule that must be present (exactly) or absent (any rule matching the fields)."""

    kind: Literal["pg_hba"]
    state: Literal["present", "absent"]
    type: list[str] | str | None = None  # local host hostssl hostnossl hostgssenc ...
    database: str | None = None
    user: str | None = None
    address: str | None = None  # CIDR, e.g. 0.0.0.0/0; absent matching is by network
    method: list[str] | str | None = None
    options: str | None = None

    @model_validator(mode="after")
    def _present_is_exact(self) -> PgHbaRule:
        if self.state == "present":
            missing = [f for f in ("type", "database", "user", "method")
                       if getattr(self, f) is None]
            if missing:
                raise ValueError(f"a present rule names {', '.join(missing)}")
            if isinstance(self.type, list) or isinstance(self.method, list):
                raise ValueError("a present rule has one type and one method")
        elif all(getattr(self, f) is None for f in ("type", "database", "user", "address",
                                                     "method")):
            raise ValueError("an absent rule names at least one of type, database, user, "
                             "address, method (or it would forbid every rule)")
        return self


class PgRoles(_Item):
    """Role properties: superusers only from a list; every login role has a (SCRAM) password."""

    kind: Literal["pg_roles"]
    rule: Literal["superusers_only", "password_required", "scram_passwords"]
    allowed: list[str] = Field(default_factory=list)  # superusers_only: who may be one
    exempt: list[str] = Field(default_factory=list)  # password rules: peer-only roles

    @model_validator(mode="after")
    def _fixable(self) -> PgRoles:
        if self.rule != "superusers_only" and self.fix == "auto":
            # hisops does not invent passwords: these are fixed by a person
            object.__setattr__(self, "fix", "manual")
        return self


class PgExtension(_Item):
    kind: Literal["pg_extension"]
    name: str = Field(pattern=r"^[a-z_][a-z0-9_-]*$")
    database: str = Field(min_length=1)
    state: Literal["present", "absent"] = "present"


class PgDataDirectory(_Item):
    """Ownership of the data directory and the most permissive mode allowed."""

    kind: Literal["pg_data_directory"]
    owner: str = "postgres"
    group: str = "postgres"
    mode: str = Field(default="0700", pattern=r"^0?[0-7]{3}$")


class Sysctl(_Item, _Expectation):
    kind: Literal["sysctl"]
    name: str = Field(pattern=r"^[a-z0-9_]+(\.[a-zA-Z0-9_-]+)+$")


class Limit(_Item):
    """A pam_limits entry (limits.conf / limits.d) for a user: at least ``min``."""

    kind: Literal["limit"]
    domain: str = "postgres"
    type: Literal["soft", "hard", "-"] = "-"
    item: Literal["core", "data", "fsize", "memlock", "nofile", "rss", "stack", "cpu",
                  "nproc", "as", "maxlogins", "maxsyslogins", "priority", "locks",
                  "sigpending", "msgqueue", "nice", "rtprio"]
    min: int | Literal["unlimited"] | None = None
    value: int | Literal["unlimited"] | None = None

    @model_validator(mode="after")
    def _one(self) -> Limit:
        if (self.min is None) == (self.value is None):
            raise ValueError("a limit item gives exactly one of min or value")
        return self


class Sshd(_Item):
    """An sshd setting as ``sshd -T`` prints it (effective configuration)."""

    kind: Literal["sshd"]
    key: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9]*$")
    value: Scalar


class FileLine(_Item):
    kind: Literal["file_line"]
    path: str = Field(pattern=r"^/")
    line: str | None = None  # an exact line that must be present (or absent)
    pattern: str | None = None  # a regular expression a line must (not) match
    state: Literal["present", "absent"] = "present"

    @model_validator(mode="after")
    def _line_or_pattern(self) -> FileLine:
        if self.line is None and self.pattern is None:
            raise ValueError("a file_line item gives line or pattern")
        if self.state == "present" and self.line is None:
            raise ValueError("a present file_line gives the line to write (pattern may say "
                             "which line it replaces)")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"pattern is not a regular expression: {exc}") from None
        return self


class OracleParameter(_Item, _Expectation):
    """An Oracle initialization parameter (V$SYSTEM_PARAMETER / V$SPPARAMETER)."""

    kind: Literal["oracle_parameter"]
    name: str = Field(pattern=r"^_?[a-z][a-z0-9_]*$")


class OracleProfile(_Item, _Expectation):
    """A resource or password limit of a profile (DBA_PROFILES)."""

    kind: Literal["oracle_profile"]
    profile: str = Field(pattern=r"^[A-Z][A-Z0-9_$#]*$")
    resource: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$")


class OracleAudit(_Item):
    """A unified audit policy that must be enabled (AUDIT_UNIFIED_ENABLED_POLICIES)."""

    kind: Literal["oracle_audit"]
    policy: str = Field(pattern=r"^[A-Z][A-Z0-9_$#]*$")
    enabled: bool = True


Item = Annotated[
    PgSetting | PgHbaRule | PgRoles | PgExtension | PgDataDirectory | Sysctl | Limit | Sshd
    | FileLine | OracleParameter | OracleProfile | OracleAudit,
    Field(discriminator="kind"),
]
KINDS = ("pg_setting", "pg_hba", "pg_roles", "pg_extension", "pg_data_directory", "sysctl",
         "limit", "sshd", "file_line", "oracle_parameter", "oracle_profile", "oracle_audit")
ORACLE_KINDS = frozenset({"oracle_parameter", "oracle_profile", "oracle_audit"})


class Baseline(Strict):
    baseline: str = Field(pattern=r"^[a-z][a-z0-9-]{0,62}$")
    title: str
    title_zh: str = ""
    description: str = ""
    engine: Literal["postgresql", "oracle"]
    source: str = ""  # e.g. "CIS PostgreSQL 15 Benchmark v1.1.0"
    version: str = "1"
    scope: list[Annotated[str, Field(pattern=GROUP)]] = Field(min_length=1)
    items: list[Item] = Field(min_length=1)

    @field_validator("items")
    @classmethod
    def _unique_ids(cls, items: list[Item]) -> list[Item]:
        seen: set[str] = set()
        for item in items:
            if item.id in seen:
                raise ValueError(f"item id '{item.id}' is used twice")
            seen.add(item.id)
        return items

    @model_validator(mode="after")
    def _kinds_match_engine(self) -> Baseline:
        for item in self.items:
            oracle = item.kind in ORACLE_KINDS
            if oracle != (self.engine == "oracle") and item.kind.startswith(("pg_", "oracle_")):
                raise ValueError(f"item '{item.id}': kind {item.kind} in a {self.engine} "
                                 "baseline")
        return self

    def scope_of(self, item: _Item) -> list[str]:
        return item.scope if item.scope is not None else self.scope
