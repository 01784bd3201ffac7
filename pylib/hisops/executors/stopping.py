"""Stopping an ansible-playbook run for real: on timeout, cancel or Ctrl-C.

ansible-runner stops a job by SIGKILL to ansible-playbook's process group. Since
ansible-core 2.17 each worker process calls setsid(), so the worker, its connection and the
module it runs (a restore, a schema change) live in process groups of their own: they survive
that SIGKILL, orphaned, and keep changing the host. hisops therefore freezes ansible-playbook,
kills every worker's group, then the main group, before letting ansible-runner finish up.
ansible-runner's own `timeout` is not used for the same reason.

If hisops itself is SIGKILLed, nothing here runs: ansible-playbook lives in a pty session of
its own (pexpect, with SIGHUP ignored) and carries on. Progress events carry its pid so that
a later resume can call `stop_process_tree` on it.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

log = logging.getLogger(__name__)


class InterruptGuard:
    """Turn SIGINT/SIGTERM into a cancel that ansible-runner honours, then restore handlers.

    Without it a KeyboardInterrupt would unwind through ansible-runner and leave
    ansible-playbook running with nobody reading its output; and ansible-runner, when given
    no cancel_callback, installs handlers of its own that it never removes. Signals can only
    be caught in the main thread; elsewhere the caller's `cancel` is the only way to stop.
    """

    def __init__(self) -> None:
        self.interrupted = False
        self._saved: dict[int, Any] = {}

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        log.warning("signal %d: stopping the ansible run", signum)
        self.interrupted = True

    def __enter__(self) -> InterruptGuard:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._saved[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, previous in self._saved.items():
            signal.signal(sig, previous)


class RunWatch:
    """ansible-runner's cancel_callback: decides when to stop one run, and stops it fully."""

    def __init__(self, timeout_s: int | None, cancel: Callable[[], bool] | None,
                 guard: InterruptGuard) -> None:
        self._deadline = time.monotonic() + timeout_s if timeout_s else None
        self._cancel = cancel
        self._guard = guard
        self.main_pid: int | None = None  # ansible-playbook, learnt from the first job event
        self.reason: str | None = None  # "timeout", "canceled" or "interrupted"

    def note_event(self, event: dict[str, Any]) -> None:
        if self.main_pid is None and isinstance(event.get("pid"), int):
            self.main_pid = event["pid"]

    def __call__(self) -> bool:
        if self.reason is None:
            self.reason = self._why_stop()
            if self.reason is not None:
                log.warning("stopping ansible-playbook (pid %s): %s", self.main_pid, self.reason)
                if self.main_pid is not None:
                    stop_process_tree(self.main_pid)
        return self.reason is not None

    def _why_stop(self) -> str | None:
        if self._guard.interrupted:
            return "interrupted"
        if self._deadline is not None and time.monotonic() > self._deadline:
            return "timeout"
        if self._cancel is not None:
            try:
                if self._cancel():
                    return "canceled"
            except Exception:
                log.exception("cancel callback failed; stopping the run to be safe")
                return "canceled"
        return None


def _children(pid: int) -> list[int]:
    """Direct children of `pid`, read from /proc (no psutil dependency)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # the command name may contain spaces and parentheses: split after the last ')'
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1 and fields[1] == str(pid):
            found.append(int(entry.name))
    return found


def kill_descendants_and_self(pid: int) -> None:
    """SIGKILL `pid` and everything it started, freezing each process first so that none can
    fork a replacement between the scan and the kill. For a child that shares our process
    group (so that a kill of the caller's group, or a terminal's Ctrl-C, still reaches it)."""
    frozen: list[int] = []
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            os.kill(current, signal.SIGSTOP)
        except ProcessLookupError:
            continue
        frozen.append(current)
        pending.extend(_children(current))
    for victim in frozen:
        try:
            os.kill(victim, signal.SIGKILL)
        except ProcessLookupError:
            continue


def stop_process_tree(main_pid: int) -> None:
    """Freeze ansible-playbook so it forks no more workers, kill each worker's process group,
    then ansible-playbook's own group."""
    own_group = os.getpgid(0)
    try:
        os.kill(main_pid, signal.SIGSTOP)
    except ProcessLookupError:
        return
    for child in _children(main_pid):
        try:
            group = os.getpgid(child)
            if group != own_group:
                os.killpg(group, signal.SIGKILL)
        except ProcessLookupError:
            continue
    try:
        group = os.getpgid(main_pid)
        if group != own_group:
            os.killpg(group, signal.SIGKILL)
        else:  # never expected: pexpect gives ansible-playbook a session of its own
            os.kill(main_pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
