"""``pg_patch_preflight``: is every host fit to be patched, and what will the patch do?

The guard of the patch-postgres runbook and the table ``hisops plan patch-postgres`` shows:
per host, in patch order (standbys and replicas first, primaries last), the live role, the
installed and running versions, the target, what will happen, and the outage to expect (the
last one measured on that host, from the journal). It refuses, before anything changes, when:

* a host cannot be probed, or its cluster is not running (an interrupted run: resume it);
* a host's live role contradicts the runbook (a "primary" in recovery, a "standby" that is not);
* a standby does not stream, or replication lags more than ``max_lag``;
* a transaction has been open longer than ``max_xact_age`` (the patch's fast shutdown would
  roll it back);
* the patch repository lacks the target media or the rollback media of a host, or a file's
  sha256 differs from the manifest;
* a host lacks the disk space to stage and install the packages;
* a switchover is asked for and the standby to promote does not stream from the primary, or it
  would strand logical replicas (no switch back while the primary has logical slots).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from hisops.checks import BadArgument, CheckContext, CheckResult, CheckSpec
from hisops.journal.records import EVIDENCE
from hisops.patching import media
from hisops.patching.probe import HostState, probe_hosts
from hisops.runbook.durations import parse_duration

log = logging.getLogger(__name__)

COLUMNS = ("#", "host", "role", "version", "action", "outage", "lag", "xact")
DEFAULTS = {"max_lag": "16MB", "max_xact_age": "5m", "strategy": "restart",
            "switch_back": True, "switchover_standby": "", "primary": ""}
# Staging keeps the target and the rollback media; installing unpacks about three times the
# .deb size under /usr: a conservative need, not a measurement.
STAGE_FACTOR, INSTALL_FACTOR = 1.2, 4.0
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|kB|KB|MB|GB|TB)?\s*$")
_UNITS = {None: 1, "B": 1, "kB": 1024, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}


def parse_size(value: Any) -> int:
    """Bytes from 16777216, "16MB", "1.5GB" (PostgreSQL's 1024-based units)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    match = None if isinstance(value, bool) else _SIZE.match(str(value))
    if not match:
        raise ValueError(f"{value!r} is not a size (use bytes or 16MB, 1GB)")
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def validate(args: Mapping[str, Any]) -> None:
    target = str(args.get("target_version", ""))
    if not re.fullmatch(r"\d+\.\d+", target):
        raise BadArgument("target_version", f"{target!r} is not a minor release like 15.20")
    for name, parse in (("max_lag", parse_size), ("max_xact_age", parse_duration)):
        try:
            parse(args.get(name, DEFAULTS[name]))
        except ValueError as exc:
            raise BadArgument(name, str(exc)) from None
    if str(args.get("strategy", "restart")) not in ("restart", "switchover"):
        raise BadArgument("strategy", "must be restart or switchover")


def _human_bytes(value: float | None) -> str:
    if value is None:
        return "-"
    for unit, size in (("GB", 1024**3), ("MB", 1024**2), ("kB", 1024)):
        if value >= size:
            return f"{value / size:.1f} {unit}"
    return f"{int(value)} B"


def measured_outages(ctx: CheckContext) -> dict[tuple[str, str], float]:
    """The last measured write outage per (host, strategy) from passed patches in the journal."""
    if ctx.journal is None:
        return {}
    out: dict[tuple[str, str], float] = {}
    for rec in sorted(ctx.journal.records(kinds=[EVIDENCE]), key=lambda r: r.seq):
        if rec.payload.get("type") != "patch":
            continue
        ev = rec.payload.get("evidence")
        if not isinstance(ev, dict) or ev.get("passed") is not True:
            continue
        outage = ev.get("write_outage_s")
        if isinstance(outage, int | float):
            out[(str(ev.get("host")), str(ev.get("strategy")))] = float(outage)
    return out


class _Preflight:
    def __init__(self, ctx: CheckContext) -> None:
        self.ctx = ctx
        args = {**DEFAULTS, **ctx.args}
        self.target = str(args["target_version"])
        self.max_lag = parse_size(args["max_lag"])
        self.max_xact_s = parse_duration(args["max_xact_age"])
        self.strategy = str(args["strategy"])
        self.switch_back = _bool(args["switch_back"])
        self.peer = str(args["switchover_standby"] or "")
        primary_pattern = str(args["primary"] or "")
        self.primaries = (set(ctx.inventory.hosts(primary_pattern)) if primary_pattern
                          else set())
        # standbys and replicas first, primaries last, each in inventory order
        self.order = ([h for h in ctx.hosts if h not in self.primaries]
                      + [h for h in ctx.hosts if h in self.primaries])
        self.problems: list[str] = []
        self.notes: list[str] = []

    def needs_patch(self, state: HostState) -> bool:
        return not (media.server_version_of(state.installed) == self.target
                    and state.version == self.target)

    def run(self) -> CheckResult:
        states = probe_hosts(self.order, self.ctx.inventory)
        todo = [s for s in states.values() if not s.error and self.needs_patch(s)]
        for state in states.values():
            if state.error:
                self.problems.append(f"{state.host}: cannot probe: {state.error}")
        if not todo and not self.problems:
            self.notes.append(f"every host runs PostgreSQL {self.target}: nothing to change")
        release = self._media(todo)
        if todo:
            for state in states.values():
                if not state.error:
                    self._host(state, release)
            self._switchover(states)
        outages = measured_outages(self.ctx)
        rows = tuple(self._row(i, states[h], outages) for i, h in enumerate(self.order, 1))
        return CheckResult(problems=tuple(self.problems), notes=tuple(self.notes),
                           columns=COLUMNS, rows=rows,
                           data={"target_version": self.target,
                                 "hosts": {h: _summary(s) for h, s in states.items()}})

    def _media(self, todo: list[HostState]) -> media.Release | None:
        if not todo:
            return None
        repos = {str(self.ctx.inventory.host_vars(s.host).get("pg_patch_repository") or "")
                 for s in todo}
        if "" in repos or len(repos) != 1:
            self.problems.append("the inventory must name one local patch repository "
                                 "(pg_patch_repository) for the hosts to patch")
            return None
        repo = repos.pop()
        try:
            release = media.find_release(repo, server_version=self.target)
        except media.MediaError as exc:
            self.problems.append(str(exc))
            return None
        self.problems += media.verify_release(release)
        rollbacks = {s.installed for s in todo if s.installed}
        for installed in sorted(rollbacks):
            if media.server_version_of(installed) == self.target:
                continue  # installed, not yet restarted: the running version is the rollback
            try:
                back = media.find_release(repo, package_version=installed)
                self.problems += media.verify_release(back)
            except media.MediaError:
                hosts = ", ".join(s.host for s in todo if s.installed == installed)
                self.problems.append(f"no rollback media for {installed} (on {hosts}) in {repo}: "
                                     "a patch that cannot be undone is refused")
        self.notes.append(f"media: {release.package_version} from {repo} "
                          f"({_human_bytes(release.total_bytes)}, sha256 checked)")
        return release

    def _host(self, s: HostState, release: media.Release | None) -> None:
        if not s.running:
            self.problems.append(f"{s.host}: PostgreSQL is not running (an interrupted patch? "
                                 "resume that run: hisops runs)")
            return
        listed_primary = s.host in self.primaries
        if listed_primary and s.in_recovery:
            self.problems.append(f"{s.host} is listed as a primary but runs as a standby (an "
                                 "earlier switchover without switch-back?): fix the inventory")
        if not listed_primary and s.role == "primary":
            self.problems.append(f"{s.host} is listed as a standby or replica but is a primary")
        if s.in_recovery and s.receiver_status != "streaming":
            self.problems.append(f"{s.host}: the standby does not stream "
                                 f"(wal receiver: {s.receiver_status or 'none'})")
        if s.lag_bytes is not None and s.lag_bytes > self.max_lag:
            self.problems.append(f"{s.host}: replay lags {_human_bytes(s.lag_bytes)} "
                                 f"(limit {_human_bytes(self.max_lag)})")
        for replica in s.replicas:
            lag = replica.get("lag_bytes")
            if isinstance(lag, int | float) and lag > self.max_lag:
                self.problems.append(f"{s.host}: replica {replica.get('name')} lags "
                                     f"{_human_bytes(lag)} (limit {_human_bytes(self.max_lag)})")
        if s.oldest_xact_s is not None and s.oldest_xact_s > self.max_xact_s:
            who = s.oldest_xact
            self.problems.append(
                f"{s.host}: a transaction has been open {s.oldest_xact_s:.0f} s (pid "
                f"{who.get('pid')}, {who.get('user')}, {who.get('application') or '-'}; limit "
                f"{self.max_xact_s} s): the patch's fast shutdown would roll it back")
        if release is not None and self.needs_patch(s):
            media_bytes = release.total_bytes * 2  # target + rollback
            if s.free_stage_bytes is not None and s.free_stage_bytes < media_bytes * STAGE_FACTOR:
                self.problems.append(f"{s.host}: {_human_bytes(s.free_stage_bytes)} free for the "
                                     f"media, {_human_bytes(media_bytes * STAGE_FACTOR)} needed")
            need = release.total_bytes * INSTALL_FACTOR
            if s.free_usr_bytes is not None and s.free_usr_bytes < need:
                self.problems.append(f"{s.host}: {_human_bytes(s.free_usr_bytes)} free under "
                                     f"/usr, {_human_bytes(need)} needed to install")

    def _switchover(self, states: dict[str, HostState]) -> None:
        if self.strategy != "switchover":
            return
        primaries = [states[h] for h in self.order if h in self.primaries]
        peer = states.get(self.peer)
        if peer is None:
            self.problems.append(f"switchover: the standby to promote '{self.peer}' is not "
                                 "among the hosts patched first")
            return
        for primary in primaries:
            port = self.ctx.inventory.host_vars(primary.host).get("pg_port", 5432)
            if not peer.in_recovery or peer.receiver_port != int(port):
                self.problems.append(f"switchover: {self.peer} does not stream from "
                                     f"{primary.host}")
            archiving = primary.archive_mode not in ("", "off")
            if archiving and not self.switch_back and peer.archive_mode in ("", "off"):
                self.problems.append(
                    f"switchover without switch-back would leave {self.peer} the primary with "
                    f"WAL archiving off ({primary.host} archives): configure its backups first")
            if primary.logical_slots and not self.switch_back:
                self.problems.append(
                    f"switchover without switch-back would strand the logical replicas of "
                    f"{primary.host} (slots {', '.join(primary.logical_slots)}): physical "
                    "standbys do not carry logical slots")

    def _row(self, index: int, s: HostState,
             outages: dict[tuple[str, str], float]) -> dict[str, Any]:
        if s.error:
            return {"#": index, "host": s.host, "role": "?", "version": "?",
                    "action": "cannot probe", "outage": "-", "lag": "-", "xact": "-"}
        installed = media.server_version_of(s.installed) if s.installed else "?"
        version = s.version or "stopped"
        if installed != version:
            version += f" ({installed} installed)"
        is_primary = s.host in self.primaries
        strategy = self.strategy if is_primary else "restart"
        if not self.needs_patch(s):
            action, outage = "none: at target", "-"
        else:
            verb = "restart" if installed == self.target else "patch"
            action = f"{verb} to {self.target} by {strategy}"
            measured = outages.get((s.host, strategy))
            outage = f"{measured:.1f} s measured" if measured is not None else "not measured"
            if not is_primary:
                outage += " (reads)"
        lag = (_human_bytes(s.lag_bytes) if s.lag_bytes is not None else
               ", ".join(f"{r.get('name')} {_human_bytes(r.get('lag_bytes'))}"
                         for r in s.replicas) or "-")
        xact = f"{s.oldest_xact_s:.0f} s" if s.oldest_xact_s is not None else "-"
        return {"#": index, "host": s.host, "role": s.role, "version": version,
                "action": action, "outage": outage, "lag": lag, "xact": xact}


def _summary(s: HostState) -> dict[str, Any]:
    return {"installed": s.installed, "running": s.version, "role": s.role,
            "error": s.error}


def pg_patch_preflight(ctx: CheckContext) -> CheckResult:
    return _Preflight(ctx).run()


SPEC = CheckSpec(
    name="pg_patch_preflight",
    func=pg_patch_preflight,
    required=frozenset({"target_version"}),
    optional=frozenset(DEFAULTS),
    summary="hosts fit to patch: role, replication lag, open transactions, disk, media "
            "with sha256 and rollback media",
    validate=validate,
)
