"""``make bench``: every benchmark in sequence, each figure as a ratio against its anchor, in
benchmarks/results.json and benchmarks/results.md (issue 11).

Runs bench_engine, bench_ansible, bench_inspection, bench_baseline, bench_backup, bench_masking,
bench_patch and bench_datafix one after another (each on its own lab or throwaway PostgreSQL,
taken down at the end), with settings
that bound the whole run (FULL about 30 min on this 2-core machine when otherwise idle; QUICK
fewer rounds and a smaller masking set), reads each one's JSON and its ``ratios`` section
(benchmarks/_ratios.py), and writes the table: figure, anchor, measured, ratio, target, verdict,
with the date, commit, load average, CPU count and the other containers running. A benchmark
that fails is reported with its reason and makes this exit 1; the others still run.

Run: .venv/bin/python benchmarks/bench_all.py [--quick] [--only NAME,...] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _ratios import markdown_table, text_table
from _results import RESULTS

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


@dataclass(frozen=True)
class Bench:
    name: str  # the script is benchmarks/bench_NAME.py
    full: tuple[str, ...]
    quick: tuple[str, ...]
    json_arg: bool = True  # takes --json PATH; else its newest results/PREFIX-*.json is read
    prefix: str = ""
    timeout_s: int = 1800

    def args(self, quick: bool, json_path: Path) -> list[str]:
        extra = list(self.quick if quick else self.full)
        return [*extra, "--json", str(json_path)] if self.json_arg else extra


BENCHES = (
    Bench("engine", ("--rounds", "2"), ("--rounds", "1"), json_arg=False, prefix="engine"),
    Bench("ansible", ("--rounds", "2"), ("--rounds", "1")),
    Bench("inspection", ("--repeat", "3", "--pdfs", "1", "--no-readme"),
          ("--repeat", "1", "--renders", "2", "--pdfs", "1", "--no-readme")),
    Bench("baseline", ("--repeat", "3", "--no-readme"), ("--repeat", "1", "--no-readme")),
    Bench("backup", ("--rounds", "2"), ("--rounds", "1"), json_arg=False,
          prefix="bench_backup"),
    Bench("masking", ("--patients", "1000000", "--modes", "parallel"),
          ("--patients", "200000", "--modes", "parallel")),
    Bench("patch", ("--strategies", "restart,switchover", "--down", "--no-readme"),
          ("--strategies", "restart,switchover", "--down", "--no-readme")),
    Bench("datafix", ("--rounds", "3"), ("--rounds", "1")),
)


def newest(prefix: str, since: float) -> Path | None:
    found = [p for p in RESULTS.glob(f"{prefix}-*.json") if p.stat().st_mtime >= since]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def run_one(bench: Bench, quick: bool, out_dir: Path) -> dict[str, Any]:
    """Run one benchmark; its status, seconds, ratio rows and the reason it failed."""
    json_path = out_dir / f"{bench.name}.json"
    json_path.unlink(missing_ok=True)
    cmd = [sys.executable, str(HERE / f"bench_{bench.name}.py"), *bench.args(quick, json_path)]
    print(f"\n=== bench_{bench.name}: {' '.join(cmd[2:])}", flush=True)
    log = out_dir / f"{bench.name}.log"
    started, t0 = time.time(), time.perf_counter()
    reason = ""
    try:
        with log.open("w") as fh:
            proc = subprocess.run(cmd, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, check=False,
                                  timeout=bench.timeout_s)
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        rc, reason = -1, f"timed out after {bench.timeout_s} s"
    took = round(time.perf_counter() - t0, 1)
    tail = log.read_text(errors="replace").strip().splitlines()[-15:]
    print("\n".join(f"  | {line}" for line in tail), flush=True)
    path = json_path if bench.json_arg else newest(bench.prefix, started)
    data: dict[str, Any] = {}
    if path is not None and path.exists():
        data = json.loads(path.read_text())
    rows = data.get("ratios") or []
    if rc != 0 and not reason:
        reason = f"exited {rc}: {tail[-1] if tail else 'no output'}"
    elif rc == 0 and not rows:
        reason = "no ratios in its JSON"
    status = "ok" if not reason else "FAILED"
    for row in rows:
        row["benchmark"] = bench.name
    return {"name": bench.name, "status": status, "reason": reason, "seconds": took,
            "command": cmd[1:], "json": str(path) if path else None, "log": str(log),
            "ratios": rows, "load_after": [round(v, 2) for v in os.getloadavg()]}


def machine_state() -> dict[str, Any]:
    def out(*cmd: str) -> str:
        return subprocess.run(cmd, capture_output=True, text=True, check=False,
                              cwd=ROOT).stdout.strip()

    containers = out("podman", "ps", "--format", "{{.Names}}").split()
    return {"date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
            "commit": out("git", "rev-parse", "--short", "HEAD"),
            "uncommitted": len(out("git", "status", "--porcelain").splitlines()),
            "load_average": [round(v, 2) for v in os.getloadavg()],
            "cpus": os.cpu_count(), "containers_running": len(containers),
            "other_labs": sorted({"-".join(n.split("-")[:2]) for n in containers
                                  if n.startswith("hisops-")})}


def render_md(report: dict[str, Any]) -> str:
    start, end = report["start"], report["end"]
    rows = [r for b in report["benchmarks"] for r in b["ratios"]]
    lines = [
        "# Benchmark results (`make bench`)", "",
        f"Written by benchmarks/bench_all.py ({report['mode']} mode) on {start['date']}, "
        f"commit {start['commit']} ({start['uncommitted']} uncommitted paths), "
        f"{start['cpus']} CPUs. Load average at the start {start['load_average']}, at the end "
        f"{end['load_average']}; containers running at the start {start['containers_running']}"
        f" (labs running: {', '.join(start['other_labs']) or 'none'}). Whole run "
        f"{report['total_s'] / 60:.1f} min.", "",
        "Each ratio is measured / anchor, both sides measured in the same run (alternated "
        "where the script alternates); an anchor named `target` is the issue's target.", "",
        markdown_table(rows), "",
        "| benchmark | status | s | load after | reason |", "| --- | --- | --- | --- | --- |",
        *(f"| bench_{b['name']} | {b['status']} | {b['seconds']} | {b['load_after']} | "
          f"{b['reason'] or '-'}{'; rerun ' + b['rerun'] if b.get('rerun') else ''} |"
          for b in report["benchmarks"]), ""]
    if report.get("updated_from"):
        first = report["updated_from"]
        lines[2:2] = [f"The benchmarks marked *rerun* were run again on {start['date']} and "
                      f"merged into the {first['mode']} run of {first['start']['date']} (load "
                      f"{first['start']['load_average']}, whole run "
                      f"{first['total_s'] / 60:.1f} min); the header's load and time are the "
                      "rerun's.", ""]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (make bench QUICK=1)")
    parser.add_argument("--only", default="", help="comma-separated benchmark names")
    parser.add_argument("--update", action="store_true",
                        help="keep the other benchmarks' entries of an earlier results.json "
                             "(with --only: rerun some, keep the rest)")
    parser.add_argument("--out", type=Path, default=HERE,
                        help="where results.json and results.md go (default benchmarks/)")
    args = parser.parse_args()
    wanted = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = set(wanted) - {b.name for b in BENCHES}
    if unknown:
        parser.error(f"unknown benchmarks: {', '.join(sorted(unknown))}")
    RESULTS.mkdir(exist_ok=True)
    run_dir = RESULTS / f"all-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
    run_dir.mkdir()
    report: dict[str, Any] = {"mode": "quick" if args.quick else "full",
                              "start": machine_state(), "benchmarks": []}
    t0 = time.perf_counter()
    for bench in BENCHES:
        if wanted and bench.name not in wanted:
            continue
        report["benchmarks"].append(run_one(bench, args.quick, run_dir))
    report["total_s"] = round(time.perf_counter() - t0, 1)
    report["end"] = machine_state()
    earlier = args.out / "results.json"
    if args.update and earlier.exists():
        old = json.loads(earlier.read_text())
        rerun = {b["name"] for b in report["benchmarks"]}
        kept = [b for b in old["benchmarks"] if b["name"] not in rerun]
        for b in report["benchmarks"]:
            b["rerun"] = report["start"]["date"]
        order = [b.name for b in BENCHES]
        report["benchmarks"] = sorted(kept + report["benchmarks"],
                                      key=lambda b: order.index(b["name"]))
        report["updated_from"] = {k: old[k] for k in ("mode", "start", "end", "total_s")}
    report["ratios"] = [r for b in report["benchmarks"] for r in b["ratios"]]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    (args.out / "results.md").write_text(render_md(report))
    print("\n" + text_table(report["ratios"]))
    failed = [b for b in report["benchmarks"] if b["status"] != "ok"]
    for b in failed:
        print(f"FAILED bench_{b['name']}: {b['reason']} (log {b['log']})")
    print(f"\nwhole run {report['total_s'] / 60:.1f} min; load {report['start']['load_average']}"
          f" -> {report['end']['load_average']}; written {args.out / 'results.md'} and "
          f"{args.out / 'results.json'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
