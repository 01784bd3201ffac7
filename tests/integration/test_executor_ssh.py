"""The SSH executor against a real OpenSSH server on 127.0.0.1 (tests/fixtures/sshd.py)."""

from __future__ import annotations

import subprocess
import time
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from hisops.executors.results import HostConnection, HostOutcome, HostStatus
from hisops.executors.ssh import OUTPUT_MAX_BYTES, connection_for, run_command
from tests.fixtures.sshd import SshdServer


@pytest.fixture
def conn(sshd: SshdServer) -> HostConnection:
    return connection_for("db1", sshd.hostvars())


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _process_running(marker: str) -> bool:
    found = subprocess.run(["pgrep", "-f", marker], capture_output=True, check=False)
    return found.returncode == 0


def test_connection_from_inventory_vars(sshd: SshdServer, conn: HostConnection) -> None:
    assert (conn.address, conn.port, conn.user) == ("127.0.0.1", sshd.port, "root")
    assert conn.key_file == str(sshd.key_file)
    assert conn.known_hosts == str(sshd.known_hosts)
    assert not conn.local


def test_zero_exit_is_ok_with_both_streams(conn: HostConnection) -> None:
    out = run_command([conn], "echo hello; echo warning >&2")["db1"]
    assert out.status == HostStatus.OK
    assert (out.rc, out.stdout, out.stderr) == (0, "hello\n", "warning\n")
    assert out.started_at
    assert out.ended_at >= out.started_at


def test_nonzero_exit_is_failed_and_keeps_output(conn: HostConnection) -> None:
    out = run_command([conn], "echo partial; echo 'disk full' >&2; exit 3")["db1"]
    assert out.status == HostStatus.FAILED
    assert (out.rc, out.stdout, out.stderr) == (3, "partial\n", "disk full\n")


def test_env_reaches_the_command_verbatim(conn: HostConnection) -> None:
    value = "a b'c\"$HOME;"
    out = run_command([conn], 'printf %s "$HISOPS_PROBE"', env={"HISOPS_PROBE": value})["db1"]
    assert out.status == HostStatus.OK
    assert out.stdout == value


def test_timeout_stops_waiting_and_kills_remote_command(conn: HostConnection) -> None:
    marker = f"hisops-timeout-{uuid.uuid4().hex}"
    t0 = time.monotonic()
    out = run_command([conn], f"sleep 30; : {marker}", timeout_s=2)["db1"]
    elapsed = time.monotonic() - t0
    assert out.status == HostStatus.TIMEOUT, out
    assert out.rc is None
    assert 1.9 <= elapsed < 5, elapsed
    deadline = time.monotonic() + 10
    while _process_running(marker) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _process_running(marker), "remote command survived the timeout"


def test_closed_port_is_unreachable_naming_host_and_port(conn: HostConnection) -> None:
    port = _free_port()
    out = run_command([replace(conn, port=port)], "true", timeout_s=5)["db1"]
    assert out.status == HostStatus.UNREACHABLE
    assert f"127.0.0.1:{port}" in out.detail
    assert "db1" in out.detail
    assert "refused" in out.detail


def test_changed_host_key_is_unreachable_and_says_so(
    sshd: SshdServer, conn: HostConnection, tmp_path: Path
) -> None:
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)],
                   check=True)
    wrong_pub = " ".join(Path(f"{other}.pub").read_text().split()[:2])
    known = sshd.write_known_hosts(tmp_path / "known_hosts", key_line=wrong_pub)
    out = run_command([replace(conn, known_hosts=str(known))], "echo should-not-run")["db1"]
    assert out.status == HostStatus.UNREACHABLE
    assert "host key mismatch" in out.detail
    assert f"127.0.0.1:{sshd.port}" in out.detail
    assert out.stdout == ""


def test_unknown_host_key_is_refused(conn: HostConnection, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    out = run_command([replace(conn, known_hosts=str(empty))], "echo should-not-run")["db1"]
    assert out.status == HostStatus.UNREACHABLE
    assert "unknown host key" in out.detail
    assert str(empty) in out.detail


def test_wrong_client_key_is_unreachable(conn: HostConnection, tmp_path: Path) -> None:
    stranger = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)],
                   check=True)
    out = run_command([replace(conn, key_file=str(stranger))], "true", timeout_s=10)["db1"]
    assert out.status == HostStatus.UNREACHABLE
    assert "authentication failed" in out.detail


def test_large_output_is_truncated(conn: HostConnection) -> None:
    out = run_command([conn], "head -c 200000 /dev/zero | tr '\\0' a")["db1"]
    assert out.status == HostStatus.OK
    assert out.stdout.startswith("a" * 1000)
    assert len(out.stdout) < OUTPUT_MAX_BYTES + 200
    assert "output truncated" in out.stdout


def test_fan_out_runs_hosts_in_parallel(sshd: SshdServer) -> None:
    """Ten logical hosts on one sshd take far less than ten times one host."""
    conns = [connection_for(f"db{i}", sshd.hostvars()) for i in range(10)]
    t0 = time.monotonic()
    single = run_command(conns[:1], "sleep 1; echo done")
    one = time.monotonic() - t0
    done: list[HostOutcome] = []
    t0 = time.monotonic()
    many = run_command(conns, "sleep 1; echo done", on_host_done=done.append)
    ten = time.monotonic() - t0
    assert single["db0"].status == HostStatus.OK
    assert [o.status for o in many.values()] == [HostStatus.OK] * 10
    assert list(many) == [c.name for c in conns]  # caller's order, not completion order
    assert sorted(o.host for o in done) == sorted(many)
    assert ten < 4 * one, f"10 hosts took {ten:.2f}s, one took {one:.2f}s"


def test_one_bad_host_does_not_spoil_the_others(conn: HostConnection) -> None:
    bad = replace(conn, name="db-down", port=_free_port())
    res = run_command([conn, bad], "echo up", timeout_s=5)
    assert res["db1"].status == HostStatus.OK
    assert res["db-down"].status == HostStatus.UNREACHABLE


def test_local_host_runs_through_bash() -> None:
    local = connection_for("controller", {"ansible_connection": "local"})
    assert local.local
    res = run_command([local], 'echo "$0"; [[ -n "$BASH_VERSION" ]] && exit 4', env={})
    out = res["controller"]
    assert (out.status, out.rc, out.stdout) == (HostStatus.FAILED, 4, "bash\n")


def test_local_timeout_kills_the_command_and_its_children() -> None:
    local = connection_for("controller", {"ansible_connection": "local"})
    marker = f"hisops-local-{uuid.uuid4().hex}"
    t0 = time.monotonic()
    # a grandchild too: bash -> bash -> sleep
    out = run_command([local], f"bash -c 'sleep 30; : {marker}-inner'; : {marker}",
                      timeout_s=1)["controller"]
    assert out.status == HostStatus.TIMEOUT
    assert time.monotonic() - t0 < 4
    time.sleep(0.3)
    assert not _process_running(marker)
