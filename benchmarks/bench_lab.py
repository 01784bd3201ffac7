"""Benchmark the lab against issue 3's targets (measured, not asserted).

- ``lab up`` from a cached image, a fresh lab (target < 60 s);
- ``lab up`` when everything already runs (idempotent re-run);
- ``lab up --hosts 20``: time and the memory the containers use (must fit 2 cores, 24 GiB);
- with ``--image``: a full image rebuild (target < 5 min).

It uses its own lab (HISOPS_LAB_NAME=bench, ports from 23200) so a developer's lab is left
alone, and takes it down at the end. Run: .venv/bin/python benchmarks/bench_lab.py [--image]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _results import save

ROOT = Path(__file__).resolve().parent.parent
HISOPS = str(Path(sys.executable).parent / "hisops")


def hisops(*args: str, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([HISOPS, "lab", *args], check=True, env=env, stdout=subprocess.DEVNULL,
                   stdin=subprocess.DEVNULL)
    return round(time.perf_counter() - start, 1)


_UNITS = {"B": 1, "kB": 1e3, "KB": 1e3, "MB": 1e6, "GB": 1e9, "KiB": 1024, "MiB": 1024**2,
          "GiB": 1024**3}


def lab_memory_mib(prefix: str) -> tuple[int, int]:
    """(containers, MiB of memory they use) from podman's own accounting (cgroups)."""
    out = subprocess.run(["podman", "stats", "--no-stream", "--format", "json"],
                         capture_output=True, text=True, check=True).stdout
    total, count = 0.0, 0
    for row in json.loads(out or "[]"):
        if not row["name"].startswith(prefix):
            continue
        used = row["mem_usage"].split("/")[0].strip()
        number = used.rstrip("kKMGiB")
        total += float(number) * _UNITS[used[len(number):]]
        count += 1
    return count, int(total / 1024**2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", action="store_true", help="also time a full image rebuild")
    args = parser.parse_args()
    state = tempfile.mkdtemp(prefix="hisops-bench-lab-")
    env = {**os.environ, "HISOPS_LAB_NAME": "bench", "HISOPS_LAB_DIR": state,
           "HISOPS_LAB_PORT_BASE": "23200"}
    results: dict[str, object] = {}
    if args.image:
        results["image_rebuild_s"] = hisops("image", "--rebuild", env=env)
    else:
        hisops("image", env=env)  # make sure it is cached; not timed
    hisops("down", env=env)
    try:
        results["up_fresh_s"] = hisops("up", env=env)
        results["up_again_s"] = hisops("up", env=env)
        results["up_hosts_20_s"] = hisops("up", "--hosts", "20", env=env)
        time.sleep(5)
        results["containers"], results["memory_used_by_lab_mib"] = lab_memory_mib("hisops-bench-")
        results["status_s"] = hisops("status", env=env)
    finally:
        results["down_s"] = hisops("down", env=env)
    print(json.dumps(results, indent=2))
    save("lab", results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
