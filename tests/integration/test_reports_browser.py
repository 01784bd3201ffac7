"""The HTML reports in a real headless Chromium: printed to PDF and rendered to a screenshot.

Chromium comes from Debian (scripts/bootstrap installs it with a CJK font); no host or lab is
involved. A missing browser fails these tests: the PDF export is a promise of the product.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from hisops.baselines.report import write_reports
from hisops.reports.browser import html_to_pdf, screenshot


def _drift_report() -> dict[str, Any]:
    row = {"item": "cis-3.1.20", "section": "3.1.20", "title": "Ensure log_connections is on",
           "title_zh": "确保启用 log_connections", "severity": 3, "kind": "pg_setting",
           "status": "drift", "expected": "on", "actual": "off",
           "fix": "ALTER SYSTEM SET log_connections = 'on'; SELECT pg_reload_conf()",
           "fix_mode": "auto", "needs": "reload", "detail": "", "target": {}}
    return {"kind": "hisops.baseline.check", "run_id": "bl-20261126T120000Z-abcdef",
            "baseline": {"name": "cis-postgresql-15", "title": "CIS PostgreSQL 15",
                         "title_zh": "CIS PostgreSQL 15 安全基线", "source": "CIS",
                         "version": "1", "digest": "0" * 64, "engine": "postgresql"},
            "inventory": "inventories/lab/hosts.yml", "limit": None,
            "started_at": "2026-11-26T12:00:00+00:00",
            "finished_at": "2026-11-26T12:00:01+00:00", "duration_s": 0.4, "fail_on": 4,
            "scope_missing": [],
            "summary": {"hosts": 1, "unreadable": 0, "checked": 1, "ok": 0, "drift": 1,
                        "error": 0, "not_applicable": 0,
                        "drift_by_severity": {"1": 0, "2": 0, "3": 1, "4": 0}, "failed": True},
            "hosts": [{"host": "his-db-1", "groups": ["db_primary"], "error": None,
                       "results": [row]}]}


def test_drift_report_prints_to_pdf_and_renders(tmp_path: Path) -> None:
    html = tmp_path / "drift.html"
    write_reports(_drift_report(), html, None, "zh")
    pdf = html_to_pdf(html, tmp_path / "drift.pdf")
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-")
    assert len(re.findall(rb"/Type\s*/Page[^s]", data)) >= 1
    png = screenshot(html, tmp_path / "drift.png", height=900)
    assert png.read_bytes().startswith(b"\x89PNG")
    assert png.stat().st_size > 10_000  # a rendered page, not a blank one


def test_service_report_prints_to_pdf(tmp_path: Path) -> None:
    from hisops.journal import open_journal
    from hisops.servicereport import collect_quarter
    from hisops.servicereport.render import write_reports as write_service_reports

    journal = open_journal(str(tmp_path / "j.sqlite3"))
    try:
        journal.append("inspect-1", "inspection.run", {
            "run_id": "inspect-1", "started_at": "2026-11-26T02:00:00+00:00", "partial": False,
            "unreachable": [], "hosts": [],
            "summary": {"hosts": 3, "findings": 1, "score": 85, "worst_level": 2,
                        "by_severity": {"1": 0, "2": 1, "3": 0, "4": 0},
                        "coverage": {"copies": 2, "copies_read": 2}}})
        report = collect_quarter(journal, "2026Q4")
    finally:
        journal.close()
    pdf = tmp_path / "q.pdf"
    write_service_reports(report, pdf_path=pdf, lang="zh")
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-")
    assert len(re.findall(rb"/Type\s*/Page\b", data)) >= 1
