"""The local patch repository: one folder per package version, each with its ``.deb`` files,
``SHA256SUMS`` and ``manifest.json``.

Hospital networks are often closed, so hosts never download patches: the media come from this
repository on the controller, are copied to each host and checked there against the sha256 the
manifest records. The repository holds the installed version too: those packages are the
rollback media, and a patch whose rollback media are missing is refused before anything changes.

Used by the ``pg_patch`` role (through its filter plugin) and by the preflight guard, so both
read the repository the same way.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
SUMS = "SHA256SUMS"


class MediaError(ValueError):
    """The repository cannot provide a release: missing, unreadable or damaged."""


@dataclass(frozen=True)
class MediaFile:
    name: str
    package: str
    sha256: str
    bytes: int


@dataclass(frozen=True)
class Release:
    """One version's packages in the repository."""

    folder: Path
    package_version: str  # Debian version, e.g. 15.20-0+deb12u1
    server_version: str  # what SHOW server_version starts with, e.g. 15.20
    files: tuple[MediaFile, ...]

    @property
    def total_bytes(self) -> int:
        return sum(f.bytes for f in self.files)

    def as_dict(self) -> dict[str, Any]:
        """Plain data for Ansible (the role loops over ``files``)."""
        return {
            "folder": str(self.folder), "package_version": self.package_version,
            "server_version": self.server_version, "total_bytes": self.total_bytes,
            "files": [{"name": f.name, "package": f.package, "sha256": f.sha256,
                       "bytes": f.bytes} for f in self.files],
        }


def server_version_of(package_version: str) -> str:
    """``15.20-0+deb12u1`` -> ``15.20`` (the upstream part, without epoch or Debian revision)."""
    upstream = package_version.split(":", 1)[-1].split("-", 1)[0]
    return upstream.split("~", 1)[0]


def version_key(version: str) -> tuple[int, ...]:
    """Numeric sort key for an upstream version such as 15.20 (non-numbers sort first)."""
    out = []
    for part in server_version_of(version).split("."):
        out.append(int(part) if part.isdigit() else -1)
    return tuple(out)


def _read_release(folder: Path) -> Release:
    manifest_path = folder / MANIFEST
    try:
        raw = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise MediaError(f"{manifest_path}: unreadable manifest ({exc})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("files"), list):
        raise MediaError(f"{manifest_path}: not a patch manifest (no 'files' list)")
    package_version = str(raw.get("package_version") or raw.get("to_version") or "")
    if not package_version:
        raise MediaError(f"{manifest_path}: no package_version")
    files = []
    for index, item in enumerate(raw["files"]):
        try:
            name = str(item["name"])
            files.append(MediaFile(name=name, package=str(item.get("package")
                                                          or name.split("_", 1)[0]),
                                   sha256=str(item["sha256"]).lower(), bytes=int(item["bytes"])))
        except (KeyError, TypeError, ValueError):
            raise MediaError(f"{manifest_path}: files[{index}] needs name, sha256 and bytes"
                             ) from None
        if "/" in name or name.startswith("."):
            raise MediaError(f"{manifest_path}: files[{index}].name {name!r} is not a plain "
                             "file name")
    if not files:
        raise MediaError(f"{manifest_path}: the release lists no files")
    return Release(folder=folder, package_version=package_version,
                   server_version=str(raw.get("server_version")
                                      or server_version_of(package_version)),
                   files=tuple(files))


def releases(repository: str | Path) -> list[Release]:
    """Every readable release in REPOSITORY, oldest first (unreadable folders are logged)."""
    root = Path(repository)
    if not root.is_dir():
        raise MediaError(f"patch repository {root} does not exist or is not a folder")
    found = []
    for folder in sorted(p for p in root.iterdir() if (p / MANIFEST).is_file()):
        try:
            found.append(_read_release(folder))
        except MediaError as exc:
            log.warning("%s", exc)
    return sorted(found, key=lambda r: version_key(r.package_version))


def find_release(repository: str | Path, *, server_version: str = "",
                 package_version: str = "") -> Release:
    """The release for a server version (``15.20``) or an exact package version."""
    if not (server_version or package_version):
        raise MediaError("name a server_version or a package_version")
    candidates = [
        r for r in releases(repository)
        if (package_version and r.package_version == package_version)
        or (not package_version and r.server_version == server_version)
    ]
    wanted = package_version or server_version
    if not candidates:
        offered = ", ".join(r.server_version for r in releases(repository)) or "none"
        raise MediaError(f"no media for PostgreSQL {wanted} in the patch repository "
                         f"{repository} (it holds: {offered})")
    if len(candidates) > 1:
        names = ", ".join(r.package_version for r in candidates)
        raise MediaError(f"several releases in {repository} give PostgreSQL {wanted} "
                         f"({names}): name the package version")
    return candidates[0]


def verify_release(release: Release) -> list[str]:
    """Problems with the release's files on the controller (missing, wrong size or sha256)."""
    problems = []
    for media in release.files:
        path = release.folder / media.name
        if not path.is_file():
            problems.append(f"{path}: missing")
            continue
        digest = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        if digest.hexdigest() != media.sha256:
            problems.append(f"{path}: sha256 {digest.hexdigest()[:16]}... does not match the "
                            f"manifest's {media.sha256[:16]}...")
    return problems
