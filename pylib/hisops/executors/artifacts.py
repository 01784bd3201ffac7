"""Keeping secrets out of ansible-runner's artifacts, and fingerprinting what is left.

ansible-runner writes more than it is asked to: ``artifacts/<ident>/command`` holds the whole
controller environment, job events hold module results, and ``env/*`` holds the inputs unless
suppressed. hisops hands secrets to Ansible only through a 0600 vars file outside the private
data dir, then scrubs every artifact after the run, then fingerprints the artifacts so the
journal can prove later that the evidence was not edited.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from hisops.errors import ExecutorError
from hisops.secrets import MIN_SECRET_LEN, REDACTED

log = logging.getLogger(__name__)

MASK = REDACTED

_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# Environment variables whose values stay readable in the `command` artifact: they steer the
# run and carry no credentials. Every other value is masked, because the controller's
# environment may hold anything (PGPASSWORD, cloud keys, tokens) that hisops never saw.
_ENV_READABLE = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TERM", "TZ", "PWD",
    "VIRTUAL_ENV", "PYTHONPATH", "PYTHONHASHSEED", "TMPDIR",
    "AWX_ISOLATED_DATA_DIR", "RUNNER_OMIT_EVENTS", "RUNNER_ONLY_FAILED_EVENTS",
    "ORIGINAL_STDOUT_CALLBACK",
})
_ENV_READABLE_PREFIXES = ("LC_",)


class _Unsafe(str):
    """A string Ansible must never template: secrets may legitimately contain ``{{``."""


class _SecretsDumper(yaml.SafeDumper):
    pass


def _represent_unsafe(dumper: yaml.SafeDumper, value: _Unsafe) -> yaml.ScalarNode:
    return dumper.represent_scalar("!unsafe", str(value), style='"')


_SecretsDumper.add_representer(_Unsafe, _represent_unsafe)


def validate_var_names(names: Mapping[str, Any], what: str) -> None:
    """Refuse names Ansible cannot use as variables, before anything runs."""
    bad = sorted(k for k in names if not _VAR_NAME.match(k))
    if bad:
        raise ExecutorError(f"{what}: not valid Ansible variable names: {', '.join(bad)}")


def render_secrets_yaml(secrets: Mapping[str, str]) -> str:
    """YAML for ``-e @file``; each value tagged ``!unsafe`` so Ansible passes it verbatim."""
    return yaml.dump(
        {k: _Unsafe(v) for k, v in secrets.items()}, Dumper=_SecretsDumper,
        default_flow_style=False, allow_unicode=True, width=1 << 20,
    )


def _secrets_base_dir() -> str | None:
    """Prefer tmpfs so the secrets never reach a disk; fall back to the system temp dir."""
    shm = Path("/dev/shm")  # noqa: S108 - a private 0700 dir is created inside
    if shm.is_dir() and os.access(shm, os.W_OK | os.X_OK):
        return str(shm)
    return None


_SECRETS_PREFIX = "hisops-secrets-"


def sweep_stale_secret_dirs(base: str | None = None) -> list[Path]:
    """Remove secrets folders whose hisops process is gone (it was SIGKILLed before its
    ``finally`` could run). The owner's pid is part of each folder's name."""
    root = Path(base or _secrets_base_dir() or tempfile.gettempdir())
    removed: list[Path] = []
    for folder in root.glob(f"{_SECRETS_PREFIX}*-*"):
        pid_text = folder.name.removeprefix(_SECRETS_PREFIX).split("-", 1)[0]
        if not pid_text.isdigit():
            continue
        try:
            os.kill(int(pid_text), 0)
            continue  # its owner still runs
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    if removed:
        log.warning("removed %d secrets folder(s) left by a killed hisops process", len(removed))
    return removed


class SecretsFile:
    """The 0600 vars file ansible-playbook reads secrets from, living as briefly as possible.

    ``write()`` before each ansible-playbook start; ``consumed()`` as soon as the playbook has
    started (it has parsed its extra vars by then) deletes it, so a crash of hisops during a
    long play leaves nothing behind. Folders of crashed processes are swept at the next start.
    """

    def __init__(self, secrets: Mapping[str, str]) -> None:
        self.secrets = dict(secrets)
        self.folder: Path | None = None

    @property
    def path(self) -> Path | None:
        return None if self.folder is None else self.folder / "secrets.yml"

    def write(self) -> Path | None:
        if not self.secrets:
            return None
        if self.folder is None:
            sweep_stale_secret_dirs()
            self.folder = Path(tempfile.mkdtemp(prefix=f"{_SECRETS_PREFIX}{os.getpid()}-",
                                                dir=_secrets_base_dir()))
        path = self.folder / "secrets.yml"
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(render_secrets_yaml(self.secrets))
        return path

    def consumed(self) -> None:
        path = self.path
        if path is not None:
            path.unlink(missing_ok=True)

    def remove(self) -> None:
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None


@contextlib.contextmanager
def secrets_vars_file(secrets: Mapping[str, str]) -> Iterator[SecretsFile]:
    """A :class:`SecretsFile` removed on exit, whatever happens."""
    holder = SecretsFile(secrets)
    try:
        yield holder
    finally:
        holder.remove()


def secret_variants(secrets: Mapping[str, str]) -> list[bytes]:
    """Every byte form in which a secret value can appear in an artifact.

    Job events are JSON with ASCII escapes, `command` is JSON with UTF-8, stdout may show a
    Python repr; a value with a quote or a non-ASCII letter differs in each.
    """
    variants: set[bytes] = set()
    for value in secrets.values():
        if len(value) < MIN_SECRET_LEN:
            log.warning("a secret value shorter than %d characters cannot be scrubbed from "
                        "artifacts; mark every task that uses it no_log: true", MIN_SECRET_LEN)
            continue
        for form in (
            value,
            json.dumps(value)[1:-1],
            json.dumps(value, ensure_ascii=False)[1:-1],
            repr(value)[1:-1],
        ):
            variants.add(form.encode("utf-8"))
    # longest first, so a secret that contains another is masked whole
    return sorted(variants, key=len, reverse=True)


def _redact_command_env(path: Path, keep: frozenset[str]) -> None:
    """Mask the values of environment variables in runner's `command` artifact."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ExecutorError(f"cannot read ansible-runner artifact {path}: {exc}") from exc
    env = data.get("env")
    if not isinstance(env, dict):
        return
    data["env"] = {
        k: v if (k in keep or k in _ENV_READABLE or k.startswith(_ENV_READABLE_PREFIXES))
        else MASK
        for k, v in env.items()
    }
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def scrub_artifacts(
    root: Path, secrets: Mapping[str, str], readable_env: frozenset[str] = frozenset()
) -> int:
    """Mask every secret value in every file under `root`; return how many files changed.

    Also masks the controller environment in each `command` file except `readable_env`
    and a short list of harmless names.
    """
    variants = secret_variants(secrets)
    changed = 0
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        if path.name == "command":
            _redact_command_env(path, readable_env)
        if not variants:
            continue
        content = path.read_bytes()
        scrubbed = content
        for variant in variants:
            scrubbed = scrubbed.replace(variant, MASK.encode())
        if scrubbed != content:
            path.write_bytes(scrubbed)
            changed += 1
    if changed:
        log.info("masked secret values in %d artifact file(s) under %s", changed, root)
    return changed


def artifact_digest(root: Path) -> str:
    """sha256 over (relative path, size, content) of every file under `root`, sorted by path.

    Paths are part of the hash so that moving evidence between files changes the digest.
    """
    h = hashlib.sha256()
    files = sorted(
        (p.relative_to(root).as_posix(), p) for p in root.rglob("*")
        if p.is_file() and not p.is_symlink()
    )
    for rel, path in files:
        content = path.read_bytes()
        h.update(rel.encode("utf-8") + b"\0")
        h.update(len(content).to_bytes(8, "big"))
        h.update(content)
    return h.hexdigest()
