"""The Python API runs the same engine as the command line."""

from __future__ import annotations

from pathlib import Path

import pytest

import hisops
from tests.integration.helpers import LOCAL_INVENTORY, read_log


def test_run_runbook_from_python(tmp_path: Path) -> None:
    outcome = hisops.run_runbook("tests/data/runbooks/failing.yml", LOCAL_INVENTORY,
                                 params={"dir": str(tmp_path)}, operator="api-user")
    assert outcome.status == "failed"
    assert outcome.exit_status == hisops.ExitStatus.FAILED
    assert read_log(tmp_path) == ["one", "two", "undo-two", "undo-one"]
    assert outcome.state.operator == "api-user"

    plan = hisops.plan_runbook("tests/data/runbooks/failing.yml", LOCAL_INVENTORY,
                               params={"dir": str(tmp_path)})
    assert plan.hash == outcome.state.plan_hash


def test_bad_parameter_raises_input_error() -> None:
    with pytest.raises(hisops.ParameterError):
        hisops.plan_runbook("tests/data/runbooks/failing.yml", LOCAL_INVENTORY,
                            params={"dir": "/tmp", "colour": "red"})
