"""``lab up``, ``lab status`` and ``lab down``: the lab as a whole.

``up`` is declarative and idempotent: running hosts are left alone, stopped ones restarted,
missing ones created, and every step that is already satisfied is skipped. Ports are checked
before anything starts, so a taken port changes nothing. ``down`` removes the containers and
the generated inventory but keeps the keys, so known_hosts stays valid for the next ``up``.
"""

from __future__ import annotations

import logging
import socket
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from hisops.lab import (
    containers,
    dataset,
    filelock,
    inventory,
    keys,
    pgsetup,
    podman,
    probe,
    state,
)
from hisops.lab.errors import LabError
from hisops.lab.image import ImageInfo, ensure_image
from hisops.lab.settings import LabSettings
from hisops.lab.topology import HostSpec, Role, Topology, build_topology

log = logging.getLogger(__name__)

DEFAULT_SCALE = 0.05


@dataclass(frozen=True)
class UpResult:
    topology: Topology
    image: ImageInfo
    created: list[str]
    restarted: list[str]
    kept: list[str]
    removed: list[str]
    dataset: dataset.LoadResult | None
    inventory: list[Path]
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class HostStatus:
    host: HostSpec
    container: str  # podman's status word, or "missing"
    ssh: probe.Probe
    postgres: probe.Probe | None
    replication: probe.Probe | None
    http: probe.Probe | None

    @property
    def healthy(self) -> bool:
        checks = [self.ssh, self.postgres, self.replication, self.http]
        return all(c.ok for c in checks if c is not None)


def _wait_port(port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(1)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.1)
    return False


# podman states from which `podman start` works; any other state but running is recreated
RESTARTABLE = frozenset({"exited", "created", "stopped", "configured"})


def _broken(st: podman.ContainerState, host: HostSpec) -> bool:
    """A container podman calls running whose sshd does not answer (its processes were killed
    behind podman's back, as when a CI machine ends every process), or one stuck in a state
    such as 'stopping' that podman can neither start nor stop: it is removed and made again."""
    if st.running:
        return not _wait_port(host.ssh_port, 3)
    return st.status not in RESTARTABLE


def up(settings: LabSettings, *, app_hosts: int | None = None, scale: float | None = None,
       seed: int | None = None, rebuild: bool = False) -> UpResult:
    """Bring the lab to the wanted shape; see the module docstring for the guarantees."""
    with filelock.locked(settings.lock_file):
        return _up(settings, app_hosts=app_hosts, scale=scale, seed=seed, rebuild=rebuild)


def _up(settings: LabSettings, *, app_hosts: int | None, scale: float | None,
        seed: int | None, rebuild: bool) -> UpResult:
    started = time.monotonic()
    timings: dict[str, float] = {}
    prev = state.load(settings)
    wanted_hosts = app_hosts if app_hosts is not None else (prev.app_hosts if prev else 0)
    topo = build_topology(wanted_hosts, settings.port_base)

    img = ensure_image(settings, rebuild=rebuild)
    timings["image"] = time.monotonic() - started
    keys.ensure_keys(settings, topo)

    have = containers.existing(settings)
    names = {h.name for h in topo.hosts}
    stale = sorted(n for n, st in have.items()
                   if n not in names or not containers.matches(st, topo.get(n))
                   or _broken(st, topo.get(n)))
    containers.remove(settings, stale)
    for name in stale:
        have.pop(name)
    new = [h for h in topo.hosts if h.name not in have]
    stopped = [h for h in topo.hosts if h.name in have and not have[h.name].running]
    kept = [h.name for h in topo.hosts if h.name in have and have[h.name].running]
    containers.check_ports_free(new + stopped)

    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda h: containers.run_host(settings, h), new))
        list(pool.map(lambda h: containers.start_stopped(settings, h), stopped))
    for host in new + stopped:
        if not _wait_port(host.ssh_port, 30):
            raise LabError(f"sshd of {host.name} did not listen on 127.0.0.1:{host.ssh_port}; "
                           f"see `podman logs {containers.container_name(settings, host.name)}`")
    timings["containers"] = time.monotonic() - t0

    t0 = time.monotonic()
    loaded, final_scale, final_seed = _databases(
        settings, topo, scale=scale, seed=seed,
        previous=(prev.scale, prev.seed) if prev else (None, None))
    timings["databases"] = time.monotonic() - t0

    state.save(settings, state.make(
        topo, image=img.image, recipe_hash=img.recipe_hash, pg_version=img.pg_version,
        patch_version=img.patch_version, scale=final_scale, seed=final_seed))
    paths = inventory.write(settings, topo, patch_version=img.patch_version,
                            patch_repo=img.patch_repo)
    return UpResult(topology=topo, image=img, created=[h.name for h in new],
                    restarted=[h.name for h in stopped], kept=kept, removed=stale,
                    dataset=loaded, inventory=paths, seconds=time.monotonic() - started,
                    timings=timings)


def _container(settings: LabSettings, host: HostSpec) -> str:
    return containers.container_name(settings, host.name)


def _databases(
    settings: LabSettings, topo: Topology, *, scale: float | None, seed: int | None,
    previous: tuple[float | None, int | None],
) -> tuple[dataset.LoadResult | None, float, int]:
    """Primary, standby, dataset, publication, subscriber: each only if not already there.

    The standby's base backup runs beside the dataset load and the subscriber's set-up (they
    are independent); ``up`` returns once the standby streams and the subscriber has copied
    every table. Returns the load (None when already there) and the dataset's scale and seed.
    """
    password = keys.pg_password(settings)
    primary = topo.primary
    if pgsetup.ensure_primary(_container(settings, primary), primary, password):
        # a new primary (its container was recreated) is a new system: replicas of the old
        # one can never follow it, so they are made again from it
        for replica in [*topo.by_role(Role.STANDBY), *topo.by_role(Role.SUBSCRIBER)]:
            pgsetup.drop_cluster(_container(settings, replica))
        # and the backups of the old one belong to another system (pgBackRest refuses the new
        # cluster with error 028): the lab's repository and drill hosts start empty again
        for host in [*topo.by_role(Role.BACKUP), *topo.by_role(Role.VERIFY),
                     *topo.by_role(Role.TEST)]:
            pgsetup.forget_backups(_container(settings, host))
    pgsetup.wait_ready(primary.pg, password, dbname=pgsetup.DBNAME)

    with ThreadPoolExecutor(max_workers=2) as pool:
        standbys = [pool.submit(pgsetup.ensure_standby, _container(settings, standby), standby,
                                primary, password)
                    for standby in topo.by_role(Role.STANDBY)]
        loaded, want_scale, want_seed = _ensure_dataset(primary.pg, password, scale=scale,
                                                        seed=seed, previous=previous)
        pgsetup.ensure_publication(primary, password)
        pgsetup.ensure_app_config(primary, password)
        for sub in topo.by_role(Role.SUBSCRIBER):
            pgsetup.ensure_subscriber(_container(settings, sub), sub, primary, password)
            pgsetup.wait_subscription_synced(sub.pg, password)
        for future in standbys:
            future.result()
    for standby in topo.by_role(Role.STANDBY):
        pgsetup.wait_streaming(standby.pg, password)
    return loaded, want_scale, want_seed


def _ensure_dataset(
    port: int, password: str, *, scale: float | None, seed: int | None,
    previous: tuple[float | None, int | None],
) -> tuple[dataset.LoadResult | None, float, int]:
    """Load the dataset unless the primary already holds the wanted scale and seed.

    Without --scale/--seed the wanted one is what the primary holds, else what the lab had
    before (its primary was recreated), else the defaults.
    """
    with pgsetup.connect(port, password) as conn:
        info = dataset.loaded_info(conn)
        held = (float(info["scale"]), int(info["seed"])) if info else None
        base_scale, base_seed = held or (previous[0] or DEFAULT_SCALE,
                                         previous[1] or dataset.DEFAULT_SEED)
        want_scale = scale if scale is not None else base_scale
        want_seed = seed if seed is not None else base_seed
        if held == (want_scale, want_seed):
            log.info("dataset already loaded (scale %s, seed %s): skipped", want_scale, want_seed)
            return None, want_scale, want_seed
        return dataset.load(conn, want_scale, want_seed), want_scale, want_seed


def down(settings: LabSettings) -> list[str]:
    """Remove every lab container, the state file and the generated inventory."""
    with filelock.locked(settings.lock_file):
        return _down(settings)


def _down(settings: LabSettings) -> list[str]:
    have = containers.existing(settings)
    containers.remove(settings, sorted(have))
    # images left untagged by a rebuild while containers still used them (ours only)
    podman.run(["image", "prune", "--force", "--filter", "label=hisops.recipe"], check=False)
    state.remove(settings)
    inventory.remove(settings)
    return sorted(have)


def status(settings: LabSettings) -> list[HostStatus]:
    """Probe every host of the recorded lab; [] when no lab is recorded."""
    current = state.load(settings)
    if current is None:
        return []
    topo = current.topology()
    have = containers.existing(settings)
    password = keys.pg_password(settings) if settings.pg_password_file.is_file() else ""

    def one(host: HostSpec) -> HostStatus:
        st = have.get(host.name)
        return HostStatus(
            host=host,
            container=("running" if st.running else st.status) if st else "missing",
            ssh=probe.ssh(host.ssh_port, settings.client_key, settings.known_hosts),
            postgres=probe.postgres(host.pg, password) if host.runs_postgres else None,
            replication=probe.replication(host, password),
            http=probe.http(host.http_port) if host.http_port is not None else None,
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(one, topo.hosts))
