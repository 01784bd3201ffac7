"""Carrying the source's settings to a restored copy (pg_restore_verify_carry_settings): what
travels, what never does, how values are quoted, how memory is capped to the target, and that
the drill's fixed settings still win in the rendered postgresql.conf."""

from __future__ import annotations

import json
from typing import Any

import jinja2
import pytest
import yaml

from hisops.engines import postgres_carry
from tests.conftest import ROOT
from tests.role_plugins import filter_plugin

F = filter_plugin("pg_restore_verify", "hisops_drill")
ROLE = ROOT / "roles" / "pg_restore_verify"
DEFAULTS = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
EXCLUDE: list[str] = DEFAULTS["pg_restore_verify_carry_exclude"]
CAPS: dict[str, float] = DEFAULTS["pg_restore_verify_carry_memory_caps"]
GIB = 1 << 30
MEMINFO = "MemTotal:        4194304 kB\nMemFree:          123456 kB\n"  # 4 GiB


def row(name: str, value: str, setting: str | None = None, unit: str | None = None,
        vartype: str = "string") -> dict[str, Any]:
    return {"name": name, "value": value, "setting": setting if setting is not None else value,
            "unit": unit, "vartype": vartype}


# what the lab's primary (Debian, conf.d/hisops-lab.conf) sets in its configuration files
LAB_SOURCE = [
    row("DateStyle", "ISO, MDY"), row("TimeZone", "Etc/UTC"), row("cluster_name", "15/main"),
    row("external_pid_file", "/var/run/postgresql/15-main.pid"),
    row("hot_standby", "on", vartype="bool"), row("hot_standby_feedback", "on", vartype="bool"),
    row("listen_addresses", "127.0.0.1"), row("log_line_prefix", "%m [%p] %q%u@%d "),
    row("max_connections", "40", vartype="integer"),
    row("max_wal_size", "1GB", "1024", "MB", "integer"), row("port", "22301", vartype="integer"),
    row("shared_buffers", "32MB", "4096", "8kB", "integer"), row("ssl", "on", vartype="bool"),
    row("ssl_cert_file", "/etc/ssl/certs/ssl-cert-snakeoil.pem"),
    row("unix_socket_directories", "/var/run/postgresql"),
    row("wal_keep_size", "128MB", "128", "MB", "integer"), row("wal_level", "logical"),
    row("archive_command", "pgbackrest --stanza=his archive-push %p"),
    row("primary_conninfo", "host=his-db-2 password=secret"),
    row("shared_preload_libraries", "pg_stat_statements"),
]


def carry(rows: list[dict[str, Any]], memory: list[str] | None = None,
          budget_mb: Any = "") -> dict[str, Any]:
    result: dict[str, Any] = F.carry_settings(json.dumps(rows), EXCLUDE,
                                              [MEMINFO] if memory is None else memory,
                                              CAPS, budget_mb)
    return result


def test_the_source_settings_travel_except_its_addresses_paths_archive_and_certificates() -> None:
    result = carry(LAB_SOURCE)
    assert result["settings"] == {
        "DateStyle": "ISO, MDY", "TimeZone": "Etc/UTC", "hot_standby_feedback": "on",
        "log_line_prefix": "%m [%p] %q%u@%d ", "max_connections": "40",
        "max_wal_size": "1GB", "shared_buffers": "32MB", "wal_keep_size": "128MB",
        "wal_level": "logical"}
    assert set(result["excluded"]) == {
        "cluster_name", "external_pid_file", "hot_standby", "listen_addresses", "port", "ssl",
        "ssl_cert_file", "unix_socket_directories", "archive_command", "primary_conninfo",
        "shared_preload_libraries"}
    assert result["capped"] == {}
    assert result["memory_bytes"] == 4 * GIB


@pytest.mark.parametrize("name", [
    "port", "listen_addresses", "unix_socket_group", "unix_socket_permissions", "data_directory",
    "config_file", "hba_file", "ident_file", "external_pid_file", "cluster_name", "archive_mode",
    "archive_timeout", "archive_library", "restore_command", "recovery_target_time",
    "recovery_end_command", "primary_conninfo", "primary_slot_name", "promote_trigger_file",
    "synchronous_standby_names", "ssl", "ssl_key_file", "ssl_passphrase_command",
    "log_directory", "logging_collector", "log_destination", "hot_standby", "huge_pages",
    "krb_server_keyfile", "bonjour_name", "anon.salt", "pgsodium.getkey_script",
    "pg_stat_statements.max"])
def test_every_setting_the_brief_forbids_is_in_the_default_exclusion_list(name: str) -> None:
    assert carry([row(name, "x")])["settings"] == {}


def test_exclusion_patterns_match_names_case_insensitively_and_nothing_else() -> None:
    result = F.carry_settings(json.dumps([row("DateStyle", "ISO"), row("ssl_min_protocol_version",
                                          "TLSv1.2"), row("sslx", "1")]),
                              ["datestyle", "SSL_*"], [MEMINFO], {})
    assert result["excluded"] == ["DateStyle", "ssl_min_protocol_version"]
    assert result["settings"] == {"sslx": "1"}


def test_values_are_quoted_with_doubled_quotes_and_backslashes() -> None:
    assert F.conf_value("%m [%p] %q%u@%d ") == "'%m [%p] %q%u@%d '"
    assert F.conf_value("it's") == "'it''s'"
    assert F.conf_value(r"C:\tmp") == r"'C:\\tmp'"  # the conf scanner reads \t as a tab
    assert F.conf_value("a\nb") == r"'a\nb'"  # a line break would end the line
    assert F.conf_value(40) == "'40'"


def test_quoted_values_read_back_as_the_server_reads_them() -> None:
    # the scanner's rule (guc-file.l GUC_scanstr): '' is a quote, backslash escapes a char
    def scan(quoted: str) -> str:
        body, out, i = quoted[1:-1], [], 0
        while i < len(body):
            ch = body[i]
            if ch == "\\":
                nxt = body[i + 1]
                out.append({"n": "\n", "t": "\t", "r": "\r"}.get(nxt, nxt))
                i += 2
            elif ch == "'":
                out.append("'")
                i += 2
            else:
                out.append(ch)
                i += 1
        return "".join(out)

    for value in ("plain", "it's", "a\\b", "x''y", "tab\\there", "two\nlines", "'"):
        assert scan(F.conf_value(value)) == value


def test_memory_settings_over_their_share_of_the_target_are_capped_and_named() -> None:
    rows = [row("shared_buffers", "16GB", "2097152", "8kB", "integer"),
            row("maintenance_work_mem", "2GB", "2097152", "kB", "integer"),
            row("work_mem", "64MB", "65536", "kB", "integer"),
            row("effective_cache_size", "48GB", "6291456", "8kB", "integer"),
            row("wal_buffers", "-1", "-1", "8kB", "integer")]
    result = carry(rows)  # a 4 GiB test host
    assert result["settings"]["shared_buffers"] == "1024MB"  # 25 %
    assert result["settings"]["maintenance_work_mem"] == "409MB"  # 10 %
    assert result["settings"]["work_mem"] == "64MB"  # under its 5 %: unchanged
    assert result["settings"]["effective_cache_size"] == "48GB"  # an estimate, not memory used
    assert result["settings"]["wal_buffers"] == "-1"  # automatic stays automatic
    assert result["capped"]["shared_buffers"] == {
        "from": "16GB", "to": "1024MB", "limit_bytes": GIB, "fraction": 0.25}
    assert set(result["capped"]) == {"shared_buffers", "maintenance_work_mem"}


def test_the_inventory_budget_wins_over_the_hosts_memory() -> None:
    # the lab budgets 512 MB per database (hisops_db_memory_mb), whatever the machine has
    rows = [row("shared_buffers", "256MB", "32768", "8kB", "integer")]
    result = carry(rows, budget_mb=512)
    assert result["memory_bytes"] == 512 << 20
    assert result["capped"]["shared_buffers"]["to"] == "128MB"


def test_a_containers_cgroup_limit_is_its_memory() -> None:
    assert postgres_carry.memory_bytes([MEMINFO, "1073741824\n"]) == GIB  # cgroup v2 memory.max
    assert postgres_carry.memory_bytes([MEMINFO, "max\n"]) == 4 * GIB  # no limit
    assert postgres_carry.memory_bytes([MEMINFO, "9223372036854771712"]) == 4 * GIB  # v1
    assert postgres_carry.memory_bytes([]) is None


def test_a_memory_setting_cannot_be_carried_blind() -> None:
    from ansible.errors import AnsibleFilterError

    with pytest.raises(AnsibleFilterError, match="cannot cap shared_buffers"):
        carry([row("shared_buffers", "32MB", "4096", "8kB", "integer")], memory=[])
    assert carry([row("TimeZone", "UTC")], memory=[])["settings"] == {"TimeZone": "UTC"}


def test_unreadable_source_output_is_an_error() -> None:
    from ansible.errors import AnsibleFilterError

    with pytest.raises(AnsibleFilterError, match="cannot carry"):
        F.carry_settings("psql: error: connection refused", EXCLUDE, [MEMINFO], CAPS)


def test_unit_bytes_reads_pg_settings_units() -> None:
    assert postgres_carry.unit_bytes("8kB") == 8192
    assert postgres_carry.unit_bytes("MB") == 1 << 20
    assert postgres_carry.unit_bytes("ms") is None
    assert postgres_carry.unit_bytes(None) is None


def render_conf(carried: dict[str, str], limits: dict[str, int]) -> list[str]:
    # a config file, not HTML: escaping would corrupt the values under test
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)  # noqa: S701
    env.filters["hisops_conf_value"] = F.conf_value
    text = env.from_string((ROLE / "templates" / "postgresql.conf.j2").read_text()).render(
        ansible_managed="managed", pg_restore_verify_port=22307,
        pg_restore_verify_source_host="his-db-1", __pg_restore_verify_dir="/drill/his",
        __pg_restore_verify_carried=carried, __pg_restore_verify_limits=limits)
    return [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]


def effective(lines: list[str]) -> dict[str, str]:
    """What the server runs with: the last occurrence of each setting wins."""
    return {name: value for name, _, value in (ln.partition(" = ") for ln in lines)}


def test_the_drills_fixed_settings_and_the_source_limits_win_over_carried_ones() -> None:
    carried = {"port": "5432", "archive_mode": "on", "logging_collector": "on",
               "max_connections": "30", "max_wal_senders": "20", "wal_level": "logical",
               "shared_buffers": "32MB", "log_line_prefix": "%m it's "}
    limits = {"max_connections": 40, "max_wal_senders": 10}
    conf = effective(render_conf(carried, limits))
    assert conf["port"] == "22307"
    assert conf["archive_mode"] == "off"
    assert conf["logging_collector"] == "off"
    assert conf["listen_addresses"] == "'127.0.0.1'"
    assert conf["max_connections"] == "40"  # never under the source's pg_control value
    assert conf["max_wal_senders"] == "20"  # a higher configured value is kept
    assert conf["wal_level"] == "'logical'"  # the drill's default yields to the source's
    assert conf["shared_buffers"] == "'32MB'"
    assert conf["log_line_prefix"] == "'%m it''s '"


def test_a_plain_drill_keeps_its_minimal_configuration() -> None:
    conf = effective(render_conf({}, {"max_connections": 40}))
    assert conf["shared_buffers"] == "64MB"
    assert conf["wal_level"] == "replica"
    assert conf["max_connections"] == "40"
