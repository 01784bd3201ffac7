"""Filters that read the local patch repository through ``hisops.patching.media``.

The repository is read in one place (typed and unit-tested) for both the role and the preflight
guard; these filters only adapt it to Ansible. They run on the controller, where hisops is
installed.
"""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError

from hisops.patching import media


def patch_release(repository: str, server_version: str = "",
                  package_version: str = "") -> dict[str, Any]:
    """The release (folder, versions, files with sha256) for a server or package version."""
    try:
        release = media.find_release(str(repository), server_version=str(server_version),
                                     package_version=str(package_version))
    except media.MediaError as exc:
        raise AnsibleFilterError(str(exc)) from None
    problems = media.verify_release(release)
    if problems:
        raise AnsibleFilterError("the patch repository's media are damaged: "
                                 + "; ".join(problems))
    return release.as_dict()


def rollback_release(repository: str, target_version: str, installed: str, running: str,
                     in_progress: dict[str, Any] | None = None) -> dict[str, Any]:
    """The release a failed patch of this host goes back to ({} when there is none to go to).

    The version a patch to this same target started from (its note on the host survives a
    crash mid-swap), else the installed packages when they are not the target, else, with the
    target installed but not yet running, the running version.
    """
    target = str(target_version)
    note = in_progress or {}
    if note.get("from") and media.server_version_of(str(note.get("to") or "")) == target:
        return patch_release(repository, package_version=str(note["from"]))
    if media.server_version_of(str(installed)) != target:
        return patch_release(repository, package_version=str(installed))
    if running and str(running) != target:
        return patch_release(repository, server_version=str(running))
    return {}


def patch_server_version(package_version: str) -> str:
    """``15.20-0+deb12u1`` -> ``15.20``."""
    return media.server_version_of(str(package_version))


def patch_media_files(releases: list[dict[str, Any]], stage_dir: str) -> list[dict[str, Any]]:
    """One entry per file to stage: src on the controller, dest on the host, sha256."""
    out = []
    for release in releases:
        for item in release["files"]:
            out.append({
                "name": item["name"], "sha256": item["sha256"],
                "src": f"{release['folder']}/{item['name']}",
                "dest": f"{stage_dir}/{release['package_version']}/{item['name']}",
                "version": release["package_version"],
            })
    return out


def smoke_failures(results: list[dict[str, Any]]) -> list[str]:
    """``smoke query NAME failed: WHY`` for each registered smoke query that did not pass."""
    out = []
    for result in results:
        query = result.get("item") or {}
        name = str(query.get("name") or query.get("sql") or "?")
        minimum = int(query.get("min_rows", 1))
        if result.get("skipped"):
            continue
        if result.get("rc") != 0:
            lines = [ln for ln in str(result.get("stderr") or "").splitlines() if ln.strip()]
            # psql's last lines are often the statement and a caret: its ERROR line says why
            errors = [ln.strip() for ln in lines if "ERROR:" in ln]
            fallback = lines[-1] if lines else f"rc {result.get('rc')}"
            why = errors[0] if errors else fallback
            out.append(f"smoke query {name} failed: {why}")
            continue
        text = str(result.get("stdout") or "").strip()
        if not text.isdigit():
            out.append(f"smoke query {name} failed: unreadable count {text[:40]!r}")
        elif int(text) < minimum:
            out.append(f"smoke query {name} failed: {text} rows, expected at least {minimum}")
    return out


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "hisops_patch_release": patch_release,
            "hisops_patch_rollback_release": rollback_release,
            "hisops_patch_server_version": patch_server_version,
            "hisops_patch_media_files": patch_media_files,
            "hisops_patch_smoke_failures": smoke_failures,
        }
