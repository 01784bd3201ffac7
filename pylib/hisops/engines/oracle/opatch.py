"""What OPatch and datapatch print, and what the patch views hold, as typed facts.

The Oracle patch roles run ``opatch lsinventory``, ``opatch prereq ...``, ``opatch version`` and
``datapatch -verbose`` on the hosts and read DBA_REGISTRY_SQLPATCH and V$DATAGUARD_STATS; these
parsers and converters turn that into frozen dataclasses for the patch planner
(:mod:`hisops.engines.oracle.patch`) and the verify steps. Like the RMAN parsers in
:mod:`hisops.engines.oracle.rman` they are strict: text they cannot read raises
:class:`~hisops.engines.oracle.rman.UnreadableOutput` instead of being taken for "nothing installed"
or "no conflict". Formats and their public sources: ``tests/fixtures/oracle/SOURCES.md``.

OPatch and datapatch print English only with ``NLS_LANG=AMERICAN_AMERICA.AL32UTF8`` (a Chinese
OPatch prints ``OPatch 版本``); the roles set it. OPatch prints times in the host's clock with a
zone abbreviation (``CET``, ``IST``...) that does not name one zone, so ``applied_at`` is the
naive wall-clock time as printed and ``applied_zone`` the abbreviation, never a guessed offset.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from hisops.engines.base import Finding, ToolOutput
from hisops.engines.oracle.rman import UnreadableOutput
from hisops.engines.oracle.sql import RowShapeError, parse_interval

log = logging.getLogger(__name__)

CHECK_OPATCH = "opatch"  # the binaries of an Oracle home: inventory, prereqs, OPatch itself
CHECK_DATAPATCH = "datapatch"  # the SQL half of a patch, run in the primary database
CHECK_SQLPATCH = "sqlpatch"  # what DBA_REGISTRY_SQLPATCH records about it
CHECK_DATAGUARD = "dataguard"  # a standby's lag behind its primary


class OPatchFailed(UnreadableOutput):
    """OPatch ended with ``OPatch failed with error code N``: the command itself did not work."""

    def __init__(self, command: str, code: int, reason: str) -> None:
        self.command, self.code, self.reason = command, code, reason
        super().__init__(f"opatch {command} failed with error code {code}", reason)


_FAILED = re.compile(r"^OPatch failed with error code (\d+)\s*$", re.MULTILINE)
_SUCCEEDED = re.compile(r"^OPatch succeeded\.\s*$", re.MULTILINE)
_REASON = re.compile(r"(?:Session failed:|failed\.\.\.|Exception occured|Error:)")


def _raise_if_failed(command: str, text: str) -> None:
    failed = _FAILED.search(text)
    if failed:
        lines = [ln.strip() for ln in text[:failed.start()].splitlines() if ln.strip()]
        reasons = [ln for ln in lines if _REASON.search(ln)]
        raise OPatchFailed(command, int(failed[1]), (reasons or lines or [""])[-1])


def _ids(text: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", text))


def release_of(version: str) -> tuple[int, int, int, int]:
    """``19.21.0.0.231017`` or ``19.21.0.0.0`` -> (19, 21, 0, 0): what OPatch descriptions and
    the SQL registry agree on (the fifth field is a date in one and 0 in the other)."""
    parts = version.strip().split(".")
    if len(parts) < 4 or not all(p.isdigit() for p in parts):
        raise ValueError(f"not an Oracle release number: {version!r}")
    return int(parts[0]), int(parts[1]), int(parts[2]), int(parts[3])


# --- opatch lsinventory ------------------------------------------------------------------------

_RU = re.compile(r"Database Release Update(?: Revision)?\s*:\s*(\d+(?:\.\d+){4})", re.IGNORECASE)


@dataclass(frozen=True)
class Product:
    name: str  # Oracle Database 19c
    version: str  # 19.0.0.0.0


@dataclass(frozen=True)
class InstalledPatch:
    """One ``Patch  N : applied on ...`` block of ``opatch lsinventory``."""

    patch_id: int
    applied_at: datetime  # naive, the host's wall clock as printed
    applied_zone: str  # the zone abbreviation OPatch printed (CET, GMT, ...)
    unique_id: int
    description: str
    bugs_fixed: tuple[int, ...] = ()

    @property
    def release_update(self) -> str | None:
        """``19.21.0.0.231017`` when this is a Database Release Update, else None."""
        found = _RU.search(self.description)
        return found[1] if found else None


@dataclass(frozen=True)
class Inventory:
    """``opatch lsinventory`` of one Oracle home."""

    home: str
    central_inventory: str
    opatch_version: str
    oui_version: str
    hostname: str
    products: tuple[Product, ...]
    patches: tuple[InstalledPatch, ...]

    @property
    def release_update(self) -> str | None:
        """The Database Release Update the home runs (the newest one listed), None if none."""
        versions = [p.release_update for p in self.patches if p.release_update]
        return max(versions, key=release_of) if versions else None

    def patch(self, patch_id: int) -> InstalledPatch | None:
        return next((p for p in self.patches if p.patch_id == patch_id), None)


_HEADER = re.compile(r"^(Oracle Home|Central Inventory|OPatch version|OUI version)\s*:\s*(.*?)\s*$")
_HOSTNAME = re.compile(r"^Hostname:\s*(\S+)")
_PRODUCTS = re.compile(r"^Installed Top-level Products \((\d+)\):\s*$")
_PRODUCT = re.compile(r"^(\S.*?)\s{2,}(\d+(?:\.\d+)+)\s*$")
_INTERIM = re.compile(r"^Interim patches \((\d+)\) :\s*$")
_NO_INTERIM = re.compile(r"^There are no Interim patches installed in this Oracle Home")
_PATCH = re.compile(r"^Patch\s+(\d+)\s+: applied on \w{3} (\w{3} +\d{1,2} \d\d:\d\d:\d\d) "
                    r"(\S+) (\d{4})\s*$")
_UNIQUE = re.compile(r"^Unique Patch ID:\s*(\d+)\s*$")
_DESCRIPTION = re.compile(r'^Patch description:\s*"(.*)"\s*$')


def parse_lsinventory(text: str) -> Inventory:
    """An :class:`Inventory` from ``opatch lsinventory`` (OPatch 12.2.0.1.x, 19c homes).

    Raises :class:`OPatchFailed` when OPatch says it failed, :class:`UnreadableOutput` when the
    text is not lsinventory output, is cut short (no ``OPatch succeeded.``) or lists a different
    number of products or patches than its own ``(N)`` counts.
    """
    _raise_if_failed("lsinventory", text)
    lines = text.splitlines()
    header = {m[1]: m[2] for ln in lines if (m := _HEADER.match(ln))}
    if "Oracle Home" not in header or not any(_PRODUCTS.match(ln) for ln in lines):
        raise UnreadableOutput("not opatch lsinventory output (no Oracle Home and Installed "
                               "Top-level Products)")
    if not _SUCCEEDED.search(text):
        raise UnreadableOutput("lsinventory output is cut short: no 'OPatch succeeded.'")
    products: list[Product] = []
    patches: list[InstalledPatch] = []
    expected_products = expected_patches = -1
    section = ""
    for i, line in enumerate(lines):
        if (head := _PRODUCTS.match(line)) is not None:
            section, expected_products = "products", int(head[1])
        elif (head := _INTERIM.match(line)) is not None:
            section, expected_patches = "patches", int(head[1])
        elif _NO_INTERIM.match(line):
            section, expected_patches = "", 0
        elif section == "products" and line.startswith("There are "):
            section = ""
        elif section == "products" and (row := _PRODUCT.match(line)) is not None:
            products.append(Product(row[1], row[2]))
        elif section == "patches" and (start := _PATCH.match(line)) is not None:
            patches.append(_patch_block(start, lines[i + 1:]))
    hostname = next((m[1] for ln in lines if (m := _HOSTNAME.match(ln))), "")
    if expected_patches < 0:
        raise UnreadableOutput("lsinventory lists no 'Interim patches (N) :' section")
    if (len(products), len(patches)) != (expected_products, expected_patches):
        raise UnreadableOutput(f"lsinventory counts {expected_products} product(s) and "
                               f"{expected_patches} patch(es) but {len(products)} and "
                               f"{len(patches)} were read")
    return Inventory(home=header["Oracle Home"], central_inventory=header.get(
        "Central Inventory", ""), opatch_version=header.get("OPatch version", ""),
        oui_version=header.get("OUI version", ""), hostname=hostname,
        products=tuple(products), patches=tuple(patches))


def _patch_block(start: re.Match[str], rest: list[str]) -> InstalledPatch:
    unique: int | None = None
    description: str | None = None
    bugs: list[int] = []
    in_bugs = False
    for line in rest:
        if _PATCH.match(line) or line.startswith("-----"):
            break
        if (m := _UNIQUE.match(line)) is not None:
            unique = int(m[1])
        elif (m := _DESCRIPTION.match(line)) is not None:
            description = m[1]
        elif line.strip() == "Bugs fixed:":
            in_bugs = True
        elif in_bugs and re.fullmatch(r"\s+[\d, ]+", line):
            bugs += _ids(line)
        else:
            in_bugs = False
    if unique is None or description is None:
        raise UnreadableOutput("lsinventory patch block without Unique Patch ID or description",
                               start[0])
    when = datetime.strptime(f"{start[2]} {start[4]}".replace("  ", " "), "%b %d %H:%M:%S %Y")
    return InstalledPatch(patch_id=int(start[1]), applied_at=when, applied_zone=start[3],
                          unique_id=unique, description=description, bugs_fixed=tuple(bugs))


# --- opatch prereq -----------------------------------------------------------------------------


class ConflictKind(StrEnum):
    CONFLICT = "conflict"  # both patches change the same file: a merge patch is needed
    SUPERSET = "superset"  # the incoming patch contains the installed one (or overlays on it)


@dataclass(frozen=True)
class PrereqConflict:
    patch_id: int  # the incoming patch (or sub-patch of a composite)
    other_id: int  # the installed patch it conflicts with or supersedes
    kind: ConflictKind
    details: tuple[str, ...] = ()  # conflicting files, or the overlay patches of a subset


@dataclass(frozen=True)
class PrereqResult:
    """``opatch prereq <Check> -ph <dir>``: passed or failed, and what conflicts."""

    check: str  # as OPatch prints it: checkConflictAgainstOHWithDetail, checkSystemSpace
    passed: bool
    home: str
    message: str = ""  # ZOP-40: ..., ZOP-47: ...
    conflicts: tuple[PrereqConflict, ...] = ()
    merge_needed: tuple[int, ...] = ()  # "Following patches have conflicts ..."
    rolled_back: tuple[int, ...] = ()  # "Following patches will be rolled back ..."
    details: tuple[str, ...] = ()  # the text after "The details are:" (space, reasons)

    @property
    def blocking(self) -> bool:
        """A failed check, or any file-level conflict, stops the apply. A superset alone (the
        RU contains an installed one-off) passes: OPatch rolls the subset back itself."""
        return not self.passed or any(c.kind is ConflictKind.CONFLICT for c in self.conflicts)


_PREREQ = re.compile(r'^Prereq "(\w+)" (passed|failed)\.\s*$')
_ZOP = re.compile(r"^ZOP-\d+: .*$")
_FOR_PATCH = re.compile(r"^\s*(?:Composite |Sub-)?Patch : (\d+)\s*$")
_CONFLICT_WITH = re.compile(r"^\s+Conflict with (\d+)\s*$")
_SUPERSET_OF = re.compile(r"^\s+Bug Superset of (\d+)\s*$")
_SUPERSET_PATCH = re.compile(r"^\s*Superset Patch (\d+) has\s*$")
_SUBSET_OVERLAYS = re.compile(r"^\s*Subset Patch (\d+) which has overlay patches \[([\d,\s]*)\]")


def parse_prereq(text: str, check: str = "checkConflictAgainstOHWithDetail") -> PrereqResult:
    """A :class:`PrereqResult` from ``opatch prereq``. The verdict is the ``Prereq "..."
    passed|failed.`` line, never the exit status: a failed conflict check still ends with
    ``OPatch succeeded.``. Output of another check than ``check`` is refused."""
    _raise_if_failed("prereq", text)
    lines = text.splitlines()
    verdicts = [m for ln in lines if (m := _PREREQ.match(ln.strip()))]
    if not verdicts:
        raise UnreadableOutput('no Prereq "..." passed/failed line: not opatch prereq output')
    if any(v[1].lower() != check.lower() for v in verdicts):
        raise UnreadableOutput(f"expected prereq {check}, got {verdicts[0][1]}")
    conflicts: list[PrereqConflict] = []
    merge_needed: tuple[int, ...] = ()
    rolled_back: tuple[int, ...] = ()
    details: list[str] = []
    current = superset = 0
    mode = ""
    for i, line in enumerate(lines):
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if line.startswith("Following patches have conflicts"):
            merge_needed = _ids(nxt)
        elif line.startswith("Following patches will be rolled back"):
            rolled_back = _ids(nxt)
        elif line.strip() == "The details are:":
            mode = "details"
        elif (m := _FOR_PATCH.match(line)) is not None:
            current, mode = int(m[1]), ""
        elif (m := _CONFLICT_WITH.match(line)) is not None and current:
            conflicts.append(PrereqConflict(current, int(m[1]), ConflictKind.CONFLICT))
        elif (m := _SUPERSET_OF.match(line)) is not None and current:
            conflicts.append(PrereqConflict(current, int(m[1]), ConflictKind.SUPERSET))
            mode = ""
        elif line.strip() == "Conflict details:":
            mode = "files"
        elif mode == "files" and line.strip().startswith("/") and conflicts:
            last = conflicts.pop()
            conflicts.append(PrereqConflict(last.patch_id, last.other_id, last.kind,
                                            (*last.details, line.strip())))
        elif (m := _SUPERSET_PATCH.match(line)) is not None:
            superset = int(m[1])
        elif (m := _SUBSET_OVERLAYS.match(line)) is not None and superset:
            overlays = ", ".join(str(n) for n in _ids(m[2]))
            conflicts.append(PrereqConflict(superset, int(m[1]), ConflictKind.SUPERSET,
                                            (f"overlay patches {overlays} conflict with "
                                             f"superset patch {superset}",)))
        elif _SUCCEEDED.match(line.strip()) or line.startswith("Log file location"):
            mode = ""
        elif mode == "details" and line.strip() and not line.startswith("Reason -"):
            details.append(line.strip())
        elif not line.strip() and mode == "files":
            mode = ""
    home = next((m[2] for ln in lines if (m := _HEADER.match(ln)) and m[1] == "Oracle Home"), "")
    message = next((ln.strip() for ln in lines if _ZOP.match(ln.strip())), "")
    return PrereqResult(check=verdicts[0][1], passed=all(v[2] == "passed" for v in verdicts),
                        home=home, message=message, conflicts=tuple(dict.fromkeys(conflicts)),
                        merge_needed=merge_needed, rolled_back=rolled_back,
                        details=tuple(details))


# --- opatch version ----------------------------------------------------------------------------

_VERSION = re.compile(r"^OPatch Version:\s*(\d+(?:\.\d+){4})\s*$", re.MULTILINE)
_VERSION_TXT = re.compile(r"^\s*OPATCH_VERSION:(\d+(?:\.\d+){4})\s*$")


def parse_opatch_version(text: str) -> str:
    """``12.2.0.1.40`` from ``opatch version``, or from ``OPatch/version.txt``
    (``OPATCH_VERSION:12.2.0.1.40``, readable in a staged p6880880 zip before it is unzipped)."""
    if (txt := _VERSION_TXT.match(text)) is not None:
        return txt[1]
    _raise_if_failed("version", text)
    found = _VERSION.search(text)
    if not found or not _SUCCEEDED.search(text):
        raise UnreadableOutput("no 'OPatch Version: N' line followed by 'OPatch succeeded.'")
    return found[1]


def _five(version: str) -> tuple[int, ...]:
    parts = version.strip().split(".")
    return tuple(int(p) for p in parts) if len(parts) == 5 and all(
        p.isdigit() for p in parts) else ()


def opatch_version_findings(found: str, minimum: str, subject: str = "") -> list[Finding]:
    """Empty when ``found`` satisfies the patch README's minimum ("OPatch 12.2.0.1.37 or
    later"): same OPatch line (first four fields: a 13.9 middleware OPatch is not a newer
    12.2.0.1 one) and a last field at least as high."""
    have, need = _five(found), _five(minimum)
    if not have or not need:
        return [Finding(CHECK_OPATCH, subject, f"unreadable OPatch version {found!r} or minimum "
                                               f"{minimum!r} (expected five numbers)")]
    if have[:4] != need[:4]:
        return [Finding(CHECK_OPATCH, subject, f"OPatch {found} is not of the {minimum} line "
                                               "the patch needs (patch 6880880 for this release)")]
    if have < need:
        return [Finding(CHECK_OPATCH, subject, f"OPatch {found} is older than {minimum}, the "
                                               "minimum in the patch README")]
    return []


# --- datapatch -verbose ------------------------------------------------------------------------


@dataclass(frozen=True)
class DatapatchAction:
    """One ``Patch N apply|rollback [(pdb X)]: STATUS`` result line and its logfile."""

    patch_id: int
    action: str  # apply / rollback
    status: str  # SUCCESS, WITH ERRORS, ...
    pdb: str = ""  # container name in a CDB, "" in a non-CDB
    logfile: str = ""
    errors: tuple[str, ...] = ()  # the error lines datapatch quoted from the logfile

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCESS" and not self.errors


@dataclass(frozen=True)
class DatapatchRun:
    """What one ``datapatch -verbose`` invocation did."""

    version: str  # SQL Patching tool version
    invocation_log: str
    actions: tuple[DatapatchAction, ...]
    installed: int | None  # "Total patches installed: N", None when nothing was queued
    completed: bool  # "SQL Patching tool complete on ..."
    prereq_errors: tuple[str, ...] = ()  # "Error: prereq checks failed!" and what follows
    rc: int = 0

    def findings(self) -> list[Finding]:
        """One ERROR per failed action, a failed prereq, an unfinished run, a count that does
        not add up or a non-zero exit status. Empty means every SQL action succeeded."""
        found = [Finding(CHECK_DATAPATCH, f"patch {a.patch_id} {a.action}"
                         + (f" (pdb {a.pdb})" if a.pdb else ""),
                         "; ".join((a.status, *a.errors, f"logfile {a.logfile}")))
                 for a in self.actions if not a.succeeded]
        if self.prereq_errors:
            found.append(Finding(CHECK_DATAPATCH, "", "datapatch prereq checks failed, nothing "
                                 "installed: " + "; ".join(self.prereq_errors)))
        if self.installed is not None and self.installed != len(self.actions):
            found.append(Finding(CHECK_DATAPATCH, "", f"datapatch installed {self.installed} "
                                 f"patch(es) but {len(self.actions)} result(s) were read"))
        if not self.completed:
            found.append(Finding(CHECK_DATAPATCH, "", "no 'SQL Patching tool complete' line: "
                                 "datapatch did not finish"))
        if self.rc != 0 and not found:
            found.append(Finding(CHECK_DATAPATCH, "", f"datapatch exited with status {self.rc} "
                                 f"(see {self.invocation_log or 'its invocation log'})"))
        return found


_DP_VERSION = re.compile(r"^SQL Patching tool version (\S+) Production on ")
_DP_LOG = re.compile(r"^Log file for this invocation: (\S+)")
_DP_RESULT = re.compile(r"^\s*Patch (\d+) (apply|rollback)(?: \(pdb ([^)]+)\))?: (\S.*?)\s*$")
_DP_LOGFILE = re.compile(r"^\s+logfile: (\S+)")
_DP_INSTALLED = re.compile(r"Total patches installed: (\d+)")


def parse_datapatch(output: ToolOutput) -> DatapatchRun:
    """A :class:`DatapatchRun` from ``datapatch -verbose`` (12.2 to 19c layouts, CDB or not).
    Raises :class:`UnreadableOutput` when the text is not datapatch output at all."""
    text = output.stdout + "\n" + output.stderr
    lines = text.splitlines()
    version = next((m[1] for ln in lines if (m := _DP_VERSION.match(ln.strip()))), None)
    if version is None:
        raise UnreadableOutput("not datapatch output: no 'SQL Patching tool version' line")
    actions: list[DatapatchAction] = []
    prereq: list[str] = []
    in_prereq = False
    for i, line in enumerate(lines):
        if (m := _DP_RESULT.match(line)) is not None:
            logfile, errors = _result_detail(lines[i + 1:])
            actions.append(DatapatchAction(int(m[1]), m[2], m[4], m[3] or "", logfile, errors))
        elif line.strip().startswith("Error: prereq checks failed"):
            in_prereq = True
        elif in_prereq and line.strip().startswith("Prereq check failed"):
            in_prereq = False
            prereq.append(line.strip())
        elif in_prereq and line.strip():
            prereq.append(line.strip())
    installed = next((int(m[1]) for ln in lines if (m := _DP_INSTALLED.search(ln))), None)
    return DatapatchRun(
        version=version, actions=tuple(actions), installed=installed,
        invocation_log=next((m[1] for ln in lines if (m := _DP_LOG.match(ln.strip()))), ""),
        completed=any(ln.strip().startswith("SQL Patching tool complete") for ln in lines),
        prereq_errors=tuple(prereq), rc=output.rc)


def _result_detail(rest: list[str]) -> tuple[str, tuple[str, ...]]:
    """The logfile line after a result and the error lines datapatch quotes under it."""
    if not rest or not (m := _DP_LOGFILE.match(rest[0])):
        return "", ()
    errors: list[str] = []
    if not rest[0].rstrip().endswith("(no errors)"):
        for line in rest[1:]:
            if not line.strip() or _DP_RESULT.match(line) or not line.startswith((" ", "\t")):
                break
            errors.append(line.strip())
        errors = errors or ["the logfile reports errors"]
    return m[1], tuple(errors)


# --- DBA_REGISTRY_SQLPATCH ---------------------------------------------------------------------

#: The SQL patch history of the database (in a CDB: of the container connected to; use
#: CDB_REGISTRY_SQLPATCH for all). SOURCE_/TARGET_VERSION exist from 18c on.
REGISTRY_SQLPATCH_SQL = """
SELECT patch_id, action, status, action_time, description, source_version, target_version
  FROM dba_registry_sqlpatch
 ORDER BY action_time
""".strip()

REGISTRY_COLUMNS = ("PATCH_ID", "ACTION", "STATUS", "ACTION_TIME", "DESCRIPTION",
                    "SOURCE_VERSION", "TARGET_VERSION")


@dataclass(frozen=True)
class SqlPatchEntry:
    """One install attempt (apply or rollback) DBA_REGISTRY_SQLPATCH recorded."""

    patch_id: int
    action: str  # APPLY / ROLLBACK
    status: str  # SUCCESS / WITH ERRORS / ...
    action_time: datetime  # TIMESTAMP, the database host's clock
    description: str
    source_version: str  # 19.20.0.0.0
    target_version: str  # 19.21.0.0.0


def sqlpatch_entry_from_row(row: Sequence[Any] | Mapping[str, Any]) -> SqlPatchEntry:
    """A row as python-oracledb returns it (tuple in REGISTRY_COLUMNS order) or a dict keyed
    by column name."""
    what = "dba_registry_sqlpatch"
    if isinstance(row, Mapping):
        upper = {str(k).upper(): v for k, v in row.items()}
        missing = [c for c in REGISTRY_COLUMNS if c not in upper]
        if missing:
            raise RowShapeError(what, tuple(row.values()), f"missing column(s) {missing}")
        values: Sequence[Any] = tuple(upper[c] for c in REGISTRY_COLUMNS)
    else:
        values = row
    if len(values) != len(REGISTRY_COLUMNS):
        raise RowShapeError(what, values, f"expected {len(REGISTRY_COLUMNS)} columns")
    patch_id, action, status, when, description, source, target = values
    if isinstance(patch_id, bool) or not isinstance(patch_id, int):
        raise RowShapeError(what, values, "PATCH_ID is not a whole number")
    if not isinstance(when, datetime):
        raise RowShapeError(what, values, "ACTION_TIME is not a TIMESTAMP")
    if not all(isinstance(v, str) for v in (action, status)):
        raise RowShapeError(what, values, "ACTION/STATUS is not text")
    return SqlPatchEntry(patch_id, action.upper(), status.upper(), when, description or "",
                         source or "", target or "")


def sqlpatch_findings(rows: Iterable[Sequence[Any] | Mapping[str, Any]], *, patch_id: int,
                      action: str = "APPLY", version: str | None = None,
                      subject: str = "") -> list[Finding]:
    """Empty when the newest registry entry of ``patch_id`` is ``action`` with STATUS SUCCESS
    (and, given ``version``, its TARGET_VERSION is that release). An older SUCCESS followed by
    a newer WITH ERRORS is an error: the newest attempt is what the dictionary holds."""
    entries = sorted((sqlpatch_entry_from_row(r) for r in rows), key=lambda e: e.action_time)
    mine = [e for e in entries if e.patch_id == patch_id]
    where = subject or f"patch {patch_id}"
    if not mine:
        return [Finding(CHECK_SQLPATCH, where, f"no DBA_REGISTRY_SQLPATCH entry for patch "
                                               f"{patch_id}: datapatch has not run for it")]
    newest = mine[-1]
    found = []
    if (newest.action, newest.status) != (action.upper(), "SUCCESS"):
        found.append(Finding(CHECK_SQLPATCH, where, f"newest entry is {newest.action} "
                             f"{newest.status} at {newest.action_time:%Y-%m-%d %H:%M:%S}, "
                             f"expected {action.upper()} SUCCESS"))
    if version is not None:
        try:
            matches = release_of(newest.target_version) == release_of(version)
        except ValueError:
            matches = False
        if not matches:
            found.append(Finding(CHECK_SQLPATCH, where, f"the SQL registry is at "
                                 f"{newest.target_version or '(no version)'}, expected {version}"))
    return found


# --- V$DATAGUARD_STATS ------------------------------------------------------------------------

#: Lags as a standby computes them (a primary returns no rows). TIME_COMPUTED and DATUM_TIME are
#: text in the standby's clock; an unchanging DATUM_TIME means no data arrives from the primary.
DATAGUARD_STATS_SQL = """
SELECT name, value, unit, time_computed, datum_time
  FROM v$dataguard_stats
 WHERE LOWER(name) IN ('apply lag', 'transport lag')
 ORDER BY name
""".strip()


@dataclass(frozen=True)
class DataGuardStat:
    name: str  # apply lag / transport lag
    lag: timedelta | None  # None: Oracle has no value (apply off, nothing received)
    raw_value: str
    time_computed: datetime | None  # the standby's clock
    datum_time: datetime | None  # when the data the lag is computed from arrived


def _standby_time(row: Sequence[Any], index: int) -> datetime | None:
    value = row[index]
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return datetime.strptime(str(value).strip(), "%m/%d/%Y %H:%M:%S")
    except ValueError:
        raise RowShapeError("v$dataguard_stats", row, f"column {index + 1} is not "
                            "MM/DD/YYYY HH24:MI:SS") from None


def dataguard_stat_from_row(row: Sequence[Any]) -> DataGuardStat:
    """A ``DATAGUARD_STATS_SQL`` row (tuple as python-oracledb returns it)."""
    if len(row) != 5 or not isinstance(row[0], str):
        raise RowShapeError("v$dataguard_stats", row, "expected NAME, VALUE, UNIT, "
                            "TIME_COMPUTED, DATUM_TIME")
    try:
        lag = parse_interval(row[1])
    except ValueError as exc:
        raise RowShapeError("v$dataguard_stats", row, str(exc)) from None
    return DataGuardStat(row[0].strip().lower(), lag, row[1] or "", _standby_time(row, 3),
                         _standby_time(row, 4))


def apply_lag_findings(stats: Iterable[DataGuardStat], *, limit: timedelta,
                       stale_after: timedelta = timedelta(minutes=1),
                       subject: str = "") -> list[Finding]:
    """Empty only when apply and transport lag are both known, at most ``limit`` and computed
    from data received at most ``stale_after`` before they were computed. A missing row, an
    empty value or stale data is a finding: an unknown lag is never taken for a small one."""
    by_name = {s.name: s for s in stats}
    found = []
    for name in ("apply lag", "transport lag"):
        stat = by_name.get(name)
        if stat is None:
            problem = (f"no {name} in v$dataguard_stats (not a standby, or nothing computed): "
                       "the lag is unknown")
        elif stat.lag is None:
            problem = f"{name} is empty (apply stopped or no redo received): the lag is unknown"
        elif stat.lag > limit:
            problem = f"{name} {stat.raw_value.strip()} is over the limit of {limit}"
        elif stat.datum_time is None or stat.time_computed is None:
            problem = f"{name} has no DATUM_TIME: the data it is computed from is of unknown age"
        elif stat.time_computed - stat.datum_time > stale_after:
            age = stat.time_computed - stat.datum_time
            problem = (f"{name} is computed from data received {age} before it was computed "
                       f"({stat.datum_time:%Y-%m-%d %H:%M:%S}): the standby receives nothing "
                       "from the primary")
        else:
            continue
        found.append(Finding(CHECK_DATAGUARD, subject, problem))
    return found
