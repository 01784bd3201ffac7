"""Run one shell command on many hosts at once, over SSH (Fabric) or locally.

For read-only probes and simple commands, where an ansible-playbook start-up per step would
cost more than the work. Host keys are always checked against known_hosts: an unknown or
changed key makes the host unreachable, never trusted. Each host gets a deadline; the remote
command is wrapped in coreutils `timeout` so it dies even when only our side gives up.
"""

from __future__ import annotations

import getpass
import io
import logging
import math
import os
import shlex
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paramiko
from fabric import Config, Connection
from fabric.runners import Remote
from invoke.exceptions import CommandTimedOut, Failure, ThreadException

from hisops.errors import ExecutorError
from hisops.executors.results import HostConnection, HostOutcome, HostStatus
from hisops.executors.stopping import kill_descendants_and_self

log = logging.getLogger(__name__)

OUTPUT_MAX_BYTES = 64 * 1024
CONNECT_TIMEOUT_S = 15.0
CONNECT_MIN_S = 5.0
# The remote `timeout` fires this long after ours, so our own deadline decides the status and
# the remote one only cleans up a command we stopped waiting for.
REMOTE_KILL_GRACE_S = 1
GLOBAL_KNOWN_HOSTS = "/etc/ssh/ssh_known_hosts"
_TRUE = {"true", "yes", "on", "1"}
_SSH_CONNECTIONS = {None, "", "ssh", "paramiko", "smart", "ansible.builtin.ssh",
                    "ansible.builtin.paramiko_ssh", "paramiko_ssh"}


class UnknownHostKey(paramiko.SSHException):  # type: ignore[misc]  # paramiko is untyped
    """The server's host key is not in known_hosts: refused, as OpenSSH with strict checking."""

    def __init__(self, hostname: str, key: paramiko.PKey) -> None:
        self.hostname, self.key = hostname, key
        super().__init__(f"host key for {hostname} is not in known_hosts")


class _StrictPolicy(paramiko.RejectPolicy):  # type: ignore[misc]
    """RejectPolicy with an exception we can tell apart from other SSH errors."""

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str,
                         key: paramiko.PKey) -> None:
        raise UnknownHostKey(hostname, key)


class _Remote(Remote):  # type: ignore[misc]  # fabric is untyped
    """Fabric's runner, minus a race: invoke's timeout timer closes the channel from its own
    thread, and may still be doing so when the run has returned and we close the connection.
    The resulting EOFError in the timer thread is noise; the timeout itself is ours to judge.
    """

    def kill(self) -> None:
        try:
            super().kill()
        except (EOFError, OSError, paramiko.SSHException):
            log.debug("channel already closed when the timeout fired")


# --- inventory variables -> HostConnection ------------------------------------------------------


def connection_for(host: str, hostvars: Mapping[str, Any]) -> HostConnection:
    """Read how to reach `host` from its Ansible inventory variables, as Ansible would."""
    used = {k: hostvars[k] for k in (
        "ansible_host", "ansible_ssh_host", "ansible_port", "ansible_ssh_port", "ansible_user",
        "ansible_ssh_user", "ansible_ssh_private_key_file", "ansible_private_key_file",
        "ansible_connection", "ansible_become", "ansible_become_user",
        "ansible_ssh_common_args", "ansible_ssh_extra_args", "hisops_known_hosts",
    ) if hostvars.get(k) is not None}
    templated = sorted(k for k, v in used.items() if isinstance(v, str) and "{{" in v)
    if templated:
        raise ExecutorError(
            f"host {host}: templated connection variables need Ansible, not the SSH "
            f"executor: {', '.join(templated)}"
        )
    connection = used.get("ansible_connection")
    local = connection in ("local", "ansible.builtin.local")
    if not local and connection not in _SSH_CONNECTIONS:
        raise ExecutorError(
            f"host {host}: ansible_connection={connection} cannot be reached over SSH"
        )
    port_raw = used.get("ansible_port", used.get("ansible_ssh_port", 22))
    try:
        port = int(port_raw)
    except (TypeError, ValueError) as exc:
        raise ExecutorError(f"host {host}: ansible_port '{port_raw}' is not a number") from exc
    key = used.get("ansible_ssh_private_key_file", used.get("ansible_private_key_file"))
    become_user = str(used.get("ansible_become_user", "root"))
    return HostConnection(
        name=host,
        address=str(used.get("ansible_host", used.get("ansible_ssh_host", host))),
        port=port,
        user=str(used.get("ansible_user", used.get("ansible_ssh_user", "root"))),
        key_file=os.path.expanduser(str(key)) if key else None,
        known_hosts=_known_hosts(used),
        local=local,
        become=_bool(used.get("ansible_become", False)),
        extra={"become_user": become_user} if become_user != "root" else {},
    )


def _known_hosts(hostvars: Mapping[str, Any]) -> str | None:
    explicit = hostvars.get("hisops_known_hosts")
    if explicit:
        return os.path.expanduser(str(explicit))
    for var in ("ansible_ssh_common_args", "ansible_ssh_extra_args"):
        found = known_hosts_from_ssh_args(str(hostvars.get(var) or ""))
        if found:
            return found
    return None


def known_hosts_from_ssh_args(args: str) -> str | None:
    """The first UserKnownHostsFile in ssh options such as `-o UserKnownHostsFile=/x`."""
    try:
        tokens = shlex.split(args)
    except ValueError:
        return None
    for i, token in enumerate(tokens):
        option = token[2:] if token.startswith("-o") else token
        if option == "" and i + 1 < len(tokens):
            continue  # "-o" followed by the option as the next token
        if i > 0 and tokens[i - 1] == "-o":
            option = token
        name, sep, value = option.replace("=", " ", 1).partition(" ")
        if name.strip().lower() == "userknownhostsfile" and sep and value.strip():
            return os.path.expanduser(value.split()[0])
    return None


def _bool(value: Any) -> bool:
    return value if isinstance(value, bool) else str(value).strip().lower() in _TRUE


# --- running -------------------------------------------------------------------------------------


def run_command(
    conns: Sequence[HostConnection], command: str, *, timeout_s: float = 60,
    max_workers: int = 20, env: Mapping[str, str] | None = None,
    on_host_done: Callable[[HostOutcome], None] | None = None,
) -> dict[str, HostOutcome]:
    """Run `command` on every host in parallel; one outcome per host, never an exception per host.

    `on_host_done` is called in the caller's thread as each host finishes.
    """
    names = [c.name for c in conns]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ExecutorError(f"hosts given more than once: {', '.join(duplicates)}")
    if timeout_s <= 0:
        raise ExecutorError(f"timeout_s must be positive, got {timeout_s}")
    if not conns:
        return {}
    env = dict(env or {})
    results: dict[str, HostOutcome] = {}
    workers = max(1, min(max_workers, len(conns)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hisops-ssh") as pool:
        futures = {pool.submit(_run_one, c, command, timeout_s, env): c for c in conns}
        for future in as_completed(futures):
            conn = futures[future]
            try:
                outcome = future.result()
            except Exception as exc:  # a bug here must not lose the other hosts' results
                log.exception("host %s: unexpected error", conn.name)
                outcome = HostOutcome(host=conn.name, status=HostStatus.FAILED,
                                      detail=f"internal error: {exc!r}")
            results[conn.name] = outcome
            if on_host_done is not None:
                try:
                    on_host_done(outcome)
                except Exception:
                    log.warning("on_host_done callback failed for %s", conn.name, exc_info=True)
    return {n: results[n] for n in names}


def _run_one(
    conn: HostConnection, command: str, timeout_s: float, env: Mapping[str, str]
) -> HostOutcome:
    started_at = _now()
    t0 = time.monotonic()
    if conn.local:
        outcome = _run_local(conn, command, timeout_s, env)
    else:
        outcome = _run_ssh(conn, command, timeout_s, env)
    elapsed = time.monotonic() - t0
    log.info("host %s: %s in %.2fs%s", conn.name, outcome.status.value, elapsed,
             f" (rc={outcome.rc})" if outcome.rc is not None else "")
    return _finish(outcome, started_at)


def _wrap(conn: HostConnection, command: str, timeout_s: float, env: Mapping[str, str],
          remote_timeout: bool) -> str:
    """The shell line that runs `command` under bash, as the become user, with a deadline."""
    parts: list[str] = []
    become_user = conn.extra.get("become_user", "root")
    login = getpass.getuser() if conn.local else conn.user
    if conn.become and login != become_user:
        # -n: fail at once instead of waiting for a password prompt nobody will answer
        parts += ["sudo", "-n", "-u", become_user, "--"]
    if remote_timeout:
        deadline = math.ceil(timeout_s) + REMOTE_KILL_GRACE_S
        parts += ["timeout", "-k", "5", str(deadline)]
    if env:
        # The variables (step secrets among them) come on stdin, never on the command line:
        # argv is world-readable in the host's process list and sudo logs it to auth.log. The
        # loader runs after sudo, so they survive its env_reset.
        parts += ["bash", "-c", _ENV_LOADER, "hisops-env", command]
    else:
        parts += ["bash", "-c", command]
    return shlex.join(parts)


# Reads NAME=VALUE records separated by NUL from stdin, exports them, then runs "$1" with
# stdin closed (the records are not the command's input).
_ENV_LOADER = ('while IFS= read -r -d "" kv; do export -- "$kv"; done; '
               'exec bash -c "$1" </dev/null')


def env_payload(env: Mapping[str, str]) -> str:
    """The stdin the env loader of `_wrap` reads: NAME=VALUE records, each NUL-terminated."""
    for name, value in env.items():
        if not name.isidentifier() or not name.isascii():
            raise ExecutorError(f"not an environment variable name: {name!r}")
        if "\0" in value:
            raise ExecutorError(f"environment variable {name} holds a NUL byte")
    return "".join(f"{name}={value}\0" for name, value in env.items())


def _connection(conn: HostConnection, connect_timeout: float) -> Connection:
    """A Fabric connection to CONN (not yet open) with strict host-key checking."""
    connect_kwargs: dict[str, Any] = {
        "look_for_keys": conn.key_file is None,
        "banner_timeout": connect_timeout,
        "auth_timeout": connect_timeout,
    }
    if conn.key_file:
        connect_kwargs["key_filename"] = [conn.key_file]
    # lazy config: no ~/.ssh/config or fabric.yml may redirect a host the inventory names
    config = Config(lazy=True, overrides={"runners": {"remote": _Remote}})
    return Connection(
        conn.address, user=conn.user, port=conn.port, config=config,
        connect_timeout=math.ceil(connect_timeout), connect_kwargs=connect_kwargs,
        inline_ssh_env=True,
    )


def _open(cx: Connection, conn: HostConnection, connect_timeout: float) -> str | None:
    """Load the known host keys and open CX; None when open, else why it could not."""
    where = f"{conn.name} ({conn.address}:{conn.port})"
    client = cx.client
    client.set_missing_host_key_policy(_StrictPolicy())
    if conn.known_hosts:
        try:
            client.load_host_keys(conn.known_hosts)
        except OSError as exc:
            return f"{where}: cannot read known_hosts {conn.known_hosts}: {exc.strerror or exc}"
    else:
        client.load_system_host_keys()  # ~/.ssh/known_hosts
        if Path(GLOBAL_KNOWN_HOSTS).is_file():
            client.load_system_host_keys(GLOBAL_KNOWN_HOSTS)
    try:
        cx.open()
    except paramiko.BadHostKeyException as exc:
        return (f"{where}: host key mismatch: the server offered {exc.key.get_name()} "
                f"{exc.key.fingerprint}, known_hosts {conn.known_hosts or '~/.ssh/known_hosts'} "
                f"holds {exc.expected_key.fingerprint}; refusing to connect (rebuilt host or "
                "man-in-the-middle)")
    except UnknownHostKey as exc:
        return (f"{where}: unknown host key {exc.key.get_name()} {exc.key.fingerprint}: "
                f"not in known_hosts {conn.known_hosts or '~/.ssh/known_hosts'}; refusing "
                "to connect")
    except paramiko.AuthenticationException as exc:
        return f"{where}: authentication failed for user {conn.user}: {exc}"
    except paramiko.ssh_exception.NoValidConnectionsError as exc:
        return f"{where}: connection refused: {exc}"
    except TimeoutError:
        return f"{where}: connection timed out after {connect_timeout:.0f}s"
    except (paramiko.SSHException, OSError, EOFError) as exc:
        return f"{where}: cannot connect: {exc}"
    return None


@contextmanager
def forwarded_port(conn: HostConnection, remote_port: int, *,
                   remote_host: str = "127.0.0.1") -> Iterator[int]:
    """A loopback port on the controller that reaches REMOTE_HOST:REMOTE_PORT as seen from
    CONN's host, through its SSH connection (host key checked as for any command): how the
    controller reaches a database that listens on its own host's loopback only."""
    with socket.socket() as probe:  # a free loopback port for the forward's listener
        probe.bind(("127.0.0.1", 0))
        local_port = int(probe.getsockname()[1])
    cx = _connection(conn, CONNECT_TIMEOUT_S)
    try:
        problem = _open(cx, conn, CONNECT_TIMEOUT_S)
        if problem is not None:
            raise ExecutorError(problem)
        with cx.forward_local(local_port, remote_port=remote_port, remote_host=remote_host,
                              local_host="127.0.0.1"):
            _wait_listening(local_port)
            yield local_port
    finally:
        cx.close()


def _wait_listening(port: int, timeout_s: float = 5.0) -> None:
    """Fabric's forwarder binds its listener in a thread of its own: a client that connects
    at once may find nothing there yet. Wait until the port accepts a connection."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise ExecutorError(f"the SSH port forward on 127.0.0.1:{port} did not start "
                                    f"within {timeout_s:g} s") from None
            time.sleep(0.05)


def _run_ssh(
    conn: HostConnection, command: str, timeout_s: float, env: Mapping[str, str]
) -> HostOutcome:
    where = f"{conn.name} ({conn.address}:{conn.port})"
    # a short probe timeout must not make a busy but healthy sshd look unreachable
    connect_timeout = min(CONNECT_TIMEOUT_S, max(CONNECT_MIN_S, timeout_s))
    cx = _connection(conn, connect_timeout)
    try:
        problem = _open(cx, conn, connect_timeout)
        if problem is not None:
            return _unreachable(conn, problem)
        line = _wrap(conn, command, timeout_s, env, remote_timeout=True)
        t0 = time.monotonic()
        timed_out = (f"{where}: no exit after {timeout_s:g}s; channel closed, remote "
                     "command killed by its own deadline")
        try:
            # the env records go on stdin and EOF follows them (invoke closes a non-pty stdin)
            stdin: Any = io.StringIO(env_payload(env)) if env else False
            result = cx.run(line, hide=True, warn=True, in_stream=stdin, pty=False,
                            timeout=timeout_s)
        except CommandTimedOut as exc:
            res = exc.result
            return HostOutcome(host=conn.name, status=HostStatus.TIMEOUT,
                               stdout=_cap(res.stdout), stderr=_cap(res.stderr),
                               detail=timed_out)
        except (paramiko.SSHException, OSError, EOFError, ThreadException, Failure) as exc:
            # an I/O thread may trip over the channel our own timeout just closed
            if time.monotonic() - t0 >= timeout_s:
                return HostOutcome(host=conn.name, status=HostStatus.TIMEOUT, detail=timed_out)
            return _unreachable(conn, f"{where}: connection lost: {exc}")
        elapsed = time.monotonic() - t0
        rc = result.exited
        if rc is None or rc < 0 or (elapsed >= timeout_s and rc in (124, 137)):
            # invoke's timer may close the channel yet report no timeout when its thread has
            # not finished yet; a channel closed without exit status is ours to explain
            if elapsed >= timeout_s:
                return HostOutcome(host=conn.name, status=HostStatus.TIMEOUT,
                                   stdout=_cap(result.stdout), stderr=_cap(result.stderr),
                                   detail=timed_out)
            return _unreachable(conn, f"{where}: connection closed without an exit status")
        return _exited(conn, int(rc), result.stdout, result.stderr)
    finally:
        cx.close()


def _run_local(
    conn: HostConnection, command: str, timeout_s: float, env: Mapping[str, str]
) -> HostOutcome:
    line = _wrap(conn, command, timeout_s, {}, remote_timeout=False)
    argv = shlex.split(line)
    try:
        proc = subprocess.Popen(  # noqa: S603 - argv built by _wrap, bash runs the command
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            # stays in our process group: whoever kills hisops' group kills the command too
            env={**os.environ, **env},
        )
    except OSError as exc:
        return HostOutcome(host=conn.name, status=HostStatus.FAILED,
                           detail=f"{conn.name} (local): cannot start bash: {exc}")
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        kill_descendants_and_self(proc.pid)
        try:
            out, err = proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:  # a daemonised grandchild still holds the pipes
            proc.kill()
            out, err = b"", b""
        return HostOutcome(
            host=conn.name, status=HostStatus.TIMEOUT, rc=None,
            stdout=_cap(out.decode(errors="replace")), stderr=_cap(err.decode(errors="replace")),
            detail=f"{conn.name} (local): no exit after {timeout_s:g}s; command and its "
                   "children killed",
        )
    return _exited(conn, proc.returncode, out.decode(errors="replace"),
                   err.decode(errors="replace"))


def _exited(conn: HostConnection, rc: int, stdout: str, stderr: str) -> HostOutcome:
    status = HostStatus.OK if rc == 0 else HostStatus.FAILED
    detail = "" if rc == 0 else f"exit status {rc}"
    if rc == 255 and not conn.local:
        detail = "exit status 255 (the command's, or ssh-level failure)"
    return HostOutcome(host=conn.name, status=status, rc=rc, stdout=_cap(stdout),
                       stderr=_cap(stderr), detail=detail)


def _unreachable(conn: HostConnection, detail: str) -> HostOutcome:
    return HostOutcome(host=conn.name, status=HostStatus.UNREACHABLE, detail=detail)


def _cap(text: str) -> str:
    """Keep the first OUTPUT_MAX_BYTES of output; probes that need more should use a file."""
    data = text.encode("utf-8", errors="replace")
    if len(data) <= OUTPUT_MAX_BYTES:
        return text
    kept = data[:OUTPUT_MAX_BYTES].decode("utf-8", errors="ignore")
    return f"{kept}\n[hisops: output truncated, {len(data) - OUTPUT_MAX_BYTES} bytes dropped]"


def _finish(outcome: HostOutcome, started_at: str) -> HostOutcome:
    return replace(outcome, started_at=started_at, ended_at=_now())


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
