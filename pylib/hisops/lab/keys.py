"""The lab's keys and secrets: client key pair, per-host sshd keys, known_hosts, DB password.

Host keys are generated here, on the controller, so ``known_hosts`` is written from the keys
themselves (no ssh-keyscan, no trust on first use): host-key checking stays on everywhere.
Keys survive ``lab down`` so known_hosts stays stable across lab restarts.
"""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
from pathlib import Path

from hisops.lab.errors import LabError
from hisops.lab.settings import LabSettings
from hisops.lab.topology import Topology

log = logging.getLogger(__name__)


def _keygen(path: Path, comment: str) -> None:
    if path.is_file() and path.with_suffix(".pub").is_file():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in (path, path.with_suffix(".pub")):
        stale.unlink(missing_ok=True)
    proc = subprocess.run(  # noqa: S603
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],  # noqa: S607
        capture_output=True, text=True, check=False,
    )
    if proc.returncode != 0:
        raise LabError(f"ssh-keygen failed for {path}: {proc.stderr.strip()}")
    os.chmod(path, 0o600)


def _write_private(path: Path, text: str) -> None:
    """Write TEXT to PATH readable by its owner only, replacing it atomically."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    tmp.replace(path)


def ensure_keys(settings: LabSettings, topology: Topology) -> None:
    """Create what is missing and (re)write known_hosts and each host's mount folder."""
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(settings.state_dir, 0o700)
    _keygen(settings.client_key, "hisops-lab-client")
    if not settings.pg_password_file.is_file():
        _write_private(settings.pg_password_file, secrets.token_urlsafe(24) + "\n")
    client_pub = settings.client_key.with_suffix(".pub").read_text()
    lines = []
    for host in topology.hosts:
        hdir = settings.host_dir(host.name)
        _keygen(hdir / "ssh_host_ed25519_key", f"root@{host.name}")
        (hdir / "authorized_keys").write_text(client_pub)
        algo, blob = (hdir / "ssh_host_ed25519_key.pub").read_text().split()[:2]
        lines.append(f"[127.0.0.1]:{host.ssh_port} {algo} {blob}\n")
    _write_private(settings.known_hosts, "".join(lines))
    log.debug("known_hosts written for %d hosts", len(lines))


def pg_password(settings: LabSettings) -> str:
    """The lab-only password of the ``postgres`` and ``replicator`` roles (never logged)."""
    return settings.pg_password_file.read_text().strip()
