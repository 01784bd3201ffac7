"""The patch repository, the host probe's parser, the preflight guard's verdicts and the
role's smoke-query judgement: the logic of patching that needs no host."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hisops.checks import BadArgument, CheckContext
from hisops.inventory import Inventory
from hisops.patching import media, preflight
from hisops.patching.probe import HostState, parse, probe_script
from tests.role_plugins import filter_plugin

ROOT = Path(__file__).resolve().parents[2]
OLD, NEW = "15.18-0+deb12u1", "15.20-0+deb12u1"
PACKAGES = ("postgresql-15", "postgresql-client-15", "libpq5")


def make_release(repo: Path, version: str, *, legacy: bool = False) -> Path:
    folder = repo / version
    folder.mkdir(parents=True)
    files = []
    for package in PACKAGES:
        deb = folder / f"{package}_{version}_amd64.deb"
        deb.write_bytes(f"{package} {version}".encode() * 1000)
        files.append({"name": deb.name, "sha256": hashlib.sha256(deb.read_bytes()).hexdigest(),
                      "bytes": deb.stat().st_size})
    manifest: dict[str, Any] = {"files": files}
    if legacy:  # the first lab images wrote from/to versions
        manifest |= {"from_version": OLD, "to_version": version}
    else:
        manifest |= {"package_version": version, "server_version": version.split("-")[0]}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "patch-repo"
    make_release(root, OLD)
    make_release(root, NEW, legacy=True)
    return root


# --- media ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("package", "server"), [
    ("15.20-0+deb12u1", "15.20"), ("1:15.20-1", "15.20"), ("16.4~rc1-1", "16.4"),
])
def test_server_version_is_the_upstream_part(package: str, server: str) -> None:
    assert media.server_version_of(package) == server


def test_releases_sort_numerically_not_as_text(tmp_path: Path) -> None:
    make_release(tmp_path, "15.9-1")
    make_release(tmp_path, "15.10-1")
    assert [r.server_version for r in media.releases(tmp_path)] == ["15.9", "15.10"]


def test_find_release_by_server_or_package_version(repo: Path) -> None:
    new = media.find_release(repo, server_version="15.20")
    assert new.package_version == NEW
    assert sorted(f.package for f in new.files) == sorted(PACKAGES)
    assert new.total_bytes == sum(f.bytes for f in new.files)
    assert media.find_release(repo, package_version=OLD).server_version == "15.18"


def test_a_missing_release_names_what_the_repository_holds(repo: Path) -> None:
    with pytest.raises(media.MediaError, match=r"no media for PostgreSQL 15\.21 .*15\.18, 15\.20"):
        media.find_release(repo, server_version="15.21")


def test_a_missing_repository_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(media.MediaError, match="does not exist"):
        media.releases(tmp_path / "nowhere")


def test_verify_release_reports_tampered_and_missing_files(repo: Path) -> None:
    release = media.find_release(repo, server_version="15.20")
    assert media.verify_release(release) == []
    (release.folder / release.files[0].name).write_bytes(b"tampered")
    (release.folder / release.files[1].name).unlink()
    problems = media.verify_release(release)
    assert len(problems) == 2
    assert any("does not match the manifest" in p for p in problems)
    assert any(p.endswith("missing") for p in problems)


@pytest.mark.parametrize("manifest", [
    "{not json", json.dumps({"package_version": "1-1"}),
    json.dumps({"package_version": "1-1", "files": []}),
    json.dumps({"package_version": "1-1", "files": [{"name": "../x.deb", "sha256": "0",
                                                     "bytes": 1}]}),
    json.dumps({"package_version": "1-1", "files": [{"name": "x.deb"}]}),
])
def test_unreadable_manifests_are_skipped_not_trusted(tmp_path: Path, manifest: str) -> None:
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "manifest.json").write_text(manifest)
    assert media.releases(tmp_path) == []


# --- the host probe ----------------------------------------------------------------------------


def test_probe_script_reads_the_hosts_port_and_major() -> None:
    script = probe_script("15", 22301)
    assert "dpkg-query -W -f='${Version}' postgresql-15" in script
    assert "-p 22301" in script
    assert "password" not in script.lower()


def test_parse_a_standby() -> None:
    out = json.dumps({"installed": OLD, "free_stage_bytes": "1000", "free_usr_bytes": 2000,
                      "server": {"version": "15.18", "in_recovery": True, "subscriptions": 0,
                                 "receiver": {"status": "streaming", "sender_port": 22301},
                                 "lag_bytes": 4096, "replicas": None, "logical_slots": [],
                                 "oldest_xact": {"age_s": 12.5, "pid": 7, "user": "his"}}})
    state = parse("his-db-2", "motd noise\n" + out)
    assert state.role == "standby"
    assert (state.installed, state.version) == (OLD, "15.18")
    assert state.receiver_port == 22301
    assert state.lag_bytes == 4096
    assert state.oldest_xact_s == 12.5
    assert (state.free_stage_bytes, state.free_usr_bytes) == (1000, 2000)


def test_parse_a_stopped_cluster_and_garbage() -> None:
    stopped = parse("h", json.dumps({"installed": OLD, "server": None,
                                     "free_stage_bytes": 1, "free_usr_bytes": 1}))
    assert stopped.role == "stopped"
    assert not stopped.running
    assert parse("h", "").error
    assert "unreadable" in parse("h", "{oops").error


# --- the preflight guard -------------------------------------------------------------------------


def inventory(tmp_path: Path, repo: Path | None) -> Inventory:
    env_vars: dict[str, Any] = {"ansible_connection": "local"}
    if repo is not None:
        env_vars["pg_patch_repository"] = str(repo)
    doc = {"all": {"vars": env_vars, "children": {
        "db_primary": {"hosts": {"p1": {"pg_port": 5001}}},
        "db_standby": {"hosts": {"s1": {"pg_port": 5002}}},
        "db_replica": {"hosts": {"r1": {"pg_port": 5003}}},
    }}}
    path = tmp_path / "inv.json"
    path.write_text(json.dumps(doc))
    return Inventory(path)


def primary(**kw: Any) -> HostState:
    base: dict[str, Any] = {
        "host": "p1", "installed": OLD, "running": True, "version": "15.18",
        "replicas": [{"name": "s1", "state": "streaming", "lag_bytes": 0}],
        "logical_slots": ["his_sub"], "free_stage_bytes": 10**10, "free_usr_bytes": 10**10}
    return HostState(**(base | kw))


def standby(**kw: Any) -> HostState:
    base: dict[str, Any] = {
        "host": "s1", "installed": OLD, "running": True, "version": "15.18",
        "in_recovery": True, "receiver_status": "streaming", "receiver_port": 5001,
        "lag_bytes": 0.0, "free_stage_bytes": 10**10, "free_usr_bytes": 10**10}
    return HostState(**(base | kw))


def replica(**kw: Any) -> HostState:
    base: dict[str, Any] = {
        "host": "r1", "installed": OLD, "running": True, "version": "15.18",
        "subscriptions": 1, "free_stage_bytes": 10**10, "free_usr_bytes": 10**10}
    return HostState(**(base | kw))


def run_preflight(monkeypatch: pytest.MonkeyPatch, inv: Inventory,
                  states: list[HostState], **args: Any) -> Any:
    seen: list[list[str]] = []

    def fake_probe(hosts: list[str], _inv: Inventory, **_kw: Any) -> dict[str, HostState]:
        seen.append(list(hosts))
        by_name = {s.host: s for s in states}
        return {h: by_name[h] for h in hosts}

    monkeypatch.setattr(preflight, "probe_hosts", fake_probe)
    ctx = CheckContext(name="fit", hosts=("p1", "s1", "r1"), inventory=inv,
                       args={"target_version": "15.20", "primary": "db_primary", **args},
                       journal=None, now=datetime.now(UTC))
    result = preflight.pg_patch_preflight(ctx)
    assert seen == [["s1", "r1", "p1"]], "standbys and replicas are probed and listed first"
    return result


def test_healthy_estate_passes_and_lists_the_order(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, repo: Path) -> None:
    result = run_preflight(monkeypatch, inventory(tmp_path, repo),
                           [primary(), standby(), replica()])
    assert result.ok, result.problems
    assert [r["host"] for r in result.rows] == ["s1", "r1", "p1"]
    assert result.rows[2]["action"] == "patch to 15.20 by restart"
    assert any("sha256 checked" in n for n in result.notes)


def test_every_host_at_target_needs_nothing(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    done = {"installed": NEW, "version": "15.20"}
    # no repository at all: nothing to patch, so nothing is asked of the media
    result = run_preflight(monkeypatch, inventory(tmp_path, None),
                           [primary(**done), standby(**done), replica(**done)])
    assert result.ok
    assert any("nothing to change" in n for n in result.notes)
    assert {r["action"] for r in result.rows} == {"none: at target"}


@pytest.mark.parametrize(("states", "expected"), [
    ([primary(in_recovery=True), standby(), replica()],
     "listed as a primary but runs as a standby"),
    ([primary(), standby(in_recovery=False, receiver_status=""), replica()],
     "listed as a standby or replica but is a primary"),
    ([primary(), standby(receiver_status="waiting"), replica()], "does not stream"),
    ([primary(), standby(lag_bytes=64 * 1024**2), replica()], "replay lags 64.0 MB"),
    ([primary(replicas=[{"name": "s1", "lag_bytes": 32 * 1024**2}]), standby(), replica()],
     "replica s1 lags 32.0 MB"),
    ([primary(oldest_xact_s=900.0, oldest_xact={"pid": 42}), standby(), replica()],
     "open 900 s (pid 42"),
    ([primary(running=False), standby(), replica()], "not running"),
    ([primary(free_usr_bytes=1000), standby(), replica()], "needed to install"),
    ([primary(), standby(free_stage_bytes=10), replica()], "free for the media"),
    ([primary(), standby(), HostState(host="r1", error="connection refused")],
     "r1: cannot probe: connection refused"),
])
def test_unfit_hosts_are_refused_with_the_reason(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, repo: Path,
        states: list[HostState], expected: str) -> None:
    result = run_preflight(monkeypatch, inventory(tmp_path, repo), states)
    assert not result.ok
    assert any(expected in p for p in result.problems), result.problems


def test_missing_rollback_media_refuses(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, repo: Path) -> None:
    odd = "15.17-0+deb12u1"
    result = run_preflight(monkeypatch, inventory(tmp_path, repo),
                           [primary(installed=odd, version="15.17"), standby(), replica()])
    assert any(f"no rollback media for {odd} (on p1)" in p for p in result.problems)


def test_damaged_or_missing_target_media_refuses(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, repo: Path) -> None:
    deb = next((repo / NEW).glob("libpq5*.deb"))
    deb.write_bytes(b"tampered")
    result = run_preflight(monkeypatch, inventory(tmp_path, repo),
                           [primary(), standby(), replica()])
    assert any("does not match the manifest" in p for p in result.problems)
    result = run_preflight(monkeypatch, inventory(tmp_path, None),
                           [primary(), standby(), replica()])
    assert any("pg_patch_repository" in p for p in result.problems)


def test_switchover_needs_a_streaming_standby_and_switch_back_with_logical_slots(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, repo: Path) -> None:
    inv = inventory(tmp_path, repo)
    ok = run_preflight(monkeypatch, inv, [primary(), standby(), replica()],
                       strategy="switchover", switchover_standby="s1", switch_back=True)
    assert ok.ok, ok.problems
    assert ok.rows[2]["action"] == "patch to 15.20 by switchover"
    stranded = run_preflight(monkeypatch, inv, [primary(), standby(), replica()],
                             strategy="switchover", switchover_standby="s1", switch_back="false")
    assert any("strand the logical replicas" in p for p in stranded.problems)
    unarchived = run_preflight(monkeypatch, inv, [primary(archive_mode="on", logical_slots=[]),
                                                  standby(archive_mode="off"), replica()],
                               strategy="switchover", switchover_standby="s1",
                               switch_back=False)
    assert any("WAL archiving off" in p for p in unarchived.problems), unarchived.problems
    elsewhere = run_preflight(monkeypatch, inv, [primary(), standby(receiver_port=9999),
                                                 replica()],
                              strategy="switchover", switchover_standby="s1")
    assert any("s1 does not stream from p1" in p for p in elsewhere.problems)


@pytest.mark.parametrize(("args", "field"), [
    ({"target_version": "latest"}, "target_version"),
    ({"target_version": "15.20", "max_lag": "lots"}, "max_lag"),
    ({"target_version": "15.20", "max_xact_age": "soon"}, "max_xact_age"),
    ({"target_version": "15.20", "strategy": "yolo"}, "strategy"),
])
def test_bad_arguments_are_input_errors(args: dict[str, Any], field: str) -> None:
    with pytest.raises(BadArgument) as err:
        preflight.validate(args)
    assert err.value.arg == field


@pytest.mark.parametrize(("text", "size"), [
    ("16MB", 16 * 1024**2), ("1.5GB", int(1.5 * 1024**3)), (4096, 4096), ("512", 512),
])
def test_sizes_use_postgresqls_units(text: str | int, size: int) -> None:
    assert preflight.parse_size(text) == size


# --- the role's smoke judgement (filter plugin) ---------------------------------------------------


def _filters() -> Any:
    return filter_plugin("pg_patch", "hisops_patch")


def test_smoke_failures_name_the_query_and_psqls_error_line() -> None:
    filters = _filters()
    results = [
        {"item": {"name": "visits", "sql": "x", "min_rows": 1}, "rc": 0, "stdout": "12"},
        {"item": {"name": "empty", "sql": "x", "min_rows": 1}, "rc": 0, "stdout": "0"},
        {"item": {"name": "broken", "sql": "x"}, "rc": 3, "stdout": "",
         "stderr": 'psql:<stdin>:1: ERROR:  relation "his.nope" does not exist\n'
                   "LINE 1: SELECT count(*) FROM (SELECT * FROM his.nope) ...\n     ^\n"},
        {"item": {"name": "skipped"}, "skipped": True},
    ]
    assert filters.smoke_failures(results) == [
        "smoke query empty failed: 0 rows, expected at least 1",
        'smoke query broken failed: psql:<stdin>:1: ERROR:  relation "his.nope" does not exist',
    ]


def test_media_files_map_the_repository_to_the_staging_folder(repo: Path) -> None:
    filters = _filters()
    release = filters.patch_release(str(repo), server_version="15.20")
    files = filters.patch_media_files([release], "/var/cache/hisops/pg_patch")
    assert {f["dest"].rsplit("/", 2)[1] for f in files} == {NEW}
    assert all(Path(f["src"]).is_file() for f in files)
