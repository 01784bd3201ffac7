"""PostgreSQL with pgBackRest: reading the repository's catalogue and listings, and judging
what a restore drill's checks printed.

Pure functions of tool output (``pgbackrest info/verify/repo-ls --output=json``, ``pg_amcheck``,
``psql``). The role ``pg_restore_verify`` runs the tools and hands their registered results to
``drill_evidence`` through its filter plugin, so the verdict is decided here, once, and tested
against recorded outputs (tests/fixtures/postgres/).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from hisops.baselines import units
from hisops.engines.base import (
    BackupKind,
    BackupSet,
    Finding,
    Severity,
    ToolOutput,
    errors,
    select_backup,
)

log = logging.getLogger(__name__)

_KINDS = {"full": BackupKind.FULL, "diff": BackupKind.DIFFERENTIAL, "incr": BackupKind.INCREMENTAL}
WAL_SEGMENT_BYTES = 16 << 20  # PostgreSQL's default wal_segment_size
SEGMENTS_PER_XLOGID = (1 << 32) // WAL_SEGMENT_BYTES  # 0x100 segments per "log id"
DEFAULT_MAX_WAL_SIZE = 1 << 30  # PostgreSQL's default max_wal_size (1GB)


def _epoch(value: Any) -> datetime:
    return datetime.fromtimestamp(float(value), tz=UTC)


def _stanza_info(info_json: str) -> dict[str, Any]:
    data = json.loads(info_json)
    if not isinstance(data, list) or not data or not isinstance(data[0], dict):
        raise ValueError("pgbackrest info printed no stanza")
    stanza: dict[str, Any] = data[0]
    return stanza


class PostgresEngine:
    """pgBackRest's view of a PostgreSQL cluster's backups."""

    name = "postgresql"

    def backup_sets(self, listing: ToolOutput) -> list[BackupSet]:
        """``pgbackrest info --output=json`` → the stanza's backups, oldest first."""
        stanza = _stanza_info(listing.stdout)
        out = []
        for raw in stanza.get("backup", []):
            archive = raw.get("archive") or {}
            out.append(BackupSet(
                label=str(raw["label"]),
                kind=_KINDS.get(str(raw.get("type")), BackupKind.FULL),
                started_at=_epoch(raw["timestamp"]["start"]),
                finished_at=_epoch(raw["timestamp"]["stop"]),
                database_bytes=int(raw["info"]["size"]),
                stored_bytes=int(raw["info"]["repository"]["size"]),
                prior=raw.get("prior"),
                start_position=str(archive.get("start") or ""),
                stop_position=str(archive.get("stop") or ""),
                error=bool(raw.get("error")),
            ))
        return out

    def repository_findings(self, output: ToolOutput) -> list[Finding]:
        """``pgbackrest verify --log-level-console=info``: it exits 0 even when it finds bad
        files, so the verdict comes from its report (``status: error``, per-file lines)."""
        findings: list[Finding] = []
        for match in re.finditer(r"INFO: invalid (checksum|size|result[^']*) '([^']+)'",
                                 output.stdout):
            findings.append(Finding("repository", match.group(2),
                                    f"invalid {match.group(1)} (pgbackrest verify)"))
        for match in re.finditer(r"backup: (\S+), status: (\w[\w ]*?),", output.stdout):
            label, status = match.group(1), match.group(2)
            if status != "valid" and not any(f.subject.startswith(label) for f in findings):
                findings.append(Finding("repository", label, f"backup status {status} "
                                        "(pgbackrest verify)"))
        for match in re.finditer(r"archiveId: (\S+), total WAL checked: \d+, total valid WAL: "
                                 r"\d+\s*\n((?:\s+missing: .*\n?)+)", output.stdout):
            for line in match.group(2).splitlines():
                findings.append(Finding("wal", match.group(1), line.strip()))
        if output.rc != 0 or "status: error" in output.stdout and not findings:
            last = _last_error_line(output)
            findings.append(Finding("repository", "", f"pgbackrest verify failed: {last}"))
        return findings

    def integrity_findings(self, output: ToolOutput) -> list[Finding]:
        """``pg_amcheck``: a relation header line ending in ':' then indented problem lines;
        exit 2 means corruption, other non-zero codes that it could not check."""
        findings: list[Finding] = []
        subject, problems = "", []  # type: str, list[str]

        def flush() -> None:
            if not subject:
                return
            text = " ".join(problems) or "corruption reported"
            if (any(_DEDUP_FLAG in p for p in problems)
                    and all(_DEDUP_FLAG in p or p.startswith(_NOTE_PREFIXES) for p in problems)):
                # the index's metapage flag, not its data: see _DEDUP_FLAG
                findings.append(Finding(
                    "amcheck", subject, f"{text} (a flag set when the index was built, before "
                    "PostgreSQL stopped deduplicating character(n) indexes; its entries were not "
                    "checked: REINDEX it)", Severity.WARNING))
                return
            findings.append(Finding("amcheck", subject, text))

        for line in output.stdout.splitlines():
            if not line.strip():
                continue
            if not line[0].isspace() and line.rstrip().endswith(":"):
                flush()
                subject, problems = line.rstrip()[:-1], []
            elif subject:
                problems.append(" ".join(line.split()))
        flush()
        if output.rc != 0 and not findings:
            findings.append(Finding("amcheck", "", f"pg_amcheck exited {output.rc}: "
                                    f"{_last_error_line(output)}"))
        return findings


# PostgreSQL's minor releases of late 2026 (15.20 on the lab; backpatched to 14) rescinded
# B-tree deduplication for character(n) columns: amcheck now reports an index built earlier as
# "metapage incorrectly indicates that deduplication is safe". The table's rows are intact; the
# index needs a REINDEX (upstream commit 18740523a and its backpatches; seen on the lab after
# the patch runbook moved it from 15.18 to 15.20). Any other amcheck error is corruption.
_DEDUP_FLAG = "metapage incorrectly indicates that deduplication is safe"
_NOTE_PREFIXES = ("DETAIL:", "HINT:", "CONTEXT:")


def _last_error_line(output: ToolOutput) -> str:
    lines = [ln.strip() for ln in (output.stderr + "\n" + output.stdout).splitlines()
             if ln.strip()]
    for line in reversed(lines):
        if "ERROR" in line or "FATAL" in line:
            return line
    return lines[-1] if lines else "no output"


# --- choosing the backup ------------------------------------------------------------------------


def pick_backup(info_json: str, selector: str, target_time: str = "") -> dict[str, Any]:
    """The backup a drill restores, with what the drill needs to know about it.

    ``target_time`` (point in time) picks the newest backup finished before it; otherwise
    ``selector`` is ``latest`` or a label. Raises ValueError naming what exists."""
    stanza = _stanza_info(info_json)
    sets = PostgresEngine().backup_sets(ToolOutput(info_json))
    try:
        chosen = select_backup(sets, target_time or selector)
    except LookupError as exc:
        raise ValueError(str(exc)) from None
    raw = next(b for b in stanza["backup"] if b["label"] == chosen.label)
    annotation = raw.get("annotation") or {}
    archive_ids = [a["id"] for a in stanza.get("archive", [])
                   if a.get("database", {}).get("id") == raw.get("database", {}).get("id")]
    return {
        **chosen.to_dict(),
        "marker": annotation.get("hisops-marker", ""),
        "quiet": annotation.get("hisops-quiet") == "yes",
        "archive_id": archive_ids[0] if archive_ids else "",
    }


# --- repository listings ------------------------------------------------------------------------


def wal_range(start: str, stop: str) -> list[str]:
    """WAL segment names from START to STOP inclusive (16 MB segments)."""
    if not (re.fullmatch(r"[0-9A-F]{24}", start) and re.fullmatch(r"[0-9A-F]{24}", stop)):
        raise ValueError(f"not WAL segment names: {start!r}, {stop!r}")
    timeline = start[:8]
    first, last = (_segment_number(name, WAL_SEGMENT_BYTES) for name in (start, stop))
    return [f"{timeline}{n // SEGMENTS_PER_XLOGID:08X}{n % SEGMENTS_PER_XLOGID:08X}"
            for n in range(first, last + 1)]


def _archived_segments(listing: Mapping[str, Any]) -> dict[str, float]:
    """segment name → archive time, from ``repo-ls --recurse archive/<stanza>``."""
    out: dict[str, float] = {}
    for path, entry in listing.items():
        name = path.rsplit("/", 1)[-1]
        if entry.get("type") == "file" and re.match(r"[0-9A-F]{24}(-|\.|$)", name) \
                and ".backup" not in name and ".history" not in name:
            out[name[:24]] = float(entry.get("time", 0))
    return out


def wal_findings(archive_listing: str, backup: Mapping[str, Any]) -> list[Finding]:
    """Every WAL segment the backup needs to reach consistency must be in the archive
    (pgbackrest verify 2.45 misses a missing segment at the end of the archive)."""
    listing = json.loads(archive_listing or "{}")
    archive_id = str(backup.get("archive_id") or "")
    archived = _archived_segments({p: e for p, e in listing.items()
                                   if not archive_id or p.startswith(archive_id + "/")})
    needed = wal_range(str(backup["start_position"]), str(backup["stop_position"]))
    return [Finding("wal", seg, f"WAL segment needed by backup {backup['label']} is missing "
                                f"from the archive ({archive_id or 'archive'})")
            for seg in needed if seg not in archived]


def manifest_findings(backup_listing: str, label: str) -> list[Finding]:
    """pgBackRest keeps the manifest twice; restore silently falls back to the copy, so a
    missing one is damage the drill must report before it becomes a lost backup."""
    listing = json.loads(backup_listing or "{}")
    return [Finding("repository", f"{label}/{name}", "manifest file is missing")
            for name in ("backup.manifest", "backup.manifest.copy") if name not in listing]


def rpo_seconds(archive_listing: str, now_epoch: float) -> float | None:
    """Age of the newest archived WAL segment: the data a loss now would take with it."""
    archived = _archived_segments(json.loads(archive_listing or "{}"))
    if not archived:
        return None
    return round(max(0.0, now_epoch - max(archived.values())), 1)


# --- the restored copy ---------------------------------------------------------------------------


def content_findings(marker_json: str, tables_json: str, *, marker: str, quiet: bool,
                     tolerance: float) -> list[Finding]:
    """The restored copy holds the backup's marker row; its tables match what the marker
    recorded: exactly (fingerprints) when the database was quiet during the backup, row
    counts within TOLERANCE otherwise."""
    if not marker:
        return [Finding("content", "", "the backup has no hisops marker annotation (not taken "
                        "by the backup runbook): content not checked", Severity.WARNING)]
    if not marker_json.strip():
        return [Finding("content", "hisops.backup_marker",
                        f"marker row {marker} is missing from the restored copy")]
    expected: dict[str, dict[str, Any]] = json.loads(marker_json)
    actual: dict[str, dict[str, Any]] = json.loads(tables_json or "{}")
    findings = []
    for table, want in sorted(expected.items()):
        got = actual.get(table)
        if got is None:
            findings.append(Finding("content", table, "table is missing from the restored copy"))
            continue
        want_rows, got_rows = int(want["rows"]), int(got["rows"])
        if quiet:
            if got["fingerprint"] != want["fingerprint"] or got_rows != want_rows:
                findings.append(Finding("content", table, f"content differs from the source at "
                                        f"backup time ({got_rows} rows, expected {want_rows})"))
        elif abs(got_rows - want_rows) > tolerance * max(want_rows, 1):
            findings.append(Finding("content", table, f"{got_rows} rows, expected about "
                                    f"{want_rows} (tolerance {tolerance:.0%})"))
    return findings


def smoke_findings(queries: Sequence[Mapping[str, Any]],
                   results: Sequence[Mapping[str, Any]]) -> list[Finding]:
    findings = []
    for query, result in zip(queries, results, strict=False):
        name, minimum = str(query.get("name", "smoke")), int(query.get("min_rows", 1))
        if int(result.get("rc", 1)) != 0:
            findings.append(Finding("smoke", name, f"query failed: "
                                    f"{_last_error_line(_tool(result))}"))
            continue
        rows = int((str(result.get("stdout", "")).strip() or "0").splitlines()[-1])
        if rows < minimum:
            findings.append(Finding("smoke", name, f"{rows} rows, expected at least {minimum}"))
    return findings


# --- the drill's verdict -------------------------------------------------------------------------


def _tool(result: Mapping[str, Any] | None) -> ToolOutput:
    result = result or {}
    rc = result.get("rc")
    return ToolOutput(stdout=str(result.get("stdout", "")), stderr=str(result.get("stderr", "")),
                      rc=int(rc) if rc is not None else 0)


def _seconds(first: Mapping[str, Any] | None, last: Mapping[str, Any] | None) -> float:
    """Wall time from FIRST's start to LAST's end (Ansible's command results carry both)."""
    if not first or not last or "start" not in first or "end" not in last:
        return 0.0
    fmt = "%Y-%m-%d %H:%M:%S.%f"
    began = datetime.strptime(str(first["start"]), fmt)
    ended = datetime.strptime(str(last["end"]), fmt)
    return round(max(0.0, (ended - began).total_seconds()), 2)


def repository_checks(raw: Mapping[str, Any]) -> dict[str, list[Finding]]:
    """Checks that need no restore: the repository's files, the manifest and the WAL range."""
    backup = raw["backup"]
    engine = PostgresEngine()
    verify = [f for f in engine.repository_findings(_tool(raw.get("repo_check")))
              if not f.subject or f.subject.startswith(backup["label"]) or f.check == "wal"]
    return {
        "repository": verify + manifest_findings(
            str((raw.get("backup_listing") or {}).get("stdout", "")), backup["label"]),
        "wal": wal_findings(str((raw.get("archive_listing") or {}).get("stdout", "")), backup),
    }


def drill_evidence(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The verdict and evidence of one drill from the role's registered results (see
    roles/pg_restore_verify/tasks/checks.yml for the keys)."""
    backup = raw["backup"]
    checks: dict[str, list[Finding]] = dict(repository_checks(raw))
    restored = bool(raw.get("restore"))
    if raw.get("amcheck"):  # the restored copy came up and was checked
        engine = PostgresEngine()
        checks["amcheck"] = engine.integrity_findings(_tool(raw.get("amcheck")))
        marker = _tool(raw.get("marker"))
        tables = _tool(raw.get("tables"))
        if marker.rc != 0 or tables.rc != 0:
            bad = marker if marker.rc != 0 else tables
            checks["content"] = [Finding("content", "", f"query failed: {_last_error_line(bad)}")]
        else:
            checks["content"] = content_findings(
                marker.stdout, tables.stdout, marker=str(backup.get("marker", "")),
                # recovered past the backup (a point in time): later writes are expected
                quiet=bool(backup.get("quiet")) and not raw.get("target_time"),
                tolerance=float(raw.get("tolerance", 0.1)))
        checks["smoke"] = smoke_findings(raw.get("smoke_queries") or [], raw.get("smoke") or [])
    if raw.get("failure"):
        phase, reason = raw["failure"]
        checks.setdefault(phase, []).append(Finding(phase, backup["label"], reason))
    findings = [f for group in checks.values() for f in group]
    restore_s = _seconds(raw.get("restore"), raw.get("restore"))
    recovery_s = _seconds(raw.get("start"), raw.get("recovery"))
    checks_s = round(_seconds(raw.get("repo_check"), raw.get("repo_check"))
                     + _seconds(raw.get("amcheck"), raw.get("tables")), 2)
    size = int(backup.get("database_bytes", 0))
    listing = str((raw.get("archive_listing") or {}).get("stdout", ""))
    now = raw.get("now_epoch")
    evidence = {
        "engine": "postgresql", "database": raw.get("stanza", ""),
        "source_host": raw.get("source_host", ""), "scratch_host": raw.get("scratch_host", ""),
        "backup": {k: backup.get(k) for k in ("label", "kind", "started_at", "finished_at",
                                              "database_bytes", "stored_bytes", "marker",
                                              "quiet", "start_position", "stop_position")},
        "restore_s": restore_s, "recovery_s": recovery_s, "checks_s": checks_s,
        "rto_s": round(restore_s + recovery_s + checks_s, 2),
        "restore_mbps": round(size / restore_s / 1e6, 1) if restore_s > 0 else 0.0,
        "rpo_s": rpo_seconds(listing, float(now)) if now is not None else None,
        "passed": not errors(findings),
        "findings": [{**f.to_dict(), "line": f.one_line()} for f in findings],
        "checks": {name: ("failed" if errors(group) else "passed") for name, group in
                   checks.items()},
    }
    if raw.get("failure") and not restored and "restore" not in checks:
        # the drill stopped before restoring anything: the restore did not fail, it never ran
        evidence["checks"]["restore"] = "skipped"
        if raw["failure"][0] == "preflight":
            evidence["refused"] = "preflight"
    if raw.get("carry"):  # the source's settings the copy was configured with, and the caps
        evidence["configuration"] = _carried(raw["carry"])
    return evidence


def _carried(carry: Mapping[str, Any]) -> dict[str, Any]:
    return {"carried": dict(carry.get("settings") or {}),
            "capped": dict(carry.get("capped") or {}),
            "not_carried": list(carry.get("excluded") or []),
            "memory_bytes": carry.get("memory_bytes")}


# pg_controldata's names for the settings a hot standby / recovering server must not lower
_CONTROL_LIMITS = {
    "max_connections setting": "max_connections",
    "max_worker_processes setting": "max_worker_processes",
    "max_wal_senders setting": "max_wal_senders",
    "max_prepared_xacts setting": "max_prepared_transactions",
    "max_locks_per_xact setting": "max_locks_per_transaction",
}


def control_limits(controldata: str) -> dict[str, int]:
    """Settings recovery needs at least as high as the source had, from ``pg_controldata``
    (run with LC_ALL=C so the labels are English)."""
    out: dict[str, int] = {}
    for line in controldata.splitlines():
        label, _, value = line.partition(":")
        name = _CONTROL_LIMITS.get(label.strip())
        if name and value.strip().isdigit():
            out[name] = int(value.strip())
    missing = sorted(set(_CONTROL_LIMITS.values()) - set(out))
    if missing:
        raise ValueError(f"pg_controldata did not report {', '.join(missing)}")
    return out


def _server_log_reason(server_log: str) -> str:
    """The FATAL/PANIC line of a server that would not start, with its DETAIL."""
    lines = server_log.splitlines()
    for i, line in enumerate(lines):
        match = re.search(r"(FATAL|PANIC):\s+(.*)", line)
        if match:
            reason = f"{match.group(1)}: {match.group(2).strip()}"
            detail = next((re.sub(r".*DETAIL:\s+", "", ln).strip() for ln in lines[i + 1:i + 3]
                           if "DETAIL:" in ln), "")
            return f"{reason} ({detail})" if detail else reason
    return ""


FULL_DISK_BYTES = 1 << 20  # under 1 MiB free after a failed write: the disk filled up


def failure_reason(result: Mapping[str, Any], server_log: str = "",
                   free_bytes: int | None = None) -> str:
    """One line saying why a task failed: the server's FATAL line or the tool's own ERROR,
    named as running out of disk when that is what happened. pgBackRest 2.45 reports a full
    disk only as "unable to write", so the free space measured after the failure decides."""
    out = _tool(result)
    text = out.stderr + "\n" + out.stdout + "\n" + server_log
    full = "no space left on device" in text.lower() or (
        free_bytes is not None and free_bytes < FULL_DISK_BYTES)
    reason = _server_log_reason(server_log) or _last_error_line(out) if (
        out.stdout or out.stderr or server_log) else str(result.get("msg", "unknown failure"))
    if full:
        free = "" if free_bytes is None else f" ({free_bytes // 1024} KiB left)"
        return f"out of disk on the scratch host{free}: {reason}"
    return reason


def restore_eta(history_mbps: Iterable[float], size_bytes: int) -> str:
    """A human estimate of the restore time from the last drills' throughput."""
    rates = [float(r) for r in history_mbps if float(r) > 0]
    size_mb = size_bytes / 1e6
    if not rates:
        return f"restoring {size_mb:.0f} MB; no earlier drill here to estimate the time from"
    rate = sum(rates) / len(rates)
    return (f"restoring {size_mb:.0f} MB; ETA {size_mb / rate:.0f} s at {rate:.1f} MB/s "
            f"(mean of the last {len(rates)} drill(s) here)")


# --- the space a restore needs -------------------------------------------------------------------



def _segment_number(name: str, segment_bytes: int) -> int:
    """A WAL file name's position in the WAL (timeline left out: the LSN runs on across one)."""
    if not re.fullmatch(r"[0-9A-F]{24}", name):
        raise ValueError(f"not a WAL segment name: {name!r}")
    return int(name[8:16], 16) * ((1 << 32) // segment_bytes) + int(name[16:], 16)


def _lsn(text: str) -> int | None:
    match = re.fullmatch(r"([0-9A-Fa-f]+)/([0-9A-Fa-f]+)", text or "")
    return (int(match.group(1), 16) << 32) + int(match.group(2), 16) if match else None


def wal_segment_bytes(raw_backup: Mapping[str, Any]) -> int:
    """The WAL segment size a backup's info implies: the size (a power of two, 1 MB to 1 GB)
    that puts its start LSN in its start segment; 16 MiB when the info cannot tell."""
    lsn = _lsn(str((raw_backup.get("lsn") or {}).get("start") or ""))
    start = str((raw_backup.get("archive") or {}).get("start") or "")
    if lsn is None or not re.fullmatch(r"[0-9A-F]{24}", start):
        return WAL_SEGMENT_BYTES
    fits = [size for size in (1 << bits for bits in range(20, 31))
            if lsn // size == _segment_number(start, size)]
    return WAL_SEGMENT_BYTES if WAL_SEGMENT_BYTES in fits or not fits else fits[0]


def setting_bytes(value: Any, unit: str = "MB") -> int | None:
    """A size setting as PostgreSQL reads it ("1GB", "2048MB", a bare number in UNIT,
    max_wal_size's MB by default; quoted as in postgresql.conf or not); None when VALUE is
    empty or not a size."""
    text = str(value if value is not None else "").strip().strip("'")
    try:
        return int(units.to_base(text, unit)) if text else None
    except units.UnitError:
        return None


def restore_space(info_json: str, label: str, *, target_time: str = "", margin: float = 1.1,
                  max_wal_size: Any = None) -> dict[str, Any]:
    """The free space a drill's restore and recovery need on the scratch host.

    The restored files (the backup's database size) plus the WAL recovery restores into
    pg_wal, which PostgreSQL keeps there under their own names (so a cascaded standby could
    read them) until a restartpoint recycles them: every segment from the backup's start to
    the recovery target (its stop for an immediate recovery; for a point in time, whose
    segment the catalogue cannot name, the archive's newest) and the two recovery ends with
    (the last segment copied onto the new timeline, one preallocated), yet never more than
    MAX_WAL_SIZE (the scratch instance's; PostgreSQL's 1GB when empty) and those two. Both
    times MARGIN; a margin of 0 skips the check (``need_bytes`` 0)."""
    stanza = _stanza_info(info_json)
    raw = next((b for b in stanza.get("backup", []) if b.get("label") == label), None)
    if raw is None:
        raise ValueError(f"backup {label} is not in the catalogue")
    segment = wal_segment_bytes(raw)
    archive = raw.get("archive") or {}
    start = _segment_number(str(archive.get("start")), segment)
    end = _segment_number(str(archive.get("stop") or archive.get("start")), segment)
    if target_time:
        newest = [a.get("max") for a in stanza.get("archive", [])
                  if a.get("database", {}).get("id") == raw.get("database", {}).get("id")
                  and a.get("max")]
        end = max([end, *(_segment_number(str(m), segment) for m in newest)])
    restored = end - start + 1
    limit = (setting_bytes(max_wal_size) or DEFAULT_MAX_WAL_SIZE) // segment
    segments = min(restored, limit) + 2
    backup_bytes = int(raw["info"]["size"])
    wal_bytes = segments * segment
    need = round((backup_bytes + wal_bytes) * float(margin))
    return {
        "need_bytes": need, "backup_bytes": backup_bytes, "wal_bytes": wal_bytes,
        "wal_segments": segments, "wal_segment_bytes": segment,
        "wal_capped": restored > limit, "margin": float(margin),
        "summary": (f"the restore needs {need / 1e6:.1f} MB (backup {backup_bytes / 1e6:.1f} MB"
                    f" + WAL {wal_bytes / 1e6:.1f} MB, x {float(margin):g})"),
    }
