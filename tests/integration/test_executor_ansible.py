"""The Ansible executor with real ansible-runner and ansible-playbook (local connection and the
test sshd). Outcomes are checked against real state: files on disk, artifacts, timings."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hisops.errors import ExecutorError, InventoryError
from hisops.executors.ansible import PlaybookRequest, run_playbook
from hisops.executors.results import HostStatus, PlaybookResult
from tests.fixtures.sshd import SshdServer

DATA = Path(__file__).resolve().parents[1] / "data" / "executors"
LOCAL = 'ansible_connection=local ansible_python_interpreter="{{ ansible_playbook_python }}"'
# the same, one per line for an [all:vars] section
LOCAL_VARS = 'ansible_connection=local\nansible_python_interpreter="{{ ansible_playbook_python }}"'

pytestmark = pytest.mark.slow


def _inventory(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "inventory.ini"
    path.write_text(text)
    return path


def _request(tmp_path: Path, inventory: Path, playbook: str | None, **kw: Any) -> PlaybookRequest:
    defaults: dict[str, Any] = {
        "playbook": DATA / playbook if playbook else None,
        "role": None,
        "pattern": "all",
        "inventory": inventory,
        "private_data_dir": tmp_path / "pdd",
        "ident": f"step-{uuid.uuid4().hex[:8]}",
        "extravars": {"executor_test_dir": str(tmp_path)},
    }
    defaults.update(kw)
    return PlaybookRequest(**defaults)


def _statuses(result: PlaybookResult) -> dict[str, HostStatus]:
    return {name: outcome.status for name, outcome in result.hosts.items()}


def test_outcomes_come_from_the_play_recap(tmp_path: Path) -> None:
    inv = _inventory(tmp_path, f"""
[exercised]
h_ok executor_test_mode=ok
h_change executor_test_mode=change
h_fail executor_test_mode=fail
h_skip executor_test_mode=skip
[idle]
h_idle
[all:vars]
{LOCAL_VARS}
""")
    seen: list[dict[str, Any]] = []

    def broken_progress(event: dict[str, Any]) -> None:
        seen.append(event)
        raise RuntimeError("a progress display bug must not break the run")

    result = run_playbook(_request(tmp_path, inv, "outcomes.yml", on_event=broken_progress))

    assert _statuses(result) == {
        "h_ok": HostStatus.OK, "h_change": HostStatus.CHANGED, "h_fail": HostStatus.FAILED,
        "h_skip": HostStatus.SKIPPED, "h_idle": HostStatus.SKIPPED,
    }
    assert result.status == "failed"
    assert result.rc != 0
    assert result.hosts["h_change"].changed
    assert not result.hosts["h_ok"].changed
    assert "asked to fail on h_fail" in result.hosts["h_fail"].detail
    assert "nothing ran" in result.hosts["h_idle"].detail
    assert result.stats["h_change"].changed == 1
    assert result.stats["h_fail"].failures == 1
    assert result.stats["h_skip"].skipped == 3
    assert result.stats["h_skip"].ok == 0
    assert "h_idle" not in result.stats
    assert (tmp_path / "h_change.txt").read_text() == "h_change\n"
    assert {"host": "h_fail", "status": "failed"}.items() <= next(
        e for e in seen if e["host"] == "h_fail" and e["status"] == "failed").items()
    assert result.artifact_dir == tmp_path / "pdd" / "artifacts" / result.artifact_dir.name
    assert len(result.artifact_digest) == 64


def test_check_then_apply_then_idempotent(tmp_path: Path) -> None:
    inv = _inventory(tmp_path, f"db1 {LOCAL}\n")
    marker = tmp_path / "db1.marker"

    checked = run_playbook(_request(tmp_path, inv, "marker.yml", check=True, diff=True))
    assert _statuses(checked) == {"db1": HostStatus.CHANGED}  # would change
    assert not marker.exists(), "check mode changed the host"

    applied = run_playbook(_request(tmp_path, inv, "marker.yml"))
    assert _statuses(applied) == {"db1": HostStatus.CHANGED}
    assert marker.read_text() == "marker db1\n"

    again = run_playbook(_request(tmp_path, inv, "marker.yml"))
    assert _statuses(again) == {"db1": HostStatus.OK}
    assert again.stats["db1"].changed == 0
    assert not again.hosts["db1"].changed
    assert again.status == "successful"


def test_limit_intersects_a_union_pattern(tmp_path: Path) -> None:
    inv = _inventory(tmp_path, f"""
[web]
w1
[db]
d1
d2
[primary]
w1
d1
[all:vars]
{LOCAL_VARS}
""")
    result = run_playbook(_request(tmp_path, inv, "marker.yml", pattern="web:db",
                                   limit="primary"))
    assert _statuses(result) == {"w1": HostStatus.CHANGED, "d1": HostStatus.CHANGED}
    assert sorted(p.name for p in tmp_path.glob("*.marker")) == ["d1.marker", "w1.marker"]


def test_serial_batches_run_in_order_and_stop_at_first_failure(tmp_path: Path) -> None:
    inv = _inventory(tmp_path, f"""
[b1]
h1
[b2]
h2 executor_test_fail=true
[b3]
h3
[all:vars]
{LOCAL_VARS}
""")
    req = _request(tmp_path, inv, "serial.yml", serial=("b1", "b2", "b3"))
    result = run_playbook(req)

    assert _statuses(result) == {
        "h1": HostStatus.CHANGED, "h2": HostStatus.FAILED, "h3": HostStatus.SKIPPED,
    }
    assert "not run" in result.hosts["h3"].detail
    assert (tmp_path / "order.log").read_text() == "h1\nh2\n"
    assert result.status == "failed"
    batches = sorted(p.name for p in result.artifact_dir.iterdir())
    assert batches == [f"{req.ident}-b1", f"{req.ident}-b2"]
    assert set(result.stats) == {"h1", "h2"}


def test_serial_batches_all_run_when_all_succeed(tmp_path: Path) -> None:
    inv = _inventory(tmp_path, f"""
[first]
h1
[rest]
h2
h3
[all:vars]
{LOCAL_VARS}
""")
    result = run_playbook(_request(tmp_path, inv, "serial.yml", serial=("first", "rest")))
    assert set(_statuses(result).values()) == {HostStatus.CHANGED}
    order = (tmp_path / "order.log").read_text().split()
    assert order[0] == "h1"
    assert sorted(order[1:]) == ["h2", "h3"]
    assert result.status == "successful"


def test_serial_batches_must_cover_every_host(tmp_path: Path) -> None:
    inv = _inventory(tmp_path, f"[first]\nh1\n[rest]\nh2\n[all:vars]\n{LOCAL_VARS}\n")
    with pytest.raises(ExecutorError, match="h2"):
        run_playbook(_request(tmp_path, inv, "serial.yml", serial=("first",)))
    assert not (tmp_path / "order.log").exists()


def test_role_mode_generates_a_play(tmp_path: Path) -> None:
    inv = _inventory(tmp_path, f"db1 {LOCAL}\n")
    target = tmp_path / "role-marker.txt"
    result = run_playbook(_request(
        tmp_path, inv, None, role="executor_marker", roles_path=(DATA / "roles",),
        extravars={"executor_marker_path": str(target)},
    ))
    assert _statuses(result) == {"db1": HostStatus.CHANGED}
    # the role reads distribution facts: the generated play must gather them
    assert target.read_text().startswith("written by the executor_marker role on ")
    assert target.read_text().strip() != "written by the executor_marker role on"


def _grep_tree(root: Path, needles: list[bytes]) -> list[str]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            hits += [f"{path}: {n!r}" for n in needles if n in content]
    return hits


def test_canary_secret_never_reaches_an_artifact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    canary = f"CANARY-{uuid.uuid4().hex}"
    env_only = f"ENVONLY-{uuid.uuid4().hex}"  # in the environment, never declared secret
    monkeypatch.setenv("HISOPS_TEST_CANARY", canary)
    monkeypatch.setenv("HISOPS_TEST_ENV_ONLY", env_only)
    inv = _inventory(tmp_path, f"db1 {LOCAL}\n")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    still_there: list[Path] = []

    def spy(_event: dict[str, Any]) -> None:
        # task events come after ansible-playbook has started: its vars file must be gone
        for base in (Path("/dev/shm"), Path(os.environ.get("TMPDIR", "/tmp"))):
            still_there.extend(f for f in base.glob(f"hisops-secrets-{os.getpid()}-*/*")
                               if canary.encode() in f.read_bytes())

    req = _request(tmp_path, inv, "secret.yml", secrets={"executor_test_secret": canary},
                   extravars={"executor_test_dir": str(out_dir)}, on_event=spy)
    result = run_playbook(req)

    assert result.status == "successful", result.hosts
    assert (out_dir / "secret.txt").read_text() == canary  # the task got the value
    assert still_there == [], "the secrets file outlived ansible-playbook's start"
    command = json.loads(next(result.artifact_dir.rglob("command")).read_text())
    used = [a for a in command["command"] if "hisops-secrets-" in a]
    assert len(used) == 1, command["command"]  # the value went by file, not on the line
    secrets_path = Path(used[0].lstrip("@"))
    assert secrets_path.is_relative_to("/dev/shm")
    assert not secrets_path.parent.is_relative_to(req.private_data_dir)
    assert not secrets_path.parent.exists(), "secrets dir left behind"
    needles = [canary.encode(), env_only.encode()]
    assert _grep_tree(req.private_data_dir, needles) == []
    assert command["env"]["HISOPS_TEST_CANARY"] == "********"
    assert command["env"]["ANSIBLE_HOST_KEY_CHECKING"] == "True"
    assert not (req.private_data_dir / "env" / "extravars").exists()


def test_secret_with_template_and_quotes_arrives_verbatim(tmp_path: Path) -> None:
    secret = "p{{ lookup('env','HOME') }}'\"é$HOME\\x"  # noqa: S105 - test value
    inv = _inventory(tmp_path, f"db1 {LOCAL}\n")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    req = _request(tmp_path, inv, "secret.yml", secrets={"executor_test_secret": secret},
                   extravars={"executor_test_dir": str(out_dir)})
    result = run_playbook(req)
    assert result.status == "successful", result.hosts
    assert (out_dir / "secret.txt").read_text() == secret
    forms = {secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1]}
    assert _grep_tree(req.private_data_dir, [f.encode() for f in forms]) == []


def _unique_sleep() -> str:
    """A sleep duration no other process uses, so pgrep finds only ours."""
    return f"61.{uuid.uuid4().int % 10**9:09d}"


def _running(pattern: str) -> bool:
    return subprocess.run(["pgrep", "-f", pattern], capture_output=True,
                          check=False).returncode == 0


def test_timeout_stops_the_run_and_its_processes(tmp_path: Path) -> None:
    inv = _inventory(tmp_path, f"db1 {LOCAL}\n")
    sleep_s = _unique_sleep()
    t0 = time.monotonic()
    result = run_playbook(_request(tmp_path, inv, "sleep.yml", timeout_s=3, extravars={
        "executor_test_sleep_s": sleep_s}))
    assert time.monotonic() - t0 < 12
    assert result.status == "timeout"
    assert _statuses(result) == {"db1": HostStatus.TIMEOUT}
    assert not _running(f"sleep {sleep_s}")


_SIGINT_DRIVER = """
import signal, sys
from pathlib import Path
from hisops.errors import Interrupted
from hisops.executors.ansible import PlaybookRequest, run_playbook
tmp, data, sleep_s = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
# as in an operator's terminal: a shell that ran pytest in the background (CI under nohup,
# `cmd &`) hands its children SIGINT ignored, and the guard must put back what it found
signal.signal(signal.SIGINT, signal.default_int_handler)
req = PlaybookRequest(
    playbook=data / "sleep.yml", role=None, pattern="all", inventory=tmp / "inventory.ini",
    private_data_dir=tmp / "pdd", ident="sigint-1", extravars={"executor_test_sleep_s": sleep_s},
    on_event=lambda e: (tmp / "started").touch(),
)
try:
    run_playbook(req)
except Interrupted as exc:
    handler = signal.getsignal(signal.SIGINT)
    restored = handler is signal.default_int_handler
    print("INTERRUPTED", "restored" if restored else f"NOT-restored ({handler!r})", exc)
    sys.exit(130)
print("NOT INTERRUPTED")
"""


def test_sigint_stops_the_run_and_raises_interrupted(tmp_path: Path) -> None:
    _inventory(tmp_path, f"db1 {LOCAL}\n")
    sleep_s = _unique_sleep()
    proc = subprocess.Popen([sys.executable, "-c", _SIGINT_DRIVER, str(tmp_path), str(DATA),
                             sleep_s], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "started").exists() and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.1)
        time.sleep(0.5)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert time.monotonic() - t0 < 8
    assert proc.returncode == 130, (out, err)
    assert out.startswith("INTERRUPTED restored"), (out, err)
    assert not _running(f"sleep {sleep_s}"), "ansible-playbook's task outlived the interrupt"
    assert (tmp_path / "pdd" / "artifacts" / "sigint-1" / "status").read_text() == "canceled"


def test_cancel_callback_stops_the_run(tmp_path: Path) -> None:
    inv = _inventory(tmp_path, f"db1 {LOCAL}\n")
    started: list[float] = []
    cancel: Callable[[], bool] = lambda: bool(started) and time.monotonic() - started[0] > 1  # noqa: E731
    sleep_s = _unique_sleep()
    t0 = time.monotonic()
    result = run_playbook(_request(tmp_path, inv, "sleep.yml", cancel=cancel,
                                   extravars={"executor_test_sleep_s": sleep_s},
                                   on_event=lambda e: started.append(time.monotonic())))
    assert time.monotonic() - t0 < 15
    assert result.status == "canceled"
    assert result.hosts["db1"].status == HostStatus.FAILED
    assert "canceled" in result.hosts["db1"].detail
    assert not _running(f"sleep {sleep_s}"), "the task outlived the cancel"


def test_reused_ident_is_refused(tmp_path: Path) -> None:
    inv = _inventory(tmp_path, f"db1 {LOCAL}\n")
    req = _request(tmp_path, inv, "marker.yml", ident="step-1")
    (req.private_data_dir / "artifacts" / "step-1").mkdir(parents=True)
    with pytest.raises(ExecutorError, match="unique"):
        run_playbook(req)
    assert not (tmp_path / "db1.marker").exists()


def test_pattern_matching_no_host_is_an_inventory_error(tmp_path: Path) -> None:
    inv = _inventory(tmp_path, f"db1 {LOCAL}\n")
    with pytest.raises(InventoryError, match="matches no host"):
        run_playbook(_request(tmp_path, inv, "marker.yml", pattern="nosuchgroup"))


def test_over_ssh_with_host_key_checking(sshd: SshdServer, tmp_path: Path) -> None:
    inv = _inventory(tmp_path, sshd.inventory("db1"))
    result = run_playbook(_request(tmp_path, inv, "marker.yml"))
    assert _statuses(result) == {"db1": HostStatus.CHANGED}
    assert (tmp_path / "db1.marker").read_text() == "marker db1\n"


def test_over_ssh_wrong_host_key_is_unreachable(
    sshd_factory: Callable[[], SshdServer], tmp_path: Path
) -> None:
    # a server of its own: Ansible's ControlPersist master from another test would skip the
    # host key check altogether
    sshd = sshd_factory()
    known = sshd.write_known_hosts(
        tmp_path / "known_hosts",
        key_line="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHn4vkxZL0dDhMv0ZmaFUBpB0mjtmMnyXHq4HEpAtPxD",
    )
    line = sshd.inventory_line(
        "db1", ansible_ssh_common_args=f"-o UserKnownHostsFile={known}",
    )
    inv = _inventory(tmp_path, line + "\n")
    result = run_playbook(_request(tmp_path, inv, "marker.yml"))
    assert _statuses(result) == {"db1": HostStatus.UNREACHABLE}
    assert result.stats["db1"].dark == 1
    assert "host key" in result.hosts["db1"].detail.lower()
    assert not (tmp_path / "db1.marker").exists()


def test_secret_printed_by_a_careless_task_is_scrubbed(tmp_path: Path) -> None:
    canary = f"LEAKY-{uuid.uuid4().hex}"
    inv = _inventory(tmp_path, f"db1 {LOCAL}\n")
    req = _request(tmp_path, inv, "secret_leaky.yml", secrets={"executor_test_secret": canary})
    result = run_playbook(req)
    assert result.status == "successful"
    assert _grep_tree(req.private_data_dir, [canary.encode()]) == []
    stdout = next(result.artifact_dir.rglob("stdout")).read_text()
    assert "the secret is ********" in stdout  # it was there, and was masked


def test_set_stats_data_of_every_host_and_announcements_reach_the_caller(
        tmp_path: Path) -> None:
    inv = _inventory(tmp_path, f"[all]\nh1 {LOCAL}\nh2 {LOCAL}\n")
    seen: list[dict[str, Any]] = []
    result = run_playbook(_request(tmp_path, inv, "publish.yml", on_event=seen.append))
    assert result.status == "successful"
    assert result.data == {"hisops_evidence": {"backup": {"h1": {"label": "L-h1"},
                                                          "h2": {"label": "L-h2"}}}}
    messages = sorted(e["message"] for e in seen if "message" in e)
    assert messages == ["h1 will take about 3 s", "h2 will take about 3 s"]


def test_set_stats_of_serial_batches_are_merged(tmp_path: Path) -> None:
    inv = _inventory(tmp_path, f"[all]\nh1 {LOCAL}\nh2 {LOCAL}\n")
    result = run_playbook(_request(tmp_path, inv, "publish.yml", serial=("h1", "h2")))
    assert set(result.data["hisops_evidence"]["backup"]) == {"h1", "h2"}
