"""A read-only probe of PostgreSQL hosts before a patch, over SSH in parallel.

One small shell script per host prints one JSON line: the installed server package, the
running server's version and replication role, replication lag, the oldest open transaction,
logical slots and free disk. Nothing is changed; the SQL runs as the postgres OS user over the
local socket (peer authentication), so no password travels.
"""

from __future__ import annotations

import json
import logging
import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hisops.executors import ssh as ssh_exec
from hisops.inventory import Inventory

log = logging.getLogger(__name__)

# pg_current_wal_lsn() raises on a standby: the CASE keeps it to primaries
_STATE_SQL = """
SELECT json_build_object(
  'version', split_part(current_setting('server_version'), ' ', 1),
  'in_recovery', pg_is_in_recovery(),
  'subscriptions', (SELECT count(*) FROM pg_subscription WHERE subenabled),
  'archive_mode', current_setting('archive_mode'),
  'receiver', (SELECT json_build_object('status', status, 'sender_port', sender_port)
               FROM pg_stat_wal_receiver),
  'lag_bytes', CASE WHEN pg_is_in_recovery() THEN
      greatest(0, pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())) END,
  'replicas', CASE WHEN NOT pg_is_in_recovery() THEN
      (SELECT coalesce(json_agg(json_build_object('name', application_name, 'state', state,
         'lag_bytes', pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn))), '[]')
       FROM pg_stat_replication) END,
  'logical_slots', (SELECT coalesce(json_agg(slot_name), '[]') FROM pg_replication_slots
                    WHERE slot_type = 'logical'),
  'oldest_xact', (SELECT json_build_object('age_s', extract(epoch FROM now() - xact_start),
                    'pid', pid, 'user', usename, 'application', application_name)
                  FROM pg_stat_activity
                  WHERE xact_start IS NOT NULL AND pid <> pg_backend_pid()
                    AND backend_type = 'client backend'
                  ORDER BY xact_start LIMIT 1))
"""


def probe_script(major: str, port: int) -> str:
    """The shell script run on a host (one JSON line on stdout, always exit 0 when it ran)."""
    sql = shlex.quote(" ".join(_STATE_SQL.split()))
    return f"""set -u
installed=$(dpkg-query -W -f='${{Version}}' postgresql-{major} 2>/dev/null || true)
server=$(runuser -u postgres -- psql -X -At -h /var/run/postgresql -p {port} -d postgres \\
  -c {sql} 2>/dev/null) || server=null
[ -n "$server" ] || server=null
free() {{ d=$1; while [ ! -d "$d" ]; do d=$(dirname "$d"); done
  df -P -B1 "$d" | awk 'NR == 2 {{ print $4 }}'; }}
printf '{{"installed": "%s", "server": %s, "free_stage_bytes": %s, "free_usr_bytes": %s}}\\n' \\
  "$installed" "$server" "$(free /var/cache/hisops)" "$(free /usr/lib/postgresql)"
"""


@dataclass(frozen=True)
class HostState:
    """What the probe saw on one host (error set when it could not see)."""

    host: str
    installed: str = ""  # Debian package version of the server package
    running: bool = False
    version: str = ""  # running server version, e.g. 15.18
    in_recovery: bool = False
    subscriptions: int = 0
    archive_mode: str = ""
    receiver_status: str = ""
    receiver_port: int | None = None
    lag_bytes: float | None = None  # standby: received but not replayed
    replicas: list[dict[str, Any]] = field(default_factory=list)
    logical_slots: list[str] = field(default_factory=list)
    oldest_xact_s: float | None = None
    oldest_xact: dict[str, Any] = field(default_factory=dict)
    free_stage_bytes: int | None = None
    free_usr_bytes: int | None = None
    error: str = ""

    @property
    def role(self) -> str:
        if not self.running:
            return "stopped"
        if self.in_recovery:
            return "standby"
        return "subscriber" if self.subscriptions else "primary"


def parse(host: str, stdout: str) -> HostState:
    """A HostState from the probe's JSON line (error set when it is unreadable)."""
    lines = [ln for ln in stdout.splitlines() if ln.strip().startswith("{")]
    if not lines:
        return HostState(host=host, error="the probe printed nothing readable")
    try:
        raw = json.loads(lines[-1])
    except ValueError as exc:
        return HostState(host=host, error=f"unreadable probe output ({exc})")
    server = raw.get("server") or {}
    receiver = server.get("receiver") or {}
    oldest = server.get("oldest_xact") or {}
    return HostState(
        host=host, installed=str(raw.get("installed") or ""),
        running=bool(server), version=str(server.get("version") or ""),
        in_recovery=bool(server.get("in_recovery")),
        subscriptions=int(server.get("subscriptions") or 0),
        archive_mode=str(server.get("archive_mode") or ""),
        receiver_status=str(receiver.get("status") or ""),
        receiver_port=int(receiver["sender_port"]) if receiver.get("sender_port") else None,
        lag_bytes=float(server["lag_bytes"]) if server.get("lag_bytes") is not None else None,
        replicas=list(server.get("replicas") or []),
        logical_slots=[str(s) for s in server.get("logical_slots") or []],
        oldest_xact_s=float(oldest["age_s"]) if oldest.get("age_s") is not None else None,
        oldest_xact=dict(oldest),
        free_stage_bytes=_int(raw.get("free_stage_bytes")),
        free_usr_bytes=_int(raw.get("free_usr_bytes")),
    )


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def probe_hosts(hosts: Sequence[str], inventory: Inventory, *,
                timeout_s: float = 30) -> dict[str, HostState]:
    """Probe every host in parallel; a host that cannot be reached gets an error, not a raise."""
    out: dict[str, HostState] = {}
    by_script: dict[str, list[str]] = {}
    for host in hosts:
        hv = inventory.host_vars(host)
        script = probe_script(str(hv.get("pg_version", 15)), int(hv.get("pg_port", 5432)))
        by_script.setdefault(script, []).append(host)
    for script, names in by_script.items():
        conns = []
        for name in names:
            try:
                conns.append(ssh_exec.connection_for(name, inventory.host_vars(name)))
            except Exception as exc:  # a bad inventory entry is this host's problem only
                out[name] = HostState(host=name, error=str(exc))
        results = ssh_exec.run_command(conns, f"bash -c {shlex.quote(script)}",
                                       timeout_s=timeout_s)
        for name, outcome in results.items():
            if not outcome.status.is_success:
                why = outcome.detail or outcome.stderr.strip() or outcome.status.value
                out[name] = HostState(host=name, error=why)
            else:
                out[name] = parse(name, outcome.stdout)
    return {h: out[h] for h in hosts}
