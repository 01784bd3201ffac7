"""The scan report for a console: a rich Table (the CLI prints it; this module never does)."""

from __future__ import annotations

from rich.table import Table

from hisops.pii.scan import Finding, ScanReport

_STYLE = {"high": "bold red", "medium": "yellow", "low": "dim"}


def evidence_text(finding: Finding) -> str:
    """One line: which witness spoke, and how loudly."""
    ev = finding.evidence
    parts = []
    if ev.name_strength:
        parts.append(f"name ({ev.name_strength})")
    test = "embedded" if finding.kind == "free_text" else finding.kind
    share = ev.shares.get(test)
    if share is not None and share > 0:
        parts.append(f"content {share:.0%} of {ev.non_empty} sampled")
    elif ev.non_empty is not None and finding.kind != "birth_date":
        parts.append(f"content not matching ({ev.non_empty} sampled)")
    return ", ".join(parts) or "-"


def render_table(report: ScanReport) -> Table:
    table = Table(title=f"PII scan of {report.database}: {len(report.findings)} columns "
                        f"({report.tables} tables, {report.columns} columns read)")
    for header in ("Table", "Column", "Type", "Kind", "Confidence", "Evidence"):
        table.add_column(header)
    for f in report.findings:
        table.add_row(f"{f.schema}.{f.table}", f.column, f.data_type, f.kind,
                      f"[{_STYLE[f.confidence]}]{f.confidence}[/]", evidence_text(f))
    if report.skipped:
        table.caption = "skipped: " + "; ".join(report.skipped)
    return table
