"""The engine over real SSH: a throwaway sshd on a loopback port, host keys checked."""

from __future__ import annotations

from pathlib import Path

from tests.fixtures.sshd import SshdServer
from tests.integration.helpers import hisops, last_run, read_log

RUNBOOK = """\
name: over-ssh
summary: an ssh step, a playbook step and an assert, over a real sshd
parameters:
  dir: {type: str, required: true}
targets: [db_primary]
guards:
  - {name: reachable, kind: ssh, hosts: db_primary, command: "true"}
steps:
  - id: whoami
    kind: ssh
    hosts: db_primary
    read_only: true
    command: id -un
    expect: {stdout_contains: root}
  - id: write
    kind: ssh
    hosts: db_primary
    check: grep -q written {{ params.dir }}/log 2>/dev/null
    command: echo written >> {{ params.dir }}/log
  - id: marker
    kind: playbook
    hosts: db_primary
    playbook: PLAYBOOK
    idempotent: true
    vars: {marker_dir: "{{ params.dir }}"}
  - id: same_user
    kind: assert
    that: ["steps.whoami.stdout | trim == 'root'"]
"""


def write_inventory(path: Path, sshd: SshdServer, names: list[str]) -> Path:
    path.write_text(sshd.inventory(*names, group="db_primary"))
    return path


def test_run_over_real_ssh_is_idempotent(tmp_path: Path, sshd: SshdServer) -> None:
    inventory = write_inventory(tmp_path / "inventory.ini", sshd, ["node-1", "node-2"])
    runbook = tmp_path / "rb.yml"
    runbook.write_text(RUNBOOK.replace(
        "PLAYBOOK", str(Path("tests/data/playbooks/write_marker.yml").resolve())))
    out = tmp_path / "out"
    out.mkdir()
    args = ["run", str(runbook), "-i", str(inventory), "-e", f"dir={out}", "--yes", "--json"]
    first = hisops(*args)
    assert first.rc == 0, first.err
    steps = {s["id"]: s for s in first.json()["steps"]}
    assert set(steps["whoami"]["hosts"]) == {"node-1", "node-2"}
    # both logical hosts share one sshd and one folder: the second sees the first's write
    assert read_log(out).count("written") >= 1
    assert (out / "marker-node-1.txt").exists()
    assert (out / "marker-node-2.txt").exists()

    second = hisops(*args)
    assert second.rc == 0, second.err
    steps = {s["id"]: s for s in second.json()["steps"]}
    assert steps["write"]["status"] == "skipped"  # check says already done on every host
    assert steps["marker"]["status"] == "ok"  # ansible's stats: nothing changed
    assert last_run()["status"] == "succeeded"


def test_wrong_host_key_refuses_at_the_guard(tmp_path: Path, sshd: SshdServer) -> None:
    known_hosts = sshd.write_known_hosts(
        tmp_path / "known_hosts",
        key_line="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEq6vN8n2pFQ0k8XsfVZy6B0m7Qy7zq8VZ2Wf1rQb3xT")
    inventory = tmp_path / "inventory.ini"
    inventory.write_text(sshd.inventory("node-1", group="db_primary").replace(
        str(sshd.known_hosts), str(known_hosts)))
    runbook = tmp_path / "rb.yml"
    runbook.write_text(RUNBOOK.replace("PLAYBOOK", str(
        Path("tests/data/playbooks/write_marker.yml").resolve())))
    out = tmp_path / "out"
    out.mkdir()
    result = hisops("run", str(runbook), "-i", str(inventory), "-e", f"dir={out}", "--yes")
    assert result.rc == 3
    assert "guard 'reachable' failed" in result.err
    assert "host key" in result.err.lower()
    assert read_log(out) == []
