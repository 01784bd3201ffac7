"""A thin wrapper over the podman command line: the only place in the lab that runs podman.

Why the CLI and not a REST client: podman 4.3 is what Debian ships, its socket service is not
running on these machines, and the CLI is what the set-up script verified.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hisops.lab.errors import LabError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ContainerState:
    name: str
    running: bool
    status: str
    labels: dict[str, str]


def podman_path() -> str:
    path = shutil.which("podman")
    if path is None:
        raise LabError("podman is not installed; run scripts/setup-podman as root")
    return path


def run(
    args: Sequence[str], *, check: bool = True, input_text: str | None = None,
    timeout: float | None = 300,
) -> subprocess.CompletedProcess[str]:
    """Run ``podman ARGS``; on failure raise LabError with podman's own message."""
    cmd = [podman_path(), *args]
    log.debug("podman %s", " ".join(args[:3]))
    try:
        proc = subprocess.run(  # noqa: S603 - fixed executable, argument list
            cmd, capture_output=True, text=True, input=input_text, timeout=timeout, check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"podman {' '.join(args[:2])} timed out after {timeout} s") from exc
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise LabError(
            f"podman {' '.join(args[:2])} failed (rc {proc.returncode}): "
            f"{detail[-1] if detail else 'no output'}"
        )
    return proc


def image_labels(image: str) -> dict[str, str] | None:
    """The labels of IMAGE, or None if it does not exist."""
    proc = run(["image", "inspect", image], check=False)
    if proc.returncode != 0:
        return None
    data: list[dict[str, Any]] = json.loads(proc.stdout)
    labels = data[0].get("Labels") or {}
    return {str(k): str(v) for k, v in labels.items()}


def image_id(image: str) -> str | None:
    proc = run(["image", "inspect", "--format", "{{.Id}}", image], check=False)
    return proc.stdout.strip() if proc.returncode == 0 else None


def containers(prefix: str) -> dict[str, ContainerState]:
    """Every container (running or not) whose name starts with PREFIX, by name."""
    proc = run(["ps", "-a", "--format", "json", "--filter", f"name=^{prefix}"])
    out: dict[str, ContainerState] = {}
    for item in json.loads(proc.stdout or "[]"):
        names = item.get("Names") or []
        name = names[0] if names else ""
        if not name.startswith(prefix):
            continue
        out[name] = ContainerState(
            name=name,
            running=item.get("State") == "running",
            status=str(item.get("State") or item.get("Status") or ""),  # running, exited...
            labels={str(k): str(v) for k, v in (item.get("Labels") or {}).items()},
        )
    return out


def exec_in(
    container: str, command: Sequence[str], *, user: str | None = None,
    input_text: str | None = None, timeout: float = 300, check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run COMMAND inside a running container (for set-up; probes go over SSH and TCP)."""
    args = ["exec"]
    if input_text is not None:
        args.append("-i")
    if user:
        args += ["--user", user]
    return run([*args, container, *command], input_text=input_text, timeout=timeout, check=check)
