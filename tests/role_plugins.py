"""Load a role's filter plugin as a module, the way Ansible finds it (by path, no package)."""

from __future__ import annotations

import importlib.util
from types import ModuleType

from tests.conftest import ROOT


def filter_plugin(role: str, name: str) -> ModuleType:
    path = ROOT / "roles" / role / "filter_plugins" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"{name}_filters", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
