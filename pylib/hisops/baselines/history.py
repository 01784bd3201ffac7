"""Drift over time, read back from the journal's ``baseline.check`` records.

``history`` answers "since when has this item drifted on this host, and when did it stop";
``diff`` compares two checks item by item. Both read the reports exactly as they were
journaled (hash-chained), so what is shown to the hospital is what was seen then.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hisops.baselines.check import RECORD_KIND
from hisops.errors import InputError
from hisops.journal import Journal


@dataclass
class Episode:
    started: str  # first check that saw the drift
    stopped: str | None = None  # first later check that saw it hold (None: still drifting)
    actual: str = ""


@dataclass
class ItemHistory:
    baseline: str
    item: str
    title: str
    severity: int
    checks: int = 0
    status: str = ""  # at the last check
    last_seen: str = ""
    episodes: list[Episode] = field(default_factory=list)

    @property
    def drifting_since(self) -> str | None:
        if self.episodes and self.episodes[-1].stopped is None:
            return self.episodes[-1].started
        return None


def reports(journal: Journal) -> list[dict[str, Any]]:
    return [r.payload for r in journal.records(kinds=[RECORD_KIND])]


def host_history(journal: Journal, host: str, baseline: str | None = None) -> list[ItemHistory]:
    """One entry per (baseline, item) ever checked on HOST, in first-seen order."""
    found: dict[tuple[str, str], ItemHistory] = {}
    seen_host = False
    for report in reports(journal):
        name = report["baseline"]["name"]
        if baseline is not None and name != baseline:
            continue
        when = report["started_at"]
        for entry in report["hosts"]:
            if entry["host"] != host or entry.get("error"):
                continue
            seen_host = True
            for row in entry["results"]:
                key = (name, row["item"])
                hist = found.setdefault(key, ItemHistory(name, row["item"], row["title"],
                                                         row["severity"]))
                hist.checks += 1
                hist.status, hist.last_seen = row["status"], when
                drifting = row["status"] == "drift"
                open_episode = hist.episodes and hist.episodes[-1].stopped is None
                if drifting and not open_episode:
                    hist.episodes.append(Episode(started=when, actual=row["actual"]))
                elif drifting and open_episode:
                    hist.episodes[-1].actual = row["actual"]
                elif row["status"] == "ok" and open_episode:
                    hist.episodes[-1].stopped = when
    if not seen_host:
        which = f" against baseline {baseline}" if baseline else ""
        raise InputError(f"no baseline check of host {host}{which} in the journal "
                         "(run: hisops baseline check BASELINE)")
    return list(found.values())


def find_report(journal: Journal, run_id: str) -> dict[str, Any]:
    for record in journal.records(run_id, kinds=[RECORD_KIND]):
        return record.payload
    raise InputError(f"no baseline check {run_id} in the journal (see: hisops baseline "
                     "history HOST, or hisops baseline check --json)")


def diff(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """Changes from check A to check B: one row per (host, item) whose status or value moved."""
    def index(report: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
        return {(h["host"], r["item"]): r for h in report["hosts"] for r in h["results"]}

    before, after = index(a), index(b)
    rows = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        old_status = old["status"] if old else "-"
        new_status = new["status"] if new else "-"
        old_actual = old["actual"] if old else ""
        new_actual = new["actual"] if new else ""
        if old_status == new_status and old_actual == new_actual:
            continue
        row = new or old
        assert row is not None  # noqa: S101 - the key came from one of them
        rows.append({"host": key[0], "item": key[1], "severity": row["severity"],
                     "title": row["title"], "change": _change(old_status, new_status),
                     "before": old_status, "after": new_status,
                     "actual_before": old_actual, "actual_after": new_actual})
    return sorted(rows, key=lambda r: (r["severity"], r["host"], r["item"]))


def _change(old: str, new: str) -> str:
    if old == new:
        return "value changed"
    if new == "drift":
        return "started drifting"
    if old == "drift" and new == "ok":
        return "fixed"
    if new == "-":
        return "no longer checked"
    if old == "-":
        return "newly checked"
    return f"{old} -> {new}"
