"""The command line on both journal backends, tamper detection, and vault secrets."""

from __future__ import annotations

import os
import signal
import sqlite3
from pathlib import Path

import pytest

from tests.integration.helpers import LOCAL_INVENTORY, env_with, hisops, read_log

INV = str(LOCAL_INVENTORY)


@pytest.fixture(params=["sqlite", "postgres"])
def journal_env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    if request.param == "sqlite":
        return env_with(HISOPS_JOURNAL=str(tmp_path / "journal.sqlite3"))
    url = request.getfixturevalue("pg_url")
    return env_with(HISOPS_JOURNAL=url)


def test_kill_resume_and_verify_on_each_backend(tmp_path: Path, journal_env: dict[str, str]
                                                ) -> None:
    args = ["run", "tests/data/runbooks/resume.yml", "-i", INV, "-e", f"dir={tmp_path}",
            "--yes"]
    killed = hisops(*args, env={**journal_env, "HISOPS_FAILPOINTS": "after-step:s2=kill"})
    assert killed.rc == -signal.SIGKILL
    runs = hisops("runs", "--json", env=journal_env).json()
    assert [r["status"] for r in runs] == ["running"]
    resumed = hisops("resume", runs[0]["run_id"], env=journal_env)
    assert resumed.rc == 0, resumed.err
    assert read_log(tmp_path) == ["s1", "s2", "s4", "s5"]
    verified = hisops("journal", "verify", "--json", env=journal_env)
    assert verified.rc == 0
    assert verified.json()["ok"] is True
    shown = hisops("show", runs[0]["run_id"], "--json", env=journal_env).json()
    kinds = [r["kind"] for r in shown["timeline"]]
    assert kinds.count("run.resumed") == 1
    assert kinds[-2:] == ["run.finished", "lock.released"]
    started = shown["timeline"][0]["payload"]
    assert started["operator"]
    assert started["plan_hash"] == shown["plan_hash"]
    assert started["params"]["dir"] == str(tmp_path)


def test_journal_verify_detects_an_edited_record(tmp_path: Path) -> None:
    db = tmp_path / "journal.sqlite3"
    env = env_with(HISOPS_JOURNAL=str(db))
    assert hisops("run", "tests/data/runbooks/resume.yml", "-i", INV, "-e", f"dir={tmp_path}",
                  "--yes", env=env).rc == 0
    assert hisops("journal", "verify", env=env).rc == 0
    with sqlite3.connect(db) as conn:  # an operator "fixing" history by hand
        conn.execute("UPDATE records SET payload = replace(payload, 'changed', 'ok') "
                     "WHERE kind = 'step.finished'")
    broken = hisops("journal", "verify", env=env)
    assert broken.rc == 1
    assert "BROKEN" in broken.out
    assert "edited" in broken.out


def test_secret_from_an_ansible_vault_file(tmp_path: Path) -> None:
    import hashlib

    from ansible.parsing.vault import VaultLib, VaultSecret

    vault_password = "vault-pass-for-test"
    secret = "VAULTED-canary-91ab"
    vault = VaultLib([("default", VaultSecret(vault_password.encode()))])
    vault_file = tmp_path / "secrets.vault.yml"
    vault_file.write_bytes(vault.encrypt(f"db_password: {secret}\n"))
    assert secret.encode() not in vault_file.read_bytes()

    env = env_with(HISOPS_VAULT_PASSWORD=vault_password)
    result = hisops("run", "tests/data/runbooks/secret.yml", "-i", INV, "-e",
                    f"dir={tmp_path}", "--vault-file", str(vault_file), "--yes", env=env)
    assert result.rc == 1  # its last step fails on purpose
    digest = hashlib.sha256(secret.encode()).hexdigest()
    assert (tmp_path / "ssh.sha256").read_text().strip() == digest
    assert secret not in result.out + result.err

    wrong = hisops("run", "tests/data/runbooks/secret.yml", "-i", INV, "-e", f"dir={tmp_path}",
                   "--vault-file", str(vault_file), "--yes",
                   env=env_with(HISOPS_VAULT_PASSWORD="wrong"))
    assert wrong.rc == 2
    assert "cannot decrypt vault" in wrong.err


def test_missing_secret_is_bad_input_and_runs_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    result = hisops("run", "tests/data/runbooks/secret.yml", "-i", INV, "-e", f"dir={out}",
                    "--yes")
    assert result.rc == 2
    assert "HISOPS_SECRET_DB_PASSWORD" in result.err
    assert not any(out.iterdir())
    assert hisops("runs", "--json").json() == []
    assert os.environ.get("HISOPS_SECRET_DB_PASSWORD") is None


def test_published_step_data_is_journaled_as_evidence_and_seen_by_later_steps(
        journal_env: dict[str, str]) -> None:
    result = hisops("run", "tests/data/runbooks/evidence.yml", "-i", INV, "--yes",
                    env=journal_env)
    assert result.rc == 0, result.err
    assert "db-a: db-a will take about 3 s" in result.err  # the play's announcement
    run_id = hisops("runs", "--json", env=journal_env).json()[-1]["run_id"]
    shown = hisops("show", run_id, "--json", env=journal_env).json()
    evidence = [r["payload"] for r in shown["timeline"] if r["kind"] == "evidence.recorded"]
    assert [(e["type"], e["subject"], e["evidence"]) for e in evidence] == [
        ("backup", "db-a", {"label": "L-db-a"}), ("backup", "db-b", {"label": "L-db-b"})]
    assert hisops("journal", "verify", env=journal_env).rc == 0
