"""Fuzzed files through the command line: each loader's command exits 2 with one line.

What an operator sees when a runbook, inventory, baseline or masking policy is malformed: exit
2 and exactly one line on stderr, ``hisops: error: FILE...``, naming the file; never a Python
traceback, never the "internal error" of an escaped exception (exit 1). Run in-process through
click, with the same fuzzed YAML values the loader fuzz tests use.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hisops.cli import main_group
from tests.fuzzing import values

from ..conftest import DATA

FUZZ = settings(max_examples=40, deadline=None,
                suppress_health_check=[HealthCheck.too_slow,
                                       HealthCheck.function_scoped_fixture])
LOCAL = DATA / "inventories" / "local.yml"
GOOD_RUNBOOK = DATA / "runbooks" / "good.yml"
# the hosts and groups refresh-env names, so that only the policy can be wrong
REFRESH_INVENTORY = """\
all:
  vars: {ansible_connection: local}
  children:
    env_lab: {hosts: {his-db-1: {}, backup-1: {}}}
    env_test: {children: {db_test: {hosts: {test-db-1: {}}}}}
"""
documents = st.one_of(st.text(max_size=200),
                      values.map(lambda v: yaml.safe_dump(v, allow_unicode=True)))


# refresh-env's required secrets; hisops takes them out of the environment when it reads
# them, so they are given again to every invocation
SECRETS = {"HISOPS_SECRET_MASKING_KEY": "fuzz-key", "HISOPS_SECRET_TEST_PASSWORD": "fuzz-pw"}


def hisops(*args: str) -> Any:
    result = CliRunner(env=SECRETS).invoke(main_group, list(args), catch_exceptions=True)
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"escaped {result.exception!r}")
    return result


def assert_one_line(result: Any, *names: str) -> None:
    """exit 2, one stderr line 'hisops: error: ...' naming one of ``names``."""
    assert "Traceback" not in result.output + result.stderr
    assert result.exit_code == 2, (result.exit_code, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("hisops: error: "), lines[0]
    assert any(name in lines[0] for name in names), lines[0]


def _file(folder: str, text: str) -> Path:
    path = Path(folder) / "fuzz.yml"
    path.write_text(text, encoding="utf-8")
    return path


@FUZZ
@given(documents)
def test_plan_with_a_fuzzed_runbook(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = _file(tmp, text)
        result = hisops("plan", str(path), "-i", str(LOCAL), "--offline")
        if result.exit_code != 0:  # a fuzzed document may be a (tiny) valid runbook
            assert_one_line(result, str(path))


@FUZZ
@given(documents)
def test_plan_with_a_fuzzed_inventory(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = _file(tmp, text)
        # good.yml targets db_primary and db_standby: no fuzzed inventory has both
        assert_one_line(hisops("plan", str(GOOD_RUNBOOK), "-i", str(path), "--offline"),
                        str(path))


@FUZZ
@given(documents)
def test_baseline_check_with_a_fuzzed_baseline(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = _file(tmp, text)
        missing = Path(tmp) / "no-inventory.yml"
        # a baseline the loader accepts goes on to the (missing) inventory: still no host
        assert_one_line(hisops("baseline", "check", str(path), "-i", str(missing)),
                        str(path), str(missing))


@FUZZ
@given(documents)
def test_plan_refresh_with_a_fuzzed_masking_policy(text: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = _file(tmp, text)
        inventory = Path(tmp) / "inventory.yml"
        inventory.write_text(REFRESH_INVENTORY, encoding="utf-8")
        result = hisops("plan", "refresh-env", "-i", str(inventory), "--offline",
                        "-e", "backup=fuzz", "-e", f"policy={path}")
        assert_one_line(result, str(path))


def test_the_unfuzzed_files_pass() -> None:
    """The baselines of the fuzz: the same commands with good files exit 0, so a failure
    above is the fuzzed file's, not the command line's."""
    with tempfile.TemporaryDirectory() as tmp:
        inventory = Path(tmp) / "inventory.yml"
        inventory.write_text(REFRESH_INVENTORY, encoding="utf-8")
        assert hisops("plan", str(GOOD_RUNBOOK), "-i", str(LOCAL), "--offline").exit_code == 0
        refresh = hisops("plan", "refresh-env", "-i", str(inventory), "--offline",
                         "-e", "backup=fuzz")
        assert refresh.exit_code == 0, refresh.stderr
