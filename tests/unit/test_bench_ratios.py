"""The pure helpers behind `make bench`'s table (benchmarks/_ratios.py): each benchmark's ratio
rows and their verdicts, and the markdown/text tables bench_all.py writes."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

HELPERS = Path(__file__).resolve().parents[2] / "benchmarks" / "_ratios.py"


@pytest.fixture(scope="module")
def rt() -> Iterator[ModuleType]:
    spec = importlib.util.spec_from_file_location("_ratios", HELPERS)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["_ratios"] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules["_ratios"]


def test_ratio_row_divides_and_judges_both_senses(rt: ModuleType) -> None:
    row = rt.ratio_row("x", 11.5, "y", 10.0, target=1.15)
    assert row["ratio"] == 1.15
    assert row["verdict"] == "PASS"
    assert row["target"] == "<= 1.15"
    assert rt.ratio_row("x", 11.6, "y", 10.0, target=1.15)["verdict"] == "MISS"
    assert rt.ratio_row("x", 40.0, "y", 50.0, target=0.8, sense=">=")["verdict"] == "PASS"
    assert rt.ratio_row("x", 39.0, "y", 50.0, target=0.8, sense=">=")["verdict"] == "MISS"


def test_ratio_row_without_a_value_misses_its_target(rt: ModuleType) -> None:
    row = rt.ratio_row("x", None, "y", 10.0, target=1.0)
    assert row["ratio"] is None
    assert row["verdict"] == "MISS"
    assert rt.ratio_row("x", 3.0, "y", 0.0)["ratio"] is None  # no division by zero
    assert rt.ratio_row("x", 3.0, "y", 2.0)["verdict"] is None  # no target, no verdict
    with pytest.raises(ValueError, match="sense"):
        rt.ratio_row("x", 1.0, "y", 1.0, target=1.0, sense="<")


def test_engine_rows(rt: ModuleType) -> None:
    rows = rt.engine_ratios({
        "overhead": {"steps": 10, "hisops_median_s": 36.0, "ansible_playbook_median_s": 30.0,
                     "ansible_runner_loop_median_s": 35.0, "target_ratio": 1.15},
        "plan_1000_hosts": {"hosts": 1000, "plan_median_s": 1.5, "target_s": 2.0}})
    assert [(r["anchor"], r["ratio"], r["verdict"]) for r in rows] == [
        ("10 x ansible-playbook", 1.2, "MISS"),
        ("10 x bare ansible_runner.run()", 1.029, None),
        ("target", 0.75, "PASS")]


def test_backup_rows_use_throughput_and_the_disk(rt: ModuleType) -> None:
    rows = rt.backup_ratios({
        "backup": {"database_bytes": 200_000_000}, "bare_restore_s": [4.0, 4.4],
        "hisops_restore_s": [3.9, 4.1], "drill_run_s": [43.0, 45.0], "bare_mbps": 50.0,
        "hisops_mbps": 50.0, "write_mbps": 400.0})
    by_anchor = {r["anchor"]: r for r in rows}
    assert by_anchor["bare pgbackrest restore"]["ratio"] == 1.0
    assert by_anchor["bare pgbackrest restore"]["verdict"] == "PASS"
    assert by_anchor["disk sequential write (dd, fdatasync)"]["ratio"] == 0.125
    assert by_anchor["target"]["measured"] == 44.0


def test_masking_rows_scale_the_target_to_the_patients_run(rt: ModuleType) -> None:
    # 200,000 patients, 800,000 rows in 12 s: the target for 1M patients (4M rows) in 60 s is
    # 66,667 rows/s, the same per row whatever the size
    run = {"report": {"seconds": 12.0, "rows": 800_000}}
    rows = rt.masking_ratios({"patients": 200_000, "results": {"parallel": [run]}}, 60.0)
    assert len(rows) == 1
    assert rows[0]["anchor_value"] == pytest.approx(4_000_000 / 60, abs=0.01)
    assert rows[0]["ratio"] == pytest.approx(66_666.667 / 66_666.667, abs=0.001)
    slow = {"report": {"seconds": 13.0, "rows": 800_000}}
    assert rt.masking_ratios({"patients": 200_000, "results": {"parallel": [slow]}},
                             60.0)[0]["verdict"] == "MISS"


def test_patch_rows_take_the_worst_run(rt: ModuleType) -> None:
    rows = rt.patch_ratios({"runs": {"restart": [{"client_outage_s": 4.0},
                                                 {"client_outage_s": 11.0}],
                                     "switchover": [{"client_outage_s": 0.8}]}},
                           {"restart": 10.0, "switchover": 5.0})
    assert [(r["measured"], r["verdict"]) for r in rows] == [(11.0, "MISS"), (0.8, "PASS")]


def test_fanout_rows(rt: ModuleType) -> None:
    def size(wall: float) -> dict[str, dict[str, float]]:
        return {"wall_s": {"median": wall}}

    figures = {"sizes": {"1": size(1.4), "5": size(1.6), "20": size(2.8)},
               "growth": {"wall_per_host_s_5_to_20": 0.08}}
    rows = rt.fanout_ratios("inspection", figures, 3.0)
    assert [(r["ratio"], r["verdict"]) for r in rows] == [
        (1.143, None), (2.0, "PASS"), (0.057, None)]


def test_tables_hold_every_row(rt: ModuleType) -> None:
    rows = [rt.ratio_row("a figure", 2.0, "an anchor", 1.0, target=3.0),
            rt.ratio_row("masking", 70_000.0, "target", 66_667.0, unit="rows/s")]
    md = rt.markdown_table(rows).splitlines()
    assert md[0] == ("| figure | anchor | measured | anchor value | ratio | target | "
                     "verdict |")
    assert md[2] == "| a figure | an anchor | 2.00 s | 1.00 s | 2.00 | <= 3 | PASS |"
    assert md[3] == "| masking | target | 70,000 rows/s | 66,667 rows/s | 1.05 | - | - |"
    assert len(rt.text_table(rows).splitlines()) == 3


def test_ansible_rows_use_the_paired_ratio(rt: ModuleType) -> None:
    # the medians alone would say 0.8; the pairs (each beside a shipped run) say 1.1
    variants = {"shipped": {"median_s": 50.0, "anchor_median_s": 50.0, "ratio": 1.0},
                "pipelining off": {"median_s": 40.0, "anchor_median_s": 36.0, "ratio": 1.1}}
    rows = rt.ansible_ratios(variants, "shipped")
    assert [(r["name"], r["ratio"], r["anchor_value"]) for r in rows] == [
        ("ansible job, 20 hosts: pipelining off", 1.1, 36.0)]
