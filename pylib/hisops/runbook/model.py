"""The runbook schema: strict pydantic models, so an unknown key or a wrong type is an error.

A runbook is data: what to do, in which order, on which inventory patterns, under which
guards. The planner resolves it against an inventory; the engine executes the plan.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hisops.runbook.durations import parse_duration

STEP_ID = r"^[a-z][a-z0-9_]{0,62}$"
PARAM_NAME = r"^[a-z][a-z0-9_]{0,62}$"
CHECK_NAME = r"^[a-z][a-z0-9_]*$"
WAIVER_NAME = r"^[a-z][a-z0-9-]*$"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


ParamType = Literal["str", "int", "number", "bool", "duration", "timestamp", "host", "group"]


class Parameter(Strict):
    type: ParamType = "str"
    description: str = ""
    default: str | int | float | bool | None = None
    required: bool = False
    secret: bool = False
    choices: list[str | int] | None = None

    @model_validator(mode="after")
    def _secret_has_no_default(self) -> Parameter:
        # A default secret would be a placeholder password in a file: refuse it.
        if self.secret and self.default is not None:
            raise ValueError("a secret parameter cannot have a default")
        return self


class Expect(Strict):
    """Assertions on an ssh step's result, per host."""

    rc: int | list[int] = 0
    stdout_contains: str | None = None
    stdout_not_contains: str | None = None
    stdout_regex: str | None = None

    @field_validator("stdout_regex")
    @classmethod
    def _valid_regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"invalid regular expression: {exc}") from exc
        return value


Duration = Annotated[int | str, Field(description="seconds, or 30s / 5m / 2h / 1h30m")]


class _StepCommon(Strict):
    id: Annotated[str, Field(pattern=STEP_ID)]
    name: str = ""
    when: str | None = None
    timeout: Duration | None = None
    retries: Annotated[int, Field(ge=0, le=20)] = 0
    retry_delay: Duration = 5
    idempotent: bool = False

    @field_validator("timeout", "retry_delay")
    @classmethod
    def _duration(cls, value: int | str | None) -> int | str | None:
        if value is not None:
            parse_duration(value)
        return value

    @property
    def timeout_s(self) -> int | None:
        return None if self.timeout is None else parse_duration(self.timeout)

    @property
    def retry_delay_s(self) -> int:
        return parse_duration(self.retry_delay)

    @property
    def changes_hosts(self) -> bool:
        return True

    @property
    def label(self) -> str:
        return self.name or self.id


class _AnsibleFields(Strict):
    hosts: str
    vars: dict[str, Any] = Field(default_factory=dict)
    serial: list[str] = Field(default_factory=list)


class PlaybookAction(_AnsibleFields):
    kind: Literal["playbook"]
    playbook: str


class RoleAction(_AnsibleFields):
    kind: Literal["role"]
    role: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_.]*$")]


class SshAction(Strict):
    kind: Literal["ssh"]
    hosts: str
    command: str
    read_only: bool = False
    check: str | None = None  # success means "already done" on that host
    expect: Expect = Field(default_factory=Expect)
    env: dict[str, str] = Field(default_factory=dict)
    max_workers: Annotated[int, Field(ge=1, le=200)] = 20


class TaskAction(Strict):
    """A named controller task (see :mod:`hisops.tasks`) run against the step's hosts."""

    kind: Literal["task"]
    hosts: str
    task: Annotated[str, Field(pattern=CHECK_NAME)]
    args: dict[str, Any] = Field(default_factory=dict)
    read_only: bool = False  # the loader refuses it for a task that changes hosts


RollbackAction = Annotated[PlaybookAction | RoleAction | SshAction | TaskAction,
                           Field(discriminator="kind")]


class _ChangingStep(_StepCommon):
    rollback: RollbackAction | None = None


class PlaybookStep(_ChangingStep, PlaybookAction):
    pass


class RoleStep(_ChangingStep, RoleAction):
    pass


class SshStep(_ChangingStep, SshAction):
    @property
    def changes_hosts(self) -> bool:
        return not self.read_only


class TaskStep(_ChangingStep, TaskAction):
    @property
    def changes_hosts(self) -> bool:
        return not self.read_only


class AssertStep(_StepCommon):
    kind: Literal["assert"]
    that: Annotated[list[str], Field(min_length=1)]
    message: str = ""
    idempotent: bool = True  # evaluating facts changes nothing

    @property
    def changes_hosts(self) -> bool:
        return False


class ApprovalStep(_StepCommon):
    kind: Literal["approval"]
    message: str = ""
    approvers: list[str] = Field(default_factory=list)  # empty: anyone may approve
    four_eyes: bool = False
    idempotent: bool = True

    @property
    def changes_hosts(self) -> bool:
        return False


SQL_TABLE = r"^[a-z_][a-z0-9_]{0,62}\.[a-z_][a-z0-9_]{0,62}$"
SQL_NAME = r"^[a-z_][a-z0-9_]{0,62}$"
# a row bound: 3, "0..50", or a template such as "{{ params.visits }}" (rendered at plan time)
RowBound = Annotated[int | str, Field(description="N, MIN..MAX, or a {{ params.x }} template")]


class FindTarget(Strict):
    """The rows of one table a data correction may change: selected and locked FOR UPDATE,
    counted against ``expect_rows``, their before-images kept."""

    table: Annotated[str, Field(pattern=SQL_TABLE)]
    key: Annotated[list[Annotated[str, Field(pattern=SQL_NAME)]], Field(min_length=1)]
    where: Annotated[str, Field(min_length=1)]
    expect_rows: RowBound


class VerifyQuery(Strict):
    """A query run after the fix, in its transaction: its row count (or first value) must
    match, or the whole fix is rolled back."""

    name: str = ""
    sql: Annotated[str, Field(min_length=1)]
    expect_rows: RowBound | None = None
    expect_value: str | int | bool | None = None


class SqlStep(_StepCommon):
    """A data correction (``datafix``): find, bound, before-images, fix, verify, in one
    transaction on each of the step's database hosts (see :mod:`hisops.datafix`)."""

    kind: Literal["sql"]
    hosts: str
    engine: Literal["postgres", "oracle"] = "postgres"
    database: Annotated[str, Field(pattern=SQL_NAME)] = "his"
    find: Annotated[list[FindTarget], Field(min_length=1)]
    fix: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)]
    verify: list[VerifyQuery] = Field(default_factory=list)
    # tables the fix's triggers may write (an audit log): allowed, not undone
    untracked_tables: list[Annotated[str, Field(pattern=SQL_TABLE)]] = Field(
        default_factory=list)
    lock_timeout: Duration = "5s"
    statement_timeout: Duration = "60s"
    # before/after rows shown by plan and check (personal data redacted by the policy)
    sample: Annotated[int, Field(ge=0, le=50)] = 5
    pii_policy: str | None = "masking/his.yml"
    # a committed fix is recorded in the database with its run id: a resumed step finds it
    idempotent: bool = True

    @field_validator("lock_timeout", "statement_timeout")
    @classmethod
    def _sql_duration(cls, value: int | str) -> int | str:
        parse_duration(value)
        return value


Step = Annotated[
    PlaybookStep | RoleStep | SshStep | TaskStep | AssertStep | ApprovalStep | SqlStep,
    Field(discriminator="kind")
]


class SshGuard(Strict):
    kind: Literal["ssh"]
    name: str
    hosts: str
    command: str
    expect: Expect = Field(default_factory=Expect)
    timeout: Duration = 30


class AssertGuard(Strict):
    kind: Literal["assert"]
    name: str
    that: Annotated[list[str], Field(min_length=1)]
    message: str = ""


class CheckGuard(Strict):
    """A named, built-in, read-only Python check (see :mod:`hisops.checks`)."""

    kind: Literal["check"]
    name: str
    check: Annotated[str, Field(pattern=CHECK_NAME)]
    hosts: str | None = None
    args: dict[str, Any] = Field(default_factory=dict)
    # a failure of this guard may be waived by the operator (hisops run --waive NAME)
    waiver: Annotated[str | None, Field(pattern=WAIVER_NAME)] = None


Guard = Annotated[SshGuard | AssertGuard | CheckGuard, Field(discriminator="kind")]


class Runbook(Strict):
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,62}$")]
    summary: Annotated[str, Field(min_length=1)]
    description: str = ""
    version: int = 1
    parameters: dict[Annotated[str, Field(pattern=PARAM_NAME)], Parameter] = Field(
        default_factory=dict
    )
    targets: list[str] = Field(default_factory=list)
    # hosts whose names the operator must type (--confirm) before a changing run, protected
    # or not: work that destroys a host's current data (an in-place restore) is confirmed by
    # naming the host, so a wrong -e host=... cannot go through on habit
    confirm: str | None = None
    # a report printed after the run (and by `hisops show`) from the run's journal
    report: Literal["restore-timeline"] | None = None
    guards: list[Guard] = Field(default_factory=list)
    steps: Annotated[list[Step], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique_step_ids(self) -> Runbook:
        seen: set[str] = set()
        for step in self.steps:
            if step.id in seen:
                raise ValueError(f"duplicate step id '{step.id}'")
            seen.add(step.id)
        return self

    def step(self, step_id: str) -> Step:
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)
