"""Build or reuse the lab image ``localhost/hisops-lab:bookworm`` and its patch repository.

The recipe (scripts/lab-image/) is hashed and the hash is stored as an image label, so the image
is rebuilt exactly when the recipe changes. A build goes to a temporary tag and is retagged
only on success: a failed build leaves no half-made image and no root file system behind.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from hisops.lab import filelock, podman
from hisops.lab.errors import LabError
from hisops.lab.settings import LabSettings

log = logging.getLogger(__name__)

RECIPE_FILES = ("build-rootfs", "packages.txt", "hisops-lab-init", "app-endpoint.py")
# bump to force a rebuild when the Python side of the build changes (tar/import options)
BUILD_SCHEMA = "1"
LABEL_RECIPE = "hisops.recipe"
LABEL_PG = "hisops.pg_version"
LABEL_PATCH = "hisops.patch_version"
LABEL_PGBACKREST = "hisops.pgbackrest_version"


@dataclass(frozen=True)
class ImageInfo:
    """The image in use: its tag, recipe hash and the versions a patching runbook needs."""

    image: str
    recipe_hash: str
    pg_version: str
    patch_version: str | None
    pgbackrest_version: str
    patch_repo: Path | None
    built: bool  # True when this call built it, False when the cached one was reused
    seconds: float


def recipe_hash(recipe_dir: Path) -> str:
    """A sha256 over the recipe files (names and contents) and the build schema."""
    digest = hashlib.sha256(f"schema={BUILD_SCHEMA}\n".encode())
    for name in RECIPE_FILES:
        path = recipe_dir / name
        if not path.is_file():
            raise LabError(f"image recipe file missing: {path}")
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def patch_repo_dir(settings: LabSettings, patch_version: str | None) -> Path | None:
    """The patch repository folder for PATCH_VERSION if it is complete (SHA256SUMS verify)."""
    if not patch_version:
        return None
    repo = settings.patch_repo_root / patch_version
    sums = repo / "SHA256SUMS"
    if not sums.is_file() or not (repo / "manifest.json").is_file():
        return None
    for line in sums.read_text().splitlines():
        want, _, name = line.partition("  ")
        path = repo / name.strip()
        if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != want:
            return None
    return repo


def _cached(settings: LabSettings, wanted: str) -> ImageInfo | None:
    labels = podman.image_labels(settings.image)
    if labels is None or labels.get(LABEL_RECIPE) != wanted:
        return None
    patch = labels.get(LABEL_PATCH) or None
    repo = patch_repo_dir(settings, patch)
    if patch and repo is None:
        log.info("patch repository for %s is missing or damaged: rebuilding", patch)
        return None
    installed = labels.get(LABEL_PG, "")
    if installed and patch_repo_dir(settings, installed) is None:
        log.info("rollback media for %s are missing or damaged: rebuilding", installed)
        return None
    return ImageInfo(
        image=settings.image, recipe_hash=wanted, pg_version=labels.get(LABEL_PG, ""),
        patch_version=patch, pgbackrest_version=labels.get(LABEL_PGBACKREST, ""),
        patch_repo=repo, built=False, seconds=0.0,
    )


def ensure_image(settings: LabSettings, *, rebuild: bool = False) -> ImageInfo:
    """Return the lab image, building it when missing, outdated or REBUILD is asked."""
    wanted = recipe_hash(settings.recipe_dir)
    if not rebuild:
        cached = _cached(settings, wanted)
        if cached is not None:
            log.info("reusing %s (recipe %s)", settings.image, wanted)
            return cached
    with filelock.locked(settings.cache_dir / "build.lock", what="the image build"):
        # another process may have built it while we waited for the lock
        cached = None if rebuild else _cached(settings, wanted)
        return cached if cached is not None else build_image(settings, wanted)


def _mounts_under(path: Path) -> list[str]:
    """Mount points at or below PATH (left over from a chroot), deepest first."""
    prefix = str(path.resolve())
    found = []
    with open("/proc/self/mountinfo", encoding="utf-8") as fh:
        for line in fh:
            point = line.split()[4].replace("\\040", " ")
            if point == prefix or point.startswith(prefix + "/"):
                found.append(point)
    return sorted(found, key=len, reverse=True)


def _remove_tree(path: Path) -> None:
    """Remove a build tree, but never through a mount still bound into it."""
    if not path.exists():
        return
    for point in _mounts_under(path):
        subprocess.run(["umount", "-l", point], check=False)  # noqa: S603, S607
    if _mounts_under(path):
        raise LabError(f"refusing to delete {path}: something is still mounted under it")
    shutil.rmtree(path)


def build_image(settings: LabSettings, wanted: str) -> ImageInfo:
    """Debootstrap, configure and import the image; atomic on failure (see module doc)."""
    if os.geteuid() != 0:
        raise LabError("building the lab image needs root (debootstrap, chroot)")
    if shutil.which("debootstrap") is None:
        raise LabError("debootstrap is not installed; run scripts/setup-podman as root")
    started = time.monotonic()
    settings.cache_dir.mkdir(parents=True, exist_ok=True)
    work = settings.cache_dir / f"build-{uuid.uuid4().hex[:8]}"
    work.mkdir()
    log_path = settings.cache_dir / "build.log"
    temp_tag = f"localhost/hisops-lab:build-{work.name[6:]}"
    old_id = podman.image_id(settings.image)
    env = {**os.environ, "HISOPS_LAB_DEB_CACHE": str(settings.cache_dir / "debs")}
    try:
        log.info("building %s (recipe %s); log in %s", settings.image, wanted, log_path)
        with open(log_path, "w", encoding="utf-8") as log_fh:
            proc = subprocess.run(  # noqa: S603 - our own recipe script
                [str(settings.recipe_dir / "build-rootfs"), str(work / "rootfs"),
                 str(settings.patch_repo_root), str(work / "info.json")],
                stdout=log_fh, stderr=subprocess.STDOUT, env=env, check=False, timeout=1800,
            )
        _check_build(proc.returncode, log_path)
        info = json.loads((work / "info.json").read_text())
        changes = [
            'CMD=["/usr/local/sbin/hisops-lab-init"]',
            f"LABEL={LABEL_RECIPE}={wanted}",
            f"LABEL={LABEL_PG}={info['pg_version']}",
            f"LABEL={LABEL_PATCH}={info['patch_version'] or ''}",
            f"LABEL={LABEL_PGBACKREST}={info['pgbackrest_version']}",
        ]
        _import_rootfs(work / "rootfs", temp_tag, changes, log_path)
        podman.run(["tag", temp_tag, settings.image])
        podman.run(["untag", temp_tag, temp_tag], check=False)
    except BaseException:
        podman.run(["rmi", "--force", temp_tag], check=False)
        raise
    finally:
        _remove_tree(work)
    new_id = podman.image_id(settings.image)
    if old_id and old_id != new_id:
        # the previous image is now untagged; drop it unless a container still uses it
        podman.run(["rmi", old_id], check=False)
    seconds = time.monotonic() - started
    log.info("built %s in %.0f s", settings.image, seconds)
    patch = info["patch_version"] or None
    return ImageInfo(
        image=settings.image, recipe_hash=wanted, pg_version=info["pg_version"],
        patch_version=patch, pgbackrest_version=info["pgbackrest_version"],
        patch_repo=patch_repo_dir(settings, patch), built=True, seconds=seconds,
    )


def _import_rootfs(rootfs: Path, tag: str, changes: list[str], log_path: Path) -> None:
    """``tar -C rootfs -c . | podman import`` with numeric owners (uids differ from the host)."""
    cmd = [podman.podman_path(), "import", "-q"]
    for change in changes:
        cmd += ["--change", change]
    cmd += ["-", tag]
    with open(log_path, "a", encoding="utf-8") as log_fh:
        tar = subprocess.Popen(  # noqa: S603
            # tar from PATH, like every tool the recipe uses
            ["tar", "--numeric-owner", "-C", str(rootfs), "-c", "."],  # noqa: S607
            stdout=subprocess.PIPE, stderr=log_fh,
        )
        imp = subprocess.run(cmd, stdin=tar.stdout, stdout=log_fh, stderr=log_fh, check=False)  # noqa: S603
        if tar.stdout is not None:
            tar.stdout.close()
        tar_rc = tar.wait()
    if tar_rc != 0 or imp.returncode != 0:
        raise LabError(
            f"podman import failed (tar rc {tar_rc}, import rc {imp.returncode})",
            log_path=str(log_path),
        )


def _check_build(returncode: int, log_path: Path) -> None:
    if returncode != 0:
        raise LabError(f"image build failed (rc {returncode}): {_last_line(log_path)}",
                       log_path=str(log_path))


def _last_line(path: Path) -> str:
    lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    return lines[-1] if lines else "no output"
