"""Ansible inventories, read with Ansible's own InventoryManager.

Pattern semantics (``db:&env_lab``, ``!standby``, ``--limit``) must be exactly Ansible's, so we
use its implementation instead of writing our own. We add what Ansible lacks for our users:
strict checking of YAML inventories with file and line in the error, and a named error for a
group or host a runbook needs but the inventory does not have, and the engine groups
``engine_oracle`` and ``engine_postgresql`` (every host in exactly one, by :func:`db_engine`), so
one runbook serves both engines: ``{{ params.database }}:&engine_oracle`` for its RMAN steps,
``...:&engine_postgresql`` for its pgBackRest ones.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

from hisops.errors import InventoryError
from hisops.yamlfile import load_yaml

log = logging.getLogger(__name__)

# Fail instead of warning when a source cannot be parsed; only the plugins we document.
os.environ.setdefault("ANSIBLE_INVENTORY_UNPARSED_FAILED", "True")
os.environ.setdefault("ANSIBLE_INVENTORY_ENABLED", "yaml,ini,host_list")

_GROUP_KEYS = frozenset({"hosts", "children", "vars"})
_TERM_SPLIT = re.compile(r"[:,]")
# A host name may be a range ("db-[01:20]"); Ansible expands it eagerly, so "db-[0:99999999]"
# would hang the loader and fill the memory instead of failing. No real estate needs more.
MAX_RANGE_HOSTS = 10_000
_HOST_RANGE = re.compile(r"\[(\d+):(\d+)(?::(\d+))?\]")


def _range_size(host: str) -> int:
    """How many hosts a host name with numeric ranges expands to (1 without a range)."""
    size = 1
    for begin, end, step in _HOST_RANGE.findall(host):
        size *= max(0, (int(end) - int(begin)) // max(int(step or 1), 1) + 1)
    return size


def _check_yaml_inventory(path: Path) -> None:
    """Structural check of a YAML inventory file, with line numbers."""
    doc = load_yaml(path)
    data = doc.data
    if data is None:
        raise InventoryError("empty inventory", file=str(path), line=1)
    if not isinstance(data, dict):
        raise InventoryError("an inventory is a mapping of groups", file=str(path), line=1)

    def group(name: str, body: Any, loc: tuple[str | int, ...]) -> None:
        if body is None:
            return
        if not isinstance(body, dict):
            raise InventoryError("a group is a mapping with hosts, children or vars",
                                 file=str(path), line=doc.line_of(loc),
                                 field=".".join(map(str, loc)))
        for key, value in body.items():
            field_loc = (*loc, key)
            line, field_name = doc.line_of(field_loc), ".".join(map(str, field_loc))
            if key not in _GROUP_KEYS:
                raise InventoryError("unknown key (expected hosts, children or vars)",
                                     file=str(path), line=line, field=field_name)
            if value is None:
                continue
            if not isinstance(value, dict):
                raise InventoryError(f"'{key}' must be a mapping", file=str(path), line=line,
                                     field=field_name)
            if key == "children":
                for child, child_body in value.items():
                    group(str(child), child_body, (*field_loc, child))
            elif key == "hosts":
                for host, host_vars in value.items():
                    if isinstance(host, str) and _range_size(host) > MAX_RANGE_HOSTS:
                        raise InventoryError(f"host range expands to more than "
                                             f"{MAX_RANGE_HOSTS} hosts", file=str(path),
                                             line=doc.line_of((*field_loc, host)),
                                             field=f"{field_name}.{host}")
                    if host_vars is not None and not isinstance(host_vars, dict):
                        raise InventoryError("host variables must be a mapping",
                                             file=str(path),
                                             line=doc.line_of((*field_loc, host)),
                                             field=f"{field_name}.{host}")

    for name, body in data.items():
        group(str(name), body, (name,))


class Inventory:
    """One inventory source (a file or a folder), loaded once."""

    def __init__(self, source: Path | str) -> None:
        self.source = Path(source)
        if not self.source.exists():
            raise InventoryError("inventory not found", file=str(self.source))
        for yaml_file in self._yaml_files():
            _check_yaml_inventory(yaml_file)
        self._manager = self._load()
        self._host_vars_cache: dict[str, dict[str, Any]] = {}

    def _yaml_files(self) -> list[Path]:
        if self.source.is_file():
            return [self.source] if self.source.suffix in (".yml", ".yaml") else []
        return sorted(p for p in self.source.iterdir()
                      if p.is_file() and p.suffix in (".yml", ".yaml"))

    def _load(self) -> Any:
        from ansible.errors import AnsibleError
        from ansible.inventory.manager import InventoryManager
        from ansible.parsing.dataloader import DataLoader

        captured = io.StringIO()
        try:
            with contextlib.redirect_stderr(captured), contextlib.redirect_stdout(captured):
                self._loader = DataLoader()
                return InventoryManager(loader=self._loader, sources=[str(self.source)])
        except AnsibleError as exc:
            reason = _first_reason(captured.getvalue()) or str(exc).splitlines()[0]
            raise InventoryError(f"cannot parse inventory: {reason}",
                                 file=str(self.source)) from None

    @cached_property
    def groups(self) -> frozenset[str]:
        return frozenset(self._manager.groups)

    @cached_property
    def groups_by_host(self) -> dict[str, list[str]]:
        """host -> the groups it is in (sorted), every group counted, ``all`` included."""
        out: dict[str, list[str]] = {}
        for group in sorted(self.groups):
            for host in self.hosts(group):
                out.setdefault(host, []).append(group)
        return out

    @cached_property
    def host_names(self) -> frozenset[str]:
        return frozenset(h.name for h in self._manager.get_hosts("all"))

    def check_pattern(self, pattern: str, *, file: str | None = None,
                      field: str | None = None, line: int | None = None) -> None:
        """Every group or host named in ``pattern`` exists (wildcards and regexes excepted)."""
        self.with_engine_groups(pattern)
        for raw in _TERM_SPLIT.split(pattern):
            term = raw.strip().lstrip("&!")
            if not term or term in ("all", "*") or any(c in term for c in "*?[~"):
                continue
            if term not in self.groups and term not in self.host_names:
                raise InventoryError(
                    f"inventory {self.source} has no group or host '{term}'",
                    file=file, line=line, field=field,
                )

    def hosts(self, pattern: str, limit: str | None = None) -> list[str]:
        """Host names matching ``pattern`` (and ``limit``), in inventory order."""
        self.with_engine_groups(pattern)
        self._manager.clear_pattern_cache()
        self._manager.subset(limit)
        try:
            return [h.name for h in self._manager.get_hosts(pattern)]
        finally:
            self._manager.subset(None)

    @cached_property
    def _variables(self) -> Any:
        from ansible.vars.manager import VariableManager

        return VariableManager(loader=self._loader, inventory=self._manager)

    def host_vars(self, host: str) -> dict[str, Any]:
        """The host's variables as Ansible merges them (group vars, group_vars/ and host_vars/
        folders, inventory), not yet templated."""
        found = self._manager.get_host(host)
        if found is None:
            raise InventoryError(f"no host '{host}' in inventory", file=str(self.source))
        if host not in self._host_vars_cache:
            merged = self._variables.get_vars(host=found, include_hostvars=False)
            self._host_vars_cache[host] = {k: v for k, v in merged.items()
                                           if not k.startswith("ansible_facts")}
        return dict(self._host_vars_cache[host])

    def with_engine_groups(self, pattern: str) -> None:
        """Add the engine groups to the loaded inventory the first time a pattern names one
        (reading every host's variables is the slow part; most patterns never need it)."""
        if ENGINE_GROUP_PREFIX in pattern:
            self._engine_groups  # noqa: B018 - the cached property adds them once

    @cached_property
    def _engine_groups(self) -> dict[str, str]:
        """host -> engine; the hosts are added to ``engine_<engine>`` groups of the loaded
        inventory (in memory: the files are not changed, and playbooks never see them)."""
        declared = self._mentions("hisops_engine")
        engines: dict[str, str] = {}
        groups = self.groups_by_host
        for engine in ENGINES:
            self._manager.add_group(ENGINE_GROUP_PREFIX + engine)
        for host in sorted(self.host_names):
            host_vars = self.host_vars(host) if declared else {}
            engines[host] = db_engine(groups.get(host, ()), host_vars)
            self._manager.add_host(host, group=ENGINE_GROUP_PREFIX + engines[host])
        self.__dict__.pop("groups", None)  # the cached group list now has two more
        self.__dict__.pop("groups_by_host", None)
        return engines

    def engine(self, host: str) -> str:
        """The database engine of ``host``: ``oracle`` or ``postgresql``."""
        if host not in self.host_names:
            raise InventoryError(f"no host '{host}' in inventory", file=str(self.source))
        return self._engine_groups[host]

    def _mentions(self, word: str) -> bool:
        """Whether any inventory file names ``word`` at all: when none does, the per-host
        variable merge (slow at 1,000 hosts) can be skipped."""
        files = [self.source] if self.source.is_file() else [
            p for p in self.source.rglob("*") if p.is_file()]
        needle = word.encode()
        for path in files:
            try:
                if needle in path.read_bytes():
                    return True
            except OSError:
                return True  # cannot tell: take the careful path
        return False

    @cached_property
    def _mentions_protection(self) -> bool:
        """Whether any inventory file names ``hisops_protected``: when none does, no host can
        be protected."""
        return self._mentions("hisops_protected")

    def any_protected(self, hosts: Iterable[str]) -> list[str]:
        """Hosts whose variables mark them protected (``hisops_protected: true``)."""
        if not self._mentions_protection:
            return []
        return [h for h in hosts if bool(self.host_vars(h).get("hisops_protected", False))]


def _first_reason(text: str) -> str:
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("[WARNING]: Failed to parse") or line.startswith("YAML parsing"):
            return line.removeprefix("[WARNING]: ")
    return ""


ORACLE_GROUP = "oracle"  # the engine groups of inventories/production.example
ENGINES = ("oracle", "postgresql")
ENGINE_GROUP_PREFIX = "engine_"  # engine_oracle, engine_postgresql: added by Inventory


class EngineLookup(Mapping[str, str]):
    """``inventory.engine[host]`` in a runbook's templates and conditions: the database engine
    of ``host`` (``oracle`` or ``postgresql``). A name the inventory does not hold answers
    ``postgresql``, as :func:`db_engine` does for a host that declares nothing."""

    def __init__(self, inventory: Inventory) -> None:
        self._inventory = inventory

    def __getitem__(self, host: str) -> str:
        if host not in self._inventory.host_names:
            return "postgresql"
        return self._inventory.engine(host)

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._inventory.host_names))

    def __len__(self) -> int:
        return len(self._inventory.host_names)


def template_context(inventory: Inventory) -> dict[str, Any]:
    """What runbook templates may read of the inventory (the ``inventory`` root name)."""
    return {"engine": EngineLookup(inventory)}


def db_engine(groups: Iterable[str], host_vars: Mapping[str, Any]) -> str:
    """A database host's engine: ``oracle`` when it is in the ``oracle`` group or says
    ``hisops_engine: oracle``, else ``postgresql`` (the lab's and the default)."""
    declared = host_vars.get("hisops_engine")
    if declared in ("oracle", "postgresql"):
        return str(declared)
    return "oracle" if ORACLE_GROUP in set(groups) else "postgresql"
