"""Benchmark ``hisops inspect`` on 1, 5 and 20 real PostgreSQL hosts and the inspection report's
rendering (issue 7's targets: 20 hosts in at most 3x the wall time of 1 host, the parallel
fan-out; the report rendered in under 5 s).

On its own lab (HISOPS_LAB_NAME=benchin, ports 24600-24899, containers hisops-benchin-*, its
own lab dir, journal and inventory) so the developer's lab on 22200-22499 is left alone:

1. ``hisops lab up --hosts 17 --scale 0.01`` and a PostgreSQL 15 cluster on each light host
   (benchmarks/_pg_benchlab.py, as bench_baseline.py does): 20 PostgreSQL hosts over SSH;
2. ``hisops inspect -i BENCH_INV -l HOSTS --json -`` as a user runs it (a fresh process:
   Python start-up included) for 1, 5 and 20 hosts: one warm-up each, then REPEAT rounds of
   1, 5, 20 in turn so load changes hit every size alike. Every report is checked (every host
   in scope read: not partial, none unreachable, each host's PostgreSQL answered) or the
   benchmark fails;
3. the report of the last 20-host run rendered to HTML in this process as ``hisops inspect
   --report`` does (the journaled earlier inspections as its history: the warm-ups and rounds
   give the trend charts their points): RENDERS times after one cold call; then that page
   printed to PDF with headless Chromium PDFS times (Chromium's time, reported apart);
4. the lab is taken down at the end, also on failure (``--keep`` keeps it).

Run: .venv/bin/python benchmarks/bench_inspection.py [--repeat 3] [--keep] [--no-readme]
     [--json out.json] [--note TEXT]
     .venv/bin/python benchmarks/bench_inspection.py --readme-from results/inspection.json
     (rewrites the README section from saved results; no lab)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
README = Path(__file__).resolve().parent / "README.md"
SECTION = "## Inspection (issue 7)"
INSPECT_TIMEOUT_S = 300
SIZES = (1, 5, 20)  # hosts per inspection
RATIO_TARGET = 3.0  # issue 7: 20 hosts' wall time at most 3x one host's
RENDER_TARGET_S = 5.0  # issue 7: report rendering under 5 s
LANG = "zh"  # the report's default language

# benchmarks/ is on sys.path when this runs as a script
from _baseline_lab import (  # noqa: E402
    busy_fraction,
    busy_seconds,
    limit_pattern,
    markdown,
    summarize,
)
from _benchlab import HISOPS, table  # noqa: E402
from _patch_metrics import replace_section  # noqa: E402
from _pg_benchlab import PgBenchLab, machine, max_workers_default, product_state  # noqa: E402

BENCH = PgBenchLab(name="benchin", port_base=24600, writer="bench_inspection")


# --- the checks of every report (pure) ------------------------------------------------------------

def verify_inspection(report: dict[str, Any], expected: list[str]) -> list[str]:
    """What is wrong with an inspection's JSON report, [] when it read every host in scope.

    A run that read nothing must not count as a fast run: the report is not partial, no host
    is unreachable or in error, and every host's PostgreSQL answered (pg.up).
    """
    problems = []
    if report.get("kind") != "hisops.inspection":
        problems.append(f"kind is {report.get('kind')!r}, not an inspection report")
    if report.get("partial") is not False:
        problems.append(f"partial is {report.get('partial')!r}")
    if report.get("unreachable"):
        problems.append(f"unreachable: {', '.join(report['unreachable'])}")
    summary = report.get("summary") or {}
    if summary.get("hosts") != len(expected):
        problems.append(f"summary.hosts is {summary.get('hosts')}, expected {len(expected)}")
    got = [h.get("host") for h in report.get("hosts") or []]
    if sorted(got, key=str) != sorted(expected):
        problems.append(f"hosts {sorted(got, key=str)} are not the limited {sorted(expected)}")
    for host in report.get("hosts") or []:
        metrics = host.get("metrics") or {}
        if host.get("error"):
            problems.append(f"{host.get('host')}: {host['error']}")
        elif metrics.get("host.reachable") is not True:
            problems.append(f"{host.get('host')}: not reachable")
        elif metrics.get("pg.up") is not True:
            problems.append(f"{host.get('host')}: PostgreSQL not read "
                            f"({metrics.get('pg.error', 'no pg.up')})")
    return problems


# --- the measured runs ---------------------------------------------------------------------------

def one_inspect(env: dict[str, str], hosts: list[str], out_dir: Path, tag: str) -> dict[str, Any]:
    """One ``hisops inspect --json -`` limited to HOSTS: wall time, CPU, the report's figures."""
    stat0 = Path("/proc/stat").read_text()
    load = os.getloadavg()[0]
    ru0 = os.times()
    start = time.perf_counter()
    proc = subprocess.run(
        [HISOPS, "inspect", "-i", str(BENCH.inventory), "-l", limit_pattern(hosts),
         "--json", "-"],
        env=env, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL,
        timeout=INSPECT_TIMEOUT_S)
    wall = time.perf_counter() - start
    ru1 = os.times()
    stat1 = Path("/proc/stat").read_text()
    (out_dir / f"{tag}.json").write_text(proc.stdout)
    (out_dir / f"{tag}.err").write_text(proc.stderr)
    if proc.returncode != 0:  # no --fail-on: anything but 0 is a failed inspection
        raise SystemExit(f"inspect {tag} exited {proc.returncode}: {proc.stderr.strip()[-500:]}")
    try:
        report = json.loads(proc.stdout)
    except ValueError as exc:
        raise SystemExit(f"inspect {tag} printed no JSON report ({exc})") from None
    problems = verify_inspection(report, hosts)
    if problems:
        raise SystemExit(f"inspect {tag} did not read every host: {'; '.join(problems)}")
    summary = report["summary"]
    duration = report.get("duration_s")
    return {"hosts": len(hosts), "wall_s": round(wall, 3), "duration_s": duration,
            "outside_s": None if duration is None else round(wall - float(duration), 3),
            "load_before": round(load, 2), "cpu_busy": busy_fraction(stat0, stat1),
            # everything on the machine: the CLI, sshd, the probes' python3 and psql, the
            # backends (other users' work too, if any runs at the time)
            "machine_cpu_s": busy_seconds(stat0, stat1, os.sysconf("SC_CLK_TCK")),
            # the CLI process and its children (the SSH client is paramiko, in-process)
            "cli_cpu_s": round((ru1.children_user - ru0.children_user)
                               + (ru1.children_system - ru0.children_system), 2),
            "findings": summary.get("findings"), "score": summary.get("score"),
            "json_bytes": len(proc.stdout.encode()), "run_id": report.get("run_id"),
            "report_file": str(out_dir / f"{tag}.json")}


def measure(env: dict[str, str], hosts: list[str], repeat: int, out_dir: Path,
            ) -> tuple[dict[int, dict[str, Any]], dict[int, list[dict[str, Any]]]]:
    warm: dict[int, dict[str, Any]] = {}
    runs: dict[int, list[dict[str, Any]]] = {n: [] for n in SIZES}
    for n in SIZES:
        warm[n] = one_inspect(env, hosts[:n], out_dir, f"warmup-{n}")
        print(f"warm-up {n:>2} hosts: {warm[n]['wall_s']:.2f} s wall, inspection "
              f"{warm[n]['duration_s']} s", flush=True)
    for round_no in range(1, repeat + 1):
        for n in SIZES:
            r = one_inspect(env, hosts[:n], out_dir, f"round{round_no}-{n}")
            runs[n].append(r)
            print(f"round {round_no} {n:>2} hosts: {r['wall_s']:.2f} s wall, inspection "
                  f"{r['duration_s']} s, CPU {r['cpu_busy']:.0%} busy, CLI "
                  f"{r['cli_cpu_s']:.2f} CPU-s, machine {r['machine_cpu_s']:.1f} CPU-s, load "
                  f"{r['load_before']:.2f}; {r['findings']} findings", flush=True)
    return warm, runs


def render(journal_path: Path, report_file: Path, out_dir: Path, renders: int, pdfs: int,
           ) -> dict[str, Any]:
    """The report of REPORT_FILE rendered as ``hisops inspect --report`` does (cli.write_report:
    the earlier journaled inspections as history, then write_html), in this process: one cold
    call (templates compiled) and RENDERS timed calls; then the page printed to PDF PDFS times."""
    t0 = time.perf_counter()
    from hisops.inspection.inspect import RECORD_KIND
    from hisops.inspection.report import earlier, write_html
    from hisops.journal import open_journal
    from hisops.reports.browser import html_to_pdf
    imports_s = time.perf_counter() - t0

    report = json.loads(report_file.read_text())
    page = out_dir / "inspection-20.html"

    def once() -> dict[str, Any]:
        start = time.perf_counter()
        journal = open_journal(str(journal_path))
        try:
            history = earlier((rec.payload for rec in journal.records(kinds=[RECORD_KIND])),
                              report.get("run_id"))
        finally:
            journal.close()
        read = time.perf_counter()
        write_html(report, history, page, LANG)
        done = time.perf_counter()
        return {"total_s": round(done - start, 3), "history_s": round(read - start, 3),
                "html_s": round(done - read, 3), "history": len(history)}

    cold = once()
    timed = [once() for _ in range(renders)]
    text = page.read_text(encoding="utf-8")
    pdf_s = []
    pdf = out_dir / "inspection-20.pdf"
    for _ in range(pdfs):
        start = time.perf_counter()
        html_to_pdf(page, pdf)
        pdf_s.append(round(time.perf_counter() - start, 3))
    return {"lang": LANG, "imports_s": round(imports_s, 3), "cold": cold, "runs": timed,
            "history_inspections": cold["history"],
            "html_bytes": len(text.encode()), "svg_charts": text.count("<svg"),
            "journal_bytes": journal_path.stat().st_size,
            "inspection_records": _count_records(journal_path),
            "page": str(page), "pdf": str(pdf), "pdf_s": pdf_s,
            "pdf_bytes": pdf.stat().st_size if pdf.exists() else None}


def _count_records(journal_path: Path) -> int:
    from hisops.inspection.inspect import RECORD_KIND
    from hisops.journal import open_journal

    journal = open_journal(str(journal_path))
    try:
        return len(journal.records(kinds=[RECORD_KIND]))
    finally:
        journal.close()


# --- the figures (pure) ---------------------------------------------------------------------------

def verdict_ratio(ratio: float | None) -> str:
    return "n/a" if ratio is None else ("PASS" if ratio <= RATIO_TARGET else "FAIL")


def verdict_render(seconds: float | None) -> str:
    return "n/a" if seconds is None else ("PASS" if seconds < RENDER_TARGET_S else "FAIL")


def figures(runs: dict[int, list[dict[str, Any]]], rendered: dict[str, Any]) -> dict[str, Any]:
    per_size: dict[str, Any] = {}
    for n, rs in runs.items():
        per_size[str(n)] = {
            key: summarize([r[key] for r in rs if r[key] is not None])
            for key in ("wall_s", "duration_s", "outside_s", "cpu_busy", "cli_cpu_s",
                        "machine_cpu_s")}
        per_size[str(n)]["findings"] = rs[0]["findings"] if rs else None
        per_size[str(n)]["json_bytes"] = rs[0]["json_bytes"] if rs else None

    def med(n: int, key: str) -> float | None:
        value = per_size[str(n)][key]["median"]
        return None if value is None else float(value)

    wall1, wall20 = med(1, "wall_s"), med(20, "wall_s")
    ratio = None if not wall1 or wall20 is None else round(wall20 / wall1, 2)
    dur1, dur20 = med(1, "duration_s"), med(20, "duration_s")
    # the same round's 20-host run against its 1-host run: how much the ratio moves with load
    paired = [round(b["wall_s"] / a["wall_s"], 2)
              for a, b in zip(runs[1], runs[20], strict=True) if a["wall_s"]]
    growth = {
        "wall_per_host_s_5_to_20": _slope(med(5, "wall_s"), wall20),
        "inspection_per_host_s_5_to_20": _slope(med(5, "duration_s"), dur20),
        "machine_cpu_per_host_s_5_to_20": _slope(med(5, "machine_cpu_s"),
                                                 med(20, "machine_cpu_s")),
        "cli_cpu_per_host_s_5_to_20": _slope(med(5, "cli_cpu_s"), med(20, "cli_cpu_s")),
    }
    html = summarize([r["total_s"] for r in rendered["runs"]])
    return {
        "sizes": per_size, "growth": growth,
        "ratio_20_to_1": {"wall": ratio, "target": RATIO_TARGET, "verdict": verdict_ratio(ratio),
                          "inspection": None if not dur1 or dur20 is None
                          else round(dur20 / dur1, 2),
                          "per_round": paired,
                          "per_round_over_target": sum(r > RATIO_TARGET for r in paired)},
        "render": {"total_s": html, "html_s": summarize([r["html_s"] for r in rendered["runs"]]),
                   "history_s": summarize([r["history_s"] for r in rendered["runs"]]),
                   "cold_s": rendered["cold"]["total_s"], "target_s": RENDER_TARGET_S,
                   "verdict": verdict_render(html["median"]),
                   "pdf_s": summarize(rendered["pdf_s"])},
    }


def _slope(small: float | None, large: float | None, n_small: int = 5,
           n_large: int = 20) -> float | None:
    return None if small is None or large is None else round((large - small) /
                                                             (n_large - n_small), 4)


def _cell(stats: dict[str, Any], digits: int = 2, pct: bool = False) -> str:
    if stats.get("median") is None:
        return "-"
    if pct:
        return f"{stats['median']:.0%} ({stats['min']:.0%}-{stats['max']:.0%})"
    return (f"{stats['median']:.{digits}f} ({stats['min']:.{digits}f}-"
            f"{stats['max']:.{digits}f})")


def size_rows(fig: dict[str, Any]) -> list[tuple[str, ...]]:
    sizes, ratio = fig["sizes"], fig["ratio_20_to_1"]
    wall1 = sizes["1"]["wall_s"]["median"]
    rows: list[tuple[str, ...]] = [("figure", *(f"{n} host{'s' * (n > 1)}" for n in SIZES))]
    rows.append(("wall time (CLI), s: median (min-max)",
                 *(_cell(sizes[str(n)]["wall_s"]) for n in SIZES)))
    rows.append(("ratio to 1 host (median wall)",
                 *(f"{sizes[str(n)]['wall_s']['median'] / wall1:.2f}" if wall1 else "-"
                   for n in SIZES)))
    rows.append(("ratio in each round (same round's 1 host)", "-", "-",
                 ", ".join(f"{r:.2f}" for r in ratio["per_round"]) or "-"))
    rows.append(("target (ratio of the medians)", "-", "-",
                 f"<= {RATIO_TARGET:.1f}x {ratio['verdict']}"))
    rows.append(("inspection (report duration_s), s",
                 *(_cell(sizes[str(n)]["duration_s"]) for n in SIZES)))
    rows.append(("outside it (start-up, imports, JSON), s",
                 *(_cell(sizes[str(n)]["outside_s"]) for n in SIZES)))
    rows.append(("CPU busy, both cores", *(_cell(sizes[str(n)]["cpu_busy"], pct=True)
                                           for n in SIZES)))
    rows.append(("CLI process CPU, s", *(_cell(sizes[str(n)]["cli_cpu_s"]) for n in SIZES)))
    rows.append(("whole machine CPU, s", *(_cell(sizes[str(n)]["machine_cpu_s"])
                                           for n in SIZES)))
    rows.append(("findings per run", *(str(sizes[str(n)]["findings"]) for n in SIZES)))
    return rows


def render_rows(fig: dict[str, Any], rendered: dict[str, Any]) -> list[tuple[str, ...]]:
    r = fig["render"]
    n = len(rendered["runs"])
    return [
        ("report (20 hosts)", "s: median (min-max)", "target"),
        (f"HTML: history from the journal + write_html, {n} calls",
         _cell(r["total_s"], 3), f"< {RENDER_TARGET_S:.0f} s {r['verdict']}"),
        ("  of which reading the journaled history", _cell(r["history_s"], 3), ""),
        ("  of which write_html (render + write)", _cell(r["html_s"], 3), ""),
        ("HTML: first call in the process (templates compiled)", f"{r['cold_s']:.3f}", ""),
        (f"PDF: Chromium printing the page, {len(rendered['pdf_s'])} calls",
         _cell(r["pdf_s"], 2), "Chromium's time, no target"),
    ]


def _para(text: str, bullet: bool = False) -> str:
    return textwrap.fill(text, width=100, initial_indent="- " if bullet else "",
                         subsequent_indent="  " if bullet else "", break_on_hyphens=False)


def readme_body(results: dict[str, Any]) -> str:
    m, fig, lab, rd = results["machine"], results["figures"], results["setup"], results["render"]
    sizes, g, ratio, r = fig["sizes"], fig["growth"], fig["ratio_20_to_1"], fig["render"]
    med = {n: sizes[str(n)]["wall_s"]["median"] for n in SIZES}
    dur = {n: sizes[str(n)]["duration_s"]["median"] for n in SIZES}
    out = {n: sizes[str(n)]["outside_s"]["median"] for n in SIZES}
    busy20 = sizes["20"]["cpu_busy"]["median"]
    mcpu = {n: sizes[str(n)]["machine_cpu_s"]["median"] for n in SIZES}
    floor20 = mcpu[20] / m["nproc"] if mcpu[20] is not None else None
    lines = [
        _para("`.venv/bin/python benchmarks/bench_inspection.py [--repeat 3] [--keep] "
              "[--no-readme]` times `hisops inspect -i BENCH_INV -l HOSTS --json -` as a user "
              "runs it (a fresh process each time) for 1, 5 and 20 hosts: one warm-up each, "
              f"then {results['repeat']} rounds of 1, 5, 20 in turn. It runs on its own lab "
              f"(`{lab['lab']}`, ports {lab['ports']}, containers `hisops-{lab['lab']}-*`, its "
              f"own journal) with `--hosts {lab['light_hosts']}` and a PostgreSQL 15 cluster on "
              "each light host (benchmarks/_pg_benchlab.py, shared with bench_baseline.py): 20 "
              "real PostgreSQL hosts reached over SSH at 127.0.0.1. Every report is checked "
              "(not partial, no host unreachable, every host's PostgreSQL read) or the "
              "benchmark fails. Then the last 20-host report is rendered to HTML in-process "
              "as `hisops inspect --report` does (the journaled earlier inspections feed the "
              "trend charts), and the page printed to PDF by headless Chromium. The lab is "
              "taken down at the end."),
        "",
        _para(f"Measured {results['date']} on {m['nproc']} cores / {m['memory_gib']} GiB with "
              f"{m['other_containers']} containers of other labs running beside it; load "
              f"average at the start {', '.join(f'{v:.2f}' for v in m['load_at_start'])}. "
              f"Product: {results['product']}. Whole benchmark {results['total_s']:.0f} s "
              f"(lab up {results['lab_up_s']:.0f} s, light clusters "
              f"{results['light_clusters_s']:.0f} s, inspections {results['inspections_s']:.0f}"
              f" s, lab down {results.get('lab_down_s') or 0:.0f} s)."),
        "",
        markdown(size_rows(fig)),
        "",
        markdown(render_rows(fig, rd)),
        "",
        _para(f"*Fan-out*: 20 hosts took **{ratio['wall']:.2f}x** the wall time of one "
              f"({med[20]:.2f} s against {med[1]:.2f} s; target <= {RATIO_TARGET:.0f}x: "
              f"**{ratio['verdict']}**). The inspection itself (the report's duration_s) went "
              f"from {dur[1]:.2f} to {dur[20]:.2f} s ({ratio['inspection']:.1f}x); the "
              f"{out[1]:.2f} s outside it (Python start-up, imports, inventory, journal, "
              "JSON) is paid once whatever the host count.", bullet=True),
        _para("*Per round*: the same round's 20-host run against its 1-host run gave "
              f"{', '.join(f'{v:.2f}x' for v in ratio['per_round'])}"
              f" ({ratio['per_round_over_target']} of {len(ratio['per_round'])} over "
              f"{RATIO_TARGET:.0f}x): single ratios move with the machine's load, so the "
              "verdict is on the ratio of the medians.", bullet=True),
        _para(f"*Per host*: from 5 to 20 hosts each host adds "
              f"{g['wall_per_host_s_5_to_20']:.3f} s wall and "
              f"{g['machine_cpu_per_host_s_5_to_20']:.2f} CPU-s to the machine, of which "
              f"{g['cli_cpu_per_host_s_5_to_20']:.3f} CPU-s in the CLI process.", bullet=True),
    ]
    if floor20 is not None and busy20 is not None:
        lines.append(_para(
            f"*What limits it here*: every host is a container on this machine, so the CLI, "
            "20 sshd, 20 probe scripts (python3, psql) and 20 backends share "
            f"{m['nproc']} cores: at 20 hosts they were {busy20:.0%} busy (median, other "
            f"users' work included) and a 20-host inspection cost the machine {mcpu[20]:.1f} "
            f"CPU-s against {mcpu[1]:.1f} for one host, so it cannot take much less than "
            f"{floor20:.1f} s here. With the hosts on their own servers their side runs in "
            "parallel on their own CPUs, and the fan-out is bound by the controller's share "
            "(the CLI CPU above) and the slowest host.", bullet=True))
    lines.append(_para(
        f"*Report*: the 20-host page ({rd['html_bytes'] / 1024:.0f} KiB, "
        f"{rd['svg_charts']} SVG charts, {rd['history_inspections']} earlier inspections of "
        f"the {rd['inspection_records']} in the journal as trend history) renders in "
        f"{r['total_s']['median']:.3f} s (median; target < {RENDER_TARGET_S:.0f} s: "
        f"**{r['verdict']}**), of which {r['history_s']['median']:.3f} s reading the history "
        f"from the journal; the first call in a process, templates compiled, took "
        f"{r['cold_s']:.3f} s. Printing it to PDF ({(rd['pdf_bytes'] or 0) / 1024:.0f} KiB) "
        f"is Chromium's time: {r['pdf_s']['median']:.2f} s median of {len(rd['pdf_s'])} "
        "(a fresh headless browser and profile each time).", bullet=True))
    if results.get("note"):
        lines.append(_para(results["note"], bullet=True))
    return "\n".join(lines)


# --- the run -------------------------------------------------------------------------------------

def save_results(results: dict[str, Any], extra: Path | None) -> list[Path]:
    from _ratios import fanout_ratios, ratio_row
    from _results import RESULTS, save

    if "figures" in results:  # the machine-readable ratios bench_all.py collects
        render_s = results["figures"]["render"]["total_s"]["median"]
        results["ratios"] = [
            *fanout_ratios("inspection", results["figures"], RATIO_TARGET),
            ratio_row("inspection HTML report, 20 hosts", render_s, "target", RENDER_TARGET_S,
                      target=1.0)]
    paths = [save("bench_inspection", results)]
    latest = RESULTS / "inspection.json"  # the latest run, at a fixed name
    latest.write_text(json.dumps(results, indent=2, default=str))
    paths.append(latest)
    if extra is not None:
        extra.write_text(json.dumps(results, indent=2, default=str))
        paths.append(extra)
    return paths


def print_tables(results: dict[str, Any]) -> None:
    fig = results["figures"]
    print("\n" + table(size_rows(fig)))
    print("\n" + table(render_rows(fig, results["render"])))
    r = fig["render"]
    print(f"\nverdicts: 20 hosts / 1 host = {fig['ratio_20_to_1']['wall']:.2f}x "
          f"(<= {RATIO_TARGET:.1f}) {fig['ratio_20_to_1']['verdict']}; HTML report "
          f"{r['total_s']['median']:.3f} s (< {RENDER_TARGET_S:.0f} s) {r['verdict']}; PDF "
          f"(Chromium) {r['pdf_s']['median']:.2f} s")


def failed_targets(results: dict[str, Any]) -> list[str]:
    fig = results["figures"]
    return [name for name, v in (("fan-out ratio", fig["ratio_20_to_1"]["verdict"]),
                                 ("report rendering", fig["render"]["verdict"])) if v != "PASS"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="measured rounds (default 3)")
    parser.add_argument("--renders", type=int, default=5, help="timed HTML renders (default 5)")
    parser.add_argument("--pdfs", type=int, default=3, help="timed PDF prints (default 3)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--no-readme", action="store_true", help="do not update README.md")
    parser.add_argument("--note", default="", help="a sentence for the README section")
    parser.add_argument("--keep", action="store_true", help="keep the bench lab at the end")
    parser.add_argument("--readme-from", type=Path, metavar="RESULTS.json",
                        help="only rewrite the README section from saved results (no lab)")
    args = parser.parse_args()
    if args.readme_from is not None:
        results = json.loads(args.readme_from.read_text())
        if args.note:
            results["note"] = args.note
        # the figures again from the raw runs (this script's arithmetic may be newer)
        results["figures"] = figures({int(n): rs for n, rs in results["runs"].items()},
                                     results["render"])
        args.readme_from.write_text(json.dumps(results, indent=2, default=str))
        print_tables(results)
        README.write_text(replace_section(README.read_text(), SECTION, readme_body(results)))
        print(f"updated {README.relative_to(ROOT)} ({SECTION[3:]})")
        return 1 if failed_targets(results) else 0
    if args.repeat < 1 or args.renders < 1 or args.pdfs < 1:
        parser.error("--repeat, --renders and --pdfs must be at least 1")
    t_start = time.perf_counter()
    load_at_start = os.getloadavg()
    home = BENCH.runs_dir / time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    reports = home / "reports"
    reports.mkdir(parents=True)
    env = BENCH.lab_env(home)
    BENCH.check_ports(env)
    results: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": machine(BENCH.name, load_at_start),
        "product": product_state(("pylib", "rules")), "repeat": args.repeat,
        "state": str(home), "note": args.note,
        "targets": {"ratio_20_to_1": RATIO_TARGET, "render_s": RENDER_TARGET_S},
        "setup": {"lab": BENCH.name, "ports": BENCH.ports, "light_hosts": BENCH.light_hosts,
                  "ssh_max_workers": max_workers_default()}}
    try:
        hosts = BENCH.bring_up(env, results, max(SIZES))
        t0 = time.perf_counter()
        warm, runs = measure(env, hosts, args.repeat, reports)
        results["inspections_s"] = round(time.perf_counter() - t0, 1)
        results["warmup"] = {str(n): r for n, r in warm.items()}
        results["runs"] = {str(n): rs for n, rs in runs.items()}
        results["render"] = rendered = render(
            home / "journal.sqlite3", Path(runs[20][-1]["report_file"]), reports,
            args.renders, args.pdfs)
        print(f"HTML report rendered {args.renders} times: "
              f"{statistics.median(r['total_s'] for r in rendered['runs']):.3f} s median; PDF "
              f"{statistics.median(rendered['pdf_s']):.2f} s median", flush=True)
        results["figures"] = figures(runs, rendered)
    finally:
        if args.keep:
            print(f"bench lab kept; remove it with: {BENCH.down_command()}")
        else:
            took = BENCH.down(env)
            results["lab_down_s"] = round(took, 1)
            print(f"bench lab down in {took:.1f} s", flush=True)
    results["total_s"] = round(time.perf_counter() - t_start, 1)
    print_tables(results)
    print(f"whole benchmark: {results['total_s']:.0f} s; reports and journal: {home}")
    saved = save_results(results, args.json)
    print(f"raw results: {', '.join(map(str, saved))}")
    if not args.no_readme:
        README.write_text(replace_section(README.read_text(), SECTION, readme_body(results)))
        print(f"updated {README.relative_to(ROOT)} ({SECTION[3:]})")
    return 1 if failed_targets(results) else 0


if __name__ == "__main__":
    sys.exit(main())
