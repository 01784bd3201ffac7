"""Resolve Ansible host patterns against an inventory, in a child process.

The executors need the exact host list before a run: to give `--limit` a list that means
"pattern AND limit AND batch" (one `--limit` string cannot express an intersection of unions),
to report hosts that ran nothing as skipped, and to split serial batches. Ansible's own
InventoryManager does the matching, so the semantics are Ansible's. It runs in a child
interpreter because it keeps process-wide state (config constants, plugin caches, a display
that writes warnings to our stderr) that a long-running hisops process must not inherit.

Run as ``python -m hisops.executors.inventory INVENTORY PATTERN [--limit L] [--batch B ...]``;
prints JSON ``{"targets": [...], "batches": [[...], ...]}``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from hisops.errors import InventoryError

log = logging.getLogger(__name__)

RESOLVE_TIMEOUT_S = 120


@dataclass(frozen=True)
class ResolvedHosts:
    """Hosts matched by pattern ∩ limit, in inventory order, and each batch's share of them."""

    targets: tuple[str, ...]
    batches: tuple[tuple[str, ...], ...]


def resolve_hosts(
    inventory: Path, pattern: str, limit: str | None = None, batches: Sequence[str] = ()
) -> ResolvedHosts:
    """Match `pattern` (∩ `limit`) and each batch pattern; raise InventoryError when unusable."""
    argv = [sys.executable, "-m", "hisops.executors.inventory", str(inventory), pattern]
    if limit:
        argv += ["--limit", limit]
    for batch in batches:
        argv += ["--batch", batch]
    env = dict(os.environ)
    # strict: an inventory source Ansible cannot parse is an error, never an empty group
    env["ANSIBLE_INVENTORY_ANY_UNPARSED_IS_FAILED"] = "True"
    env["ANSIBLE_NOCOLOR"] = "1"
    try:
        proc = subprocess.run(  # noqa: S603 - our own interpreter and module, no shell
            argv, capture_output=True, text=True, env=env, timeout=RESOLVE_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise InventoryError(
            f"resolving host pattern '{pattern}' took over {RESOLVE_TIMEOUT_S}s",
            file=str(inventory),
        ) from exc
    if proc.returncode != 0:
        detail = (proc.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise InventoryError(
            f"cannot resolve host pattern '{pattern}': {detail}", file=str(inventory)
        )
    data = json.loads(proc.stdout)
    return ResolvedHosts(
        targets=tuple(data["targets"]),
        batches=tuple(tuple(b) for b in data["batches"]),
    )


def _main(argv: Sequence[str] | None = None) -> int:
    from ansible.errors import AnsibleError
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader

    parser = argparse.ArgumentParser(prog="hisops.executors.inventory")
    parser.add_argument("inventory")
    parser.add_argument("pattern")
    parser.add_argument("--limit")
    parser.add_argument("--batch", action="append", default=[])
    args = parser.parse_args(argv)
    if not Path(args.inventory).exists():
        sys.stderr.write(f"inventory {args.inventory} does not exist\n")
        return 2
    try:
        inv = InventoryManager(loader=DataLoader(), sources=[args.inventory])
        if args.limit:
            inv.subset(args.limit)
        targets = [h.name for h in inv.get_hosts(args.pattern)]
        inv.subset(None)
        chosen = set(targets)
        batches = []
        for batch in args.batch:
            batches.append([h.name for h in inv.get_hosts(batch) if h.name in chosen])
    except AnsibleError as exc:
        sys.stderr.write(" ".join(str(exc).split()) + "\n")
        return 2
    sys.stdout.write(json.dumps({"targets": targets, "batches": batches}))
    return 0


if __name__ == "__main__":
    sys.exit(_main())
