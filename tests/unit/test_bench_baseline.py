"""The pure helpers of benchmarks/bench_baseline.py (benchmarks/_baseline_lab.py): the bench
inventory it writes, the checks that make a run that read nothing fail, and its figures."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from hisops.inventory import Inventory
from hisops.lab import inventory as lab_inventory
from hisops.lab.settings import LabSettings
from hisops.lab.topology import Role, build_topology

HELPERS = Path(__file__).resolve().parents[2] / "benchmarks" / "_baseline_lab.py"
BASE = 23600
SCOPE = "db_primary:db_standby:db_replica"


@pytest.fixture(scope="module")
def bl() -> Iterator[ModuleType]:
    # as when the benchmark runs as a script: its folder (_benchlab, ...) is on sys.path
    sys.path.insert(0, str(HELPERS.parent))
    spec = importlib.util.spec_from_file_location("_baseline_lab", HELPERS)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["_baseline_lab"] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules["_baseline_lab"]
        sys.path.remove(str(HELPERS.parent))


def _lab(tmp_path: Path, light: int) -> tuple[dict[str, Any], dict[str, int]]:
    """The inventory `lab up --hosts LIGHT` writes, and the pg ports the bench gives its hosts."""
    settings = LabSettings(state_dir=tmp_path / "lab", cache_dir=tmp_path / "cache",
                           recipe_dir=tmp_path / "recipe", project_root=None, port_base=BASE,
                           name="benchbl")
    topo = build_topology(light, BASE)
    rendered = lab_inventory.render(settings, topo, patch_version="15.20-0+deb12u1")
    ports = {h.name: h.pg for h in topo.hosts if h.runs_postgres}
    return rendered, ports


def test_light_pg_port_follows_the_lab_scheme(bl: ModuleType) -> None:
    topo = build_topology(17, BASE)
    # the lab gives its database hosts base + 100 + index; light hosts get the same scheme
    for host in topo.hosts:
        if host.pg_port is not None:
            assert bl.light_pg_port(BASE, host.index) == host.pg_port
    light = topo.by_role(Role.APP_LIGHT)
    got = {bl.light_pg_port(BASE, h.index) for h in light}
    assert len(got) == 17
    assert got.isdisjoint({h.pg_port for h in topo.hosts} | {h.ssh_port for h in topo.hosts}
                          | {h.http_port for h in topo.hosts})


def test_bench_inventory_puts_20_postgres_hosts_in_the_cis_scope(
        bl: ModuleType, tmp_path: Path) -> None:
    rendered, ports = _lab(tmp_path, 17)
    topo = build_topology(17, BASE)
    for h in topo.by_role(Role.APP_LIGHT):
        ports[h.name] = bl.light_pg_port(BASE, h.index)
    path = tmp_path / "bench.yml"
    path.write_text(yaml.safe_dump(bl.bench_inventory(rendered, ports), sort_keys=False))

    inv = Inventory(path)
    hosts = inv.hosts(SCOPE)
    assert len(hosts) == 20
    assert inv.hosts("all")[:5] == ["his-db-1", "his-db-2", "his-db-3", "app-1", "app-2"]
    # only the PostgreSQL hosts: backup-1, verify-1 and app-his-1 cannot enter a check
    assert set(inv.hosts("all")) == set(ports)
    assert inv.hosts("db_primary") == ["his-db-1", *(f"app-{i}" for i in range(1, 18))]
    assert inv.hosts("db_standby") == ["his-db-2"]
    assert inv.hosts("db_replica") == ["his-db-3"]
    assert "app" not in inv.groups
    app7 = inv.host_vars("app-7")
    assert app7["pg_port"] == BASE + 100 + 14  # app-7 is the 14th host (after his-test-1)
    assert app7["ansible_host"] == "127.0.0.1"
    assert app7["ansible_port"] == BASE + 14
    assert app7["ansible_ssh_private_key_file"] == str(tmp_path / "lab" / "id_ed25519")
    assert "StrictHostKeyChecking=yes" in app7["ansible_ssh_common_args"]
    assert app7["hisops_db_memory_mb"] == 512  # the lab's group variables are kept
    assert inv.host_vars("his-db-2")["pg_port"] == BASE + 102
    limited = inv.hosts(SCOPE, "his-db-1:his-db-2:his-db-3:app-1:app-2")
    assert sorted(limited) == sorted(inv.hosts("all")[:5])


def test_bench_inventory_leaves_the_lab_inventory_alone(bl: ModuleType, tmp_path: Path) -> None:
    rendered, ports = _lab(tmp_path, 2)
    before = yaml.safe_dump(rendered)
    bl.bench_inventory(rendered, {**ports, "app-1": BASE + 107})
    assert yaml.safe_dump(rendered) == before


def test_bench_inventory_refuses_hosts_the_lab_lacks(bl: ModuleType, tmp_path: Path) -> None:
    rendered, ports = _lab(tmp_path, 2)
    with pytest.raises(ValueError, match="app-9"):
        bl.bench_inventory(rendered, {**ports, "app-9": BASE + 114})


def _report(hosts: list[str], *, unreadable: str | None = None,
            statuses: tuple[str, ...] = ("ok", "drift", "n/a")) -> dict[str, Any]:
    entries = []
    for h in hosts:
        if h == unreadable:
            entries.append({"host": h, "error": "ssh: connection refused", "results": []})
        else:
            entries.append({"host": h, "error": None,
                            "results": [{"item": f"i{n}", "status": s}
                                        for n, s in enumerate(statuses)]})
    errors = sum(r["status"] == "error" for e in entries for r in e["results"])
    return {"summary": {"hosts": len(hosts), "unreadable": int(unreadable is not None),
                        "error": errors}, "hosts": entries}


def test_verify_report_accepts_a_complete_read(bl: ModuleType) -> None:
    hosts = ["his-db-1", "app-1"]
    assert bl.verify_report(_report(hosts), hosts) == []


def test_verify_report_fails_a_run_that_read_nothing(bl: ModuleType) -> None:
    hosts = ["his-db-1", "app-1"]
    problems = bl.verify_report(_report(hosts, unreadable="app-1"), hosts)
    assert "1 host(s) unreadable" in problems
    assert any(p.startswith("app-1: ssh") for p in problems)
    # PostgreSQL unreadable: every item errored, nothing judged
    problems = bl.verify_report(_report(hosts, statuses=("error", "error")), hosts)
    assert "4 item(s) could not be judged" in problems
    assert "his-db-1: no item judged" in problems
    # a report of the wrong hosts (a limit that matched something else)
    problems = bl.verify_report(_report(["his-db-1"]), hosts)
    assert "summary.hosts is 1, expected 2" in problems
    assert bl.verify_report({}, hosts)  # no summary at all is not a pass


def test_summarize(bl: ModuleType) -> None:
    assert bl.summarize([2.0, 1.0, 4.0, 3.0]) == {"n": 4, "median": 2.5, "min": 1.0, "max": 4.0}
    assert bl.summarize([1.23456]) == {"n": 1, "median": 1.235, "min": 1.235, "max": 1.235}
    assert bl.summarize([])["median"] is None


def test_predict_serial_and_one_command(bl: ModuleType) -> None:
    # one host after another: 0.5 s per host from 5 to 20 hosts, carried on to 100
    got = bl.predict(100, probe_1=0.5, probe_5=2.5, probe_20=10.0, at_once_20=4.0, fixed=1.5)
    assert got["per_host_s"] == pytest.approx(0.5)
    assert got["serial_probe_s"] == pytest.approx(50.0)
    assert got["serial_wall_s"] == pytest.approx(51.5)
    # one command for all: 5 rounds of 20 hosts, each as long as 20 at once took here ...
    assert got["rounds"] == 5
    assert got["one_command_here_probe_s"] == pytest.approx(20.0)
    # ... or, the hosts' side on their own servers, as long as a single host's probe
    assert got["one_command_servers_probe_s"] == pytest.approx(2.5)
    assert got["one_command_servers_wall_s"] == pytest.approx(4.0)
    assert bl.predict(101, probe_1=0.5, probe_5=2.5, probe_20=10.0, at_once_20=4.0,
                      fixed=1.5)["rounds"] == 6
    assert bl.predict(100, probe_1=0.5, probe_5=2.5, probe_20=10.0, at_once_20=4.0, fixed=1.5,
                      max_workers=50)["one_command_servers_probe_s"] == pytest.approx(1.0)


def test_per_host_increment(bl: ModuleType) -> None:
    assert bl.per_host_increment(2.0, 5, 5.0, 20) == pytest.approx(0.2)
    with pytest.raises(ValueError, match="n_large"):
        bl.per_host_increment(2.0, 20, 5.0, 5)


STAT_0 = "cpu  100 0 50 800 50 0 0 0 0 0\ncpu0 50 0 25 400 25 0 0 0 0 0\n"
STAT_1 = "cpu  250 0 100 900 50 0 0 0 0 0\ncpu0 125 0 50 450 25 0 0 0 0 0\n"


def test_busy_fraction_from_proc_stat(bl: ModuleType) -> None:
    # 200 busy jiffies (user 150 + system 50) of 300: iowait counts as idle
    assert bl.busy_fraction(STAT_0, STAT_1) == pytest.approx(0.667)
    assert bl.busy_fraction(STAT_0, STAT_0) is None
    assert bl.busy_seconds(STAT_0, STAT_1, 100) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="proc/stat"):
        bl.cpu_times("intr 1 2 3\n")


def test_verdict_and_table(bl: ModuleType) -> None:
    assert bl.verdict(2.9, 3.0) == "PASS"
    assert bl.verdict(3.0, 3.0) == "FAIL"
    assert bl.verdict(None, 3.0) == "n/a"
    import _benchlab

    text = _benchlab.table([("figure", "1 host"), ("wall, s", "1.20")])
    assert text.splitlines() == ["figure   1 host", "-------  ------", "wall, s  1.20"]
    assert bl.markdown([("a", "b"), ("x|y", "1")]).splitlines()[2] == "| x/y | 1 |"


def test_psql_sessions_follows_the_probe(bl: ModuleType) -> None:
    assert bl.psql_sessions({"sshd": ["permitrootlogin"]}) == 0
    assert bl.psql_sessions({"pg": {"port": 5432, "settings": ["ssl"]}}) == 3
    assert bl.psql_sessions({"pg": {"port": 5432, "settings": [], "hba": True, "roles": True,
                                    "extension_dbs": ["his", "postgres"]}}) == 7


def _run(n: int, wall: float, probe: float) -> dict[str, Any]:
    return {"hosts": n, "wall_s": wall, "duration_s": probe, "cpu_busy": 0.9,
            "cli_cpu_s": 1.0 + n / 100, "machine_cpu_s": n * 0.8, "checked": 33 * n}


def _results(bl: ModuleType, distinct: int) -> dict[str, Any]:
    runs = {1: [_run(1, 1.5, 0.5), _run(1, 1.7, 0.6)],
            5: [_run(5, 3.5, 2.5), _run(5, 3.7, 2.5)],
            20: [_run(20, 11.0, 10.0), _run(20, 21.0, 10.0)]}
    side = [{"hosts": 20, "distinct_commands": distinct, "psql_sessions": 5,
             "ssh_true_s": 0.5, "ssh_true_cpu_s": 0.9, "at_once_s": 4.0, "at_once_cpu_s": 8.0}
            for _ in range(2)]
    fig = bl.figures(runs, side, 20)
    return {"date": "2026-11-26 12:00 UTC", "repeat": 2, "product": "abc1234", "note": "",
            "machine": {"nproc": 2, "memory_gib": 23.5, "load_at_start": [0.5, 0.4, 0.3],
                        "other_containers": 6},
            "setup": {"lab": "benchbl", "ports": "23600-23899", "light_hosts": 17},
            "total_s": 300.0, "lab_up_s": 20.0, "light_clusters_s": 60.0, "checks_s": 200.0,
            "lab_down_s": 10.0, "figures": fig,
            "psql_cost": {"host": "app-17", "calls": 20, "pg_wrapper_ms": 50.0,
                          "binary_ms": 20.0, "ratio": 2.5}}


def test_figures_judge_the_worst_run_against_the_targets(bl: ModuleType) -> None:
    fig = _results(bl, 20)["figures"]
    one, twenty = fig["sizes"]["1"], fig["sizes"]["20"]
    assert one["verdict"] == "PASS"  # 1.7 s at worst < 3 s
    assert twenty["wall_s"]["median"] == pytest.approx(16.0)
    assert twenty["verdict"] == "FAIL"  # the median passes, the worst run (21 s) does not
    assert fig["sizes"]["5"]["verdict"] is None
    assert fig["growth"]["probe_per_host_s_5_to_20"] == pytest.approx(0.5)
    assert fig["in_process_20"]["serial_vs_at_once"] == pytest.approx(2.5)
    assert fig["prediction"]["serial_probe_s"] == pytest.approx(50.0)
    assert fig["prediction"]["one_command_here_probe_s"] == pytest.approx(20.0)


def test_readme_section_reports_the_figures_and_the_orchestration(bl: ModuleType) -> None:
    for distinct in (20, 1):
        results = _results(bl, distinct)
        text = bl.readme_body(results, bl.summary_rows(results["figures"]))
        assert "| wall time (CLI), s: median (max) | 1.60 (max 1.70) |" in text
        assert "< 20 s FAIL" in text
        prose = " ".join(text.split())
        assert f"the 20 hosts got {distinct} distinct probe commands" in prose
        assert "the probe uses the binary" in prose
