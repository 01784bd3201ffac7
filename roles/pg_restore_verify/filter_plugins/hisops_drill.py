"""Filters that hand the drill's registered results to hisops' PostgreSQL engine.

The verdict of a restore drill is decided in one place, ``hisops.engines.postgres`` (typed,
unit-tested against recorded tool output); these filters only adapt Ansible's values. They
run on the controller, where hisops is installed.
"""

from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError

from hisops.engines import postgres, postgres_carry


def _plain(value: Any) -> Any:
    """Ansible's tagged/lazy containers as plain Python (the engine type-checks plain data)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value


def pick_backup(info_json: str, selector: str = "latest", target_time: str = "") -> dict[str, Any]:
    try:
        return postgres.pick_backup(str(info_json), str(selector), str(target_time or ""))
    except ValueError as exc:
        raise AnsibleFilterError(f"cannot choose a backup: {exc}") from None


def repository_errors(raw: dict[str, Any]) -> list[str]:
    checks = postgres.repository_checks(_plain(raw))
    return [f.one_line() for group in checks.values() for f in group
            if f.severity.value == "error"]


def drill_evidence(raw: dict[str, Any]) -> dict[str, Any]:
    return postgres.drill_evidence(_plain(raw))


def failure_reason(result: dict[str, Any], server_log: str = "", free_bytes: Any = None) -> str:
    free = int(free_bytes) if str(free_bytes or "").strip().isdigit() else None
    return postgres.failure_reason(_plain(result), str(server_log or ""), free)


def control_limits(controldata: str) -> dict[str, int]:
    return postgres.control_limits(str(controldata))


def restore_space(info_json: str, label: str, target_time: str = "", margin: Any = 1.1,
                  max_wal_size: Any = None) -> dict[str, Any]:
    try:
        return postgres.restore_space(str(info_json), str(label),
                                      target_time=str(target_time or ""), margin=float(margin),
                                      max_wal_size=_plain(max_wal_size))
    except ValueError as exc:
        raise AnsibleFilterError(f"cannot estimate the restore's space: {exc}") from None


def restore_eta(history: list[float], size_bytes: int) -> str:
    return postgres.restore_eta(_plain(history), int(size_bytes))


def carry_settings(source_json: str, exclude: list[str], memory_texts: list[str],
                   caps: dict[str, Any], budget_mb: Any = None) -> dict[str, Any]:
    """The source's settings to write into the restored copy (see hisops.engines.postgres_carry)."""
    memory = postgres_carry.memory_bytes([str(t) for t in _plain(memory_texts)], budget_mb)
    try:
        return postgres_carry.carry_settings(str(source_json), [str(p) for p in _plain(exclude)],
                                             memory, _plain(caps))
    except ValueError as exc:
        raise AnsibleFilterError(f"cannot carry the source's settings: {exc}") from None


def conf_value(value: Any) -> str:
    return postgres_carry.conf_value(value)


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "hisops_pick_backup": pick_backup,
            "hisops_repository_errors": repository_errors,
            "hisops_drill_evidence": drill_evidence,
            "hisops_failure_reason": failure_reason,
            "hisops_restore_eta": restore_eta,
            "hisops_restore_space": restore_space,
            "hisops_control_limits": control_limits,
            "hisops_carry_settings": carry_settings,
            "hisops_conf_value": conf_value,
        }
