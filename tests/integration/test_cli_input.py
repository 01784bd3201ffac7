"""Bad input through the real command line: one line naming file and field, exit 2, and
nothing executed (no journal record, no file touched)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.helpers import LOCAL_INVENTORY, hisops

RESUME = Path("tests/data/runbooks/resume.yml").read_text()


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (("    check: test -f", "    retries: lots\n    check: test -f"), "steps[1].retries"),
        (("  - id: s5\n    kind: ssh", "  - id: s5\n    kind: sh"), "steps[4].kind"),
        (("  pause: {type: int, default: 0}", "  pause: {type: int, default: 0, colour: red}"),
         "parameters.pause.colour"),
        (("    hosts: db_primary\n    command: echo s5",
          "    hosts: db_replica\n    command: echo s5"), "steps[4].hosts"),
    ],
)
def test_broken_runbook_field(tmp_path: Path, edit: tuple[str, str], field: str) -> None:
    runbook = tmp_path / "broken.yml"
    assert edit[0] in RESUME
    runbook.write_text(RESUME.replace(*edit).replace(
        "../playbooks/", str(Path("tests/data/playbooks").resolve()) + "/"))
    out = tmp_path / "out"
    out.mkdir()
    for command in ("plan", "run"):
        result = hisops(command, str(runbook), "-i", str(LOCAL_INVENTORY), "-e",
                        f"dir={out}", "--yes" if command == "run" else "--json")
        assert result.rc == 2, result.err
        lines = result.err.strip().splitlines()
        assert len(lines) == 1, lines
        assert str(runbook) in lines[0]
        assert field in lines[0]
        assert "Traceback" not in result.err
    assert not any(out.iterdir())
    assert hisops("runs", "--json").json() == []


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["-e", "dir=/nonexistent", "-e", "nope=1"], "-e nope: unknown parameter"),
        (["-e", "dir=/nonexistent", "-e", "pause=soon"],
         "parameter pause: 'soon' is not a valid int"),
        ([], "parameter dir: required parameter is missing"),
    ],
)
def test_bad_parameters(args: list[str], words: str) -> None:
    result = hisops("run", "tests/data/runbooks/resume.yml", "-i", str(LOCAL_INVENTORY),
                    *args, "--yes")
    assert result.rc == 2
    assert words in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert hisops("runs", "--json").json() == []


def test_malformed_inventory(tmp_path: Path) -> None:
    inventory = tmp_path / "inv.yml"
    inventory.write_text("all:\n  children:\n    db_primary:\n      hosts: [db-a]\n")
    result = hisops("plan", "tests/data/runbooks/resume.yml", "-i", str(inventory), "-e",
                    "dir=/tmp")
    assert result.rc == 2
    assert f"{inventory}:4: all.children.db_primary.hosts" in result.err


def test_validate_reports_every_problem_and_exits_2(tmp_path: Path) -> None:
    good = Path("runbooks/estate-check.yml")
    bad = tmp_path / "bad.yml"
    bad.write_text("name: bad\nsummary: s\nsteps: []\n")
    result = hisops("validate", str(good), str(bad))
    assert result.rc == 2
    assert "ok     " in result.out
    assert f"ERROR  {bad}:3: steps" in result.out
    assert hisops("validate").rc == 0  # everything shipped is valid


def test_unknown_run_id(tmp_path: Path) -> None:
    for command in (["show", "nope"], ["resume", "nope"]):
        result = hisops(*command)
        assert result.rc == 2
        assert "no run nope" in result.err
