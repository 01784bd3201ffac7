"""The pure helpers of benchmarks/bench_patch.py: the figures it reports come from these."""

from __future__ import annotations

import importlib.util
import math
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_patch.py"


@pytest.fixture(scope="module")
def bench() -> Iterator[ModuleType]:
    # as when it runs as a script: its folder (with _patch_metrics.py) is on sys.path
    sys.path.insert(0, str(BENCH.parent))
    spec = importlib.util.spec_from_file_location("bench_patch", BENCH)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_patch"] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules["bench_patch"]
        sys.path.remove(str(BENCH.parent))


def test_longest_gap_is_the_client_seen_outage(bench: ModuleType) -> None:
    acks = [10.0, 10.01, 10.02, 13.52, 13.53, 14.0]  # out of order is fine too
    assert bench.longest_gap(list(reversed(acks))) == (10.02, pytest.approx(3.5))
    assert bench.gaps(acks, 0.4) == [(10.02, pytest.approx(3.5)), (13.53, pytest.approx(0.47))]


def test_longest_gap_of_too_few_commits_is_zero(bench: ModuleType) -> None:
    start, length = bench.longest_gap([5.0])
    assert math.isnan(start)
    assert length == 0.0


def test_lost_commits_are_acknowledged_rows_missing_from_the_table(bench: ModuleType) -> None:
    # 4 failed in doubt and is present anyway: not lost; 5 was acknowledged and is gone: lost
    assert bench.lost_commits([1, 2, 3, 5, 6], {1, 2, 3, 4, 6}) == [5]
    assert bench.lost_commits([1, 2], {1, 2, 3}) == []


def test_server_outages_restart_and_switchover(bench: ModuleType) -> None:
    restart = {"his-db-1": {"write_outage_s": "2.314", "switchover": {}},
               "his-db-2": {"write_outage_s": 1.9}}
    assert bench.server_outages(restart, "his-db-1") == [2.314]
    switchover = {"his-db-1": {"write_outage_s": 1.2, "switchover": {"hand_overs": [
        {"to": "his-db-2", "outage_s": 0.8}, {"to": "his-db-1", "outage_s": 1.2}]}}}
    assert bench.server_outages(switchover, "his-db-1") == [0.8, 1.2]
    assert bench.server_outages({"his-db-1": {"write_outage_s": None}}, "his-db-1") == []
    assert bench.server_outages({}, "his-db-1") == []


def test_parse_pg_versions(bench: ModuleType) -> None:
    text = "his-db-1: 15.20\nhis-db-2: 15.20\nhis-db-3: not answering\n"
    assert bench.parse_pg_versions(text) == {"his-db-1": "15.20", "his-db-2": "15.20",
                                             "his-db-3": "not answering"}


PGBENCH_OUT = """\
number of clients: 2
number of transactions actually processed: 137
number of failed transactions: 0 (0.000%)
tps = 44.869970 (without initial connection time)
"""
PGBENCH_ERR = """\
progress: 1.0 s, 51.0 tps, lat 3.469 ms stddev 1.323, 0 failed, lag 0.129 ms
progress: 2.0 s, 43.0 tps, lat 5.113 ms stddev 4.625, 0 failed, lag 0.919 ms
progress: 3.0 s, 0.0 tps, lat 0.000 ms stddev 0.000, 0 failed, lag 0.000 ms
pgbench: error: client 0 script 0 aborted in command 4 query 0: FATAL:  terminating connection due to administrator command
pgbench: error: client 1 script 0 aborted in command 4 query 0: FATAL:  terminating connection due to administrator command
pgbench: error: Run was aborted; the above results are incomplete.
"""  # noqa: E501 - pgbench's own lines


def test_parse_pgbench_reports_aborted_clients_honestly(bench: ModuleType) -> None:
    got = bench.parse_pgbench(PGBENCH_OUT, PGBENCH_ERR)
    assert got["processed"] == 137
    assert got["failed"] == 0
    assert got["aborted_clients"] == 2
    assert got["run_aborted"] is True
    assert got["abort_reasons"] == ["FATAL: terminating connection due to administrator command"]
    assert got["last_busy_progress_s"] == 2.0


def test_parse_pgbench_killed_without_summary(bench: ModuleType) -> None:
    got = bench.parse_pgbench("", "progress: 1.0 s, 50.0 tps, lat 3 ms stddev 1, 0 failed\n")
    assert got["processed"] is None
    assert got["summary_printed"] is False
    assert got["aborted_clients"] == 0


def test_verdict_is_strictly_below_the_target(bench: ModuleType) -> None:
    assert bench.verdict(4.99, 5.0) == "PASS"
    assert bench.verdict(5.0, 5.0) == "FAIL"
    assert bench.verdict(None, 5.0) == "n/a"


def test_listening_ports_in_range(bench: ModuleType) -> None:
    import _patch_metrics

    ss = ("LISTEN 0 128 127.0.0.1:23401 0.0.0.0:*\nLISTEN 0 128 127.0.0.1:22201 0.0.0.0:*\n"
          "LISTEN 0 128 [::1]:23699 [::]:*\nLISTEN 0 128 127.0.0.1:23700 0.0.0.0:*\n")
    assert _patch_metrics.listening_ports(ss, 23400, 23700) == {23401, 23699}


def test_replace_section_replaces_only_its_own_section(bench: ModuleType) -> None:
    text = "# Benchmarks\n\nintro\n\n## Patching (issue 5)\n\nold\nfigures\n\n## Other\n\nkept\n"
    got = bench.replace_section(text, "## Patching (issue 5)", "new figures")
    assert got == ("# Benchmarks\n\nintro\n\n## Patching (issue 5)\n\nnew figures\n\n"
                   "## Other\n\nkept\n")
    assert bench.replace_section(got, "## Patching (issue 5)", "new figures") == got


def test_replace_section_appends_when_absent(bench: ModuleType) -> None:
    got = bench.replace_section("# Benchmarks\n\nintro\n", "## Patching (issue 5)", "figures")
    assert got == "# Benchmarks\n\nintro\n\n## Patching (issue 5)\n\nfigures\n"


def test_spread(bench: ModuleType) -> None:
    assert bench.spread([]) == "-"
    assert bench.spread([3.2]) == "3.20"
    assert bench.spread([3.0, 1.0, 2.0]) == "2.00 (1.00-3.00)"
    assert bench.spread([74.0, 18.0], digits=0) == "46 (18-74)"


def _run(client: float, server: list[float], wall: float, lost: int = 0) -> dict[str, object]:
    return {"client_outage_s": client, "server_outages_s": server, "runbook_wall_s": wall,
            "steps_s": {"stage": 50.0, "standbys": 60.0, "primary": 40.0}, "attempts": 100,
            "failed_attempts": 3, "commits": 97, "lost_commits": lost, "all_at_patch": True,
            "run_status": "succeeded", "replication_healthy_after_s": 0.0}


def test_summary_judges_each_strategy_against_its_own_target(bench: ModuleType) -> None:
    rows = bench.summary_rows({"restart": [_run(9.6, [11.9], 160.0)],
                               "switchover": [_run(5.2, [1.2, 1.4], 310.0)]})
    by_label = {r[0]: r[1:] for r in rows}
    # 9.6 s passes restart's 10 s but 5.2 s fails switchover's 5 s; the journal's 11.9 s fails
    assert by_label["client-seen write outage (longest gap), s"][:2] == ("9.60 PASS",
                                                                         "5.20 FAIL")
    assert by_label["server-side write outage (journal), s"][:2] == ("11.90 FAIL",
                                                                     "1.20 + 1.40 PASS")
    assert by_label["whole runbook (wall), s"][:2] == ("160.0 PASS", "310.0 FAIL")
    assert by_label["lost commits (must be 0)"][:2] == ("0", "0")


def test_summary_takes_the_worst_round(bench: ModuleType) -> None:
    rows = bench.summary_rows({"restart": [_run(3.0, [3.0], 100.0), _run(12.0, [12.0], 120.0),
                                           _run(4.0, [4.0], 110.0)]})
    by_label = {r[0]: r[1:] for r in rows}
    assert by_label["client-seen write outage (longest gap), s"][0] == "4.00 (3.00-12.00) FAIL"


def test_overlapping_gap_matches_the_server_window(bench: ModuleType) -> None:
    found = [(100.0, 0.6), (143.3, 9.6), (200.0, 1.0)]
    # the role's window (stop began 143.4, ready 155.2) overlaps the 9.6 s client gap
    assert bench.overlapping_gap(found, 143.4, 155.2) == (143.3, 9.6)
    assert bench.overlapping_gap(found, 300.0, 310.0) is None
