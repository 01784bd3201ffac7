"""``hisops lab``: the click group for the podman lab (mounted by hisops.cli).

The only module of the lab that prints: the library returns results and raises HisopsError,
and this maps them to a table, JSON, one-line errors and exit codes.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import click
from rich import box
from rich.console import Console
from rich.table import Table

from hisops.errors import ExitStatus, HisopsError
from hisops.lab import image as lab_image
from hisops.lab import lifecycle
from hisops.lab.settings import LabSettings


def _guarded(fn: Callable[[], Any]) -> Any:
    """Run FN; a HisopsError becomes one line on stderr and its exit status."""
    try:
        return fn()
    except HisopsError as err:
        click.echo(f"hisops lab: {err}", err=True)
        sys.exit(int(err.exit_status))
    except KeyboardInterrupt:
        click.echo("hisops lab: interrupted", err=True)
        sys.exit(int(ExitStatus.INTERRUPTED))


@click.group(name="lab")
def lab() -> None:
    """The podman lab: a small hospital estate on this machine, every host on 127.0.0.1."""


@lab.command()
@click.option("--hosts", "app_hosts", type=click.IntRange(min=0), default=None,
              help="Extra light app hosts app-1..app-N (default: keep the current number, 0).")
@click.option("--scale", type=click.FloatRange(min=0, min_open=True), default=None,
              help=f"Dataset size, 1 = about 100,000 patients (default {lifecycle.DEFAULT_SCALE}"
                   " or what is loaded).")
@click.option("--seed", type=int, default=None, help="Dataset seed (default: the loaded one).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def up(app_hosts: int | None, scale: float | None, seed: int | None, as_json: bool) -> None:
    """Build or reuse the image and start the lab (idempotent)."""
    result: lifecycle.UpResult = _guarded(lambda: lifecycle.up(
        LabSettings.from_env(), app_hosts=app_hosts, scale=scale, seed=seed))
    if as_json:
        click.echo(json.dumps(_up_json(result), indent=2))
        return
    img = result.image
    click.echo(f"image {img.image}: {'built' if img.built else 'cached'} "
               f"(PostgreSQL {img.pg_version}, patch {img.patch_version or 'none'})")
    for label, names in (("created", result.created), ("restarted", result.restarted),
                         ("already running", result.kept), ("removed", result.removed)):
        if names:
            click.echo(f"{label}: {', '.join(names)}")
    if result.dataset is not None:
        ds = result.dataset
        click.echo(f"dataset scale {ds.scale}: {sum(ds.counts.values())} rows "
                   f"(generated {ds.generate_seconds:.1f} s, loaded {ds.load_seconds:.1f} s)")
    click.echo(f"inventory: {', '.join(map(str, result.inventory))}")
    click.echo(f"lab up in {result.seconds:.1f} s")


def _up_json(result: lifecycle.UpResult) -> dict[str, Any]:
    img = result.image
    return {
        "image": {"name": img.image, "built": img.built, "recipe": img.recipe_hash,
                  "pg_version": img.pg_version, "patch_version": img.patch_version,
                  "patch_repo": str(img.patch_repo) if img.patch_repo else None,
                  "build_seconds": round(img.seconds, 1)},
        "created": result.created, "restarted": result.restarted, "kept": result.kept,
        "removed": result.removed,
        "dataset": None if result.dataset is None else {
            "scale": result.dataset.scale, "seed": result.dataset.seed,
            "rows": result.dataset.counts,
            "generate_seconds": round(result.dataset.generate_seconds, 2),
            "load_seconds": round(result.dataset.load_seconds, 2)},
        "inventory": [str(p) for p in result.inventory],
        "seconds": round(result.seconds, 1),
        "timings": {k: round(v, 1) for k, v in result.timings.items()},
    }


@lab.command()
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def status(as_json: bool) -> None:
    """Show each host, its ports, and whether sshd, PostgreSQL and replication answer."""
    rows: list[lifecycle.HostStatus] = _guarded(lambda: lifecycle.status(LabSettings.from_env()))
    if as_json:
        click.echo(json.dumps([_status_json(r) for r in rows], indent=2))
    elif not rows:
        click.echo("no lab is up (run `hisops lab up`)")
    else:
        # borderless so the nine-host lab fits an 80-column terminal
        table = Table(title="hisops lab", box=box.SIMPLE_HEAD, pad_edge=False)
        for col in ("host", "role", "ssh", "pg", "replication", "http"):
            table.add_column(col, no_wrap=col == "host")
        for r in rows:
            h = r.host
            # a container that is not running shows its state where the ssh answer would be
            ssh_cell = (_cell(h.ssh_port, r.ssh) if r.container == "running"
                        else f"[red]{h.ssh_port} {r.container}[/red]")
            table.add_row(
                h.name, h.role.value, ssh_cell,
                _cell(h.pg_port, r.postgres), _cell(None, r.replication),
                _cell(h.http_port, r.http),
            )
        Console().print(table)
    if rows and not all(r.healthy for r in rows):
        sys.exit(int(ExitStatus.FAILED))


def _cell(port: int | None, p: Any) -> str:
    """'PORT answer' in green or red; '-' when the host has no such service."""
    if p is None:  # nothing to probe (verify-1 keeps its pg port free for restore drills)
        return str(port) if port else "-"
    text = f"{port} {p.detail}" if port else p.detail
    return f"[green]{text}[/green]" if p.ok else f"[red]{text}[/red]"


def _status_json(r: lifecycle.HostStatus) -> dict[str, Any]:
    def pj(p: Any) -> dict[str, Any] | None:
        return None if p is None else {"ok": p.ok, "detail": p.detail}

    h = r.host
    return {"host": h.name, "role": h.role.value, "groups": list(h.groups),
            "container": r.container, "ssh_port": h.ssh_port, "pg_port": h.pg_port,
            "http_port": h.http_port, "ssh": pj(r.ssh), "postgres": pj(r.postgres),
            "replication": pj(r.replication), "http": pj(r.http), "healthy": r.healthy}


@lab.command()
def down() -> None:
    """Remove the lab's containers and inventory (keys are kept); harmless when none run."""
    removed: list[str] = _guarded(lambda: lifecycle.down(LabSettings.from_env()))
    click.echo(f"removed: {', '.join(removed)}" if removed else "no lab containers to remove")


@lab.command()
@click.option("--rebuild", is_flag=True, help="Build even if the cached image matches the recipe.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the image's versions and its patch repository as JSON.")
def image(rebuild: bool, as_json: bool) -> None:
    """Build the lab image (or reuse the cached one when the recipe is unchanged)."""
    from hisops.patching.media import server_version_of

    info: lab_image.ImageInfo = _guarded(
        lambda: lab_image.ensure_image(LabSettings.from_env(), rebuild=rebuild))
    if as_json:
        # what a script needs to patch the lab: the server versions and the repository root
        click.echo(json.dumps({
            "image": info.image, "recipe": info.recipe_hash, "built": info.built,
            "pg_version": info.pg_version, "patch_version": info.patch_version,
            "pg_server_version": server_version_of(info.pg_version),
            "patch_server_version": (server_version_of(info.patch_version)
                                     if info.patch_version else None),
            "patch_repository": str(info.patch_repo.parent) if info.patch_repo else None,
            "pgbackrest_version": info.pgbackrest_version,
        }, indent=2))
        return
    how = f"built in {info.seconds:.0f} s" if info.built else "cached"
    click.echo(f"{info.image} ({how}, recipe {info.recipe_hash}): PostgreSQL {info.pg_version}, "
               f"pgBackRest {info.pgbackrest_version}")
    if info.patch_repo is not None:
        click.echo(f"patch repository ({info.patch_version}): {info.patch_repo}")
    else:
        click.echo("no newer PostgreSQL 15.x offered: no patch repository")


@lab.command(name="pg-version")
@click.argument("version", required=False)
def pg_version(version: str | None) -> None:
    """Show the PostgreSQL version of each lab database host, or install VERSION on all
    (e.g. `hisops lab pg-version 15.18` to rehearse the patching runbook again)."""
    from hisops.lab import versions

    settings = LabSettings.from_env()
    if version:
        changed: dict[str, str] = _guarded(lambda: versions.install_release(settings, version))
        for host, old in changed.items():
            click.echo(f"{host}: {old or '?'} -> {version}")
        if not changed:
            click.echo(f"every database host already runs {version}")
        return
    found: dict[str, str] = _guarded(lambda: versions.server_versions(settings))
    for host, running in found.items():
        click.echo(f"{host}: {running or 'not answering'}")


if __name__ == "__main__":  # `python -m hisops.lab.cli up`, before hisops.cli mounts the group
    lab()


@lab.command(name="datafix-scenario")
@click.option("--json", "as_json", is_flag=True, help="Print the injected errors as JSON.")
def datafix_scenario(as_json: bool) -> None:
    """Put one of each data error the datafix examples correct into the lab's HIS database
    (a lost payment confirmation, a discharge date ten years late, a duplicate patient) and
    print the runbook parameters that correct them."""

    def inject() -> dict[str, Any]:
        from hisops import paths
        from hisops.envs import dbconn
        from hisops.inventory import Inventory
        from hisops.lab import datafix_scenario as scenario

        inv = Inventory(paths.default_inventory())
        host = inv.hosts("db_primary")[0]
        with dbconn.connect(inv, host, dbname="his", secrets={}) as conn:
            return {"host": host, **scenario.inject(conn)}

    got = _guarded(inject)
    if as_json:
        click.echo(json.dumps(got, ensure_ascii=False, indent=2))
        return
    bill, stay, merge = got["bill"], got["discharge"], got["merge"]
    click.echo(f"injected into {got['host']}:his; correct them with:")
    click.echo(f"  hisops run datafix-billing-paid -e bill_id={bill['bill_id']} "
               f"-e payment={bill['payment']} -e ticket=INC-1")
    click.echo(f"  hisops run datafix-discharge-date -e stay_id={stay['stay_id']} "
               f"-e recorded={stay['recorded']} -e corrected={stay['corrected']} -e ticket=INC-2")
    click.echo(f"  hisops run datafix-merge-patient -e keep={merge['keep']} "
               f"-e duplicate={merge['duplicate']} -e visits={merge['visits']} "
               f"-e prescriptions={merge['prescriptions']} -e ticket=INC-3")
