"""Run the real ``hisops`` command line in a subprocess, as an operator would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import DATA

LOCAL_INVENTORY = DATA / "inventories" / "local.yml"


@dataclass
class Result:
    rc: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def env_with(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    return env


def hisops(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> Result:
    proc = subprocess.run([sys.executable, "-m", "hisops", *args], capture_output=True,
                          text=True, env=env or dict(os.environ), timeout=timeout,
                          stdin=subprocess.DEVNULL)
    return Result(proc.returncode, proc.stdout, proc.stderr)


def start(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start hisops in its own process group, so a test can SIGKILL it with its children."""
    return subprocess.Popen([sys.executable, "-m", "hisops", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env or dict(os.environ),
                            stdin=subprocess.DEVNULL, start_new_session=True)


def kill_during(step: str, *args: str, delay: float = 0.0) -> str:
    """Start ``hisops ARGS``, SIGKILL its whole process group ``delay`` seconds after ``step``
    started, and return the run id: a crash mid-step, as when a controller loses power."""
    import signal

    proc = start(*args)
    try:
        wait_for_step(step)
        time.sleep(delay)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    return str(last_run()["run_id"])


def last_run(env: dict[str, str] | None = None) -> dict[str, Any]:
    runs = hisops("runs", "--json", env=env).json()
    assert runs, "no run in the journal"
    return dict(runs[-1])


def wait_for_step(step: str, status: str = "running", timeout: float = 60,
                  env: dict[str, str] | None = None) -> None:
    """Poll the journal in-process (fast) until ``step`` of the latest run reaches ``status``."""
    from hisops.journal import open_journal
    from hisops.journal.state import fold

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open_journal((env or os.environ).get("HISOPS_JOURNAL")) as journal:
            ids = journal.run_ids()
            if ids:
                state = fold(ids[-1], journal.records(ids[-1]))
                found = state.steps.get(step)
                if found is not None and found.status == status:
                    return
        time.sleep(0.1)
    raise AssertionError(f"step {step} never reached {status}")


def evidence_payloads(kind: str, env: dict[str, str] | None = None,
                      run_id: str | None = None) -> list[dict[str, Any]]:
    """The journal's evidence records of one type (optionally of one run), in journal order:
    each payload has ``type``, ``subject`` and ``evidence``."""
    from hisops.journal import open_journal

    with open_journal((env or os.environ).get("HISOPS_JOURNAL")) as journal:
        return [r.payload for r in journal.records(run_id, kinds=["evidence.recorded"])
                if r.payload["type"] == kind]


def read_log(directory: Path) -> list[str]:
    path = directory / "log"
    return path.read_text().split() if path.exists() else []
