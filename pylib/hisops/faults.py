"""Failpoints: deterministic fault injection at named places in the engine.

Like etcd's gofail or TiKV's fail-rs, a failpoint is inert unless ``HISOPS_FAILPOINTS`` names
it, e.g. ``HISOPS_FAILPOINTS="after-step:backup=kill"`` (a comma-separated list; the action
defaults to kill). The names: ``before-step:ID`` and ``after-step:ID`` (the engine),
``before-rollback:ID``, and ``task:ID:N`` when the N-th task (1-based, counted once for all
hosts) of an ansible-runner run of step ID starts (the Ansible executor), and
``datafix:ID:after-find`` / ``datafix:ID:before-commit`` inside a data correction's transaction
(rows locked / fix done, not yet committed). The kill-and-resume
tests and the fault-injection benchmarks use them to stop a run at an exact point; nothing in
normal operation sets it.
"""

from __future__ import annotations

import logging
import os
import signal
import time

log = logging.getLogger(__name__)


class FailpointError(RuntimeError):
    pass


def _table() -> dict[str, str]:
    spec = os.environ.get("HISOPS_FAILPOINTS", "")
    table: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, action = item.partition("=")
        table[name] = action or "kill"
    return table


def failpoint(name: str) -> None:
    action = _table().get(name)
    if action is None:
        return
    log.warning("failpoint %s triggered: %s", name, action)
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif action == "interrupt":
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)  # let the signal arrive in the main thread
    elif action == "raise":
        raise FailpointError(f"failpoint {name}")
    elif action.startswith("sleep:"):
        time.sleep(float(action.split(":", 1)[1]))
