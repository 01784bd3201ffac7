"""Kill chains: SIGKILL ``hisops run`` at a failpoint, resume with the next one, and so on.

A chain names its kill points in order (``before-step:S``, ``task:S:n``, ``after-step:S``; see
hisops.faults and the Ansible executor's task failpoints). Each invocation gets every point
not yet fired, so the first one it reaches kills it: a point a resumed attempt never reaches
(a host already patched skips its tasks) is passed over, not counted. A resumed idempotent
step starts again at its first task, so the next point is always further on.
"""

from __future__ import annotations

import glob
import json
import re
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import ROOT
from tests.integration.helpers import Result, hisops

FIRED = re.compile(r"failpoint (\S+) triggered: kill")
TASK_STARTS = ("playbook_on_task_start", "playbook_on_handler_task_start")

# what the operator decides for an interrupted non-idempotent step: ("retry", why) or
# ("skip", why), from evidence on the hosts or in the journal
Decision = tuple[str, str]


@dataclass
class Chain:
    run_id: str = ""
    kills: list[str] = field(default_factory=list)
    decisions: list[tuple[str, str, str]] = field(default_factory=list)  # step, action, why
    passed_over: list[str] = field(default_factory=list)  # points no attempt reached
    seconds: float = 0.0


def non_idempotent_steps(runbook: str) -> set[str]:
    doc = yaml.safe_load((ROOT / "runbooks" / f"{runbook}.yml").read_text())
    return {s["id"] for s in doc["steps"]
            if s.get("kind") == "playbook" and not s.get("idempotent", False)}


def task_counts(home: Path, run_id: str) -> dict[str, int]:
    """Task starts per step in a run's first attempts, from ansible-runner's job events."""
    counts: dict[str, int] = {}
    for folder in sorted(glob.glob(str(home / "runs" / run_id / "artifacts" / "*-1-*"))):
        step = Path(folder).name.rsplit("-", 2)[0]
        events = [json.loads(Path(f).read_text())
                  for f in glob.glob(f"{folder}/job_events/*.json")]
        counts[step] = sum(1 for e in events if e.get("event") in TASK_STARTS)
    return counts


def kill_points(steps: list[tuple[str, int, int]]) -> list[str]:
    """For each (step, tasks, every): its boundaries, its first task and every EVERY-th one
    up to TASKS (a step with no task, skipped here, has its boundaries only)."""
    points: list[str] = []
    for step, tasks, every in steps:
        points.append(f"before-step:{step}")
        points += [f"task:{step}:{n}" for n in [1, *range(every, tasks + 1, every)]
                   if n <= tasks]
        points.append(f"after-step:{step}")
    return points


def show(run_id: str, env: dict[str, str]) -> dict[str, Any]:
    shown = hisops("show", run_id, "--json", env=env)
    assert shown.rc == 0, shown.err
    return dict(shown.json())


def run_chain(args: list[str], points: list[str], env: dict[str, str], *,
              non_idempotent: set[str], decide: Callable[[str, str], Decision],
              timeout: float = 900) -> Chain:
    """``hisops ARGS``, killed at the first point, resumed and killed at each later one, until
    a resume runs to the end. DECIDE(run_id, step) answers for a non-idempotent step that
    was killed mid-way, after the test has seen resume refuse to guess."""
    chain = Chain()
    started = time.monotonic()
    remaining = list(points)
    flags: list[str] = []
    while True:
        run_env = {**env, "HISOPS_FAILPOINTS": ",".join(remaining)}
        if chain.run_id:
            result = hisops("resume", chain.run_id, *flags, env=run_env, timeout=timeout)
        else:
            result = hisops(*args, env=run_env, timeout=timeout)
            chain.run_id = str(hisops("runs", "--json", env=env).json()[-1]["run_id"])
        if result.rc != -signal.SIGKILL:
            assert result.rc == 0, f"after {chain.kills}: rc {result.rc}: {result.err}"
            chain.passed_over += remaining
            break
        fired = _fired(result)
        chain.passed_over += remaining[:remaining.index(fired)]
        remaining = remaining[remaining.index(fired) + 1:]
        chain.kills.append(fired)
        flags = []
        running = [s["id"] for s in show(chain.run_id, env)["steps"] if s["status"] == "running"]
        if running and running[0] in non_idempotent:
            step = running[0]
            refused = hisops("resume", chain.run_id, env=env, timeout=timeout)
            assert refused.rc == 3, f"resume after {fired} did not refuse: {refused.err}"
            assert f"--retry-step {step}" in refused.err
            assert f"--skip-step {step}" in refused.err
            action, why = decide(chain.run_id, step)
            chain.decisions.append((step, action, why))
            flags = [f"--{action}-step", step, "--reason", why]  # the evidence, journaled
            if action == "skip":
                # a skipped step never runs again: its later points cannot fire
                chain.passed_over += [p for p in remaining if _step_of(p) == step]
                remaining = [p for p in remaining if _step_of(p) != step]
    chain.seconds = time.monotonic() - started
    return chain


def _fired(result: Result) -> str:
    names = FIRED.findall(result.err)
    assert len(names) == 1, f"killed, but not by one failpoint: {result.err[-2000:]}"
    return names[0]


def _step_of(point: str) -> str:
    kind, _, rest = point.partition(":")
    return rest.split(":")[0] if kind == "task" else rest


def assert_no_double_runs(shown: dict[str, Any], non_idempotent: set[str]) -> None:
    """A non-idempotent step started once, plus once per journaled operator retry of it."""
    retries = {s: 0 for s in non_idempotent}
    for resolution in shown["resolutions"]:
        if resolution["action"] == "retry":
            retries[resolution["step"]] += 1
    started = [r["payload"]["step"] for r in shown["timeline"] if r["kind"] == "step.started"]
    for step in non_idempotent:
        assert started.count(step) <= 1 + retries[step], (
            f"{step} started {started.count(step)} times with {retries[step]} retries")
        attempts = {s["id"]: s["attempts"] for s in shown["steps"]}.get(step, 0)
        assert attempts <= 1 + retries[step]
