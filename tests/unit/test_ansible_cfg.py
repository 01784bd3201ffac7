"""The repo's ansible.cfg (read by AWX / Automation Platform and by anyone running a playbook by
hand) and the environment the executor gives ansible-playbook (``_ansible_env``) must agree:
a playbook must behave the same whichever way it is started.

Ansible's own configuration definitions map each ini key to its environment variable and type,
so no mapping is copied here.
"""

from __future__ import annotations

import configparser
from pathlib import Path
from typing import Any

import pytest
from ansible import constants
from ansible.module_utils.parsing.convert_bool import boolean
from ansible.plugins.loader import connection_loader

from hisops.executors.ansible import PlaybookRequest, _ansible_env

ROOT = Path(__file__).resolve().parents[2]
CFG = ROOT / "ansible.cfg"


def _cfg() -> configparser.ConfigParser:
    cfg = configparser.ConfigParser(interpolation=None)
    assert cfg.read(CFG), f"{CFG} is missing"
    return cfg


def _definitions() -> dict[tuple[str, str], dict[str, Any]]:
    """(ini section, key) -> {env: [names], type} from ansible-core and the ssh plugin."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    defs: dict[str, Any] = dict(constants.config.get_configuration_definitions())
    connection_loader.get("ssh", class_only=True)  # loading the plugin registers its options
    plugin = dict(constants.config.get_configuration_definitions("connection", "ssh"))
    assert "ssh_args" in plugin
    for d in [*defs.values(), *plugin.values()]:
        for ini in d.get("ini") or []:
            out.setdefault((ini["section"], ini["key"]), {
                "env": [e["name"] for e in d.get("env") or []], "type": d.get("type")})
    return out


def _norm(value: str, kind: str | None) -> object:
    if kind in ("bool", "boolean"):
        return boolean(value, strict=True)
    if kind in ("int", "integer"):
        return int(value)
    return value.strip()


@pytest.fixture(scope="module")
def product_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("cfg")
    playbook = tmp / "pb.yml"
    playbook.write_text("- hosts: all\n  tasks: []\n")
    req = PlaybookRequest(playbook=playbook, role=None, pattern="all",
                          inventory=tmp / "hosts.yml", private_data_dir=tmp / "pdd",
                          ident="cfg-1")
    return _ansible_env(req, "/usr/bin/ansible-playbook")


def test_every_cfg_key_is_an_ansible_setting() -> None:
    """A typo in ansible.cfg would be ignored silently by Ansible."""
    defs = _definitions()
    cfg = _cfg()
    unknown = [f"[{s}] {k}" for s in cfg.sections() for k in cfg[s] if (s, k) not in defs]
    assert unknown == []


def test_cfg_and_executor_env_agree(product_env: dict[str, str]) -> None:
    defs, cfg = _definitions(), _cfg()
    disagree, both = [], 0
    for section in cfg.sections():
        for key, value in cfg[section].items():
            d = defs[(section, key)]
            for name in d["env"]:
                if name in product_env:
                    both += 1
                    if _norm(product_env[name], d["type"]) != _norm(value, d["type"]):
                        disagree.append(f"[{section}] {key} = {value!r} but the executor sets "
                                        f"{name}={product_env[name]!r}")
    assert disagree == []
    assert both >= 4  # host key checking, pipelining, gathering, retry files at least


def test_executor_pins_every_cfg_setting(product_env: dict[str, str]) -> None:
    """Every setting ansible.cfg ships is also pinned by the executor (env or its forks), so a
    `hisops run` started from any directory behaves as the project's ansible.cfg says."""
    defs, cfg = _definitions(), _cfg()
    forks_default = PlaybookRequest.__dataclass_fields__["forks"].default
    missing = []
    for section in cfg.sections():
        for key, value in cfg[section].items():
            if (section, key) == ("defaults", "forks"):
                if int(value) != forks_default:
                    missing.append(f"forks = {value} but PlaybookRequest.forks = {forks_default}")
                continue
            if not any(name in product_env for name in defs[(section, key)]["env"]):
                missing.append(f"[{section}] {key} ({', '.join(defs[(section, key)]['env'])})")
    assert missing == []


def test_cfg_keeps_the_safe_settings() -> None:
    cfg = _cfg()
    assert boolean(cfg["defaults"]["host_key_checking"], strict=True) is True
    assert boolean(cfg["defaults"]["retry_files_enabled"], strict=True) is False
    assert cfg["defaults"]["gathering"] == "explicit"
    assert boolean(cfg["ssh_connection"]["pipelining"], strict=True) is True
    args = cfg["ssh_connection"]["ssh_args"].split()
    # host keys are never switched off through ssh_args either
    assert not any("StrictHostKeyChecking=no" in a or "UserKnownHostsFile=/dev/null" in a
                   for a in args)
    assert "ControlMaster=auto" in args
