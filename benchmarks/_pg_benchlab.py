"""A bench lab of 20 real PostgreSQL hosts, shared by the benchmarks that need one
(bench_baseline.py, bench_inspection.py); each runs it under its own name, ports and dirs.

``hisops lab up --hosts N`` gives the three database hosts his-db-1..3 (primary, streaming
standby, logical subscriber) plus N light hosts app-1..N that run sshd only; on each light host
:meth:`PgBenchLab.light_clusters` makes a PostgreSQL 15 cluster as the lab makes its primary
(pgsetup: data checksums, 127.0.0.1 only, shared_buffers 32MB) on port base + 100 + host index,
and :meth:`PgBenchLab.write_bench_inventory` writes an inventory of those hosts from the lab's
generated one (``_baseline_lab.bench_inventory``). Every call takes the lab's environment
(:meth:`PgBenchLab.lab_env`), so the developer's lab (default name and ports) is never touched.

benchmarks/ is on sys.path when a benchmark runs as a script; hisops is imported lazily.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml
from _baseline_lab import bench_inventory, light_pg_port
from _benchlab import HISOPS, hisops, refuse_foreign_ports

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class PgBenchLab:
    """One benchmark's own lab: NAME (containers hisops-NAME-*), ports PORT_BASE ..
    PORT_BASE + PORT_SPAN - 1, state in LAB_DIR (default ~/.hisops/NAME), runs (HISOPS_HOME,
    journal) under ~/.hisops/NAME-runs; WRITER is the benchmark (script stem) that uses it:
    the operator of its runs and the author named in its inventory."""

    name: str
    port_base: int
    writer: str
    light_hosts: int = 17  # + his-db-1..3 = 20 PostgreSQL hosts
    port_span: int = 300  # ssh, PostgreSQL and HTTP ports: base + 0..299
    lab_dir: Path = field(default=Path())

    def __post_init__(self) -> None:
        if self.lab_dir == Path():
            object.__setattr__(self, "lab_dir", Path.home() / ".hisops" / self.name)

    @property
    def runs_dir(self) -> Path:
        return self.lab_dir.parent / f"{self.name}-runs"

    @property
    def inventory(self) -> Path:
        return self.lab_dir / "bench-inventory.yml"

    @property
    def ports(self) -> str:
        return f"{self.port_base}-{self.port_base + self.port_span - 1}"

    def lab_env(self, home: Path) -> dict[str, str]:
        return {**os.environ, "HISOPS_LAB_NAME": self.name, "HISOPS_LAB_DIR": str(self.lab_dir),
                "HISOPS_LAB_PORT_BASE": str(self.port_base), "HISOPS_HOME": str(home),
                "HISOPS_JOURNAL": str(home / "journal.sqlite3"),
                "HISOPS_INVENTORY": str(self.inventory),
                "HISOPS_PROJECT": str(ROOT), "HISOPS_OPERATOR": self.writer}

    # --- the lab -------------------------------------------------------------------------------

    def settings_of(self, env: dict[str, str]) -> Any:
        from hisops.lab.settings import LabSettings

        settings = LabSettings.from_env(env)
        if settings.name != self.name or settings.port_base != self.port_base:
            raise SystemExit(f"refusing: the environment names lab {settings.name!r} on "
                             f"{settings.port_base}, not the bench lab {self.name!r}")
        return settings

    def our_ports(self, env: dict[str, str]) -> set[int]:
        """The ports a bench lab kept from an earlier run listens on (its light clusters too)."""
        from hisops.lab.state import load

        kept = load(self.settings_of(env))
        if kept is None:
            return set()
        ports = set()
        for host in kept.topology().hosts:
            ports |= {p for p, _ in host.ports()}
            ports.add(light_pg_port(self.port_base, host.index))
        return ports

    def check_ports(self, env: dict[str, str]) -> None:
        """Refuse to start when anything but this bench lab listens on its ports."""
        refuse_foreign_ports(self.our_ports(env), self.port_base, self.port_span)

    def up(self, env: dict[str, str], scale: str = "0.01") -> float:
        """``hisops lab up --hosts LIGHT_HOSTS --scale SCALE``; the seconds it took."""
        took, _ = hisops("lab", "up", "--hosts", str(self.light_hosts), "--scale", scale,
                         "--json", env=self._checked(env))
        return took

    def down(self, env: dict[str, str]) -> float:
        """``hisops lab down`` of this bench lab (never another) and its inventory removed."""
        took, _ = hisops("lab", "down", env=self._checked(env), check=False)
        self.inventory.unlink(missing_ok=True)
        return took

    def down_command(self) -> str:
        return (f"HISOPS_LAB_NAME={self.name} HISOPS_LAB_PORT_BASE={self.port_base} "
                f"HISOPS_LAB_DIR={self.lab_dir} {HISOPS} lab down")

    def _checked(self, env: dict[str, str]) -> dict[str, str]:
        if (env.get("HISOPS_LAB_NAME") != self.name
                or env.get("HISOPS_LAB_PORT_BASE") != str(self.port_base)
                or env.get("HISOPS_LAB_DIR") != str(self.lab_dir)):
            raise SystemExit(f"refusing to run the lab command outside the {self.name} lab")
        return env

    def light_clusters(self, env: dict[str, str]) -> tuple[dict[str, int], float]:
        """Make (or find) a cluster on every light host, as the lab makes its primary: data
        checksums, 127.0.0.1 only, shared_buffers 32MB, the lab's postgres password. Returns
        the PostgreSQL port of every database host and the seconds it took."""
        from hisops.lab import containers, keys, pgsetup, state
        from hisops.lab.topology import Role

        settings = self.settings_of(env)
        current = state.load(settings)
        if current is None:
            raise SystemExit("the bench lab did not come up")
        topo = current.topology()
        password = keys.pg_password(settings)
        ports = {h.name: h.pg for h in topo.hosts if h.runs_postgres}
        light = [replace(h, pg_port=light_pg_port(self.port_base, h.index))
                 for h in topo.by_role(Role.APP_LIGHT)]
        if len(light) != self.light_hosts:
            raise SystemExit(f"the bench lab has {len(light)} light hosts, "
                             f"not {self.light_hosts}")

        def one(host: Any) -> None:
            pgsetup.ensure_primary(containers.container_name(settings, host.name), host,
                                   password)
            pgsetup.wait_ready(host.pg, password)

        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(one, light))
        ports.update({h.name: h.pg for h in light})
        return ports, time.perf_counter() - start

    def write_bench_inventory(self, env: dict[str, str], pg_ports: dict[str, int]) -> list[str]:
        """The bench inventory in the lab dir; returns its hosts in inventory order."""
        settings = self.settings_of(env)
        lab_inv = yaml.safe_load(settings.inventory_file.read_text())
        inv = bench_inventory(lab_inv, pg_ports)
        text = (f"# Written by benchmarks/{self.writer}.py from the bench lab's inventory: "
                f"its {len(pg_ports)}\n"
                "# PostgreSQL hosts (app-N run a cluster here and are in db_primary).\n"
                + yaml.safe_dump(inv, sort_keys=False, width=1000))
        self.inventory.write_text(text)
        env_group = next(iter(inv["all"]["children"].values()))
        return list(env_group["hosts"])


# --- what every report of such a run states --------------------------------------------------

    def bring_up(self, env: dict[str, str], results: dict[str, Any], hosts_wanted: int
                 ) -> list[str]:
        """Lab up, a cluster on every light host, the bench inventory: the hosts (in
        inventory order), their ports and the set-up times recorded in RESULTS."""
        m = results["machine"]
        print(f"machine: {m['nproc']} cores, {m['memory_gib']} GiB, load "
              f"{m['load_at_start']}, {m['other_containers']} other containers", flush=True)
        took = self.up(env)
        results["lab_up_s"] = round(took, 1)
        print(f"bench lab up in {took:.1f} s", flush=True)
        pg_ports, took = self.light_clusters(env)
        results["light_clusters_s"] = round(took, 1)
        print(f"{self.light_hosts} light clusters ready in {took:.1f} s", flush=True)
        hosts = self.write_bench_inventory(env, pg_ports)
        if len(hosts) != hosts_wanted:
            raise SystemExit(f"the bench inventory has {len(hosts)} hosts, not {hosts_wanted}")
        results["hosts"] = {h: pg_ports[h] for h in hosts}
        return hosts


def max_workers_default() -> int:
    """run_command's default parallelism, read from its signature (not copied here)."""
    import inspect

    from hisops.executors import ssh

    return int(inspect.signature(ssh.run_command).parameters["max_workers"].default)


def machine(lab: str, load_at_start: tuple[float, float, float]) -> dict[str, Any]:
    """Cores, memory, load and how many containers of other labs run beside lab LAB."""
    mem_kib = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                       if line.startswith("MemTotal:")))
    others = subprocess.run(["podman", "ps", "--format", "{{.Names}}"], capture_output=True,
                            text=True, check=False).stdout.split()
    return {"nproc": os.cpu_count(), "memory_gib": round(mem_kib / 1024**2, 1),
            "load_at_start": [round(v, 2) for v in load_at_start],
            "uptime": subprocess.run(["uptime"], capture_output=True, text=True,
                                     check=False).stdout.strip(),
            "other_containers": len([n for n in others if not n.startswith(f"hisops-{lab}-")])}


def product_state(paths: Sequence[str] = ("pylib",)) -> str:
    """The product's commit, and which of PATHS have uncommitted changes."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True,
                              check=False).stdout.rstrip()

    dirty = [line[3:] for line in git("status", "--porcelain", "--", *paths).splitlines()]
    return git("rev-parse", "--short", "HEAD") + (
        f" + uncommitted {', '.join(dirty)}" if dirty else "")
