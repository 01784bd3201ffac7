"""Canary secrets at maximum verbosity: zero hits anywhere hisops writes or prints.

`hisops -vvvv` (the logger at DEBUG: -v and more all map to it) with ANSIBLE_VERBOSITY=4
(ansible-playbook -vvvv: module invocations, connection traces), over real SSH (the sshd
fixture, host keys checked), with one canary per way a secret can enter: the environment
(HISOPS_SECRET_*), an ansible-vault file and the terminal prompt. Each canary is used by a
playbook (a no_log task, and a task that fails with it), by an ssh step, by an ssh step that
fails echoing it to stderr and by that step's rollback. Then every file under HISOPS_HOME
(journal, artifacts, logs), every journal record, stdout, stderr and the terminal of both the
run and the reports (`show`, `runs`, `journal verify`, the quarterly report, all as JSON), and
the remote host's Ansible temp dir are searched: zero hits. The digests the tasks wrote prove
each canary was really used, so a canary that never reached the host cannot pass as "not
leaked".
"""

from __future__ import annotations

import hashlib
import json
import os
import pty
import select
import sys
import time
from pathlib import Path

from tests.fixtures.sshd import SshdServer
from tests.integration.helpers import env_with, hisops, last_run

CANARIES = {"env_secret": "CANARY-env-3b8f0d1a", "vault_secret": "CANARY-vault-9c2e47f0",
            "prompt_secret": "CANARY-prompt-51d6ab93"}
VAULT_PASSWORD = "vault-pass-for-the-canary-test"
NAMES = sorted(CANARIES)
PLAYBOOK = """\
- name: Use the canary secrets, once quietly and once in a failing task
  hosts: all
  gather_facts: true
  tasks:
    - name: Store each secret's digest, proving the play received it
      ansible.builtin.copy:
        dest: "{{ marker_dir }}/play-{{ item }}.sha256"
        content: "{{ lookup('vars', item) | hash('sha256') }}\\n"
        mode: "0600"
      loop: NAMES
      no_log: true

    - name: Fail while holding the secrets (the error path prints the most)
      ansible.builtin.command:
        cmd: sh -c 'echo "$ENV_SECRET $VAULT_SECRET $PROMPT_SECRET" >&2; exit 4'
      environment:
        ENV_SECRET: "{{ env_secret }}"
        VAULT_SECRET: "{{ vault_secret }}"
        PROMPT_SECRET: "{{ prompt_secret }}"
      changed_when: false
      no_log: true
      when: fail_play | bool
""".replace("NAMES", json.dumps(NAMES))


def runbook(playbook: Path, *, fail_play: bool) -> str:
    secrets = "\n".join(f"  {n}: {{type: str, secret: true, required: true}}" for n in NAMES)
    digests = "; ".join(f'printf %s "${n.upper()}" | sha256sum | cut -d" " -f1 > '
                        f"{{{{ params.dir }}}}/ssh-{n}.sha256" for n in NAMES)
    return f"""\
name: canary
summary: three canary secrets, every way in, through playbooks and ssh steps that fail
parameters:
  dir: {{type: str, required: true}}
{secrets}
targets: [db_primary]
steps:
  - id: ssh_use
    kind: ssh
    hosts: db_primary
    env: {{{", ".join(f'{n.upper()}: "{{{{ params.{n} }}}}"' for n in NAMES)}}}
    command: '{digests}; echo "the secrets are $ENV_SECRET $VAULT_SECRET $PROMPT_SECRET"'
  - id: play
    kind: playbook
    hosts: db_primary
    playbook: {playbook}
    vars:
      marker_dir: "{{{{ params.dir }}}}"
      fail_play: {str(fail_play).lower()}
  - id: ssh_fail
    kind: ssh
    hosts: db_primary
    env: {{{", ".join(f'{n.upper()}: "{{{{ params.{n} }}}}"' for n in NAMES)}}}
    command: 'echo "failing with $ENV_SECRET $VAULT_SECRET $PROMPT_SECRET" >&2; exit 3'
    rollback:
      kind: ssh
      hosts: db_primary
      env: {{{", ".join(f'{n.upper()}: "{{{{ params.{n} }}}}"' for n in NAMES)}}}
      command: 'echo "rollback sees $ENV_SECRET $VAULT_SECRET $PROMPT_SECRET"'
"""


def write_vault(path: Path) -> Path:
    from ansible.parsing.vault import VaultLib, VaultSecret

    vault = VaultLib([("default", VaultSecret(VAULT_PASSWORD.encode()))])
    path.write_bytes(vault.encrypt(f"vault_secret: {CANARIES['vault_secret']}\n"))
    return path


def run_on_a_terminal(args: list[str], env: dict[str, str], out: Path, err: Path,
                      timeout: float = 240) -> tuple[int, str]:
    """Run hisops with a terminal (so it prompts), answer the prompt with the prompt canary;
    stdout and stderr go to files. Returns (exit code, what the terminal showed)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: the pty is its controlling terminal and stdin
        os.dup2(os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), 1)
        os.dup2(os.open(err, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), 2)
        os.execve(sys.executable, [sys.executable, "-m", "hisops", *args], env)  # noqa: S606
    shown, answered = b"", False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 1)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        shown += chunk
        if not answered and b"secret prompt_secret" in shown:
            os.write(fd, CANARIES["prompt_secret"].encode() + b"\n")
            answered = True
    else:
        os.kill(pid, 9)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    assert answered, f"hisops never prompted for prompt_secret; terminal: {shown!r}"
    return os.waitstatus_to_exitcode(status), shown.decode(errors="replace")


def journal_rows() -> str:
    from hisops.journal import open_journal

    with open_journal(os.environ.get("HISOPS_JOURNAL")) as journal:
        return "\n".join(json.dumps(record.payload, default=str, ensure_ascii=False)
                         for run_id in journal.run_ids() for record in journal.records(run_id))


def hits(roots: list[Path]) -> list[str]:
    """Files under ``roots`` holding any canary, as text or in their bytes."""
    found = []
    for root in roots:
        files = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        for path in files:
            data = path.read_bytes()
            found += [f"{path}: {name}" for name, canary in CANARIES.items()
                      if canary.encode() in data]
    return found


def test_canaries_at_maximum_verbosity_never_leak(tmp_path: Path, sshd: SshdServer) -> None:
    home = Path(os.environ["HISOPS_HOME"])
    work = tmp_path / "work"
    remote_tmp = tmp_path / "remote-tmp"  # the host's Ansible temp dir, searched afterwards
    work.mkdir()
    inventory = tmp_path / "inventory.ini"
    inventory.write_text("[db_primary]\n" + sshd.inventory_line(
        "db-a", ansible_remote_tmp=str(remote_tmp)) + "\n")
    playbook = tmp_path / "canary-play.yml"
    playbook.write_text(PLAYBOOK)
    book = tmp_path / "canary.yml"
    book.write_text(runbook(playbook, fail_play=False))
    failing_book = tmp_path / "canary-failing-play.yml"
    failing_book.write_text(runbook(playbook, fail_play=True))
    vault = write_vault(tmp_path / "vault.yml")
    env = env_with(HISOPS_SECRET_ENV_SECRET=CANARIES["env_secret"],
                   HISOPS_VAULT_PASSWORD=VAULT_PASSWORD, ANSIBLE_VERBOSITY="4")
    captured = tmp_path / "captured"
    captured.mkdir()

    # 1. the ssh step that fails: rc 1, rolled back
    args = ["-vvvv", "run", str(book), "-i", str(inventory), "-e", f"dir={work}",
            "--vault-file", str(vault), "--yes", "--json"]
    rc, terminal = run_on_a_terminal(args, env, captured / "run.out", captured / "run.err")
    (captured / "run.tty").write_text(terminal)
    assert rc == 1, (captured / "run.err").read_text()[-3000:]
    run = json.loads((captured / "run.out").read_text())
    steps = {s["id"]: s["status"] for s in run["steps"]}
    assert steps["ssh_use"] == "changed", steps
    assert steps["play"] == "changed", steps
    assert steps["ssh_fail"] == "rolled_back", steps  # failed, then its rollback ran
    # maximum verbosity did happen: DEBUG lines from hisops, -vvvv traces from Ansible
    assert "DEBUG hisops" in (captured / "run.err").read_text()

    # each canary reached the host through every path ...
    for name, canary in CANARIES.items():
        digest = hashlib.sha256(canary.encode()).hexdigest()
        assert (work / f"ssh-{name}.sha256").read_text().strip() == digest, name
        assert (work / f"play-{name}.sha256").read_text().strip() == digest, name

    # 2. a playbook task failing with the secrets in its environment; another host name, as
    # the failed run above keeps db-a locked until it is resumed
    other = tmp_path / "inventory-b.ini"
    other.write_text(inventory.read_text().replace("db-a ", "db-b ", 1))
    rc2, terminal2 = run_on_a_terminal(
        ["-vvvv", "run", str(failing_book), "-i", str(other), "-e", f"dir={work}",
         "--vault-file", str(vault), "--yes", "--json"],
        env, captured / "fail.out", captured / "fail.err")
    (captured / "fail.tty").write_text(terminal2)
    assert rc2 == 1, (captured / "fail.err").read_text()[-3000:]
    failed = {s["id"]: s["status"] for s in json.loads((captured / "fail.out").read_text())
              ["steps"]}
    assert failed["play"] == "failed", failed

    # ... and the reports made from the journal afterwards
    run_id = last_run()["run_id"]
    for name, result in {"show": hisops("show", run_id, "--json"),
                         "runs": hisops("runs", "--json"),
                         "verify": hisops("journal", "verify", "--json"),
                         "quarterly": hisops("report", "quarterly", "--json")}.items():
        (captured / f"{name}.out").write_text(result.out + result.err)
        if name == "verify":
            assert result.rc == 0, result.out + result.err
    assert "********" in (captured / "show.out").read_text()  # the redactor saw the output
    (captured / "journal-rows.json").write_text(journal_rows())

    files = [p for p in home.rglob("*") if p.is_file()]
    assert any("artifacts" in str(p) for p in files), "no ansible-runner artifacts to check"
    # ANSIBLE_VERBOSITY=4 did reach ansible-playbook: its -vvvv connection traces were recorded
    assert any(b"ESTABLISH SSH CONNECTION" in p.read_bytes() for p in files
               if "job_events" in str(p))
    assert any(p.name.startswith("journal") for p in files), "no journal to check"
    assert remote_tmp.is_dir(), "the playbook did not use the remote temp dir given"
    leaked = hits([home, captured, remote_tmp, work])
    assert leaked == [], f"canaries found: {leaked}"
