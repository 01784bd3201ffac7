"""The committed inventory example: protected, secrets only from the vault, no real addresses."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path

from hisops.inventory import Inventory

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "inventories" / "production.example"
SECRET_NAME = re.compile(r"(password|passphrase|_pass|secret|token)$")


def test_every_production_host_is_protected_production() -> None:
    inv = Inventory(EXAMPLE / "hosts.yml")
    hosts = sorted(inv.hosts("env_production"))
    assert len(hosts) >= 8
    for host in hosts:
        hv = inv.host_vars(host)
        assert hv["hisops_protected"] is True, host
        assert hv["hisops_four_eyes"] is True, host
        assert hv["hisops_environment"] == "production", host
    for host in sorted(inv.host_names):
        assert "StrictHostKeyChecking=yes" in inv.host_vars(host)["ansible_ssh_common_args"]


def test_the_test_environment_is_not_protected_and_not_in_production_groups() -> None:
    inv = Inventory(EXAMPLE / "hosts.yml")
    test_hosts = inv.hosts("env_test")
    assert test_hosts == ["his-test-db-1.hospital.example", "emr-test-db-1.hospital.example"]
    assert not inv.any_protected(test_hosts)
    assert set(test_hosts).isdisjoint(inv.hosts("env_production"))
    assert set(test_hosts).isdisjoint(inv.hosts("db_primary:oracle:postgres"))
    assert [inv.host_vars(h)["hisops_environment"] for h in test_hosts] == ["test", "test"]


def test_it_has_the_lab_groups_so_runbooks_run_on_both() -> None:
    groups = set(Inventory(EXAMPLE / "hosts.yml").groups)
    assert {"db_primary", "db_standby", "db_replica", "backup_repo", "db_verify",
            "app", "oracle", "postgres", "env_production"} <= groups


def test_secrets_are_only_vault_references() -> None:
    inv = Inventory(EXAMPLE / "hosts.yml")
    found = 0
    for host in inv.host_names:
        for name, value in inv.host_vars(host).items():
            if SECRET_NAME.search(name):
                found += 1
                assert re.fullmatch(r"\{\{ vault_[a-z0-9_]+ \}\}", str(value)), (host, name)
    assert found > 0
    assert not list(EXAMPLE.rglob("vault*"))  # the vault file is described, not shipped


def test_no_ip_addresses_only_example_names() -> None:
    for path in EXAMPLE.rglob("*.yml"):
        for token in re.findall(r"\b\d{1,3}(?:\.\d{1,3}){3}\b", path.read_text()):
            ipaddress.ip_address(token)  # it parses: then it should not be there at all
            raise AssertionError(f"{path}: address {token}")
    inv = Inventory(EXAMPLE / "hosts.yml")
    assert all(h.endswith(".hospital.example") for h in inv.host_names)
