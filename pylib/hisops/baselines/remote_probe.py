"""Runs ON a database host (python3 from the OS, standard library only): read, never change.

hisops sends this file over SSH with a JSON request appended (what to read: which
parameters, which databases' extensions, which sysctls, sshd keys, files) and reads back one
JSON line. SQL runs as the postgres OS user over the local socket (peer authentication), so
no password travels; password hashes never leave the host (only "has one" and "is SCRAM").
Everything is read in one SSH round trip per host, which is what makes a check fast.
"""

from __future__ import annotations

import glob
import grp
import json
import os
import pwd
import re
import socket
import subprocess
import sys
from typing import Any

from hisops.executors.remote_psql import psql  # inlined when sent (probe.script_text)


def literal_list(names: list[str]) -> str:
    # names were checked against ^[a-z_][a-z0-9_.]*$ by the controller; quoted all the same
    return ",".join("'" + n.replace("'", "''") + "'" for n in names) or "NULL"


_HBA_SQL = """(SELECT coalesce(json_agg(json_build_object('line', line_number, 'type', type,
  'database', database, 'user_name', user_name, 'address', address, 'netmask', netmask,
  'auth_method', auth_method, 'options', options, 'error', error) ORDER BY line_number), '[]')
  FROM pg_hba_file_rules)"""
_ROLES_SQL = """(SELECT coalesce(json_agg(json_build_object('name', rolname, 'super', rolsuper,
  'login', rolcanlogin, 'password', rolpassword IS NOT NULL,
  'scram', coalesce(rolpassword LIKE 'SCRAM-SHA-256$%', false)) ORDER BY rolname), '[]')
  FROM pg_authid)"""


def read_pg(req: dict[str, Any]) -> dict[str, Any]:
    """Everything but extensions in one session: a psql start costs more than the queries."""
    port = req["port"]
    names = literal_list(req.get("settings", []))
    sql = f"""SELECT json_build_object(
 'settings', (SELECT coalesce(json_object_agg(name, json_build_object(
    'setting', setting, 'unit', unit, 'vartype', vartype, 'context', context,
    'pending_restart', pending_restart, 'display', current_setting(name))), '{{}}')
    FROM pg_settings WHERE name IN ({names})),
 'file_settings', (SELECT coalesce(json_object_agg(name, setting), '{{}}') FROM (
    SELECT DISTINCT ON (name) name, setting FROM pg_file_settings
    WHERE name IN ({names}) AND error IS NULL ORDER BY name, seqno DESC) s),
 'in_recovery', pg_is_in_recovery(),
 'data_directory', current_setting('data_directory'),
 'hba_file', current_setting('hba_file'),
 'version', split_part(current_setting('server_version'), ' ', 1),
 'hba', {_HBA_SQL if req.get("hba") else "NULL"},
 'roles', {_ROLES_SQL if req.get("roles") else "NULL"})"""  # noqa: S608 - names quoted
    out: dict[str, Any] = {k: v for k, v in json.loads(psql(port, sql, timeout=30)).items()
                           if v is not None}
    state = out
    if req.get("datadir"):
        st = os.stat(state["data_directory"])
        out["datadir"] = {"owner": _user(st.st_uid), "group": _group(st.st_gid),
                          "mode": format(st.st_mode & 0o7777, "04o")}
    extensions: dict[str, Any] = {}
    for database in req.get("extension_dbs", []):
        try:
            extensions[database] = json.loads(psql(
                port, "SELECT coalesce(json_agg(extname ORDER BY extname), '[]') "
                      "FROM pg_extension", database, timeout=30))
        except RuntimeError as exc:
            extensions[database] = {"error": str(exc)}
    out["extensions"] = extensions
    return out


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def read_sysctl(names: list[str]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in names:
        try:
            with open("/proc/sys/" + name.replace(".", "/"), encoding="utf-8") as handle:
                out[name] = " ".join(handle.read().split())
        except OSError:
            out[name] = None
    return out


def read_limits(domains: list[str]) -> list[list[str]]:
    """Non-comment pam_limits lines for the domains, in the order pam_limits reads them."""
    files = ["/etc/security/limits.conf"] + sorted(glob.glob("/etc/security/limits.d/*.conf"))
    found = []
    for path in files:
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                for line in handle:
                    fields = line.split("#", 1)[0].split()
                    if len(fields) == 4 and fields[0] in domains:
                        found.append([path] + fields)
        except OSError:
            continue
    return found


def read_sshd(keys: list[str]) -> dict[str, str | None]:
    done = subprocess.run(["/usr/sbin/sshd", "-T"], capture_output=True, text=True,
                          timeout=20, check=False)
    if done.returncode != 0:
        return {"error": " ".join(done.stderr.split()) or "sshd -T failed"}
    values: dict[str, list[str]] = {}
    for line in done.stdout.splitlines():
        key, _, value = line.partition(" ")
        values.setdefault(key.lower(), []).append(value.strip())
    return {k: " ".join(values.get(k.lower(), [])) or None for k in keys}


def read_files(requests: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for req in requests:
        path, line, pattern = req["path"], req.get("line"), req.get("pattern")
        matches: list[str] = []
        result: dict[str, Any] = {"exists": os.path.exists(path), "line": False,
                                  "matches": matches}
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                regex = re.compile(pattern) if pattern else None
                for text in handle:
                    text = text.rstrip("\n")
                    if line is not None and text == line:
                        result["line"] = True
                    if regex is not None and regex.search(text) and len(matches) < 5:
                        matches.append(text[:300])
        except OSError as exc:
            result["error"] = exc.strerror
        out[req["id"]] = result
    return out


def meminfo_mb() -> int:
    with open("/proc/meminfo", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    return 0


def main(request: dict[str, Any]) -> None:
    facts = {"memory_mb": meminfo_mb(), "cpus": os.cpu_count() or 1,
             "hostname": socket.gethostname()}
    report: dict[str, Any] = {"facts": facts}
    parts: tuple[tuple[str, Any], ...] = (
        ("pg", read_pg), ("sysctl", read_sysctl), ("limits", read_limits),
        ("sshd", read_sshd), ("files", read_files))
    for key, reader in parts:
        if request.get(key):
            try:
                report[key] = reader(request[key])
            except Exception as exc:  # one part failing must not hide the others
                report[key] = {"error": f"{type(exc).__name__}: {exc}"}
    sys.stdout.write(json.dumps(report) + "\n")


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
