"""Run a playbook or a role through ansible-runner and return hisops' own result types.

Per-host outcomes come from ansible-runner's play recap (`stats`), never from Ansible's
human output. Secrets reach Ansible only through a 0600 vars file outside the private data
dir, and every artifact is scrubbed before it is fingerprinted (see `artifacts.py` for what
ansible-runner writes and why each step is needed).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shlex
import shutil
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ansible_runner
import yaml
from ansible_runner.exceptions import AnsibleRunnerException

from hisops.errors import ExecutorError, Interrupted, InventoryError
from hisops.executors.artifacts import (
    SecretsFile,
    artifact_digest,
    scrub_artifacts,
    secrets_vars_file,
    validate_var_names,
)
from hisops.executors.inventory import ResolvedHosts, resolve_hosts
from hisops.executors.results import HostOutcome, HostStats, HostStatus, PlaybookResult
from hisops.executors.stopping import InterruptGuard, RunWatch
from hisops.faults import failpoint

log = logging.getLogger(__name__)

_IDENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_STAT_KEYS = ("ok", "changed", "failures", "dark", "skipped", "rescued", "ignored")
# How often ansible-runner polls cancel_callback, which also enforces our timeout. Its
# default, 5 s, would make Ctrl-C and timeouts feel broken.
_POLL_S = 1
_DETAIL_MAX = 500


@dataclass(frozen=True)
class PlaybookRequest:
    """Everything one ansible-runner invocation needs; validated before anything runs."""

    playbook: Path | None  # absolute path to a playbook, or None when `role` is given
    role: str | None  # run this role through a generated play (hosts: pattern)
    pattern: str  # hosts to act on; the run is limited to exactly these (∩ limit)
    inventory: Path
    private_data_dir: Path  # one per hisops run; artifacts go under artifacts/<ident>/
    ident: str  # "<step_id>-<attempt>"; must not have been used in this private data dir
    extravars: Mapping[str, Any] = field(default_factory=dict)  # non-secret
    secrets: Mapping[str, str] = field(default_factory=dict)  # never written to artifacts
    limit: str | None = None  # intersected with pattern
    check: bool = False
    diff: bool = False
    timeout_s: int | None = None  # whole run, per batch
    forks: int = 10
    roles_path: Sequence[Path] = ()
    serial: Sequence[str] = ()  # batches of patterns, run in order, stop at the first failure
    on_event: Callable[[dict[str, Any]], None] | None = None  # progress for the CLI
    cancel: Callable[[], bool] | None = None  # return True to stop the run
    # Hosts (and per-serial-pattern batches) already matched by the caller with Ansible's
    # InventoryManager, as hisops's planner does: saves a child interpreter (~1 s) per run.
    resolved: ResolvedHosts | None = None

    def __post_init__(self) -> None:
        if (self.playbook is None) == (self.role is None):
            raise ExecutorError("give exactly one of playbook and role")
        if self.playbook is not None and not self.playbook.is_absolute():
            raise ExecutorError(f"playbook must be an absolute path: {self.playbook}")
        if self.playbook is not None and not self.playbook.is_file():
            raise ExecutorError(f"playbook {self.playbook} does not exist")
        if self.role is not None and not re.match(r"^[A-Za-z0-9_.]+$", self.role):
            raise ExecutorError(f"bad role name '{self.role}'")
        if not _IDENT.match(self.ident):
            raise ExecutorError(f"ident '{self.ident}' must match {_IDENT.pattern}")
        if not self.pattern.strip():
            raise ExecutorError("host pattern is empty")
        if self.forks < 1:
            raise ExecutorError(f"forks must be >= 1, got {self.forks}")
        if self.timeout_s is not None and self.timeout_s < 1:
            raise ExecutorError(f"timeout_s must be >= 1, got {self.timeout_s}")
        validate_var_names(self.extravars, "extravars")
        validate_var_names(self.secrets, "secrets")
        both = sorted(set(self.extravars) & set(self.secrets))
        if both:
            raise ExecutorError(f"variables given both as extravars and secrets: {both}")
        if any(not isinstance(v, str) for v in self.secrets.values()):
            raise ExecutorError("secret values must be strings")
        try:
            json.dumps(dict(self.extravars))  # ansible-runner passes them as JSON
        except (TypeError, ValueError) as exc:
            raise ExecutorError(f"extravars are not JSON-serialisable: {exc}") from exc


def run_playbook(req: PlaybookRequest) -> PlaybookResult:
    """Run `req` (in serial batches if asked) and return per-host outcomes from the recap.

    Raises ExecutorError when nothing could be run, InventoryError when the pattern matches
    no host, Interrupted on SIGINT/SIGTERM (after the run was stopped and scrubbed).
    """
    started = time.monotonic()
    binary = _ansible_playbook()
    resolved = req.resolved or resolve_hosts(req.inventory, req.pattern, req.limit, req.serial)
    if len(resolved.batches) != len(req.serial):
        raise ExecutorError("resolved batches do not match the serial patterns")
    if not resolved.targets:
        where = f" ∩ limit '{req.limit}'" if req.limit else ""
        raise InventoryError(
            f"host pattern '{req.pattern}'{where} matches no host", file=str(req.inventory)
        )
    batches = _plan_batches(req, resolved.targets, resolved.batches)
    artifact_root = req.private_data_dir / "artifacts" / req.ident
    if artifact_root.exists():
        # ansible-runner would mix this run's job events with the old ones
        raise ExecutorError(f"artifact dir {artifact_root} exists: ident must be unique")
    req.private_data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    _ensure_runner_settings(req.private_data_dir)
    playbook = req.playbook or _write_role_playbook(req)
    env = _ansible_env(req, binary)

    runs: list[_BatchRun] = []
    guard = InterruptGuard()
    try:
        with secrets_vars_file(req.secrets) as secrets_file, guard:
            for i, hosts in enumerate(batches, start=1):
                if req.serial:
                    ident, parent = f"{req.ident}-b{i}", artifact_root
                else:
                    ident, parent = req.ident, artifact_root.parent
                run = _run_once(req, playbook, hosts, ident, parent, env, secrets_file, guard)
                runs.append(run)
                if guard.interrupted or not run.succeeded:
                    break
    finally:
        if artifact_root.exists():
            scrub_artifacts(artifact_root, req.secrets, readable_env=frozenset(env))
    if guard.interrupted:
        raise Interrupted(
            f"ansible run {req.ident} interrupted by signal; artifacts in {artifact_root}"
        )
    return _merge(req, batches, runs, artifact_root, time.monotonic() - started)


# --- one ansible-runner invocation --------------------------------------------------------------


@dataclass
class _HostEvents:
    first: str = ""
    last: str = ""
    changed: bool = False
    failed: str = ""  # detail of the first failure
    unreachable: str = ""


@dataclass(frozen=True)
class _BatchRun:
    hosts: tuple[str, ...]
    status: str
    rc: int
    stats: dict[str, dict[str, int]] | None
    events: dict[str, _HostEvents]
    started_at: str
    ended_at: str
    data: dict[str, Any] = field(default_factory=dict)  # set_stats published by the play

    @property
    def succeeded(self) -> bool:
        if self.status != "successful" or self.stats is None:
            return False
        return not any(self.stats["failures"].values()) and not any(self.stats["dark"].values())


def _run_once(
    req: PlaybookRequest, playbook: Path, hosts: Sequence[str], ident: str, artifact_parent: Path,
    env: dict[str, str], secrets_file: SecretsFile, guard: InterruptGuard,
) -> _BatchRun:
    def on_status(data: dict[str, Any], runner_config: Any = None) -> None:
        # data holds the full environment on 'starting': log the status only
        log.debug("ansible-runner %s: %s", ident, data.get("status"))

    watch = RunWatch(req.timeout_s, req.cancel, guard)
    tracker = _Tracker(ident, req.on_event, watch.note_event, secrets_file.consumed)

    args: list[str] = []
    secrets_path = secrets_file.write()
    if secrets_path is not None:
        args += ["-e", f"@{secrets_path}"]
    if req.check:
        args.append("--check")
    if req.diff:
        args.append("--diff")
    log.info("ansible-runner %s: %s on %d host(s)", ident, playbook.name, len(hosts))
    started_at = _now()
    try:
        runner = ansible_runner.run(
            private_data_dir=str(req.private_data_dir),
            artifact_dir=str(artifact_parent),
            ident=ident,
            playbook=str(playbook),
            inventory=str(req.inventory),
            # exact names: "pattern ∩ limit ∩ batch" as resolved by Ansible itself
            limit=",".join(hosts),
            extravars=dict(req.extravars) or None,
            cmdline=shlex.join(args) or None,
            envvars=env,
            forks=req.forks,
            # no `timeout`: ansible-runner's kill would orphan the running task (stopping.py)
            quiet=True,
            suppress_env_files=True,
            fact_cache_type="memory",  # the jsonfile cache would store ansible_env on disk
            event_handler=tracker,
            status_handler=on_status,
            # always pass one: without it ansible-runner replaces our SIGINT/SIGTERM handlers
            cancel_callback=watch,
        )
    except AnsibleRunnerException as exc:
        raise ExecutorError(f"ansible-runner could not run {ident}: {exc}") from exc
    stats = runner.stats
    status = str(runner.status)
    if watch.reason == "timeout" and status == "canceled":
        status = "timeout"
        (artifact_parent / ident / "status").write_text(status)  # the record says why
    log.info("ansible-runner %s: status=%s rc=%s", ident, status, runner.rc)
    return _BatchRun(
        hosts=tuple(hosts), status=status, rc=int(runner.rc if runner.rc is not None else -1),
        stats=_normalise_stats(stats), events=tracker.hosts, started_at=started_at,
        ended_at=_now(), data=tracker.data,
    )


# A debug task named "Announce ..." speaks to the operator: its message is shown on hisops'
# console while the step runs (an ETA before a long restore, say).
ANNOUNCE_PREFIX = "Announce "
# the engine's "-<attempt>[-retry]-<hex>[-b<batch>]" after the step id (engine._ident): a task
# failpoint names the step, so the same name hits every attempt of it
_IDENT_SUFFIX = re.compile(r"(?:-\d+(?:-retry)?)?-[0-9a-f]{6}(?:-b\d+)?$")
_TASK_STARTS = frozenset({"playbook_on_task_start", "playbook_on_handler_task_start"})


def task_failpoint(ident: str, ordinal: int) -> str:
    """The failpoint fired when the ORDINAL-th task (1-based, once for all hosts) of the
    ansible-runner run IDENT starts: ``task:<step id>:<n>``."""
    return f"task:{_IDENT_SUFFIX.sub('', ident)}:{ordinal}"


class _Tracker:
    """Per-host facts from structured job events, plus progress forwarded to the caller."""

    def __init__(self, ident: str, on_event: Callable[[dict[str, Any]], None] | None,
                 note: Callable[[dict[str, Any]], None],
                 on_playbook_start: Callable[[], None] = lambda: None) -> None:
        self.on_playbook_start = on_playbook_start
        self.ident = ident
        self.on_event = on_event
        self.note = note
        self.hosts: dict[str, _HostEvents] = {}
        self.data: dict[str, Any] = {}
        self.callback_failures = 0
        self.tasks_started = 0

    def __call__(self, event: dict[str, Any]) -> bool:
        if event.get("event") in _TASK_STARTS:
            self.tasks_started += 1
            failpoint(task_failpoint(self.ident, self.tasks_started))
        try:
            if event.get("event") == "playbook_on_start":
                # ansible-playbook has parsed its -e @file: the secrets file can go now
                self.on_playbook_start()
                # its pid, before any task runs: a hisops killed from here on leaves it
                # running, and resume can stop it only if the journal knows it
                # (same keys as every progress event: consumers may read any of them)
                self._forward({"ident": self.ident, "host": "", "task": "",
                               "status": "playbook_started", "pid": event.get("pid")})
            self.note(event)
            if event.get("event") == "playbook_on_stats":
                # what the play published with set_stats (aggregated, not per_host)
                artifact_data = (event.get("event_data") or {}).get("artifact_data")
                if isinstance(artifact_data, dict):
                    self.data = artifact_data
            self._track(event)
        except Exception:  # never let bookkeeping stop ansible-runner
            log.exception("cannot track ansible event %s", event.get("event"))
        return True  # ansible-runner writes the event to disk only when the handler says so

    def _track(self, event: dict[str, Any]) -> None:
        name = str(event.get("event", ""))
        data = event.get("event_data") or {}
        host = data.get("host")
        if not host or not name.startswith("runner_on_"):
            return
        ev = self.hosts.setdefault(str(host), _HostEvents())
        created = str(event.get("created", ""))
        ev.first = ev.first or created
        ev.last = created or ev.last
        raw_res = data.get("res")
        res: dict[str, Any] = raw_res if isinstance(raw_res, dict) else {}
        task = str(data.get("task", ""))
        status = {"runner_on_start": "started", "runner_on_skipped": "skipped",
                  "runner_on_unreachable": "unreachable"}.get(
                      name, name.removeprefix("runner_on_"))
        if name == "runner_on_ok" and res.get("changed"):
            ev.changed = True
            status = "changed"
        elif name == "runner_on_failed":
            if data.get("ignore_errors"):
                status = "ignored"
            else:
                # the last failure: an earlier one may have been rescued, and the block's own
                # final report (a fail task) says more than the step that set it off
                ev.failed = _short(f"task '{task}' failed: {_res_message(res)}")
        elif name == "runner_on_unreachable" and not ev.unreachable:
            ev.unreachable = _short(f"unreachable at task '{task}': {_res_message(res)}")
        progress = {"ident": self.ident, "host": str(host), "task": task, "status": status,
                    # ansible-playbook's pid: it outlives a SIGKILLed hisops (see stopping.py)
                    "pid": event.get("pid")}
        if (name == "runner_on_ok" and task.startswith(ANNOUNCE_PREFIX)
                and str(data.get("resolved_action", "")).endswith("debug")):
            progress["message"] = str(res.get("msg", ""))
        self._forward(progress)

    def _forward(self, progress: dict[str, Any]) -> None:
        if self.on_event is None:
            return
        try:
            self.on_event(progress)
        except Exception:
            # once with the traceback, then quietly: a broken display must not flood the log
            first = self.callback_failures == 0
            self.callback_failures += 1
            log.log(logging.WARNING if first else logging.DEBUG,
                    "progress callback failed; the run continues", exc_info=first)


def _res_message(res: dict[str, Any]) -> str:
    items = res.get("results")
    if isinstance(items, list):  # a loop: the first failed item says more than "items failed"
        for item in items:
            if isinstance(item, dict) and item.get("failed"):
                return _res_message(item)
    stderr = str(res.get("stderr") or "").strip()
    if res.get("msg") == "non-zero return code" and stderr:
        # the command's own words say why (its ERROR line, else its last line; a trailing
        # HINT is advice, not the reason); Ansible's msg only says that it failed
        lines = [ln for ln in stderr.splitlines() if ln.strip()]
        errors = [ln for ln in lines if "ERROR" in ln or "FATAL" in ln or "error:" in ln]
        return f"rc {res.get('rc')}: " + " ".join((errors or lines)[-1].split())
    for key in ("msg", "stderr", "reason"):
        value = res.get(key)
        if value:
            return " ".join(str(value).split())
    return "no message (see the job events)"


# --- merging batches into one result ----------------------------------------------------------


def _merge(
    req: PlaybookRequest, batches: Sequence[Sequence[str]], runs: Sequence[_BatchRun],
    artifact_root: Path, duration_s: float,
) -> PlaybookResult:
    hosts: dict[str, HostOutcome] = {}
    stats: dict[str, HostStats] = {}
    data: dict[str, Any] = {}
    for run in runs:
        data = merge_data(data, run.data)
        for name, outcome in _batch_outcomes(run).items():
            hosts[name] = outcome
        if run.stats is not None:
            for name in _hosts_in_stats(run.stats):
                stats[name] = HostStats(**{k: run.stats[k].get(name, 0) for k in _STAT_KEYS})
    last = runs[-1]
    for later in batches[len(runs):]:
        for name in later:
            hosts[name] = HostOutcome(
                host=name, status=HostStatus.SKIPPED,
                detail=f"not run: serial batch {len(runs)} did not succeed",
            )
    return PlaybookResult(
        status=last.status, rc=last.rc, hosts=hosts, stats=stats,
        artifact_dir=artifact_root, artifact_digest=artifact_digest(artifact_root),
        duration_s=round(duration_s, 3), data=data,
    )


def merge_data(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Merge set_stats data of serial batches as Ansible merges it within one play: nested
    mappings merge key by key, anything else is replaced by the newer value."""
    out = dict(old)
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_data(out[key], value)
        else:
            out[key] = value
    return out


def _batch_outcomes(run: _BatchRun) -> dict[str, HostOutcome]:
    out: dict[str, HostOutcome] = {}
    names = list(run.hosts)
    if run.stats is not None:
        names += [h for h in _hosts_in_stats(run.stats) if h not in run.hosts]  # add_host etc.
    for name in names:
        ev = run.events.get(name, _HostEvents())
        status, changed, detail = _host_status(run, name, ev)
        out[name] = HostOutcome(
            host=name, status=status, changed=changed, detail=detail,
            started_at=ev.first or run.started_at, ended_at=ev.last or run.ended_at,
        )
    return out


def _host_status(run: _BatchRun, name: str, ev: _HostEvents) -> tuple[HostStatus, bool, str]:
    """Decide one host's outcome from the play recap; events only explain it."""
    if run.stats is None:
        # no recap: the run was killed (timeout, cancel) or ansible-playbook failed to start
        if ev.failed:
            return HostStatus.FAILED, ev.changed, ev.failed
        if ev.unreachable:
            return HostStatus.UNREACHABLE, ev.changed, ev.unreachable
        if run.status == "timeout":
            return HostStatus.TIMEOUT, ev.changed, "run timed out before the play recap"
        if run.status == "canceled":
            return HostStatus.FAILED, ev.changed, "run canceled before the play recap"
        return HostStatus.FAILED, ev.changed, _short(
            f"ansible-playbook ended ({run.status}, rc={run.rc}) without a play recap; "
            "see stdout in the artifacts"
        )
    counts = {k: run.stats[k].get(name, 0) for k in _STAT_KEYS}
    changed = counts["changed"] > 0
    if counts["failures"] > 0:
        return HostStatus.FAILED, changed, ev.failed or "a task failed"
    if counts["dark"] > 0:
        return HostStatus.UNREACHABLE, changed, ev.unreachable or "host unreachable"
    if changed:
        return HostStatus.CHANGED, True, f"{counts['changed']} task(s) changed"
    if name not in _hosts_in_stats(run.stats):
        return HostStatus.SKIPPED, False, "matched no play: nothing ran"
    if counts["ok"] == 0 and counts["skipped"] > 0:
        return HostStatus.SKIPPED, False, "every task was skipped"
    return HostStatus.OK, False, ""


def _hosts_in_stats(stats: dict[str, dict[str, int]]) -> list[str]:
    seen: dict[str, None] = {}
    for key in (*_STAT_KEYS, "processed"):
        for name in stats.get(key, {}):
            seen.setdefault(name, None)
    return list(seen)


def _normalise_stats(raw: Any) -> dict[str, dict[str, int]] | None:
    if not isinstance(raw, dict):
        return None
    return {k: {str(h): int(n) for h, n in (raw.get(k) or {}).items()}
            for k in (*_STAT_KEYS, "processed")}


# --- preparing a run ------------------------------------------------------------------------------


def _plan_batches(
    req: PlaybookRequest, targets: Sequence[str], resolved: Sequence[Sequence[str]]
) -> list[tuple[str, ...]]:
    """Each target host in exactly one batch, the first that names it; refuse stragglers."""
    if not req.serial:
        return [tuple(targets)]
    placed: set[str] = set()
    batches: list[tuple[str, ...]] = []
    for pattern, members in zip(req.serial, resolved, strict=True):
        batch = tuple(h for h in members if h not in placed)
        placed.update(batch)
        if batch:
            batches.append(batch)
        else:
            log.info("serial batch '%s' has no host left in '%s'", pattern, req.pattern)
    missing = [h for h in targets if h not in placed]
    if missing:
        # a host silently left out would be reported as skipped, i.e. as a success
        raise ExecutorError(f"hosts in no serial batch: {', '.join(missing)}")
    return batches


def _ansible_playbook() -> str:
    found = shutil.which("ansible-playbook")
    if found:
        return found
    beside = Path(sys.executable).parent / "ansible-playbook"  # venv not activated
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    raise ExecutorError("ansible-playbook not found on PATH nor beside the Python interpreter")


def _ansible_env(req: PlaybookRequest, binary: str) -> dict[str, str]:
    """Non-secret environment for ansible-playbook: safe, quiet, fast, reproducible."""
    env = {
        # ansible-runner defaults host key checking to False unless the variable is set
        "ANSIBLE_HOST_KEY_CHECKING": "True",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_PIPELINING": "True",
        # Ansible's default, pinned so a user's own ansible.cfg cannot turn the SSH master off
        # (ControlPersist off measured 1.72x slower on 20 hosts; benchmarks/bench_ansible.py)
        "ANSIBLE_SSH_ARGS": "-C -o ControlMaster=auto -o ControlPersist=60s",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        # facts only where a play asks (gather_facts: true): faster, and no ansible_env
        "ANSIBLE_GATHERING": "explicit",
        # never leave module files (which embed their arguments) on the targets
        "ANSIBLE_KEEP_REMOTE_FILES": "False",
        "ANSIBLE_DEBUG": "False",
        "ANSIBLE_DISPLAY_ARGS_TO_STDOUT": "False",
    }
    bindir = str(Path(binary).parent)
    path = os.environ.get("PATH", "")
    if bindir not in path.split(os.pathsep):
        env["PATH"] = os.pathsep.join([bindir, path]) if path else bindir
    if req.roles_path:
        env["ANSIBLE_ROLES_PATH"] = os.pathsep.join(str(p) for p in req.roles_path)
    return env


def _ensure_runner_settings(private_data_dir: Path) -> None:
    """Write env/settings (non-secret) so ansible-runner polls cancel_callback every second.

    ansible-runner 2.4.3 discards a `settings` argument when env/settings does not exist, so
    the file is the only way to set pexpect_timeout.
    """
    env_dir = private_data_dir / "env"
    settings = env_dir / "settings"
    if settings.exists():
        return
    env_dir.mkdir(mode=0o700, exist_ok=True)
    tmp = env_dir / f".settings.{os.getpid()}.{threading.get_ident()}"
    tmp.write_text(yaml.safe_dump({"pexpect_timeout": _POLL_S}))
    tmp.replace(settings)


def _write_role_playbook(req: PlaybookRequest) -> Path:
    """A one-play playbook that applies `req.role` to `req.pattern`, kept in the data dir."""
    play = {
        "name": f"Apply role {req.role}",
        "hosts": req.pattern,
        # house-style roles pick per-OS vars from distribution facts; the minimal subset has them
        "gather_facts": True,
        "gather_subset": ["!all", "min"],
        "roles": [{"role": req.role}],
    }
    gen_dir = req.private_data_dir / "generated"
    gen_dir.mkdir(mode=0o700, exist_ok=True)
    path = gen_dir / f"{req.ident}.role.yml"
    path.write_text(yaml.safe_dump([play], sort_keys=False))
    return path


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _DETAIL_MAX else text[: _DETAIL_MAX - 1] + "…"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
