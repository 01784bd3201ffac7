"""Fuzz the inventory loader: whatever the input, it loads or raises one InputError, one line.

`hisops validate -i FILE`, `plan` and `run` read the inventory before any host is contacted; a
malformed inventory must stop them at exit 2 with a readable line naming the file, never a
Python stack (from our structural check or from Ansible's own InventoryManager behind it).
"""

from __future__ import annotations

import copy
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hisops.inventory import Inventory
from tests.fuzzing import loads_or_fails_in_one_line, values

from ..conftest import DATA

GOOD = yaml.safe_load((DATA / "inventories" / "local.yml").read_text(encoding="utf-8"))
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check(text: str) -> None:
    loads_or_fails_in_one_line(Inventory, text)


@FUZZ
@given(st.text(max_size=300))
def test_any_text(text: str) -> None:
    check(text)


@FUZZ
@given(values)
def test_any_yaml_value(value: Any) -> None:
    check(yaml.safe_dump(value, allow_unicode=True))


# Where a value can go in a group: the top-level group's vars, a child group, its hosts, one
# host's variables, the children mapping itself.
SLOTS = [("all",), ("all", "vars"), ("all", "children"), ("all", "children", "db_primary"),
         ("all", "children", "db_primary", "hosts"),
         ("all", "children", "db_primary", "hosts", "db-a"),
         ("all", "children", "env_lab", "children"),
         ("all", "vars", "ansible_connection")]
names = st.one_of(st.text(max_size=12), st.sampled_from(["hosts", "children", "vars", "all",
                                                         "ungrouped", "db-a", "[x]", "a:b",
                                                         "db-[01:20]", "h[0:99999999]",
                                                         "h[1:9:0]", "h[a:z]"]))


@FUZZ
@given(st.sampled_from(SLOTS), st.one_of(values, st.dictionaries(names, values, max_size=3)))
def test_one_slot_replaced(slot: tuple[str, ...], value: Any) -> None:
    doc = copy.deepcopy(GOOD)
    node = doc
    for key in slot[:-1]:
        node = node[key]
    node[slot[-1]] = value
    check(yaml.safe_dump(doc, allow_unicode=True))


@FUZZ
@given(names, names, values)
def test_odd_group_and_host_names(group: str, host: str, host_vars: Any) -> None:
    doc = copy.deepcopy(GOOD)
    doc["all"]["children"][group] = {"hosts": {host: host_vars}}
    check(yaml.safe_dump(doc, allow_unicode=True))
