"""Durations as people write them in runbooks: ``90``, ``30s``, ``5m``, ``2h``, ``1h30m``."""

from __future__ import annotations

import re

_PART = re.compile(r"(\d+)([smhd])")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(value: int | str) -> int:
    """Seconds in ``value``; ``ValueError`` with a readable message when it is not a duration."""
    if isinstance(value, bool):  # pydantic reports ValueError as a field error; keep it
        raise ValueError(  # noqa: TRY004
            "a duration is a number of seconds or a string like 30s, 5m, 1h30m")
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return value
    text = value.strip().lower()
    if text.isdigit():
        return int(text)
    if not text or _PART.sub("", text):
        raise ValueError(f"'{value}' is not a duration (use 30s, 5m, 2h, 1h30m)")
    return sum(int(n) * _UNIT[u] for n, u in _PART.findall(text))


def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"
