"""Inventory variables to HostConnection, and the command line the SSH executor sends."""

from __future__ import annotations

import shlex
import subprocess

import pytest

from hisops.errors import ExecutorError
from hisops.executors.results import HostConnection
from hisops.executors.ssh import (
    _ENV_LOADER,
    _wrap,
    connection_for,
    env_payload,
    known_hosts_from_ssh_args,
)


def test_defaults_follow_ansible_not_localhost() -> None:
    conn = connection_for("db1.example.org", {})
    assert conn == HostConnection(name="db1.example.org", address="db1.example.org", port=22,
                                  user="root")


def test_inventory_vars_are_read() -> None:
    conn = connection_for("db1", {
        "ansible_host": "db1.hospital.example", "ansible_port": "2222", "ansible_user": "deploy",
        "ansible_ssh_private_key_file": "~/.ssh/id_db", "ansible_become": "yes",
        "ansible_become_user": "postgres",
    })
    assert conn.address == "db1.hospital.example"
    assert (conn.port, conn.user, conn.become) == (2222, "deploy", True)
    assert conn.key_file is not None
    assert conn.key_file.endswith("/.ssh/id_db")
    assert not conn.key_file.startswith("~")
    assert conn.extra == {"become_user": "postgres"}


def test_local_connection() -> None:
    assert connection_for("ctl", {"ansible_connection": "local"}).local


@pytest.mark.parametrize("args", [
    "-o UserKnownHostsFile=/k/hosts -o StrictHostKeyChecking=yes",
    "-o StrictHostKeyChecking=yes -oUserKnownHostsFile=/k/hosts",
    "-o 'UserKnownHostsFile /k/hosts'",
    "-o userknownhostsfile=/k/hosts",
    "-o UserKnownHostsFile=/k/hosts /k/other",
])
def test_known_hosts_from_ssh_args(args: str) -> None:
    assert known_hosts_from_ssh_args(args) == "/k/hosts"


def test_known_hosts_absent_or_unparsable() -> None:
    assert known_hosts_from_ssh_args("-o StrictHostKeyChecking=yes") is None
    assert known_hosts_from_ssh_args("-o 'unterminated") is None


def test_known_hosts_precedence() -> None:
    common = {"ansible_ssh_common_args": "-o UserKnownHostsFile=/from/args"}
    assert connection_for("h", common).known_hosts == "/from/args"
    assert connection_for("h", {**common, "hisops_known_hosts": "/explicit"}).known_hosts == (
        "/explicit")
    assert connection_for("h", {}).known_hosts is None


@pytest.mark.parametrize(("hostvars", "message"), [
    ({"ansible_connection": "containers.podman.podman"}, "cannot be reached over SSH"),
    ({"ansible_host": "{{ lookup('env', 'X') }}"}, "templated"),
    ({"ansible_port": "ssh"}, "not a number"),
])
def test_unusable_vars_are_refused(hostvars: dict[str, str], message: str) -> None:
    with pytest.raises(ExecutorError, match=message):
        connection_for("db1", hostvars)


def test_command_line_runs_bash_under_a_remote_deadline() -> None:
    conn = HostConnection(name="db1")
    argv = shlex.split(_wrap(conn, "echo 'hi' | wc -c", 2.5, {}, remote_timeout=True))
    assert argv == ["timeout", "-k", "5", "4", "bash", "-c", "echo 'hi' | wc -c"]


def test_become_uses_non_interactive_sudo_and_keeps_env() -> None:
    conn = HostConnection(name="db1", user="deploy", become=True)
    argv = shlex.split(_wrap(conn, "id -u", 10, {"A": "x y"}, remote_timeout=True))
    assert argv[:5] == ["sudo", "-n", "-u", "root", "--"]
    # the loader runs after sudo, so env_reset cannot drop what it exports
    assert argv[-5:] == ["bash", "-c", _ENV_LOADER, "hisops-env", "id -u"]


def test_env_values_never_reach_the_command_line() -> None:
    # argv is world-readable in the process list and sudo logs it: a secret must not be there
    conn = HostConnection(name="db1", user="deploy", become=True)
    line = _wrap(conn, "id -u", 10, {"HISOPS_SECRET_PW": "canary-7f3a"}, remote_timeout=True)
    assert "canary-7f3a" not in line
    assert "HISOPS_SECRET_PW" not in line


def test_the_env_loader_exports_every_value_exactly_in_real_bash() -> None:
    env = {"A": "x y", "B": "it's \"quoted\" $HOME `id`\nsecond line", "C": ""}
    script = 'printf "%s|%s|%s|" "$A" "$B" "$C"; cat; printf "[%s]" "${kv-unset}"'
    proc = subprocess.run(["bash", "-c", _ENV_LOADER, "hisops-env", script],
                          input=env_payload(env), capture_output=True, text=True, check=True,
                          timeout=10)
    # values verbatim; the command's own stdin is empty; the loop variable does not leak
    assert proc.stdout == "x y|it's \"quoted\" $HOME `id`\nsecond line||[unset]"


@pytest.mark.parametrize("env", [{"A-B": "x"}, {"1A": "x"}, {"A": "x\0y"}])
def test_env_payload_refuses_what_bash_could_not_carry(env: dict[str, str]) -> None:
    with pytest.raises(ExecutorError):
        env_payload(env)


def test_no_sudo_when_already_the_become_user() -> None:
    conn = HostConnection(name="db1", user="root", become=True)
    assert not _wrap(conn, "true", 10, {}, remote_timeout=False).startswith("sudo")
