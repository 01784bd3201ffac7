"""Frozen result types the executors return. Nothing above the executors sees ansible-runner's
or Fabric's own objects: these are the only shapes the engine, journal and reports rely on."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any


class HostStatus(StrEnum):
    OK = "ok"
    CHANGED = "changed"
    SKIPPED = "skipped"  # already satisfied (check succeeded) or `when` false
    FAILED = "failed"
    UNREACHABLE = "unreachable"
    TIMEOUT = "timeout"

    @property
    def is_success(self) -> bool:
        return self in (HostStatus.OK, HostStatus.CHANGED, HostStatus.SKIPPED)


@dataclass(frozen=True)
class HostOutcome:
    """What one step did on one host."""

    host: str
    status: HostStatus
    rc: int | None = None
    changed: bool = False
    stdout: str = ""
    stderr: str = ""
    started_at: str = ""  # ISO-8601 UTC
    ended_at: str = ""
    detail: str = ""  # a short human reason (error message, skip reason)
    # a failure that provably left the host as it was (a rolled-back transaction, a database
    # that could not be reached): the run need not keep the host locked for a resume
    unchanged: bool = False


@dataclass(frozen=True)
class HostStats:
    """ansible-runner's per-host play recap counters."""

    ok: int = 0
    changed: int = 0
    failures: int = 0
    dark: int = 0  # unreachable
    skipped: int = 0
    rescued: int = 0
    ignored: int = 0


@dataclass(frozen=True)
class PlaybookResult:
    """The outcome of one ansible-runner invocation."""

    status: str  # ansible-runner status: successful, failed, timeout, canceled
    rc: int
    hosts: dict[str, HostOutcome]
    stats: dict[str, HostStats]
    artifact_dir: Path
    artifact_digest: str  # sha256 over the artifact files, recorded in the journal
    duration_s: float
    # what the play published with set_stats: a step's facts for later steps and evidence
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class HostConnection:
    """How to reach one host, read from its inventory variables."""

    name: str
    address: str = "127.0.0.1"
    port: int = 22
    user: str = "root"
    key_file: str | None = None
    known_hosts: str | None = None  # file with the host keys; None means ~/.ssh/known_hosts
    local: bool = False  # ansible_connection=local: run on the controller, no SSH
    become: bool = False
    extra: dict[str, str] = field(default_factory=dict)
