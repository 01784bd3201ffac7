"""What every HTML report (baseline drift, inspection, service report) shares: the template
environment, the severity level of a row, the quarter a report belongs to, the atomic write."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader

from hisops.severity import LEVELS


def environment(package: str) -> Environment:
    """Templates of PACKAGE/templates, every value escaped.

    autoescape for every template: the names end in .j2, which select_autoescape would miss.
    Lenient undefined: a report journaled by an older hisops may lack a newer field.
    """
    return Environment(loader=PackageLoader(package, "templates"), autoescape=True,
                       trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


def severity_number(value: Any) -> int:
    """A row's level, 1-4; anything unreadable counts as the least severe."""
    try:
        number = int(value)
    except (TypeError, ValueError):
        return 4
    return number if number in LEVELS else 4


def parse_time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


def quarter(started_at: Any, template: str) -> str:
    """The calendar quarter of STARTED_AT in TEMPLATE ("{year} Q{q}"): the service period."""
    when = parse_time(started_at)
    if when is None:
        return ""
    return template.format(year=when.year, q=(when.month - 1) // 3 + 1)


def write_atomic(path: Path, text: str) -> None:
    """Replace PATH whole (a reader never sees half a report)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
