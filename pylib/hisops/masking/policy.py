"""Masking policies: which column of which table gets which method (YAML, strict).

A bad policy is one line ``file:line: tables[N].columns.X.method: message`` (exit 2) before any
database is touched. A column may be written as ``name: name_zh`` or, with options, as
``id_number: {method: id_number_cn, region: shift}``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hisops.errors import InputError
from hisops.masking.dictionaries import Dictionaries, load_dictionaries
from hisops.runbook.loader import format_field
from hisops.yamlfile import PathKey, YamlDocument, read_yaml_bytes

IDENT = r"^[A-Za-z_][A-Za-z0-9_$]{0,62}$"
Ident = Annotated[str, Field(pattern=IDENT)]
MAX_SHIFT_DAYS = 3650


class PolicyError(InputError):
    """A masking policy that cannot be used (exit 2): bad file, or not matching the database."""


class _Method(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NameZh(_Method):
    """Deterministic Chinese name: weighted surname + 1-2 given-name characters."""

    method: Literal["name_zh"]


class IdNumberCn(_Method):
    """Resident ID number: keyed bijection keeping the check digit valid and sex parity."""

    method: Literal["id_number_cn"]
    birth: Literal["keep", "shift"] = "keep"  # shift: another day of the same birth year
    region: Literal["keep", "shift"] = "keep"  # shift: another county code


class PhoneCn(_Method):
    """Mainland mobile number: keyed bijection over prefix and subscriber digits."""

    method: Literal["phone_cn"]


class AddressZh(_Method):
    """Plausible address (province, city, district, street, number) from dictionaries."""

    method: Literal["address_zh"]


class Text(_Method):
    """Free text: blanked, or ID numbers, phones and the policy's patterns replaced."""

    method: Literal["text"]
    mode: Literal["blank", "redact"] = "redact"
    patterns: list[str] = Field(default_factory=list)
    marker: str | None = None  # default: settings.redact_marker

    @field_validator("patterns")
    @classmethod
    def _compiles(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            _check_regex(pattern)
        return patterns


class DateShift(_Method):
    """Date/timestamp moved by a per-subject offset in +-days (never 0), keyed by ``per``."""

    method: Literal["date_shift"]
    per: Ident
    days: Annotated[int, Field(ge=1, le=MAX_SHIFT_DAYS)] | None = None


class Null(_Method):
    method: Literal["null"]


class Constant(_Method):
    method: Literal["constant"]
    value: str | int | float | bool


Column = Annotated[NameZh | IdNumberCn | PhoneCn | AddressZh | Text | DateShift | Null | Constant,
                   Field(discriminator="method")]
METHODS = ("name_zh", "id_number_cn", "phone_cn", "address_zh", "text", "date_shift", "null",
           "constant")


class TablePolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    table: Annotated[str, Field(pattern=IDENT[:-1] + r"\." + IDENT[1:])]  # schema.table
    columns: dict[Ident, Column] = Field(min_length=1)

    @field_validator("columns", mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        # "name: name_zh" is "name: {method: name_zh}"; "fax: null" (YAML's null) the null method
        if isinstance(value, dict):
            return {k: {"method": "null" if v is None else v} if isinstance(v, str | None)
                    else v for k, v in value.items()}
        return value

    @property
    def schema_name(self) -> str:
        return self.table.split(".", 1)[0]

    @property
    def table_name(self) -> str:
        return self.table.split(".", 1)[1]


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    date_shift_days: Annotated[int, Field(ge=1, le=MAX_SHIFT_DAYS)] = 30
    redact_marker: str = "***"
    # Feistel rounds of the ID and phone permutations; 8 as FF3-1 uses, more only costs time
    rounds: Annotated[int, Field(ge=4, le=20)] = 8
    # parallel workers computing pseudonyms (0: compute inside the UPDATE, on one core)
    parallel_workers: Annotated[int, Field(ge=0, le=16)] = 2


class PolicyModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1]
    settings: Settings = Field(default_factory=Settings)
    tables: list[TablePolicy] = Field(min_length=1)


@dataclass(frozen=True)
class Policy:
    """A loaded policy: the model, where it came from, and the dictionaries it will use."""

    model: PolicyModel
    path: str
    digest: str  # sha256 of the file's bytes: the journal records which policy masked
    document: YamlDocument | None
    dictionaries: Dictionaries

    @property
    def tables(self) -> list[TablePolicy]:
        return self.model.tables

    @property
    def settings(self) -> Settings:
        return self.model.settings

    def error(self, message: str, loc: PathKey) -> PolicyError:
        """A one-line error naming this policy's file, line and field."""
        line = self.document.line_of(loc) if self.document else None
        return PolicyError(message, file=self.path, line=line, field=format_field(loc))


def _check_regex(pattern: str) -> None:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"bad regex {pattern!r}: {exc}") from None
    if re.match(pattern, ""):
        # a pattern matching the empty string would insert the marker between every character
        raise ValueError(f"regex {pattern!r} matches the empty string")


def load_policy(path: Path) -> Policy:
    """Read and validate a policy file; every problem is one :class:`PolicyError` line."""
    raw, document = read_yaml_bytes(path, PolicyError)
    try:
        model = PolicyModel.model_validate(document.data)
    except ValidationError as exc:
        raise _schema_error(exc, document) from None
    policy = Policy(model=model, path=str(path), digest=hashlib.sha256(raw).hexdigest(),
                    document=document, dictionaries=load_dictionaries())
    _check_unique_tables(policy)
    return policy


def policy_from_dict(data: Any, name: str = "<policy>") -> Policy:
    """A policy from already-parsed data (tests, callers that build policies in code)."""
    try:
        model = PolicyModel.model_validate(data)
    except ValidationError as exc:
        raise _schema_error(exc, YamlDocument(path=name, data=data, lines={})) from None
    digest = hashlib.sha256(model.model_dump_json().encode()).hexdigest()
    policy = Policy(model=model, path=name, digest=digest, document=None,
                    dictionaries=load_dictionaries())
    _check_unique_tables(policy)
    return policy


def _check_unique_tables(policy: Policy) -> None:
    seen: dict[str, int] = {}
    for index, table in enumerate(policy.tables):
        if table.table in seen:
            raise policy.error(f"table {table.table} is listed twice (also tables"
                               f"[{seen[table.table]}])", ("tables", index, "table"))
        seen[table.table] = index


def _data_loc(loc: tuple[int | str, ...], data: Any) -> PathKey:
    """Pydantic's location as a path into the data: without the union tag it inserts."""
    out: list[int | str] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part not in node and node.get("method") == part:
            continue  # the discriminator's tag
        if (isinstance(node, str) and part in METHODS) or part == "[key]":
            continue  # the shorthand "column: method"; a bad key is the key's own field
        out.append(part)
        node = node.get(part) if isinstance(node, dict) else (
            node[part] if isinstance(node, list) and isinstance(part, int)
            and 0 <= part < len(node) else None)
    return tuple(out)


def _schema_error(exc: ValidationError, document: YamlDocument) -> PolicyError:
    first = exc.errors()[0]
    loc = _data_loc(tuple(first["loc"]), document.data)
    kind, message = first["type"], str(first["msg"]).removeprefix("Value error, ")
    if kind == "extra_forbidden":
        message = "unknown option" if len(loc) > 3 and loc[2] == "columns" else "unknown field"
    elif kind == "missing":
        message = "required field is missing"
    elif kind in ("union_tag_invalid", "union_tag_not_found"):
        given = first["input"].get("method") if isinstance(first["input"], dict) else None
        message = (f"unknown method {given!r}" if given is not None else "method is missing"
                   ) + f" (one of: {', '.join(METHODS)})"
        loc = (*loc, "method")
    return PolicyError(message, file=document.path, line=document.line_of(loc),
                       field=format_field(loc))
