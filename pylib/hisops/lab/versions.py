"""Put the lab's PostgreSQL hosts back on a given minor release, for patch rehearsals.

The patching runbook moves the lab forward (15.18 -> 15.20); rehearsing it again, and the
lab tests, need the lab back at the base release. This installs a release from the lab's patch
repository inside each container (``podman cp`` + ``dpkg -i``, local set-up like the rest of
``lab up``, not the product's path) and restarts the cluster. Replication survives: minor
releases share the on-disk format, and a standby may run a different minor than its primary.
"""

from __future__ import annotations

import logging
import shlex
from concurrent.futures import ThreadPoolExecutor

from hisops.lab import containers, keys, pgsetup, podman, state
from hisops.lab.errors import LabError
from hisops.lab.settings import PG_MAJOR, LabSettings
from hisops.lab.topology import HostSpec
from hisops.patching import media

log = logging.getLogger(__name__)

STAGE = "/var/cache/hisops/lab-release"


def _pg_hosts(settings: LabSettings) -> list[HostSpec]:
    current = state.load(settings)
    if current is None:
        raise LabError("no lab is up (run `hisops lab up`)")
    return [h for h in current.topology().hosts if h.runs_postgres]


def server_versions(settings: LabSettings) -> dict[str, str]:
    """Running server version per PostgreSQL host ('' when the cluster does not answer)."""
    query = "SELECT split_part(current_setting('server_version'), ' ', 1)"
    out = {}
    for host in _pg_hosts(settings):
        proc = podman.exec_in(
            containers.container_name(settings, host.name),
            ["runuser", "-u", "postgres", "--", "psql", "-X", "-At", "-p", str(host.pg),
             "-d", "postgres", "-c", query],
            check=False)
        out[host.name] = proc.stdout.strip() if proc.returncode == 0 else ""
    return out


def install_release(settings: LabSettings, server_version: str) -> dict[str, str]:
    """Install SERVER_VERSION (e.g. 15.18) on every lab PostgreSQL host not running it.

    Returns {host: version it ran before} for the hosts it changed.
    """
    release = media.find_release(settings.patch_repo_root, server_version=server_version)
    problems = media.verify_release(release)
    if problems:
        raise LabError("the lab's patch repository is damaged: " + "; ".join(problems))
    before = server_versions(settings)
    todo = [h for h in _pg_hosts(settings) if before.get(h.name) != server_version]
    password = keys.pg_password(settings)

    def one(host: HostSpec) -> None:
        name = containers.container_name(settings, host.name)
        folder = f"{STAGE}/{release.package_version}"
        podman.exec_in(name, ["mkdir", "-p", folder])
        for item in release.files:
            podman.run(["cp", str(release.folder / item.name), f"{name}:{folder}/{item.name}"])
        debs = " ".join(shlex.quote(f"{folder}/{f.name}") for f in release.files)
        script = (f"pg_ctlcluster {PG_MAJOR} main stop -m fast || true\n"
                  f"dpkg -i --force-downgrade {debs} >/dev/null\n"
                  f"pg_ctlcluster {PG_MAJOR} main start\n")
        proc = podman.exec_in(name, ["bash", "-euo", "pipefail", "-c", script], check=False)
        if proc.returncode != 0:
            detail = (proc.stderr or proc.stdout).strip().splitlines()
            raise LabError(f"installing {release.package_version} on {host.name} failed: "
                           f"{detail[-1] if detail else proc.returncode}")
        pgsetup.wait_ready(host.pg, password)
        log.info("%s: %s -> %s", host.name, before.get(host.name) or "?", server_version)

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(one, todo))
    return {h.name: before.get(h.name, "") for h in todo}
