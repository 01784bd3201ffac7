"""What every benchmark with a lab of its own shares: running the CLI, refusing ports that
another lab uses, printing a table. Pure standard library; no hisops import."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from _patch_metrics import listening_ports

HISOPS = str(Path(sys.executable).parent / "hisops")


def hisops(*args: str, env: dict[str, str], check: bool = True) -> tuple[float, str]:
    """Run the CLI as a user does; (wall seconds, stdout). A failure stops the benchmark."""
    start = time.perf_counter()
    proc = subprocess.run([HISOPS, *args], env=env, capture_output=True, text=True,
                          check=False, stdin=subprocess.DEVNULL)
    if check and proc.returncode != 0:
        raise SystemExit(f"hisops {' '.join(args[:3])} failed ({proc.returncode}):\n"
                         f"{proc.stderr.strip()}")
    return time.perf_counter() - start, proc.stdout


def refuse_foreign_ports(ours: set[int], base: int, span: int) -> None:
    """Refuse when anything but this bench lab listens on base .. base + span - 1."""
    out = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True, check=True).stdout
    foreign = listening_ports(out, base, base + span) - ours
    if foreign:
        raise SystemExit(f"ports {sorted(foreign)} in {base}-{base + span - 1} are used by "
                         "something else: refusing to start the bench lab")


def table(rows: list[tuple[str, ...]]) -> str:
    """ROWS (the first one the header) as aligned plain-text columns."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
             for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
