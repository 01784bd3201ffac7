"""Start, find and remove the lab's containers: one container per lab host.

Every container uses host networking, so each host's sshd, PostgreSQL and HTTP endpoint listen
on their own 127.0.0.1 ports; nothing ever connects to a container address.
"""

from __future__ import annotations

import logging
import socket
from pathlib import Path

from hisops.lab import podman
from hisops.lab.errors import PortInUse
from hisops.lab.podman import ContainerState
from hisops.lab.settings import PG_MAJOR, LabSettings
from hisops.lab.topology import HostSpec, Role

log = logging.getLogger(__name__)

LABEL_HOST = "hisops.lab.host"
LABEL_PORTS = "hisops.lab.ports"
LABEL_LAYOUT = "hisops.lab.layout"
# bump when run_host's mounts or options change, so `lab up` recreates older containers
# (3: the patch repository is no longer mounted; the patching runbook stages media over SSH)
LAYOUT_VERSION = 3
# the verify host's own layout (4: a second tmpfs, SCRATCH_DISK; 5: it holds a whole drill),
# so a change to its mounts recreates that host alone (no cluster, nothing to reload), never
# the primary and its replicas
VERIFY_LAYOUT_VERSION = 5
# verify-1's small tmpfs, for restore drills that must run out of disk
SMALL_DISK = "/srv/hisops-small-disk"
SMALL_DISK_SIZE = "24m"
# verify-1's scratch tmpfs that holds a whole drill of the lab's dataset (a 40 MB restore at
# scale 0.05, plus the WAL recovery brings into pg_wal: 100 MB and more) with room to spare,
# for tests that fill it mid-restore or before a drill. A tmpfs costs RAM only for what is
# written to it, and every test frees what it fills.
SCRATCH_DISK = "/srv/hisops-scratch-disk"
SCRATCH_DISK_SIZE = "512m"


def container_name(settings: LabSettings, host: str) -> str:
    return settings.container_prefix + host


def layout_version(host: HostSpec) -> int:
    """The layout HOST's container is made with (its mounts and options)."""
    return VERIFY_LAYOUT_VERSION if host.role is Role.VERIFY else LAYOUT_VERSION


def ports_label(host: HostSpec) -> str:
    return ",".join(str(p) for p, _ in host.ports())


def port_free(port: int) -> bool:
    """True when nothing listens on 127.0.0.1:PORT (we can bind it ourselves)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # as sshd, PostgreSQL and http.server do: connections of an earlier lab still in
        # TIME_WAIT must not count as "taken"; a listener still does
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def check_ports_free(hosts: list[HostSpec]) -> None:
    """Raise PortInUse for the first port of HOSTS that something else holds."""
    for host in hosts:
        for port, purpose in host.ports():
            if not port_free(port):
                raise PortInUse(port, host.name, purpose)


def existing(settings: LabSettings) -> dict[str, ContainerState]:
    """The lab's containers by host name (running or stopped)."""
    found = podman.containers(settings.container_prefix)
    return {name[len(settings.container_prefix):]: state for name, state in found.items()}


def write_host_env(settings: LabSettings, host: HostSpec) -> Path:
    """The per-host folder mounted read-only at /run/hisops-lab (keys written by keys.py)."""
    hdir = settings.host_dir(host.name)
    lines = [f"LAB_HOST={host.name}", f"LAB_ROLE={host.role.value}",
             f"LAB_SSH_PORT={host.ssh_port}", f"LAB_PG_MAJOR={PG_MAJOR}"]
    if host.pg_port is not None:
        lines.append(f"LAB_PG_PORT={host.pg_port}")
    if host.http_port is not None:
        lines.append(f"LAB_HTTP_PORT={host.http_port}")
    (hdir / "host.env").write_text("\n".join(lines) + "\n")
    return hdir


def run_host(settings: LabSettings, host: HostSpec) -> None:
    """``podman run -d`` the container of HOST (caller checked its ports are free)."""
    hdir = write_host_env(settings, host)
    args = [
        "run", "-d", "--init", "--network", "host",
        "--name", container_name(settings, host.name), "--hostname", host.name,
        "--label", "hisops.lab=1", "--label", f"{LABEL_HOST}={host.name}",
        "--label", f"hisops.lab.role={host.role.value}",
        "--label", f"{LABEL_PORTS}={ports_label(host)}",
        "--label", f"{LABEL_LAYOUT}={layout_version(host)}",
        "--stop-timeout", "20",
        "-v", f"{hdir}:/run/hisops-lab:ro",
    ]
    if host.role is Role.VERIFY:
        # a deliberately small disk: restore drills prove they fail cleanly when out of space
        args += ["--mount", f"type=tmpfs,destination={SMALL_DISK},tmpfs-size={SMALL_DISK_SIZE}",
                 "--mount", f"type=tmpfs,destination={SCRATCH_DISK},"
                            f"tmpfs-size={SCRATCH_DISK_SIZE}"]
    args.append(settings.image)
    podman.run(args)
    log.info("started %s (ssh %d)", host.name, host.ssh_port)


def start_stopped(settings: LabSettings, host: HostSpec) -> None:
    write_host_env(settings, host)
    podman.run(["start", container_name(settings, host.name)])
    log.info("restarted %s", host.name)


def remove(settings: LabSettings, hosts: list[str]) -> None:
    """Stop (PostgreSQL shuts down cleanly) and remove the containers of HOSTS."""
    if not hosts:
        return
    names = [container_name(settings, h) for h in hosts]
    podman.run(["rm", "--force", "--time", "20", *names], timeout=120)
    log.info("removed %s", ", ".join(hosts))


def matches(state: ContainerState, host: HostSpec) -> bool:
    """True when an existing container was made for HOST with the same ports and layout."""
    return (state.labels.get(LABEL_PORTS) == ports_label(host)
            and state.labels.get(LABEL_LAYOUT, "1") == str(layout_version(host)))

