"""The inspection report as an HTML page: both languages, findings by severity, the partial
notice, trend charts, escaping, no external assets, render time and the CLI option."""

from __future__ import annotations

import copy
import json
import re
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from hisops.cli import main_group
from hisops.inspection import inspect as inspect_mod
from hisops.inspection.report import (
    STRINGS,
    earlier,
    findings,
    human_bytes,
    human_seconds,
    render_html,
    write_html,
)

DATA = Path(__file__).resolve().parent.parent / "data"
SAMPLE = DATA / "inspection" / "sample-report.json"
INVENTORY = DATA / "inventories" / "local.yml"
EVIL = "<script>alert('x')</script>"


def _sample() -> dict[str, Any]:
    report: dict[str, Any] = json.loads(SAMPLE.read_text(encoding="utf-8"))
    return report


def _earlier(report: dict[str, Any], days: int, grow: float = 0.9) -> dict[str, Any]:
    """The same estate ``days`` before, a little smaller and less busy."""
    old = copy.deepcopy(report)
    when = datetime.fromisoformat(report["started_at"]) - timedelta(days=days)
    old["started_at"] = when.isoformat()
    old["run_id"] = f"inspect-{when:%Y%m%dT%H%M%SZ}-old{days}"
    for host in old["hosts"]:
        found = host["metrics"]
        for name in ("pg.size_bytes", "pg.connections_pct", "repl.max_replica_lag_bytes"):
            if name in found:
                found[name] = found[name] * grow + days
    return old


def _svgs(page: str) -> list[str]:
    return re.findall(r"<svg\b.*?</svg>", page, flags=re.S)


def test_both_languages_carry_their_labels() -> None:
    report = _sample()
    zh = render_html(report, [], "zh")
    en = render_html(report, [], "en")
    for page, lang in ((zh, "zh"), (en, "en")):
        for key in ("report", "summary", "score", "by_level", "findings", "trends", "per_host"):
            assert STRINGS[lang][key] in page, (lang, key)
    assert '<html lang="zh-CN">' in zh
    assert "数据库巡检报告" in zh
    assert "2026 年第 4 季度" in zh
    assert "Database inspection report" in en
    assert "2026 Q4" in en
    # the finding's own language, the contract's levels and limits
    assert "缓冲区命中率偏低" in zh
    assert "Low buffer cache hit ratio" in en
    assert "四级" in zh
    assert "1 个工作日" in zh
    assert "6 小时" in zh
    assert "level 4" in en
    assert "1 working day" in en
    # overall score, hosts, readable units, the top statement and the log sample
    assert ">94<" in zh
    assert "his-db-1" in zh
    assert "备库（物理复制）" in zh
    assert "23.5 MB" in en
    assert "71.8%" in en
    assert "SELECT * FROM his.prescriptions WHERE patient_id = $1" in en
    assert "role &#34;root&#34; does not exist" in en
    assert "HIS-LIS" in en
    assert "5.9 ms" in en
    assert "P-2026-0003" in en  # a problem to confirm closed
    with pytest.raises(ValueError, match="zh, en"):
        render_html(report, [], "fr")


def test_findings_come_most_severe_first() -> None:
    report = _sample()
    report["hosts"][4]["findings"].append({
        **report["hosts"][0]["findings"][0], "key": "pg.down|verify-1|", "rule": "pg.down",
        "host": "verify-1", "severity": 1, "title": "PostgreSQL is down",
        "title_zh": "数据库宕机", "problem": "P-2026-0099"})
    ordered = findings(report)
    assert [f["severity"] for f in ordered] == sorted(f["severity"] for f in ordered)
    assert ordered[0]["problem"] == "P-2026-0099"
    page = render_html(report, [], "en")
    table = page[page.index("Findings (most severe first)"):page.index("Trends (")]
    levels = [int(n) for n in re.findall(r'<tr class="finding">\s*<td><span class="lv lv-(\d)',
                                         table)]
    assert levels == [1, 3, 4, 4, 4, 4, 4], levels
    assert table.index("PostgreSQL is down") < table.index("Low buffer cache hit ratio")


def test_a_partial_inspection_says_so_and_names_the_hosts() -> None:
    report = _sample()
    assert 'class="partial"' not in render_html(report, [], "zh")
    report["partial"] = True
    report["unreachable"] = ["backup-1", "verify-1"]
    report["hosts"][3]["error"] = "ssh: connection refused"
    zh = render_html(report, [], "zh")
    en = render_html(report, [], "en")
    notice = re.search(r'<div class="partial".*?</div>', en, flags=re.S)
    assert notice is not None
    assert "This inspection is partial" in notice.group(0)
    assert "backup-1, verify-1" in notice.group(0)
    assert "本次巡检不完整" in zh
    assert "ssh: connection refused" in en


def test_trend_charts_draw_one_line_per_host_with_two_inspections_or_more() -> None:
    report = _sample()
    history = [_earlier(report, 60), _earlier(report, 30)]
    page = render_html(report, history, "en")
    svgs = _svgs(page)
    assert len(svgs) == 3
    assert STRINGS["en"]["no_trend"] not in page
    size, lag, connections = svgs
    # size: the primary and the subscriber; lag: the primary; connections: every database
    assert size.count("<polyline") == 2
    assert "his-db-1" in size
    assert "his-db-3" in size
    assert "his-db-2" not in size
    assert lag.count("<polyline") == 1
    assert connections.count("<polyline") == 3
    # a dot per inspection and host, and the inspections' dates on the x axis
    assert connections.count("<circle") == 9
    assert "2026-09-27" in size
    assert "2026-11-26" in size
    assert "MB" in size  # the axis reads in one unit


def test_without_history_a_line_says_there_is_no_trend_yet() -> None:
    report = _sample()
    for history in ([], [_earlier(report, 0)]):  # the same instant is no trend either
        history = [{**h, "started_at": report["started_at"]} for h in history]
        page = render_html(report, history, "zh")
        assert "<svg" not in page
        assert page.count(STRINGS["zh"]["no_trend"]) == 3


def test_everything_from_the_hosts_is_escaped_and_nothing_is_loaded() -> None:
    report = _sample()
    report["inventory"] = EVIL
    report["partial"] = True
    report["unreachable"] = [EVIL]
    for host in report["hosts"]:
        if host["host"] == "his-db-1":
            host["host"] = EVIL
            for finding in host["findings"]:
                finding["host"] = EVIL
                finding["detail"] = EVIL
                finding["subject"] = EVIL
            host["details"]["log_samples"] = [EVIL]
    history = [_earlier(report, 30)]
    for lang in ("zh", "en"):
        page = render_html(report, history, lang)
        assert "<script" not in page.lower()
        assert "&lt;script&gt;" in page
        assert _svgs(page)  # the host's name reached a chart legend, escaped
        for loader in ("src=", "<link", "url(", "@import", 'href="http', "<iframe", "<object",
                       "http://", "https://"):
            assert loader not in page.replace("http://127.0.0.1", ""), loader


def test_units_read_as_people_read_them() -> None:
    assert human_bytes(512) == "512 B"
    assert human_bytes(24656590) == "23.5 MB"
    assert human_bytes(76375465984) == "71.1 GB"
    assert human_bytes(-162660) == "-158.8 KB"
    assert human_seconds(37204.16, STRINGS["en"]) == "10 h 20 min"
    assert human_seconds(3196, STRINGS["zh"]) == "53 分钟"
    assert human_seconds(2 * 86400 + 3 * 3600 + 5, STRINGS["en"]) == "2 d 3 h"
    assert human_seconds(12, STRINGS["en"]) == "12 s"


def test_history_is_the_last_eight_earlier_inspections() -> None:
    payloads = [{"run_id": f"r{n}"} for n in range(12)]
    assert [p["run_id"] for p in earlier(payloads, "r11")] == [f"r{n}" for n in range(3, 11)]
    assert earlier(payloads, "r11", keep=0) == []


def _big_report(hosts: int, started: datetime) -> dict[str, Any]:
    sample = _sample()
    primary, standby = sample["hosts"][0], sample["hosts"][1]
    entries = []
    for n in range(hosts):
        entry = copy.deepcopy(primary if n % 2 == 0 else standby)
        entry["host"] = f"db-{n:02d}"
        for finding in entry["findings"]:
            finding["host"] = entry["host"]
        entry["metrics"]["pg.size_bytes"] = 10**9 * (n + 1) + started.timestamp()
        entry["details"]["per_database"]["his"]["tables"] *= 2
        entry["details"]["log_samples"] = entry["details"]["log_samples"] * 10
        entries.append(entry)
    return {**sample, "started_at": started.isoformat(), "hosts": entries,
            "run_id": f"inspect-{started:%Y%m%dT%H%M%SZ}"}


def test_twenty_hosts_and_eight_earlier_inspections_render_well_under_5_s(
        tmp_path: Path) -> None:
    now = datetime.fromisoformat("2026-11-26T13:42:08+00:00")
    report = _big_report(20, now)
    history = [_big_report(20, now - timedelta(days=7 * n)) for n in range(8, 0, -1)]
    started = time.perf_counter()
    write_html(report, history, tmp_path / "big.html", "zh")
    elapsed = time.perf_counter() - started
    print(f"rendered 20 hosts with 8 earlier inspections in {elapsed:.3f} s")
    page = (tmp_path / "big.html").read_text(encoding="utf-8")
    assert elapsed < 5.0
    assert _svgs(page)[0].count("<polyline") == 10  # the primaries
    assert _svgs(page)[2].count("<polyline") == 20


def test_cli_writes_the_report_with_the_earlier_inspections(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    report = _sample()
    older = _earlier(report, 91)

    def fake_run(inventory: Any, *, journal: Any, **kwargs: Any) -> dict[str, Any]:
        journal.append(older["run_id"], inspect_mod.RECORD_KIND, older)
        journal.append(report["run_id"], inspect_mod.RECORD_KIND, report)
        return copy.deepcopy(report)

    monkeypatch.setattr(inspect_mod, "run_inspection", fake_run)
    out = tmp_path / "out" / "inspection.html"
    result = CliRunner().invoke(main_group, ["inspect", "-i", str(INVENTORY),
                                             "--report", str(out), "--lang", "en"])
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    assert "Database inspection report" in page
    assert len(_svgs(page)) == 3  # last quarter's inspection from the journal, and this one
    assert page.count(report["run_id"]) >= 2  # cover and footer
    assert older["run_id"] not in page

    out_zh = tmp_path / "zh.html"
    result = CliRunner().invoke(main_group, ["inspect", "-i", str(INVENTORY), "--json", "-",
                                             "--report", str(out_zh)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["run_id"] == report["run_id"]
    assert "数据库巡检报告" in out_zh.read_text(encoding="utf-8")
