"""The podman lab as a user relies on it: SSH with host-key checking, every database answering,
replication to the standby and the logical subscriber, idempotent up and down, clear errors.

Needs the lab (``tests.fixtures.lab``); the session fixture starts it or reuses a running one.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from hisops.lab import containers, lifecycle, podman
from hisops.lab.errors import PortInUse
from hisops.lab.settings import LabSettings
from hisops.patching import media
from tests.fixtures.lab import Lab

pytestmark = pytest.mark.lab

ROOT = Path(__file__).resolve().parents[2]


def _wait_for(fn: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.3)


def test_openssh_reaches_every_host_with_strict_host_key_checking(lab: Lab) -> None:
    for host in lab.topology.hosts:
        proc = subprocess.run([*lab.ssh_args(host.name), "hostname"], capture_output=True,
                              text=True, timeout=30, check=False)
        assert proc.returncode == 0, f"{host.name}: {proc.stderr}"
        assert proc.stdout.strip() == host.name


def test_ssh_refuses_a_host_key_it_does_not_know(lab: Lab, tmp_path: Path) -> None:
    other = tmp_path / "known_hosts"
    # his-db-2's key filed under his-db-1's port: a changed host key must be refused
    line = next(ln for ln in lab.settings.known_hosts.read_text().splitlines()
                if ln.startswith(f"[127.0.0.1]:{lab.host('his-db-2').ssh_port} "))
    other.write_text(line.replace(f":{lab.host('his-db-2').ssh_port} ",
                                  f":{lab.host('his-db-1').ssh_port} ") + "\n")
    args = [a if not a.startswith("UserKnownHostsFile=") else f"UserKnownHostsFile={other}"
            for a in lab.ssh_args("his-db-1")]
    proc = subprocess.run([*args, "true"], capture_output=True, text=True, timeout=30,
                          check=False)
    assert proc.returncode == 255
    assert "HOST IDENTIFICATION HAS CHANGED" in proc.stderr


def test_each_host_has_its_own_host_key(lab: Lab) -> None:
    keys = [ln.split()[2] for ln in lab.settings.known_hosts.read_text().splitlines()]
    assert len(keys) == len(lab.topology.hosts)
    assert len(set(keys)) == len(keys)


def test_every_database_answers_and_holds_the_dataset(lab: Lab) -> None:
    for name in ("his-db-1", "his-db-2", "his-db-3"):
        with lab.connect(name) as conn:
            row = conn.execute("SELECT count(*), pg_is_in_recovery() FROM his.patients").fetchone()
        assert row is not None
        assert row[0] > 0, name
        assert row[1] == (name == "his-db-2")


def test_postgres_listens_on_loopback_only(lab: Lab) -> None:
    with lab.connect("his-db-1") as conn:
        row = conn.execute("SHOW listen_addresses").fetchone()
    assert row == ("127.0.0.1",)


def test_status_reports_every_host_healthy(lab: Lab) -> None:
    rows = lifecycle.status(lab.settings)
    assert [r.host.name for r in rows] == [h.name for h in lab.topology.hosts]
    unhealthy = {r.host.name: r for r in rows if not r.healthy}
    assert not unhealthy
    by_name = {r.host.name: r for r in rows}
    assert by_name["his-db-2"].replication is not None
    assert by_name["his-db-2"].replication.detail == "streaming"
    assert by_name["his-db-3"].replication is not None
    assert by_name["his-db-3"].replication.detail == "subscribed"


def test_a_row_written_on_the_primary_reaches_standby_and_subscriber(lab: Lab) -> None:
    key = f"probe-{uuid.uuid4().hex[:12]}"
    with lab.connect("his-db-1", autocommit=True) as conn:
        conn.execute("INSERT INTO his.dataset_info (key, value) VALUES (%s, 'replicated?')",
                     (key,))
    try:
        for name in ("his-db-2", "his-db-3"):
            def seen(name: str = name) -> bool:
                with lab.connect(name) as conn:
                    return conn.execute("SELECT 1 FROM his.dataset_info WHERE key = %s",
                                        (key,)).fetchone() is not None
            assert _wait_for(seen, timeout=30), f"row not visible on {name} after 30 s"
    finally:
        with lab.connect("his-db-1", autocommit=True) as conn:
            conn.execute("DELETE FROM his.dataset_info WHERE key = %s", (key,))


def test_app_host_http_endpoint_answers_on_loopback(lab: Lab) -> None:
    import urllib.request

    port = lab.host("app-his-1").http_port
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as resp:
        body = json.loads(resp.read())
    assert body["status"] == "ok"
    assert body["host"] == "app-his-1"


def test_patch_repository_holds_a_newer_postgresql_with_checksums(lab: Lab) -> None:
    img = lab.up.image
    assert img.pg_version
    if img.patch_version is None:
        pytest.skip("the package registry offers no PostgreSQL 15.x newer than the installed one")
    assert img.patch_repo is not None
    repo = img.patch_repo.parent
    # the patch and the installed version (the rollback media), each complete and checksummed
    for version in (img.patch_version, img.pg_version):
        release = media.find_release(repo, package_version=version)
        assert {f.package for f in release.files} == {"postgresql-15", "postgresql-client-15",
                                                      "libpq5"}
        assert media.verify_release(release) == []
        proc = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=release.folder,
                              capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    # hosts do not see the repository: the patching runbook copies media to them over SSH
    proc = subprocess.run([*lab.ssh_args("his-db-1"), "ls /opt/hisops/patch-repo"],
                          capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode != 0


def test_lab_up_again_changes_nothing(lab: Lab) -> None:
    before = podman.containers(lab.settings.container_prefix)
    again = lifecycle.up(lab.settings)
    assert again.created == []
    assert again.restarted == []
    assert again.removed == []
    assert again.dataset is None  # already loaded: skipped
    assert sorted(again.kept) == sorted(h.name for h in lab.topology.hosts)
    after = podman.containers(lab.settings.container_prefix)
    assert {n: s.running for n, s in after.items()} == {n: s.running for n, s in before.items()}
    assert all(r.healthy for r in lifecycle.status(lab.settings))


def test_a_taken_port_is_a_clear_error_and_starts_nothing(lab: Lab) -> None:
    extra = lab.topology.app_hosts + 1
    port = lab.settings.port_base + len(lab.topology.hosts) + 1  # ssh port of app-<extra>
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen()
        with pytest.raises(PortInUse) as info:
            lifecycle.up(lab.settings, app_hosts=extra)
    assert info.value.port == port
    assert info.value.host == f"app-{extra}"
    assert f"port {port}" in str(info.value)
    assert f"app-{extra}" not in containers.existing(lab.settings)


def test_cli_reports_the_taken_port_in_one_line(lab: Lab) -> None:
    extra = lab.topology.app_hosts + 1
    port = lab.settings.port_base + len(lab.topology.hosts) + 1
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen()
        proc = subprocess.run(
            [str(ROOT / ".venv" / "bin" / "python"), "-m", "hisops.lab.cli", "up",
             "--hosts", str(extra)],
            capture_output=True, text=True, timeout=120, check=False,
        )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1
    assert f"port {port}" in lines[0]
    assert proc.stdout == ""


def test_a_second_lab_comes_up_and_goes_down_twice_harmlessly(tmp_path: Path) -> None:
    """A separate small lab (own name, ports, dir) so the session's lab stays up."""
    env = {**os.environ, "HISOPS_LAB_NAME": "itest", "HISOPS_LAB_DIR": str(tmp_path / "lab"),
           "HISOPS_LAB_PORT_BASE": "24600"}
    settings = LabSettings.from_env(env)
    result = lifecycle.up(settings, app_hosts=0, scale=0.002)
    try:
        assert sorted(result.created) == sorted(h.name for h in result.topology.hosts)
        assert settings.inventory_file.is_file()
        assert all(r.healthy for r in lifecycle.status(settings))
    finally:
        removed = lifecycle.down(settings)
    assert sorted(removed) == sorted(h.name for h in result.topology.hosts)
    assert lifecycle.down(settings) == []
    assert containers.existing(settings) == {}
    assert not settings.inventory_file.exists()
    assert not settings.state_file.exists()
    assert lifecycle.status(settings) == []
    assert settings.known_hosts.is_file()  # keys survive down


def test_ansible_reaches_every_host_through_the_generated_inventory(lab: Lab) -> None:
    # every host: the lab's (env_lab) and the test environment's (env_test)
    ansible = ROOT / ".venv" / "bin" / "ansible"
    if not ansible.exists():
        pytest.skip("ansible is not installed in .venv")
    env = {**os.environ, "ANSIBLE_HOST_KEY_CHECKING": "True", "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_STDOUT_CALLBACK": "json", "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1"}
    proc = subprocess.run(
        [str(ansible), "-i", str(lab.settings.inventory_file), "all",
         "-m", "ansible.builtin.ping"],
        capture_output=True, text=True, timeout=300, env=env, check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    stats = json.loads(proc.stdout)["stats"]
    assert sorted(stats) == sorted(h.name for h in lab.topology.hosts)
    assert all(s["ok"] == 1 and s["unreachable"] == 0 and s["failures"] == 0
               for s in stats.values())


def test_a_recreated_primary_gets_its_replicas_and_dataset_back(lab: Lab) -> None:
    with lab.connect("his-db-1") as conn:
        before = dict(conn.execute("SELECT key, value FROM his.dataset_info "
                                   "WHERE key IN ('scale', 'seed', 'patients')").fetchall())
    podman.run(["rm", "--force", "--time", "10",
                containers.container_name(lab.settings, "his-db-1")])
    result = lifecycle.up(lab.settings)
    assert result.created == ["his-db-1"]
    assert result.dataset is not None  # reloaded at the lab's scale and seed
    with lab.connect("his-db-1") as conn:
        after = dict(conn.execute("SELECT key, value FROM his.dataset_info "
                                  "WHERE key IN ('scale', 'seed', 'patients')").fetchall())
    assert after == before
    assert all(r.healthy for r in lifecycle.status(lab.settings))
    # the old cluster's backups would make pgBackRest refuse the new one (error 028)
    repo = podman.exec_in(containers.container_name(lab.settings, "backup-1"),
                          ["find", "/var/lib/pgbackrest", "-mindepth", "1"], check=True)
    assert repo.stdout.strip() == ""


def test_a_host_whose_processes_died_behind_podmans_back_is_made_again(lab: Lab) -> None:
    """As when a machine ends every process: podman still says 'running', sshd is gone."""
    name = containers.container_name(lab.settings, "app-his-1")
    pids = podman.run(["inspect", "--format", "{{.State.ConmonPid}} {{.State.Pid}}", name])
    for pid in pids.stdout.split():
        os.kill(int(pid), 9)  # the container's own conmon and init, by their exact ids
    result = lifecycle.up(lab.settings)
    assert "app-his-1" in result.created
    assert "app-his-1" in result.removed
    assert all(r.healthy for r in lifecycle.status(lab.settings))
