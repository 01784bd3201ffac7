"""The pg_baseline role's decisions (filter plugin): what to write, when a restart is owed."""

from __future__ import annotations

from typing import Any

import pytest

from tests.role_plugins import filter_plugin

F = filter_plugin("pg_baseline", "hisops_baseline")


def _row(name: str, context: str, file_setting: str | None = None,
         applied: bool | None = None) -> dict[str, Any]:
    return {"key": name.lower(), "name": name, "context": context,
            "file_setting": file_setting, "file_applied": applied}


def test_a_restart_only_value_already_written_is_not_written_again() -> None:
    # idempotence while a restart is owed: the files hold 200, the server still runs 40
    plan = F.settings_plan([{"name": "max_connections", "value": 200}],
                           [_row("max_connections", "postmaster", "200", False)])
    assert plan[0]["action"] == "none"


def test_another_value_waiting_for_a_restart_is_overwritten() -> None:
    plan = F.settings_plan([{"name": "max_connections", "value": "200"}],
                           [_row("max_connections", "postmaster", "300", False)])
    assert plan[0]["action"] == "pin"
    assert plan[0]["pin_sql"] == "ALTER SYSTEM SET max_connections = %s"
    assert plan[0]["pin_args"] == ["200"]


def test_reloadable_settings_go_to_the_module_and_bools_are_spelled_on_off() -> None:
    plan = F.settings_plan([{"name": "log_connections", "value": True}],
                           [_row("log_connections", "superuser-backend", "off", True)])
    assert (plan[0]["action"], plan[0]["value"]) == ("set", "on")


def test_list_values_are_bound_element_by_element() -> None:
    plan = F.settings_plan([{"name": "shared_preload_libraries",
                             "value": "pg_stat_statements, auto_explain"}],
                           [_row("shared_preload_libraries", "postmaster")])
    assert plan[0]["pin_args"] == ["pg_stat_statements", "auto_explain"]
    prefix = F.settings_plan([{"name": "log_line_prefix", "value": "%m [%p] db=%d,user=%u "}],
                             [_row("log_line_prefix", "sighup")])
    assert prefix[0]["pin_args"] == ["%m [%p] db=%d,user=%u "]  # a prefix is one string


def test_unknown_setting_is_an_error_not_a_skip() -> None:
    from ansible.errors import AnsibleFilterError

    with pytest.raises(AnsibleFilterError, match="no setting named 'log_connectionz'"):
        F.settings_plan([{"name": "log_connectionz", "value": "on"}], [])


def test_restart_state_separates_ours_from_other_waiting_and_broken_lines() -> None:
    plan = [{"name": "max_connections", "context": "postmaster", "action": "set"}]
    rows = [{"key": "max_connections", "error": F.WAITING_FOR_RESTART},
            {"key": "shared_buffers", "error": F.WAITING_FOR_RESTART},
            {"key": "work_mem", "error": "invalid value", "sourcefile": "/x.conf",
             "sourceline": 3}]
    state = F.restart_state(plan, rows, [])
    assert state == {"waiting": ["max_connections"], "other": ["shared_buffers"],
                     "broken": ["/x.conf:3: work_mem: invalid value"]}


def test_check_mode_counts_what_would_change_as_waiting() -> None:
    plan = [{"name": "max_connections", "context": "postmaster", "action": "set"},
            {"name": "log_connections", "context": "sighup", "action": "set"}]
    results = [{"item": {"name": "max_connections"}, "changed": True},
               {"item": {"name": "log_connections"}, "changed": True}]
    assert F.restart_state(plan, {}, results, True)["waiting"] == ["max_connections"]


def test_sshd_values_overridden_by_an_earlier_file_are_named() -> None:
    output = "permitrootlogin without-password\nx11forwarding yes\n"
    wanted = [{"key": "PermitRootLogin", "value": "prohibit-password"},
              {"key": "X11Forwarding", "value": "no"}]
    assert F.sshd_not_effective(wanted, output) == ["X11Forwarding no (sshd runs with yes)"]


def test_changed_items_name_what_changed() -> None:
    registered = {"results": [
        {"item": {"contype": "host", "databases": "all", "users": "all",
                  "address": "0.0.0.0/0", "method": "trust", "state": "absent"},
         "changed": True},
        {"item": {"contype": "local", "databases": "all", "users": "postgres",
                  "method": "peer", "state": "present"}, "changed": False}]}
    assert F.changed_items(registered, "hba") == ["hba absent host all all 0.0.0.0/0 trust"]
    assert F.changed_items({"skipped": True}, "hba") == []
