"""The contract's quarterly and annual service reports, gathered from the journal.

:func:`collect_quarter` / :func:`collect_annual` read the period's facts into one plain dict
(inspections, problems and SLA compliance, runbook runs and their evidence, recommendations);
:func:`render_html` and :func:`write_reports` turn it into a page and JSON; ``hisops report``
is the command line. See docs/service-reports.md.
"""

from __future__ import annotations

from hisops.servicereport.collect import (
    collect_annual,
    collect_quarter,
    current_quarter,
    current_year,
    recommendations,
)
from hisops.servicereport.render import render_html, summary_lines, to_json, write_reports

__all__ = [
    "collect_annual",
    "collect_quarter",
    "current_quarter",
    "current_year",
    "recommendations",
    "render_html",
    "summary_lines",
    "to_json",
    "write_reports",
]
