"""The lab's pure parts: topology and ports, inventory, settings, recipe hash, port checks."""

from __future__ import annotations

import hashlib
import shutil
import socket
from pathlib import Path

import pytest
import yaml

from hisops.errors import ExitStatus, InputError
from hisops.lab import containers, filelock, image, inventory, state
from hisops.lab.errors import LabError, PortInUse
from hisops.lab.settings import LabSettings
from hisops.lab.topology import GROUPS, Role, build_topology

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def settings(tmp_path: Path) -> LabSettings:
    return LabSettings.from_env({"HOME": str(tmp_path), "HISOPS_LAB_DIR": str(tmp_path / "lab"),
                                 "HISOPS_LAB_NAME": "unit", "HISOPS_LAB_PORT_BASE": "30000"})


def test_fixed_estate_and_extra_app_hosts() -> None:
    topo = build_topology(3, 22200)
    names = [h.name for h in topo.hosts]
    assert names == ["his-db-1", "his-db-2", "his-db-3", "backup-1", "verify-1", "app-his-1",
                     "his-test-1", "app-1", "app-2", "app-3"]
    assert topo.primary.name == "his-db-1"
    assert [h.name for h in topo.by_role(Role.STANDBY)] == ["his-db-2"]
    assert [h.name for h in topo.by_role(Role.SUBSCRIBER)] == ["his-db-3"]


def test_every_port_is_distinct_and_stable_whatever_the_size() -> None:
    small, big = build_topology(0, 22200), build_topology(40, 22200)
    ports = [p for h in big.hosts for p, _ in h.ports()]
    assert len(ports) == len(set(ports))
    for host in small.hosts:
        assert big.get(host.name) == host
    assert big.get("his-db-1").ssh_port == 22201
    assert big.get("his-db-1").pg_port == 22301
    assert big.get("app-his-1").http_port == 22406


def test_only_database_hosts_run_postgres_and_verify_keeps_a_port() -> None:
    topo = build_topology(1, 22200)
    running = {h.name for h in topo.hosts if h.runs_postgres}
    assert running == {"his-db-1", "his-db-2", "his-db-3"}
    assert topo.get("verify-1").pg_port is not None
    assert topo.get("his-test-1").pg_port is not None  # the refreshed test database's
    assert topo.get("app-1").pg_port is None
    with pytest.raises(ValueError, match="no PostgreSQL port"):
        _ = topo.get("backup-1").pg


@pytest.mark.parametrize("count", [-1, 94])
def test_host_count_out_of_range_is_input_error(count: int) -> None:
    with pytest.raises(InputError, match="--hosts"):
        build_topology(count, 22200)


def test_inventory_groups_and_strict_host_key_checking(settings: LabSettings) -> None:
    topo = build_topology(2, settings.port_base)
    inv = inventory.render(settings, topo, patch_version="15.20-0+deb12u1",
                           patch_repo=Path("/cache/patch-repo/15.20-0+deb12u1"))
    env = inv["all"]["children"]["env_lab"]
    assert set(env["hosts"]) == {h.name for h in topo.hosts} - {"his-test-1"}
    assert set(env["children"]) == set(GROUPS)
    assert list(env["children"]["db_primary"]["hosts"]) == ["his-db-1"]
    assert list(env["children"]["db_standby"]["hosts"]) == ["his-db-2"]
    assert list(env["children"]["db_replica"]["hosts"]) == ["his-db-3"]
    assert list(env["children"]["backup_repo"]["hosts"]) == ["backup-1"]
    assert list(env["children"]["db_verify"]["hosts"]) == ["verify-1"]
    assert list(env["children"]["app"]["hosts"]) == ["app-his-1", "app-1", "app-2"]
    for name, hv in env["hosts"].items():
        host = topo.get(name)
        assert hv["ansible_host"] == "127.0.0.1"
        assert hv["ansible_port"] == host.ssh_port
        assert hv["ansible_user"] == "root"
        assert "StrictHostKeyChecking=yes" in hv["ansible_ssh_common_args"]
        assert f"UserKnownHostsFile={settings.known_hosts}" in hv["ansible_ssh_common_args"]
        assert hv["hisops_known_hosts"] == str(settings.known_hosts)
        assert hv.get("pg_port") == host.pg_port
    assert env["hosts"]["app-his-1"]["app_http_port"] == topo.get("app-his-1").http_port
    assert env["vars"]["pg_version"] == 15
    assert env["vars"]["hisops_lab_patch_version"] == "15.20-0+deb12u1"
    # the runbook stages media from the repository root (patch and rollback versions)
    assert env["vars"]["pg_patch_repository"] == "/cache/patch-repo"
    # the test environment: its own group, never in the lab's database groups
    test_env = inv["all"]["children"]["env_test"]
    assert list(test_env["hosts"]) == ["his-test-1"]
    assert list(test_env["children"]["db_test"]["hosts"]) == ["his-test-1"]
    assert test_env["vars"]["hisops_environment"] == "test"
    assert test_env["vars"]["hisops_protected"] is False
    assert "pg_patch_repository" not in test_env["vars"]
    assert test_env["hosts"]["his-test-1"]["pg_port"] == topo.get("his-test-1").pg_port


def test_inventory_file_is_written_for_a_named_lab_only_in_its_dir(
    settings: LabSettings,
) -> None:
    topo = build_topology(0, settings.port_base)
    paths = inventory.write(settings, topo, patch_version=None, patch_repo=None)
    assert paths == [settings.inventory_file]  # a non-default lab leaves the checkout alone
    loaded = yaml.safe_load(settings.inventory_file.read_text())
    assert loaded["all"]["children"]["env_lab"]["hosts"]["his-db-1"]["ansible_port"] == 30001
    inventory.remove(settings)
    assert not settings.inventory_file.exists()


@pytest.mark.parametrize(("env", "field"), [
    ({"HISOPS_LAB_PORT_BASE": "abc"}, "HISOPS_LAB_PORT_BASE"),
    ({"HISOPS_LAB_PORT_BASE": "80"}, "HISOPS_LAB_PORT_BASE"),
    ({"HISOPS_LAB_NAME": "Bad_Name"}, "HISOPS_LAB_NAME"),
])
def test_bad_settings_are_input_errors(tmp_path: Path, env: dict[str, str], field: str) -> None:
    with pytest.raises(InputError) as info:
        LabSettings.from_env({"HOME": str(tmp_path), **env})
    assert info.value.field == field
    assert info.value.exit_status == ExitStatus.BAD_INPUT


def test_default_settings(tmp_path: Path) -> None:
    s = LabSettings.from_env({"HOME": str(tmp_path)})
    assert s.state_dir == tmp_path / ".hisops" / "lab"
    assert s.container_prefix == "hisops-lab-"
    assert s.port_base == 22200
    assert s.checkout_inventory_file == ROOT / "inventories" / "lab" / "hosts.yml"


def test_taken_port_is_named_in_one_line() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        topo = build_topology(0, port - 2)  # his-db-2's ssh port is base + 2
        with pytest.raises(PortInUse) as info:
            containers.check_ports_free(list(topo.hosts))
    err = info.value
    assert err.port == port
    assert err.host == "his-db-2"
    assert str(port) in str(err)
    assert "\n" not in str(err)
    assert err.exit_status == ExitStatus.BAD_INPUT


def test_recipe_hash_follows_the_recipe_files(tmp_path: Path) -> None:
    recipe = tmp_path / "recipe"
    shutil.copytree(ROOT / "scripts" / "lab-image", recipe)
    before = image.recipe_hash(recipe)
    assert image.recipe_hash(recipe) == before
    with open(recipe / "packages.txt", "a") as fh:
        fh.write("extra: htop\n")
    assert image.recipe_hash(recipe) != before


def test_patch_repo_is_used_only_when_its_checksums_verify(settings: LabSettings) -> None:
    repo = settings.patch_repo_root / "15.99"
    repo.mkdir(parents=True)
    deb = repo / "libpq5_15.99_amd64.deb"
    deb.write_bytes(b"not really a deb")
    digest = hashlib.sha256(deb.read_bytes()).hexdigest()
    (repo / "SHA256SUMS").write_text(f"{digest}  {deb.name}\n")
    (repo / "manifest.json").write_text("{}")
    assert image.patch_repo_dir(settings, "15.99") == repo
    deb.write_bytes(b"tampered")
    assert image.patch_repo_dir(settings, "15.99") is None
    assert image.patch_repo_dir(settings, None) is None


def test_state_round_trip_keeps_the_ports(settings: LabSettings) -> None:
    topo = build_topology(2, settings.port_base)
    st = state.make(topo, image="img", recipe_hash="abc", pg_version="15.18",
                    patch_version="15.20", scale=0.05, seed=1)
    state.save(settings, st)
    loaded = state.load(settings)
    assert loaded is not None
    assert loaded.topology() == topo
    assert loaded.app_hosts == 2
    settings.state_file.write_text("{not json")
    with pytest.raises(InputError, match="unreadable lab state"):
        state.load(settings)


def test_a_second_lab_up_waits_for_the_first(tmp_path: Path) -> None:
    lock = tmp_path / ".lock"
    with filelock.locked(lock), pytest.raises(LabError, match="busy"), \
            filelock.locked(lock, timeout=0.6):
        pass
    with filelock.locked(lock, timeout=0.6):  # released: free again
        pass


def test_only_the_verify_host_gets_the_scratch_tmpfs_and_its_own_layout(
        settings: LabSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    """A mount added to verify-1 recreates verify-1 alone on the next `lab up`, never the
    primary and its replicas (which would reload the dataset and forget the backups)."""
    calls: list[list[str]] = []
    monkeypatch.setattr(containers.podman, "run", lambda args, **_: calls.append(args))
    topo = build_topology(0, 30000)
    for name in ("verify-1", "his-db-1"):
        settings.host_dir(name).mkdir(parents=True, exist_ok=True)
        containers.run_host(settings, topo.get(name))
    verify, primary = calls
    mounts = [verify[i + 1] for i, arg in enumerate(verify) if arg == "--mount"]
    assert mounts == [
        f"type=tmpfs,destination={containers.SMALL_DISK},tmpfs-size={containers.SMALL_DISK_SIZE}",
        f"type=tmpfs,destination={containers.SCRATCH_DISK},"
        f"tmpfs-size={containers.SCRATCH_DISK_SIZE}"]
    assert "--mount" not in primary
    assert f"{containers.LABEL_LAYOUT}={containers.VERIFY_LAYOUT_VERSION}" in verify
    assert f"{containers.LABEL_LAYOUT}={containers.LAYOUT_VERSION}" in primary

    def state(host: str, layout: int) -> containers.ContainerState:
        return containers.ContainerState(
            name=host, running=True, status="running",
            labels={containers.LABEL_PORTS: containers.ports_label(topo.get(host)),
                    containers.LABEL_LAYOUT: str(layout)})

    old = containers.LAYOUT_VERSION
    assert containers.matches(state("his-db-1", old), topo.get("his-db-1"))
    assert not containers.matches(state("verify-1", old), topo.get("verify-1"))
    assert containers.matches(state("verify-1", containers.VERIFY_LAYOUT_VERSION),
                              topo.get("verify-1"))
