"""The lab's hosts: which exist, what they run, which groups they are in, which ports they use.

Pure data, no I/O: the same topology drives the containers, the inventory and ``lab status``.
The fixed hosts mirror the hospital estate (primary, Active Data Guard-like standby,
GoldenGate-like logical subscriber, backup repository, restore-drill host, application host)
plus a test environment's database host (``env_test``, refreshed from the lab's backups with
patient data masked); ``--hosts N`` adds N light application hosts for fan-out tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from hisops.errors import InputError
from hisops.lab.settings import MAX_HOSTS, PORT_STRIDE


class Role(StrEnum):
    PRIMARY = "primary"
    STANDBY = "standby"
    SUBSCRIBER = "subscriber"
    BACKUP = "backup"
    VERIFY = "verify"
    APP = "app"
    APP_LIGHT = "app-light"
    TEST = "test-db"


# role -> inventory groups (env_lab holds every host)
ROLE_GROUPS: dict[Role, tuple[str, ...]] = {
    Role.PRIMARY: ("db_primary",),
    Role.STANDBY: ("db_standby",),
    Role.SUBSCRIBER: ("db_replica",),
    Role.BACKUP: ("backup_repo",),
    Role.VERIFY: ("db_verify",),
    Role.APP: ("app",),
    Role.APP_LIGHT: ("app",),
    Role.TEST: ("db_test",),
}
GROUPS = ("db_primary", "db_standby", "db_replica", "backup_repo", "db_verify", "app")
ALL_GROUP = "env_lab"
# The test environment: its own inventory group beside env_lab, so that runbooks aimed at the
# lab's groups (db_primary, ...) never reach it and a refresh names it explicitly.
TEST_ENV_GROUP = "env_test"
TEST_GROUPS = ("db_test",)

FIXED_HOSTS: tuple[tuple[str, Role], ...] = (
    ("his-db-1", Role.PRIMARY),
    ("his-db-2", Role.STANDBY),
    ("his-db-3", Role.SUBSCRIBER),
    ("backup-1", Role.BACKUP),
    ("verify-1", Role.VERIFY),
    ("app-his-1", Role.APP),
    ("his-test-1", Role.TEST),
)
# roles whose container runs a PostgreSQL cluster of its own
PG_ROLES = frozenset({Role.PRIMARY, Role.STANDBY, Role.SUBSCRIBER})
# roles that get a PostgreSQL port: verify-1 keeps one free for the cluster a restore drill
# brings up there, his-test-1 for the test environment's database a refresh restores there
PG_PORT_ROLES = PG_ROLES | {Role.VERIFY, Role.TEST}


@dataclass(frozen=True)
class HostSpec:
    """One lab host and its 127.0.0.1 ports (pg_port/http_port None when it runs none)."""

    name: str
    role: Role
    index: int
    ssh_port: int
    pg_port: int | None
    http_port: int | None

    @property
    def groups(self) -> tuple[str, ...]:
        return ROLE_GROUPS[self.role]

    @property
    def environment(self) -> str:
        """The inventory group of the environment this host belongs to."""
        return TEST_ENV_GROUP if self.role is Role.TEST else ALL_GROUP

    @property
    def runs_postgres(self) -> bool:
        """True when `lab up` creates and starts a cluster here (not on verify-1)."""
        return self.role in PG_ROLES

    @property
    def pg(self) -> int:
        """The PostgreSQL port of a host that has one (a programming error otherwise)."""
        if self.pg_port is None:
            raise ValueError(f"{self.name} has no PostgreSQL port")
        return self.pg_port

    def ports(self) -> list[tuple[int, str]]:
        """(port, purpose) pairs this host listens on."""
        out = [(self.ssh_port, "sshd")]
        if self.pg_port is not None:
            out.append((self.pg_port, "PostgreSQL"))
        if self.http_port is not None:
            out.append((self.http_port, "HTTP endpoint"))
        return out


@dataclass(frozen=True)
class Topology:
    hosts: tuple[HostSpec, ...]
    port_base: int

    def by_role(self, role: Role) -> list[HostSpec]:
        return [h for h in self.hosts if h.role is role]

    def get(self, name: str) -> HostSpec:
        for host in self.hosts:
            if host.name == name:
                return host
        raise KeyError(name)

    @property
    def primary(self) -> HostSpec:
        return self.by_role(Role.PRIMARY)[0]

    @property
    def app_hosts(self) -> int:
        return len(self.by_role(Role.APP_LIGHT))


def build_topology(app_hosts: int, port_base: int) -> Topology:
    """The fixed estate plus APP_HOSTS light hosts ``app-1..app-N``, ports from PORT_BASE.

    Ports are base + index (ssh), base + 100 + index (PostgreSQL), base + 200 + index (HTTP),
    so a host keeps its ports whatever N is.
    """
    limit = MAX_HOSTS - len(FIXED_HOSTS)
    if not 0 <= app_hosts <= limit:
        raise InputError(f"must be between 0 and {limit}, got {app_hosts}",
                         field="--hosts")
    names = [*FIXED_HOSTS, *((f"app-{i}", Role.APP_LIGHT) for i in range(1, app_hosts + 1))]
    hosts = []
    for index, (name, role) in enumerate(names, start=1):
        hosts.append(HostSpec(
            name=name,
            role=role,
            index=index,
            ssh_port=port_base + index,
            pg_port=port_base + PORT_STRIDE + index if role in PG_PORT_ROLES else None,
            http_port=port_base + 2 * PORT_STRIDE + index if role is Role.APP else None,
        ))
    return Topology(hosts=tuple(hosts), port_base=port_base)
