"""Secrets files, artifact scrubbing and fingerprints (hisops.executors.artifacts)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml

from hisops.errors import ExecutorError
from hisops.executors.artifacts import (
    MASK,
    artifact_digest,
    render_secrets_yaml,
    scrub_artifacts,
    secrets_vars_file,
    sweep_stale_secret_dirs,
    validate_var_names,
)


class _UnsafeLoader(yaml.SafeLoader):
    """Reads `!unsafe` the way Ansible does: as a plain, never-templated string."""


_UnsafeLoader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def test_secrets_file_is_private_and_removed_afterwards() -> None:
    with secrets_vars_file({"db_password": "s3cr3t-value"}) as holder:
        path = holder.write()
        assert path is not None
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        if Path("/dev/shm").is_dir():
            assert path.is_relative_to("/dev/shm")
        loaded = yaml.load(path.read_text(), Loader=_UnsafeLoader)  # noqa: S506 - safe subclass
        assert loaded == {"db_password": "s3cr3t-value"}
    assert not path.exists()
    assert not path.parent.exists()


def test_secrets_file_is_removed_when_the_run_raises() -> None:
    seen: list[Path] = []

    def failing_run() -> None:
        with secrets_vars_file({"k": "value-1234"}) as holder:
            path = holder.write()
            assert path is not None
            seen.append(path)
            raise RuntimeError("run blew up")

    with pytest.raises(RuntimeError):
        failing_run()
    assert seen
    assert not seen[0].parent.exists()


def test_no_secrets_no_file() -> None:
    with secrets_vars_file({}) as holder:
        assert holder.write() is None


def test_secrets_file_goes_once_consumed_and_comes_back_for_the_next_batch() -> None:
    with secrets_vars_file({"k": "value-1234"}) as holder:
        path = holder.write()
        assert path is not None
        holder.consumed()  # ansible-playbook has started: it read the file
        assert not path.exists()
        again = holder.write()  # the next serial batch
        assert again == path
        assert again.read_text().count("value-1234") == 1


def test_stale_secret_folders_of_dead_processes_are_swept(tmp_path: Path) -> None:
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    stale = tmp_path / f"hisops-secrets-{dead.stdout.strip()}-abc"
    live = tmp_path / f"hisops-secrets-{os.getpid()}-def"
    for folder in (stale, live):
        folder.mkdir()
        (folder / "secrets.yml").write_text("k: v\n")
    assert sweep_stale_secret_dirs(str(tmp_path)) == [stale]
    assert not stale.exists()
    assert live.exists()


@pytest.mark.parametrize("value", [
    "plain", "{{ lookup('env', 'HOME') }}", "quote'\"both", "ünïcødé ✓", "multi\nline\t",
    "trailing space ", "#comment-like", "- list-like", "yes", "123", "",
])
def test_secret_values_round_trip_as_unsafe(value: str) -> None:
    text = render_secrets_yaml({"v": value})
    assert "!unsafe" in text
    assert yaml.load(text, Loader=_UnsafeLoader) == {"v": value}  # noqa: S506


def test_variable_names_are_checked() -> None:
    validate_var_names({"ok_name": 1, "_x2": 2}, "extravars")
    with pytest.raises(ExecutorError, match="bad-name"):
        validate_var_names({"bad-name": 1}, "secrets")


def _tree(tmp_path: Path, files: dict[str, Any]) -> Path:
    root = tmp_path / "artifacts" / "step-1"
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content if isinstance(content, str) else json.dumps(content))
    return root


def test_scrub_masks_every_form_of_a_secret(tmp_path: Path) -> None:
    secret = 'pa"ss-é-word'  # noqa: S105 - test value
    root = _tree(tmp_path, {
        "stdout": f"raw {secret} end",
        "job_events/1-x.json": json.dumps({"res": {"msg": secret}}),  # \" and \u00e9 escapes
        "job_events/2-y.json": json.dumps({"msg": secret}, ensure_ascii=False),
        "other.txt": f"repr {secret!r}",
        "clean.txt": "nothing here",
    })
    changed = scrub_artifacts(root, {"db_password": secret})
    assert changed == 4
    for path in root.rglob("*"):
        if path.is_file():
            text = path.read_text()
            assert "ss-" not in text, path
    assert MASK in (root / "stdout").read_text()
    assert json.loads((root / "job_events/1-x.json").read_text()) == {"res": {"msg": MASK}}


def test_scrub_leaves_short_values_alone(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    root = _tree(tmp_path, {"stdout": "port 5432 on db"})
    assert scrub_artifacts(root, {"pin": "on"}) == 0
    assert (root / "stdout").read_text() == "port 5432 on db"
    assert "cannot be scrubbed" in caplog.text


def test_scrub_masks_the_controller_environment_in_command(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"command": {
        "command": ["ansible-playbook", "-e", "@/dev/shm/x/secrets.yml"],
        "cwd": "/x",
        "env": {"PATH": "/usr/bin", "PGPASSWORD": "hunter2-not-declared", "LC_ALL": "C",
                "ANSIBLE_PIPELINING": "True", "ANSIBLE_VAULT_PASSWORD_FILE": "/v"},
    }})
    scrub_artifacts(root, {}, readable_env=frozenset({"ANSIBLE_PIPELINING"}))
    env = json.loads((root / "command").read_text())["env"]
    assert env == {"PATH": "/usr/bin", "PGPASSWORD": MASK, "LC_ALL": "C",
                   "ANSIBLE_PIPELINING": "True", "ANSIBLE_VAULT_PASSWORD_FILE": MASK}


def test_digest_covers_paths_and_contents(tmp_path: Path) -> None:
    root = _tree(tmp_path, {"a/x": "1", "b": "2"})
    first = artifact_digest(root)
    assert first == artifact_digest(root)
    (root / "b").write_text("3")
    changed = artifact_digest(root)
    assert changed != first
    (root / "b").rename(root / "c")
    assert artifact_digest(root) != changed  # same bytes, different file name
