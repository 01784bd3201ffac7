"""Filters of oracle_inspect: read what the host commands printed, judge it, shape the evidence.

The SQL inspection (from the controller, python-oracledb) cannot see the host: how full the
filesystems holding the fast recovery area, the diagnostic destination and ORACLE_HOME are,
whether the listener runs and which services it serves, the home's patches, GoldenGate. The
role runs ``df -P``, ``lsnrctl status``, ``opatch lsinventory`` and ``ggsci`` as the oracle OS
user; these functions read their output strictly (text that cannot be read is a finding, never
"nothing found") and turn it into ``hisops_evidence.inspection[host]``.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from enum import Enum
from typing import Any

from ansible.errors import AnsibleFilterError

from hisops.engines.base import Finding, Severity
from hisops.engines.oracle.opatch import CHECK_OPATCH, parse_lsinventory
from hisops.engines.oracle.rman import UnreadableOutput

CHECK_FILESYSTEM = "filesystem"
CHECK_LISTENER = "listener"
CHECK_INSTANCE = "instance"
CHECK_GOLDENGATE = "goldengate"  # hisops.engines.oracle.goldengate.CHECK_GOLDENGATE
# the two parameters naming the directories whose filesystems are measured, besides the home
DEST_PARAMETERS = {"db_recovery_file_dest": "fra", "diagnostic_dest": "diag"}

_DF_HEAD = re.compile(r"^Filesystem\s+(?:1024|1K|512)-blocks\s+Used\s+Available\s+Capacity\s+"
                      r"Mounted on\s*$")
_DF_ROW = re.compile(r"^(\S.*?)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)%\s+(/.*?)\s*$")
_SERVICE = re.compile(r'^Service "([^"]+)" has (\d+) instance\(s\)\.\s*$')
_INSTANCE = re.compile(r'^\s+Instance "([^"]+)", status (\w+), has (\d+) handler\(s\) for '
                       r"this service\.\.\.\s*$")
_NO_SERVICES = re.compile(r"^The listener supports no services\s*$")
_LSNR_DONE = re.compile(r"^The command completed successfully\s*$", re.MULTILINE)
_TNS_ERROR = re.compile(r"^\s*((?:TNS|ORA)-\d{5}:.*?)\s*$", re.MULTILINE)
_ORA_ERROR = re.compile(r"^\s*((?:ORA|SP2)-\d{4,5}\b.*?)\s*$", re.MULTILINE)


def _plain(value: Any) -> Any:
    """Dataclasses, enums, times and tuples as JSON values, for set_stats and the journal."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return _plain(value.value)
    if isinstance(value, timedelta):
        return int(value.total_seconds())
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    return value


def finding_dict(finding: Finding) -> dict[str, str]:
    """``{severity, check, message}``: the shape the inspection evidence carries."""
    where = f"{finding.subject}: " if finding.subject else ""
    return {"severity": Severity(finding.severity).value, "check": finding.check,
            "message": where + finding.problem}


def _first_error(result: Mapping[str, Any], pattern: re.Pattern[str] = _ORA_ERROR) -> str:
    text = f"{result.get('stdout') or ''}\n{result.get('stderr') or ''}"
    errors = pattern.findall(text)
    if errors:
        return str(errors[0])
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else str(result.get("msg") or "no output")


def _ran(result: Any) -> bool:
    return isinstance(result, Mapping) and not result.get("skipped") and "rc" in result


def _failed_silently(result: Mapping[str, Any], command: str) -> str:
    """Why a command failed without printing anything on stdout ("" if it did not): the
    program missing ([Errno 2], rc 2), a directory it could not change to (rc None), a library
    it could not load. Its own words (stderr, else the module's msg), not "unreadable output"."""
    rc = result["rc"]
    if rc == 0 or str(result.get("stdout") or "").strip():
        return ""
    said = _first_error(result)
    if said == "Error executing command." and isinstance(rc, int) and 0 < rc < 256:
        # ansible-core reports an OSError starting the program by its errno alone
        said = f"could not start {result.get('cmd') or command}: {os.strerror(rc)}"
    return f"{command} failed (rc {rc}): {said}"


# --- where the instance keeps its files --------------------------------------------------------


def parse_dest_parameters(text: str) -> dict[str, str]:
    """``{db_recovery_file_dest, diagnostic_dest}`` from the ``name=value`` lines the role's
    query prints (an FRA that is not configured is ""). Both must be there."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.strip().partition("=")
        if sep and name in DEST_PARAMETERS:
            found[name] = value.strip()
    missing = [n for n in DEST_PARAMETERS if n not in found]
    if missing:
        tail = [ln.strip() for ln in text.splitlines() if ln.strip()]
        raise UnreadableOutput(f"V$PARAMETER answer without {', '.join(missing)}",
                               tail[-1] if tail else "(no output)")
    return found


def _dests(dest_result: Any, fra: str, diag: str) -> tuple[dict[str, str], str]:
    """(fra/diag -> path, why the instance could not be asked); given paths win."""
    paths = {"fra": str(fra or ""), "diag": str(diag or "")}
    if all(paths.values()) or not _ran(dest_result):
        return paths, ""
    if failed := _failed_silently(dest_result, "sqlplus"):
        return paths, failed
    if dest_result["rc"] != 0:
        return paths, f"sqlplus exited with {dest_result['rc']}: {_first_error(dest_result)}"
    try:
        read = parse_dest_parameters(str(dest_result.get("stdout") or ""))
    except UnreadableOutput as exc:
        return paths, str(exc)
    for name, key in DEST_PARAMETERS.items():
        paths[key] = paths[key] or read[name]
    return paths, ""


def df_targets(dest_result: Any, oracle_home: str, fra: str = "",
               diag: str = "") -> list[dict[str, str]]:
    """The directories ``df -P`` measures: ORACLE_HOME, the FRA and the diagnostic destination
    (given, or as the instance reports them), except an FRA in an ASM disk group (``+FRA``)."""
    paths, _ = _dests(dest_result, fra, diag)
    out = [{"holds": "oracle_home", "path": str(oracle_home)}]
    out += [{"holds": key, "path": paths[key]} for key in ("fra", "diag")
            if paths[key] and not paths[key].startswith("+")]
    return out


def parse_df(text: str) -> list[dict[str, Any]]:
    """Rows of POSIX ``df -P`` output: filesystem, size/used/available in KiB, use %, mount."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines or not _DF_HEAD.match(lines[0]):
        raise UnreadableOutput("not df -P output (no 'Filesystem 1024-blocks ...' heading)",
                               lines[0] if lines else "(no output)")
    rows = []
    for line in lines[1:]:
        row = _DF_ROW.match(line)
        if row is None:
            raise UnreadableOutput("unreadable df -P row", line)
        rows.append({"filesystem": row[1], "size_kb": int(row[2]), "used_kb": int(row[3]),
                     "available_kb": int(row[4]), "used_pct": int(row[5]), "mount": row[6]})
    if not rows:
        raise UnreadableOutput("df -P printed a heading and no filesystem")
    return rows


def filesystems(df_results: Any, warn_pct: int, crit_pct: int,
                asm: Mapping[str, str] | None = None) -> tuple[list[dict[str, Any]],
                                                               list[Finding]]:
    """One entry per mount (what it holds: oracle_home, fra, diag), and a finding for each that
    is over a limit, or that df could not measure."""
    by_mount: dict[str, dict[str, Any]] = {}
    findings: list[Finding] = []
    results = df_results.get("results", []) if isinstance(df_results, Mapping) else []
    for result in results:
        target = result.get("item") or {}
        holds, path = str(target.get("holds", "")), str(target.get("path", ""))
        if not _ran(result):
            continue
        if result["rc"] != 0:
            said = str(result.get("stderr") or "").strip() or "no error printed"
            findings.append(Finding(CHECK_FILESYSTEM, path, f"df -P failed for {holds} "
                                    f"(rc {result['rc']}): {said}"))
            continue
        try:
            row, *_ = parse_df(str(result.get("stdout") or ""))
        except UnreadableOutput as exc:
            findings.append(Finding(CHECK_FILESYSTEM, path, str(exc)))
            continue
        entry = by_mount.setdefault(row["mount"], {**row, "holds": [], "paths": []})
        entry["holds"].append(holds)
        entry["paths"].append(path)
    for holds, path in (asm or {}).items():
        by_mount[path] = {"filesystem": "ASM", "size_kb": None, "used_kb": None,
                          "available_kb": None, "used_pct": None, "mount": None,
                          "holds": [holds], "paths": [path]}
    for entry in by_mount.values():
        pct = entry["used_pct"]
        if pct is None:
            continue
        limit = crit_pct if pct >= crit_pct else warn_pct if pct >= warn_pct else None
        if limit is not None:
            findings.append(Finding(
                CHECK_FILESYSTEM, entry["mount"],
                f"{pct}% used (holds {', '.join(entry['holds'])}; "
                f"{'critical' if limit == crit_pct else 'warning'} at {limit}%), "
                f"{entry['available_kb'] // 1024} MiB free",
                Severity.ERROR if limit == crit_pct else Severity.WARNING))
    return list(by_mount.values()), findings


# --- listener ----------------------------------------------------------------------------------


def parse_listener_status(text: str) -> list[dict[str, Any]]:
    """The services of ``lsnrctl status`` (Services Summary), each with its instances and
    their status (READY, BLOCKED, or UNKNOWN for a static SID_LIST entry). A listener that
    supports no services gives []; output that did not complete raises UnreadableOutput."""
    if not _LSNR_DONE.search(text):
        raise UnreadableOutput("lsnrctl status did not complete",
                               _first_error({"stdout": text}, _TNS_ERROR))
    services: list[dict[str, Any]] = []
    for line in text.splitlines():
        if (service := _SERVICE.match(line)) is not None:
            services.append({"name": service[1], "instances": [],
                             "expected_instances": int(service[2])})
        elif (instance := _INSTANCE.match(line)) is not None:
            if not services:
                raise UnreadableOutput("lsnrctl status lists an instance outside a service",
                                       line)
            services[-1]["instances"].append({"name": instance[1], "status": instance[2]})
    for service in services:
        if len(service["instances"]) != service.pop("expected_instances"):
            raise UnreadableOutput(f"lsnrctl status counts instances of service "
                                   f"{service['name']} it does not list")
    if not services and not any(_NO_SERVICES.match(ln) for ln in text.splitlines()):
        raise UnreadableOutput("lsnrctl status lists no services and does not say it has none")
    return services


def listener(result: Any, name: str, sid: str) -> tuple[dict[str, Any], list[Finding]]:
    """``{name, rc, services}`` and its findings: not answering is an error; no service, or the
    instance not READY in any service, a warning."""
    out: dict[str, Any] = {"name": name, "rc": None, "services": []}
    if not _ran(result):
        return out, [Finding(CHECK_LISTENER, name, "lsnrctl status did not run")]
    out["rc"] = result["rc"]
    if failed := _failed_silently(result, "lsnrctl status"):
        return out, [Finding(CHECK_LISTENER, name, failed)]
    if result["rc"] != 0:
        return out, [Finding(CHECK_LISTENER, name, f"lsnrctl status failed (rc {result['rc']}):"
                             f" {_first_error(result, _TNS_ERROR)}")]
    try:
        out["services"] = parse_listener_status(str(result.get("stdout") or ""))
    except UnreadableOutput as exc:
        return out, [Finding(CHECK_LISTENER, name, str(exc))]
    if not out["services"]:
        return out, [Finding(CHECK_LISTENER, name, "the listener supports no services: no "
                             "client can connect through it", Severity.WARNING)]
    ready = {i["name"].upper() for s in out["services"] for i in s["instances"]
             if i["status"] == "READY"}
    if sid and sid.upper() not in ready:
        seen = sorted({f"{i['name']} {i['status']}" for s in out["services"]
                       for i in s["instances"] if i["name"].upper() == sid.upper()})
        return out, [Finding(CHECK_LISTENER, name, f"instance {sid} is not registered READY "
                             f"(listed as: {', '.join(seen) or 'nothing'})", Severity.WARNING)]
    return out, []


# --- patches -----------------------------------------------------------------------------------


def patches(result: Any, home: str) -> tuple[dict[str, Any], list[Finding]]:
    """The home's ``opatch lsinventory`` read by hisops.engines.oracle.opatch: OPatch version,
    the Release Update and each patch; a finding when it failed or cannot be read."""
    out: dict[str, Any] = {"home": home, "opatch_version": None, "release_update": None,
                           "patches": []}
    if not _ran(result):
        return out, [Finding(CHECK_OPATCH, home, "opatch lsinventory did not run")]
    if failed := _failed_silently(result, "opatch lsinventory"):
        return out, [Finding(CHECK_OPATCH, home, failed)]
    try:
        inventory = parse_lsinventory(str(result.get("stdout") or ""))
    except UnreadableOutput as exc:
        return out, [Finding(CHECK_OPATCH, home, f"opatch lsinventory (rc {result['rc']}): {exc}")]
    out.update(home=inventory.home, opatch_version=inventory.opatch_version,
               release_update=inventory.release_update,
               patches=[{"patch_id": p.patch_id, "description": p.description,
                         "applied_at": p.applied_at.isoformat(sep=" "),
                         "applied_zone": p.applied_zone, "release_update": p.release_update}
                        for p in inventory.patches])
    return out, []


# --- GoldenGate --------------------------------------------------------------------------------


def ggsci_input(gg_home: str) -> str:
    """What ggsci reads on stdin (the obey file's commands): GGSCI_COMMANDS, then EXIT."""
    if not str(gg_home or "").strip():
        raise AnsibleFilterError("oracle_inspect: oracle_gg_role is set but oracle_gg_home is not")
    from hisops.engines.oracle.goldengate import GGSCI_COMMANDS

    commands = str(GGSCI_COMMANDS).rstrip("\n")
    return commands + "\nexit\n"


def goldengate(result: Any, role: str, home: str, lag_warn_s: int = 60,
               lag_critical_s: int = 300) -> tuple[dict[str, Any] | None, list[Finding]]:
    """``{role, home, rc, processes, lags}`` judged by hisops.engines.oracle.goldengate; None
    on a host without oracle_gg_role. A source host (role ``source``) must capture, any other
    (``target``) must apply."""
    if not role:
        return None, []
    from hisops.engines.oracle import goldengate as gg

    out: dict[str, Any] = {"role": role, "home": home, "rc": None, "processes": [], "lags": []}
    if not _ran(result):
        return out, [Finding(CHECK_GOLDENGATE, home, "ggsci did not run")]
    out["rc"] = result["rc"]
    if failed := _failed_silently(result, "ggsci"):
        return out, [Finding(CHECK_GOLDENGATE, home, failed)]
    text = str(result.get("stdout") or "")
    try:
        processes = gg.parse_info_all(text)
    except UnreadableOutput as exc:
        return out, [Finding(CHECK_GOLDENGATE, home, f"ggsci (rc {result['rc']}): {exc}")]
    out["processes"] = [p.to_dict() for p in processes]
    findings: list[Finding] = []
    try:
        lags = gg.parse_lag(text)
    except UnreadableOutput as exc:
        lags = []
        # `lag replicat *` has nothing to answer on a source host (it captures, applies
        # nothing): its extracts' state and checkpoint lag come from `info all` above
        if role != "source":
            findings.append(Finding(CHECK_GOLDENGATE, home, f"ggsci lag: {exc}"))
    out["lags"] = _plain(lags)
    findings += gg.gg_findings(processes, lags, lag_warn=timedelta(seconds=int(lag_warn_s)),
                               lag_critical=timedelta(seconds=int(lag_critical_s)),
                               replica=role != "source")
    return out, findings


# --- the evidence ------------------------------------------------------------------------------


def report(read: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, Any]:
    """``{engine, filesystems, listener, patches, goldengate, findings}`` for one host, from the
    registered results ``read`` (dests, df, listener, lsinventory, goldengate) and the role's
    ``settings`` (home, sid, listener, fra_dest, diag_dest, fs_warn_pct, fs_crit_pct, gg_role,
    gg_home, gg_lag_warn_s, gg_lag_critical_s)."""
    home = str(settings["home"])
    findings: list[Finding] = []
    paths, dest_error = _dests(read.get("dests"), str(settings.get("fra_dest") or ""),
                               str(settings.get("diag_dest") or ""))
    if dest_error:
        findings.append(Finding(CHECK_INSTANCE, str(settings.get("sid") or ""),
                                "could not read db_recovery_file_dest and diagnostic_dest "
                                f"({dest_error}): only the filesystem of ORACLE_HOME is "
                                "measured", Severity.WARNING))
    asm = {k: v for k, v in paths.items() if v.startswith("+")}
    mounts, found = filesystems(read.get("df"), int(settings.get("fs_warn_pct", 85)),
                                int(settings.get("fs_crit_pct", 95)), asm)
    findings += found
    lsnr, found = listener(read.get("listener"), str(settings.get("listener") or "LISTENER"),
                           str(settings.get("sid") or ""))
    findings += found
    inventory, found = patches(read.get("lsinventory"), home)
    findings += found
    gg, found = goldengate(read.get("goldengate"), str(settings.get("gg_role") or ""),
                           str(settings.get("gg_home") or ""),
                           int(settings.get("gg_lag_warn_s", 60)),
                           int(settings.get("gg_lag_critical_s", 300)))
    findings += found
    return {"engine": "oracle", "filesystems": mounts, "listener": lsnr, "patches": inventory,
            "goldengate": gg, "findings": [finding_dict(f) for f in findings]}


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "hisops_oracle_inspect_df_targets": df_targets,
            "hisops_oracle_inspect_ggsci_input": ggsci_input,
            "hisops_oracle_inspect_report": report,
        }
