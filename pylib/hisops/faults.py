"""Failpoints: deterministic fault injection at named places in the engine.

Like etcd's gofail or TiKV's fail-rs, a failpoint is inert unless ``HISOPS_FAILPOINTS`` names
it, e.g. ``HISOPS_FAILPOINTS="after-step:backup=kill"``. The kill-and-resume tests and the
fault-injection benchmarks use it to stop a run at an exact step boundary; nothing in normal
operation sets it.
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
