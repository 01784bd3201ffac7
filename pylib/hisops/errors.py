"""One exception tree for hisops.

Library code raises these; only :mod:`hisops.cli` turns them into messages and exit codes.
Each error carries the data a caller needs (file, field, run id, ...), not just a string.
"""

from __future__ import annotations

import re
from enum import IntEnum


class ExitStatus(IntEnum):
    """Process exit codes, the contract scripts and schedulers rely on."""

    SUCCESS = 0
    FAILED = 1  # a step or a verification failed
    BAD_INPUT = 2  # bad input or usage; nothing was executed
    REFUSED = 3  # lock busy, guard failed, approval missing, protected target unconfirmed
    INTERRUPTED = 130


class HisopsError(Exception):
    """Base of every error hisops raises on purpose."""

    exit_status: ExitStatus = ExitStatus.FAILED


# --- bad input (exit 2) ------------------------------------------------------------------------


class InputError(HisopsError):
    """Bad input: a file, field or argument that cannot be used. Nothing was executed."""

    exit_status = ExitStatus.BAD_INPUT

    def __init__(
        self, message: str, *, file: str | None = None, line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.field = field
        super().__init__(self.one_line())

    def one_line(self) -> str:
        where = ""
        if self.file:
            where = self.file + (f":{self.line}" if self.line else "")
        if self.field:
            # a field can be any key a file holds, line breaks included: shown escaped
            field = _CONTROL.sub(lambda m: repr(m.group())[1:-1], self.field)
            where = f"{where}: {field}" if where else field
        text = " ".join(self.message.split())  # one line, always
        return f"{where}: {text}" if where else text


# every character str.splitlines() breaks at is among these (NEL, LS and PS included)
_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")


class RunbookError(InputError):
    """A runbook file is malformed or does not match the schema."""


class InventoryError(InputError):
    """An inventory is malformed or lacks a group or host a runbook needs."""


class ParameterError(InputError):
    """A runbook parameter is unknown, missing or of the wrong type."""


class UsageError(InputError):
    """A command line was used wrongly."""


# --- refused (exit 3) --------------------------------------------------------------------------


class RefusedError(HisopsError):
    exit_status = ExitStatus.REFUSED


class LockBusy(RefusedError):
    """A host the run may change is locked by another run."""

    def __init__(self, host: str, run_id: str, operator: str, started_at: str) -> None:
        self.host, self.run_id, self.operator, self.started_at = host, run_id, operator, started_at
        super().__init__(
            f"host {host} is locked by run {run_id} (operator {operator}, started {started_at})"
        )


class PreconditionFailed(RefusedError):
    """A guard failed: the run made no change."""

    def __init__(self, guard: str, detail: str) -> None:
        self.guard, self.detail = guard, detail
        super().__init__(f"guard '{guard}' failed: {detail}")


class ApprovalRequired(RefusedError):
    """The run waits at an approval step."""

    def __init__(self, run_id: str, step_id: str, message: str) -> None:
        self.run_id, self.step_id = run_id, step_id
        super().__init__(message)


class ConfirmationRequired(RefusedError):
    """A protected target needs an explicit, typed confirmation."""


class ResumeRefused(RefusedError):
    """A run cannot be resumed as asked (non-idempotent step interrupted, plan changed...)."""


# --- failed (exit 1) ---------------------------------------------------------------------------


class StepFailed(HisopsError):
    exit_status = ExitStatus.FAILED

    def __init__(self, step_id: str, detail: str) -> None:
        self.step_id, self.detail = step_id, detail
        super().__init__(f"step '{step_id}' failed: {detail}")


class VerificationFailed(HisopsError):
    exit_status = ExitStatus.FAILED


class JournalError(HisopsError):
    """The journal cannot be read or written, or its chain does not verify."""

    exit_status = ExitStatus.FAILED


class ExecutorError(HisopsError):
    """An executor (ansible-runner, Fabric) could not run at all."""

    exit_status = ExitStatus.FAILED


class Interrupted(HisopsError):
    exit_status = ExitStatus.INTERRUPTED
