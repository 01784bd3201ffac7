"""Security floors of the dependencies: declared in pyproject.toml and met by what is installed.

paramiko (under Fabric: every SSH step) must carry the Terrapin fix (CVE-2023-48795, paramiko
3.4.0: strict key exchange); cryptography under it has floors of its own. A venv built before a
floor was raised, or a pin loosened by mistake, fails here instead of shipping.
"""

from __future__ import annotations

import tomllib
from importlib.metadata import version

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from ..conftest import ROOT

TERRAPIN_FIX = Version("3.4.0")
# package -> (the lowest version pyproject.toml may allow, the last release without the fix)
FLOORS = {"paramiko": (TERRAPIN_FIX, Version("3.3.1")),
          "cryptography": (Version("44.0.1"), Version("44.0.0"))}


def declared() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    requirements = [Requirement(text) for text in project["dependencies"]]
    return {req.name.lower(): req for req in requirements}


def test_paramiko_installed_has_the_terrapin_fix() -> None:
    import paramiko.transport

    assert Version(version("paramiko")) >= TERRAPIN_FIX
    # the fix itself: strict key exchange offered by the transport, not just a version number
    with open(paramiko.transport.__file__, encoding="utf-8") as source:
        assert 'f"kex-strict-{which}-v00@openssh.com"' in source.read()


@pytest.mark.parametrize("package", sorted(FLOORS))
def test_pyproject_floors_security_fixes(package: str) -> None:
    req = declared()[package]
    floor, vulnerable = FLOORS[package]
    assert not req.specifier.contains(vulnerable, prereleases=True), (
        f"pyproject.toml allows {package} {vulnerable}, without the fix of {floor}")
    assert req.specifier.contains(floor)


@pytest.mark.parametrize("package", sorted(FLOORS))
def test_installed_versions_meet_pyproject(package: str) -> None:
    req = declared()[package]
    installed = Version(version(package))
    assert req.specifier.contains(installed, prereleases=True), (
        f"{package} {installed} installed, pyproject.toml asks {req.specifier}: rerun "
        "./scripts/bootstrap")
    assert installed >= FLOORS[package][0]
