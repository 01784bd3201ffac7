"""The drift report files: the HTML annex in both languages and the JSON report."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from hisops.baselines.report import STRINGS, findings, render_html, write_reports

MALICIOUS = "<script>alert('x')</script>"


def _row(item: str, severity: int, status: str, **extra: Any) -> dict[str, Any]:
    row = {"item": item, "section": item.removeprefix("cis-"), "title": f"title of {item}",
           "title_zh": f"{item} 的要求", "severity": severity, "kind": "pg_setting",
           "status": status, "expected": "on", "actual": "off",
           "fix": f"ALTER SYSTEM SET x = 'on' ({item}); reload", "fix_mode": "auto",
           "needs": "reload", "detail": ""}
    row.update(extra)
    return row


@pytest.fixture
def report() -> dict[str, Any]:
    return {
        "kind": "hisops.baseline.check", "run_id": "bl-20261126T120000-ab12",
        "baseline": {"name": "cis-postgresql-15", "title": "CIS PostgreSQL 15 Benchmark (subset)",
                     "title_zh": "CIS PostgreSQL 15 安全基线（子集）",
                     "source": "CIS PostgreSQL 15 Benchmark (subset)", "version": "1",
                     "digest": "d1g35t" * 10, "engine": "postgresql"},
        "inventory": "inventories/lab/hosts.yml", "limit": None,
        "started_at": "2026-11-26T12:00:00+00:00", "finished_at": "2026-11-26T12:00:01+00:00",
        "duration_s": 1.4, "fail_on": 4,
        "summary": {"hosts": 3, "unreadable": 1, "checked": 7, "ok": 2, "drift": 4, "error": 1,
                    "not_applicable": 0,
                    "drift_by_severity": {"1": 0, "2": 2, "3": 1, "4": 1}, "failed": True},
        "hosts": [
            {"host": "his-db-1", "groups": ["db_primary"], "error": None, "results": [
                _row("cis-3.1.20", 3, "drift", actual=MALICIOUS),
                _row("cis-6.8", 2, "ok", actual="on", fix="", needs="none"),
                _row("cis-3.1.19", 4, "drift"),
                _row("cis-1.4-data-checksums", 2, "drift", fix_mode="manual", needs="manual",
                     fix="pg_checksums --enable, offline"),
            ]},
            {"host": "his-db-3", "groups": ["db_replica"], "error": None, "results": [
                _row("cis-4.3", 2, "drift", actual="also superuser: app"),
                _row("cis-6.9", 3, "error", actual="", fix="", detail="psql: timeout"),
                _row("cis-6.8", 2, "ok", actual="on", fix="", needs="none"),
            ]},
            {"host": "his-db-2", "groups": ["db_standby"],
             "error": "ssh: connect to host 127.0.0.1 port 22202: Connection refused",
             "results": []},
        ],
    }


def _text(html: str) -> str:
    """The page's visible text, tags removed (labels are checked as people read them)."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_chinese_is_the_default_and_names_levels_and_counts(report: dict[str, Any]) -> None:
    html = render_html(report)
    text = _text(html)
    assert '<html lang="zh-CN">' in html
    assert "配置基线偏离报告" in text
    assert "CIS PostgreSQL 15 安全基线（子集）" in text
    for name in ("一级", "二级", "三级", "四级"):
        assert name in text
    assert "数据库故障导致部分应用停止" in text  # level 2's meaning, from the contract
    assert "30 分钟" in text  # level 2 responds within 30 min
    assert "24 小时" in text  # level 3 is resolved within 24 h
    assert "1 个工作日" in text  # level 4: a solution within 1 working day
    assert '<span class="verdict fail">不合格</span>' in html
    assert "2026 年第 4 季度" in text
    assert "inventories/lab/hosts.yml" in text
    counts = re.search(r"主机数.*?</tr>\s*<tr>(.*?)</tr>", html, re.S)
    assert counts is not None
    assert re.findall(r">(\d+)<", counts.group(1)) == ["3", "1", "7", "2", "4", "1", "0"]
    by_level = re.findall(r'lv-(\d)">[^<]+</span></td>(?:\s*<td>[^<]*</td>){4}\s*'
                          r'<td class="num">(\d+)</td>', html)
    assert by_level == [("1", "0"), ("2", "2"), ("3", "1"), ("4", "1")]
    assert "cis-3.1.20 的要求" in text  # Chinese item titles


def test_english_on_request(report: dict[str, Any]) -> None:
    html = render_html(report, lang="en")
    text = _text(html)
    assert '<html lang="en">' in html
    assert "Configuration baseline drift report" in text
    assert "CIS PostgreSQL 15 Benchmark (subset)" in text
    assert "level 2" in text
    assert "database fault stops part of the applications" in text
    assert "FAILED" in text
    assert "2026 Q4" in text
    assert "title of cis-3.1.20" in text
    assert "配置基线" not in text


def test_a_clean_check_passes(report: dict[str, Any]) -> None:
    clean = copy.deepcopy(report)
    clean["summary"].update(failed=False, drift=0, error=0, unreadable=0,
                            drift_by_severity={"1": 0, "2": 0, "3": 0, "4": 0})
    for host in clean["hosts"]:
        host["error"] = None
        host["results"] = [r for r in host["results"] if r["status"] == "ok"]
    html = render_html(clean)
    assert '<span class="verdict pass">合格</span>' in html
    assert "verdict fail" not in html
    assert "No drift and no error." in _text(render_html(clean, lang="en"))


def test_findings_are_drift_by_severity_then_errors(report: dict[str, Any]) -> None:
    order = [(r["item"], r["host"]) for r in findings(report)]
    assert order == [("cis-1.4-data-checksums", "his-db-1"), ("cis-4.3", "his-db-3"),
                     ("cis-3.1.20", "his-db-1"), ("cis-3.1.19", "his-db-1"),
                     ("cis-6.9", "his-db-3")]
    html = render_html(report)
    section = html[html.index("问题清单"):html.index("各主机检查明细")]
    positions = [section.index(item) for item, _host in order]
    assert positions == sorted(positions)
    assert "cis-6.8" not in section  # items that hold are not findings


def test_every_value_is_escaped(report: dict[str, Any]) -> None:
    report["hosts"][0]["host"] = "<b>db</b>"
    report["baseline"]["source"] = '"><img src=x onerror=alert(1)>'
    for lang in ("zh", "en"):
        html = render_html(report, lang=lang)
        assert "<script" not in html
        assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
        assert "<b>db</b>" not in html
        assert "&lt;b&gt;db&lt;/b&gt;" in html
        assert "<img" not in html


def test_self_contained(report: dict[str, Any]) -> None:
    html = render_html(report)
    assert "<style>" in html
    for external in ("<script", "<link", "src=", "@import", "http://", "https://"):
        assert external not in html


def test_an_unreachable_host_is_shown(report: dict[str, Any]) -> None:
    zh, en = _text(render_html(report)), _text(render_html(report, lang="en"))
    assert "his-db-2" in zh
    assert "无法读取该主机" in zh
    assert "Connection refused" in zh
    assert "The host could not be read" in en


def test_manual_fix_and_footer(report: dict[str, Any]) -> None:
    text = _text(render_html(report))
    assert "pg_checksums --enable, offline" in text
    assert "人工处理" in text
    assert "bl-20261126T120000-ab12" in text
    assert "d1g35t" * 10 in text


def test_unknown_language_is_refused(report: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="language"):
        render_html(report, lang="fr")


def test_write_reports_round_trips_json(report: dict[str, Any], tmp_path: Path) -> None:
    html_path, json_path = tmp_path / "out" / "drift.html", tmp_path / "out" / "drift.json"
    write_reports(report, html_path, json_path, "zh")
    raw = json_path.read_bytes().decode("utf-8")
    assert json.loads(raw) == report
    assert "安全基线" in raw  # UTF-8 text, not \u escapes
    assert raw.startswith('{\n  "kind"')
    assert html_path.read_text(encoding="utf-8") == render_html(report, "zh")
    assert sorted(p.name for p in html_path.parent.iterdir()) == ["drift.html", "drift.json"]


def test_write_reports_writes_only_what_is_asked(report: dict[str, Any],
                                                 tmp_path: Path) -> None:
    json_path = tmp_path / "only" / "drift.json"
    write_reports(report, None, json_path, "en")
    assert [p.name for p in json_path.parent.iterdir()] == ["drift.json"]


def test_both_languages_have_every_label() -> None:
    assert set(STRINGS["zh"]) == set(STRINGS["en"])
