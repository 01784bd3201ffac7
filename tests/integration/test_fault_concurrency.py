"""100 concurrent launches against overlapping hosts: zero overlapping changing runs.

100 `hisops run` processes are started at once, each changing a seeded random subset (2 to 4)
of 10 hosts, with the journal on PostgreSQL as production keeps it (the host locks are rows of
its ``locks`` table, taken in one transaction serialised on the chain head). Every tenth
launch is a dry run (`--check`), which takes no lock and so must never be refused.

The proof does not read the lock table: each changing execution writes its own start and end
times (the wall clock, on the host) into its launch's marker file, and no two launches that
share a host may have overlapping intervals. Every launch either succeeded (its marker is
there) or was refused with exit 3 and one line naming the host and the run holding it (and
then its marker is absent: it changed nothing). The journal's hash chain verifies afterwards.
"""

from __future__ import annotations

import json
import os
import random
import re
import resource
import subprocess
import sys
import time
from itertools import combinations
from pathlib import Path

from tests.conftest import DATA
from tests.integration.helpers import env_with, hisops

LAUNCHES = 100
HOSTS = [f"h{i:02d}" for i in range(10)]
SEED = 20261127
DEADLINE_S = 300  # all launches done by then (about 60 s alone on 2 cores)
RUNBOOK = DATA / "runbooks" / "concurrent-marker.yml"
REFUSED = re.compile(r"^hisops: refused: host (h\d\d) is locked by run (\S+) \(operator .+, "
                     r"started .+\)$")


def inventory(path: Path) -> Path:
    hosts = "\n".join(f"        {h}: {{}}" for h in HOSTS)
    path.write_text("all:\n  vars:\n    ansible_connection: local\n  children:\n    fleet:\n"
                    f"      hosts:\n{hosts}\n")
    return path


def intervals(marker: Path) -> tuple[float, float]:
    """(first start, last end) of one launch's executions, from its marker file."""
    starts, ends = [], []
    for line in marker.read_text().splitlines():
        kind, stamp = line.split()
        (starts if kind == "start" else ends).append(float(stamp))
    assert starts, marker.read_text()
    assert len(starts) == len(ends), marker.read_text()
    return min(starts), max(ends)


def test_100_concurrent_launches_never_overlap_on_a_host(tmp_path: Path, pg_url: str) -> None:
    rng = random.Random(SEED)  # noqa: S311 - a seeded choice of hosts, no secret
    subsets = [sorted(rng.sample(HOSTS, rng.randint(2, 4))) for _ in range(LAUNCHES)]
    dry = {i for i in range(LAUNCHES) if i % 10 == 9}
    markers = tmp_path / "markers"
    markers.mkdir()
    inv = inventory(tmp_path / "inventory.yml")
    env = env_with(HISOPS_JOURNAL=pg_url)
    # the schema exists before the stampede (as in production, where it is created once)
    assert hisops("journal", "verify", env=env).rc == 0

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_before = usage.ru_utime + usage.ru_stime
    began = time.monotonic()
    procs = []
    for i, hosts in enumerate(subsets):
        args = [sys.executable, "-m", "hisops", "run", str(RUNBOOK), "-i", str(inv),
                "-e", f"hosts={':'.join(hosts)}", "-e", f"dir={markers}", "-e", f"tag=L{i:03d}",
                "--yes", "--json", "--operator", f"op{i:03d}", *(["--check"] if i in dry else [])]
        procs.append(subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      stdin=subprocess.DEVNULL, text=True, env=env))
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=max(1.0, DEADLINE_S - (time.monotonic() - began)))
        results.append((proc.returncode, out, err))
    elapsed = time.monotonic() - began
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = cpu.ru_utime + cpu.ru_stime - cpu_before

    succeeded: dict[str, int] = {}  # run id -> launch
    refused: list[tuple[int, str, str]] = []  # launch, host, holder run id
    for i, (rc, out, err) in enumerate(results):
        if i in dry:
            assert rc == 0, f"dry run L{i:03d} refused or failed (rc {rc}): {err}"
            assert not (markers / f"L{i:03d}.log").exists(), "a dry run changed a host"
            continue
        if rc == 0:
            succeeded[json.loads(out)["run_id"]] = i
            continue
        assert rc == 3, f"L{i:03d}: rc {rc}, neither success nor a lock refusal: {err}"
        lines = err.strip().splitlines()
        assert len(lines) == 1, f"L{i:03d}: not one line: {err}"
        found = REFUSED.match(lines[0])
        assert found, lines[0]
        host, holder = found.groups()
        assert host in subsets[i]
        refused.append((i, host, holder))
        assert not (markers / f"L{i:03d}.log").exists(), f"refused L{i:03d} changed a host"

    changing = LAUNCHES - len(dry)
    print(f"\n{LAUNCHES} launches ({changing} changing, {len(dry)} --check) in {elapsed:.1f} s "
          f"wall, {cpu_s:.0f} CPU-s, {os.cpu_count()} cores, load {os.getloadavg()[0]:.0f}: "
          f"{len(succeeded)} succeeded, {len(refused)} refused (lock busy), {len(dry)} dry "
          "runs not refused")
    assert len(succeeded) + len(refused) == changing
    assert succeeded, "no launch succeeded"
    assert refused, "no launch was refused: the launches did not contend"

    # the marker files: every success has one, with one interval per host it changed
    spans = {}
    for i in succeeded.values():
        marker = markers / f"L{i:03d}.log"
        assert marker.exists(), f"L{i:03d} succeeded without changing its hosts"
        assert marker.read_text().count("start") == len(subsets[i])
        spans[i] = intervals(marker)
    overlaps = [(a, b, sorted(set(subsets[a]) & set(subsets[b])))
                for a, b in combinations(sorted(spans), 2)
                if set(subsets[a]) & set(subsets[b])
                and spans[a][0] < spans[b][1] and spans[b][0] < spans[a][1]]
    assert overlaps == [], f"changing runs overlapped on a host: {overlaps}"

    # each refusal named its real holder: a launch that succeeded and changes that host
    for i, host, holder in refused:
        assert holder in succeeded, f"L{i:03d} named {holder}, not a run that held a lock"
        assert host in subsets[succeeded[holder]], (i, host, holder)
    runs = {r["run_id"]: r for r in hisops("runs", "--json", "--last", "1000", env=env).json()}
    statuses = [r["status"] for r in runs.values()]
    assert statuses.count("succeeded") == len(succeeded) + len(dry)
    assert statuses.count("refused") == len(refused)
    assert hisops("locks", "--json", env=env).json() == []  # every lock released
    verify = hisops("journal", "verify", env=env)
    assert verify.rc == 0, verify.out + verify.err
