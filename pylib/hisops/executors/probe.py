"""Read-only probes: one small python3 script per host over SSH, one JSON line back.

Baseline checks and inspections both work this way: everything a host is asked is read in one
round trip, every host at once, and a host that cannot be read gets an error string, never an
exception. The script is a standard-library-only module of this package, sent as text with
its request (JSON) as its one argument.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from hisops.executors import ssh as ssh_exec
from hisops.executors.results import HostOutcome
from hisops.inventory import Inventory

MAX_PARALLEL = 20  # SSH sessions at once, as the SSH executor's own default


@dataclass(frozen=True)
class ProbeResult:
    """What one host answered (``error`` set when it could not be read at all)."""

    host: str
    data: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    started_at: str = ""
    ended_at: str = ""


# a probe's line importing shared remote code: replaced by that code's body when sent
_INLINE = re.compile(r"^from (hisops\.executors\.remote_\w+) import [^\n]*$", re.M)


def script_text(package: str, name: str) -> str:
    """The probe as one self-contained script: each shared helper it imports is inlined."""
    text = resources.files(package).joinpath(name).read_text(encoding="utf-8")
    return _INLINE.sub(lambda match: _helper_body(match.group(1)), text)


def _helper_body(module: str) -> str:
    package, _, name = module.rpartition(".")
    source = resources.files(package).joinpath(f"{name}.py").read_text(encoding="utf-8")
    body = source.split('"""', 2)[2]  # without the module docstring
    return body.replace("from __future__ import annotations\n", "").strip("\n")


def command_for(script: str, request: Mapping[str, Any]) -> str:
    return (f"python3 -c {shlex.quote(script)} "
            f"{shlex.quote(json.dumps(request, separators=(',', ':')))}")


def parse(host: str, outcome: HostOutcome) -> ProbeResult:
    def result(data: dict[str, Any] | None = None, error: str = "") -> ProbeResult:
        return ProbeResult(host=host, data=data or {}, error=error,
                           started_at=outcome.started_at, ended_at=outcome.ended_at)

    if not outcome.status.is_success:
        why = outcome.detail or outcome.stderr.strip() or outcome.status.value
        return result(error=" ".join(why.split())[:300])
    lines = [ln for ln in outcome.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        last = (outcome.stderr.strip().splitlines() or ["no output"])[-1]
        return result(error=f"the probe printed nothing readable ({last[:200]})")
    try:
        return result(data=json.loads(lines[-1]))
    except ValueError as exc:
        return result(error=f"unreadable probe output ({exc})")


def run_probes(script: str, requests: Mapping[str, Mapping[str, Any]], inventory: Inventory, *,
               timeout_s: float, on_host: Callable[[str], None] | None = None,
               ) -> dict[str, ProbeResult]:
    """Run SCRIPT on every host of REQUESTS (host -> its request) at once."""
    out: dict[str, ProbeResult] = {}
    by_command: dict[str, list[Any]] = {}
    for host, request in requests.items():
        try:
            conn = ssh_exec.connection_for(host, inventory.host_vars(host))
        except Exception as exc:  # a bad inventory entry is this host's problem only
            out[host] = ProbeResult(host=host, error=str(exc))
            continue
        by_command.setdefault(command_for(script, request), []).append(conn)

    # hosts with different requests (another port, other items) get different commands:
    # each group runs in its own thread, so every host is probed at once, not group by group
    def run(group: tuple[str, list[Any]]) -> dict[str, HostOutcome]:
        command, conns = group
        return ssh_exec.run_command(
            conns, command, timeout_s=timeout_s,
            on_host_done=(lambda o: on_host(o.host)) if on_host else None)

    groups = list(by_command.items())
    if groups:
        with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(groups))) as pool:
            for results in pool.map(run, groups):
                for name, outcome in results.items():
                    out[name] = parse(name, outcome)
    return {h: out[h] for h in requests}
