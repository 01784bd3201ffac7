"""The pure helpers of bench_patch.py: every figure it reports is computed here, and
tests/unit/test_bench_patch.py checks them without a lab."""

from __future__ import annotations

import re
import statistics
from typing import Any


def gaps(times: list[float], min_gap: float = 0.0) -> list[tuple[float, float]]:
    """(start, length) of each gap between consecutive times of at least MIN_GAP seconds."""
    ordered = sorted(times)
    return [(a, b - a) for a, b in zip(ordered, ordered[1:], strict=False) if b - a >= min_gap]


def longest_gap(times: list[float]) -> tuple[float, float]:
    """(start, length) of the longest gap; (nan, 0.0) with fewer than two times."""
    found = gaps(times)
    return max(found, key=lambda g: g[1]) if found else (float("nan"), 0.0)


def lost_commits(acknowledged: list[int], present: set[int]) -> list[int]:
    """Acknowledged sequence numbers that the table does not hold."""
    return sorted(set(acknowledged) - present)


def server_outages(evidence: dict[str, dict[str, Any]], primary: str) -> list[float]:
    """The primary's write outages from its patch evidence: one per switchover hand-over, or
    the restart's single stop -> writable outage."""
    ev = evidence.get(primary) or {}
    hand_overs = (ev.get("switchover") or {}).get("hand_overs") or []
    if hand_overs:
        return [float(h["outage_s"]) for h in hand_overs]
    outage = ev.get("write_outage_s")
    return [] if outage in (None, "") else [float(outage)]


def parse_pg_versions(text: str) -> dict[str, str]:
    """``hisops lab pg-version`` output ("his-db-1: 15.20") as {host: version}."""
    out = {}
    for line in text.splitlines():
        host, sep, version = line.partition(":")
        if sep:
            out[host.strip()] = version.strip()
    return out


def parse_pgbench(stdout: str, stderr: str) -> dict[str, Any]:
    """What pgbench reports: processed and failed transactions, aborted clients and why."""
    def number(pattern: str) -> int | None:
        found = re.search(pattern, stdout)
        return int(found.group(1)) if found else None

    # pgbench 15: "client 0 script 0 aborted in command 4 query 0: FATAL:  terminating ...";
    # older: "client 0 aborted in command 4 (SQL) of script 0; perhaps the backend died ..."
    aborts = re.findall(r"client (\d+) (?:script \d+ )?aborted in command [^:;\n]*[:;] (.*)",
                        stderr)
    reasons = [" ".join(reason.split()) for _, reason in aborts]
    progress = [(float(t), float(tps)) for t, tps in
                re.findall(r"^progress: ([\d.]+) s, ([\d.]+) tps", stderr, re.MULTILINE)]
    busy = [t for t, tps in progress if tps > 0]
    return {
        "processed": number(r"number of transactions actually processed: (\d+)"),
        "failed": number(r"number of failed transactions: (\d+)"),
        "aborted_clients": len({client for client, _ in aborts}),
        "abort_reasons": sorted(set(reasons)),
        "run_aborted": "Run was aborted" in stderr,
        "summary_printed": "number of transactions actually processed" in stdout,
        "last_busy_progress_s": busy[-1] if busy else None,
    }


def verdict(value: float | None, target: float) -> str:
    return "n/a" if value is None else ("PASS" if value < target else "FAIL")


def listening_ports(ss_output: str, low: int, high: int) -> set[int]:
    """TCP ports in [LOW, HIGH) that ``ss -ltnH`` shows listening."""
    ports = set()
    for line in ss_output.splitlines():
        fields = line.split()
        if len(fields) >= 4:
            port = fields[3].rpartition(":")[2]
            if port.isdigit() and low <= int(port) < high:
                ports.add(int(port))
    return ports


def replace_section(text: str, heading: str, body: str) -> str:
    """TEXT with the section under HEADING (up to the next ``## ``) replaced by BODY, or
    BODY appended when the heading is absent."""
    block = f"{heading}\n\n{body.strip()}\n"
    start = text.find(f"\n{heading}\n")
    if start < 0:
        return text.rstrip("\n") + "\n\n" + block
    nxt = text.find("\n## ", start + len(heading) + 2)
    rest = "" if nxt < 0 else "\n" + text[nxt + 1:]
    return text[:start + 1] + block + rest


def spread(values: list[float], digits: int = 2) -> str:
    """'3.20' for one value, '3.20 (2.90-3.60)' (median, range) for several."""
    if not values:
        return "-"
    fmt = f"{{:.{digits}f}}"
    if len(values) == 1:
        return fmt.format(values[0])
    return (fmt.format(statistics.median(values))
            + f" ({fmt.format(min(values))}-{fmt.format(max(values))})")


def overlapping_gap(gap_list: list[tuple[float, float]], begin: float, end: float,
                    ) -> tuple[float, float] | None:
    """The gap (start, length) overlapping the window [BEGIN, END] most, if any does."""
    def overlap(gap: tuple[float, float]) -> float:
        return min(gap[0] + gap[1], end) - max(gap[0], begin)

    best = max(gap_list, key=overlap, default=None)
    return best if best is not None and overlap(best) > 0 else None
