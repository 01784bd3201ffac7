"""Unit tests must not reach a host: any socket connection except to a local UNIX socket
fails loudly, and so does any use of ansible-runner or Fabric."""

from __future__ import annotations

import socket
from typing import Any

import pytest


class NetworkUsedInUnitTest(AssertionError):
    pass


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> Any:
        if self.family == socket.AF_UNIX:
            return real_connect(self, address)
        raise NetworkUsedInUnitTest(f"unit test tried to connect to {address}")

    monkeypatch.setattr(socket.socket, "connect", guarded)

    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise NetworkUsedInUnitTest("unit test tried to run ansible-runner or an ssh command")

    import hisops.executors.ansible as ansible_exec
    import hisops.executors.ssh as ssh_exec

    monkeypatch.setattr(ansible_exec, "run_playbook", forbidden)
    monkeypatch.setattr(ssh_exec, "run_command", forbidden)
