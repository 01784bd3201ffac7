"""The machine-readable ``ratios`` section every benchmark's JSON carries, and its table.

A ratio row names one figure, the value measured, the anchor it is compared with (a side
measured in the same run, or a target when the figure has no other side), the anchor's value,
the ratio measured / anchor, the target and PASS/MISS. ``bench_all.py`` collects the rows of
every benchmark into benchmarks/results.json and results.md. Pure standard library.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

# how a ratio meets its target: "<=" (smaller is better) or ">=" (larger is better)
Row = dict[str, Any]


def ratio_row(name: str, measured: float | None, anchor: str, anchor_value: float | None, *,
              target: float | None = None, sense: str = "<=", unit: str = "s",
              ratio: float | None = None) -> Row:
    """One row; the ratio is measured / anchor_value unless given. The verdict judges the
    ratio against TARGET in SENSE (None when there is no target or no value)."""
    if sense not in ("<=", ">="):
        raise ValueError(f"sense must be '<=' or '>=', not {sense!r}")
    if ratio is None and measured is not None and anchor_value:
        ratio = measured / anchor_value
    ratio = None if ratio is None else round(ratio, 3)
    verdict: str | None = None
    if target is not None:
        if ratio is None:
            verdict = "MISS"
        else:
            verdict = "PASS" if (ratio <= target if sense == "<=" else ratio >= target) \
                else "MISS"
    return {"name": name, "measured": _r(measured), "unit": unit, "anchor": anchor,
            "anchor_value": _r(anchor_value), "ratio": ratio,
            "target": None if target is None else f"{sense} {target:g}", "verdict": verdict}


def _r(value: float | None) -> float | None:
    return None if value is None else round(float(value), 3)


def median(values: Iterable[float]) -> float | None:
    vals = [float(v) for v in values if v is not None]
    return statistics.median(vals) if vals else None


# --- the rows of each benchmark, from its own results dict -------------------------------------

def engine_ratios(results: Mapping[str, Any]) -> list[Row]:
    rows: list[Row] = []
    over = results.get("overhead")
    if over:
        rows.append(ratio_row(
            f"orchestration: hisops run of {over['steps']} playbooks",
            over["hisops_median_s"], f"{over['steps']} x ansible-playbook",
            over["ansible_playbook_median_s"], target=over["target_ratio"]))
        rows.append(ratio_row(
            f"orchestration: hisops run of {over['steps']} playbooks",
            over["hisops_median_s"], f"{over['steps']} x bare ansible_runner.run()",
            over["ansible_runner_loop_median_s"]))
    plan = results.get("plan_1000_hosts")
    if plan:
        rows.append(ratio_row(f"hisops plan, {plan['hosts']} hosts", plan["plan_median_s"],
                              "target", plan["target_s"], target=1.0))
    return rows


def fanout_ratios(kind: str, figures: Mapping[str, Any], target_20: float | None) -> list[Row]:
    """inspection / baseline check: 5 and 20 hosts against 1 host (median wall, fresh CLI)."""
    sizes = figures["sizes"]
    one = sizes["1"]["wall_s"]["median"]
    rows = [ratio_row(f"{kind}, {n} hosts (wall)", sizes[str(n)]["wall_s"]["median"],
                      f"{kind}, 1 host", one, target=target_20 if n == 20 else None)
            for n in (5, 20)]
    growth = figures.get("growth", {})
    per_host = growth.get("wall_per_host_s_5_to_20")
    if per_host is not None:
        rows.append(ratio_row(f"{kind}: wall added per host (5 -> 20)", per_host,
                              f"{kind}, 1 host", one))
    return rows


def backup_ratios(results: Mapping[str, Any]) -> list[Row]:
    rows = [ratio_row("restore-verify: hisops restore phase throughput",
                      results["hisops_mbps"], "bare pgbackrest restore",
                      results["bare_mbps"], unit="MB/s", target=0.8, sense=">="),
            ratio_row("restore-verify: hisops restore phase throughput",
                      results["hisops_mbps"], "disk sequential write (dd, fdatasync)",
                      results["write_mbps"], unit="MB/s")]
    whole = median(results["drill_run_s"])
    rows.append(ratio_row("whole verify-backup run", whole, "target", 180.0, target=1.0))
    return rows


def masking_ratios(results: Mapping[str, Any], target_s: float) -> list[Row]:
    rows: list[Row] = []
    patients = int(results["patients"])
    # the target is 1,000,000 patients + visits in TARGET_S: scale it to the patients run
    target_rows_s = None
    secs: dict[str, float] = {}
    for mode, runs in results["results"].items():
        if not runs:
            continue
        s = median(r["report"]["seconds"] for r in runs)
        rows_n = runs[0]["report"]["rows"]
        if s is None:
            continue
        secs[mode] = s
        if target_rows_s is None:
            target_rows_s = rows_n / target_s * (1_000_000 / patients) if patients else None
        rows.append(ratio_row(f"masking ({mode}), {patients:,d} patients: rows/s",
                              rows_n / s, f"target ({target_s:g} s for 1,000,000 patients)",
                              target_rows_s, unit="rows/s", target=1.0, sense=">="))
    if "parallel" in secs and "serial" in secs:
        rows.append(ratio_row("masking parallel (seconds)", secs["parallel"],
                              "masking serial", secs["serial"]))
    return rows


def patch_ratios(results: Mapping[str, Any], targets: Mapping[str, float]) -> list[Row]:
    rows: list[Row] = []
    for strategy, runs in results["runs"].items():
        if not runs:
            continue
        outage = max(float(r["client_outage_s"]) for r in runs)
        target = targets.get(strategy)
        rows.append(ratio_row(f"patch {strategy}: client-seen write outage", outage,
                              "target", target, target=1.0 if target else None))
    return rows


def ansible_ratios(variants: Mapping[str, Any], anchor: str) -> list[Row]:
    """Each variant against the shipped runs it was paired with: the ratio is the median of
    the per-pair ratios (bench_ansible.py), not a ratio of medians."""
    return [ratio_row(f"ansible job, 20 hosts: {name}", v["median_s"],
                      f"ansible job: {anchor} (paired runs)", v["anchor_median_s"],
                      ratio=v["ratio"])
            for name, v in variants.items() if name != anchor]


# --- the table -------------------------------------------------------------------------------

COLUMNS = ("figure", "anchor", "measured", "anchor value", "ratio", "target", "verdict")


def _fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        text = f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.3g}" if abs(value) < 1 \
            else f"{value:.2f}"
        return f"{text} {unit}".strip()
    return str(value)


def table_rows(rows: Sequence[Row]) -> list[list[str]]:
    return [[r["name"], r["anchor"], _fmt(r["measured"], r.get("unit", "")),
             _fmt(r["anchor_value"], r.get("unit", "")), _fmt(r["ratio"]),
             r["target"] or "-", r["verdict"] or "-"] for r in rows]


def markdown_table(rows: Sequence[Row]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
    lines += ["| " + " | ".join(cells) + " |" for cells in table_rows(rows)]
    return "\n".join(lines)


def text_table(rows: Sequence[Row]) -> str:
    body = [list(COLUMNS), *table_rows(rows)]
    widths = [max(len(r[i]) for r in body) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                     for r in body)
