"""Request validation, host resolution, batch planning and recap-to-outcome rules of the
Ansible executor; no ansible-playbook is run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hisops.errors import ExecutorError, InventoryError
from hisops.executors.ansible import (
    PlaybookRequest,
    _batch_outcomes,
    _BatchRun,
    _HostEvents,
    _plan_batches,
)
from hisops.executors.inventory import resolve_hosts
from hisops.executors.results import HostStatus

PLAYBOOK = Path(__file__).resolve().parents[1] / "data" / "executors" / "marker.yml"


def _req(tmp_path: Path, **kw: Any) -> PlaybookRequest:
    args: dict[str, Any] = {
        "playbook": PLAYBOOK, "role": None, "pattern": "all",
        "inventory": tmp_path / "inv", "private_data_dir": tmp_path / "pdd", "ident": "s1-1",
    }
    args.update(kw)
    return PlaybookRequest(**args)


@pytest.mark.parametrize(("kw", "message"), [
    ({"playbook": None}, "exactly one"),
    ({"role": "pg_backup"}, "exactly one"),
    ({"playbook": Path("marker.yml")}, "absolute"),
    ({"ident": "../escape"}, "ident"),
    ({"ident": ""}, "ident"),
    ({"pattern": " "}, "empty"),
    ({"forks": 0}, "forks"),
    ({"extravars": {"pw": "x"}, "secrets": {"pw": "y"}}, "both"),
    ({"secrets": {"pw": 1234}}, "strings"),
    ({"secrets": {"bad-name": "value"}}, "variable names"),
])
def test_bad_requests_are_refused_before_running(
    tmp_path: Path, kw: dict[str, Any], message: str
) -> None:
    with pytest.raises(ExecutorError, match=message):
        _req(tmp_path, **kw)


def test_role_request(tmp_path: Path) -> None:
    req = _req(tmp_path, playbook=None, role="pg_backup")
    assert req.role == "pg_backup"


def test_batches_take_each_host_once_and_refuse_stragglers(tmp_path: Path) -> None:
    req = _req(tmp_path, serial=("primary", "all_db", "empty"))
    batches = _plan_batches(req, ["p", "r1", "r2"], [["p"], ["p", "r1", "r2"], []])
    assert batches == [("p",), ("r1", "r2")]
    with pytest.raises(ExecutorError, match="r2"):
        _plan_batches(_req(tmp_path, serial=("primary",)), ["p", "r2"], [["p"]])


def _run(stats: dict[str, dict[str, int]] | None, hosts: tuple[str, ...],
         status: str = "successful", events: dict[str, _HostEvents] | None = None) -> _BatchRun:
    full = None
    if stats is not None:
        full = {k: stats.get(k, {}) for k in ("ok", "changed", "failures", "dark", "skipped",
                                              "rescued", "ignored", "processed")}
    return _BatchRun(hosts=hosts, status=status, rc=0 if status == "successful" else 2,
                     stats=full, events=events or {}, started_at="t0", ended_at="t1")


def test_recap_decides_each_host() -> None:
    run = _run({
        "ok": {"a": 2, "b": 3, "c": 1, "r": 2},
        "changed": {"b": 1, "c": 1},
        "failures": {"c": 1},
        "dark": {"d": 1},
        "skipped": {"e": 4},
        "rescued": {"r": 1},
    }, hosts=("a", "b", "c", "d", "e", "f", "r"))
    out = _batch_outcomes(run)
    assert {h: o.status for h, o in out.items()} == {
        "a": HostStatus.OK, "b": HostStatus.CHANGED, "c": HostStatus.FAILED,
        "d": HostStatus.UNREACHABLE, "e": HostStatus.SKIPPED, "f": HostStatus.SKIPPED,
        "r": HostStatus.OK,
    }
    assert out["c"].changed  # failed after changing something: the journal must know


def test_without_recap_events_explain_what_happened() -> None:
    events = {"a": _HostEvents(changed=True), "b": _HostEvents(failed="task 'x' failed: boom")}
    out = _batch_outcomes(_run(None, ("a", "b", "c"), status="timeout", events=events))
    assert (out["a"].status, out["a"].changed) == (HostStatus.TIMEOUT, True)
    assert out["b"].status == HostStatus.FAILED
    assert out["c"].status == HostStatus.TIMEOUT


def test_resolve_hosts_uses_ansible_pattern_semantics(tmp_path: Path) -> None:
    inv = tmp_path / "inv"
    inv.write_text("[web]\nw1\nw2\n[db]\nd1\nd2\n[primary]\nw1\nd1\n")
    got = resolve_hosts(inv, "web:db", limit="primary:d2", batches=("db", "web"))
    assert got.targets == ("w1", "d1", "d2")
    assert got.batches == (("d1", "d2"), ("w1",))
    assert resolve_hosts(inv, "web:!w1").targets == ("w2",)
    assert resolve_hosts(inv, "nosuch").targets == ()


def test_resolve_hosts_refuses_a_broken_inventory(tmp_path: Path) -> None:
    inv = tmp_path / "inv"
    inv.write_text("[web\nw1 = = =\n")
    with pytest.raises(InventoryError, match="cannot resolve"):
        resolve_hosts(inv, "all")
    with pytest.raises(InventoryError, match="does not exist"):
        resolve_hosts(tmp_path / "missing", "all")
