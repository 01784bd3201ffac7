"""The service report as files and as a console summary: one self-contained HTML page
(Chinese by default), the same data as JSON, and a few lines for a terminal.

The HTML is rendered from the collected dict with every value escaped (autoescape); it has no
script and loads nothing, so it can be mailed, archived and printed (A4) as it is.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from jinja2 import Environment

from hisops.reports import html
from hisops.reports.backups import human_duration
from hisops.severity import LEVELS

log = logging.getLogger(__name__)

LANGS = ("zh", "en")

# Every label the page shows, in both languages (the template holds no prose of its own).
STRINGS: dict[str, dict[str, str]] = {
    "zh": {
        "html_lang": "zh-CN", "colon": "：", "quarter_report": "数据库运维季度服务报告",
        "year_report": "数据库运维年度服务报告", "period": "报告期间", "timezone": "时区",
        "generated": "生成时间", "journal": "运维日志校验", "journal_ok": "完整（哈希链校验通过）",
        "journal_bad": "校验失败", "records": "条记录", "partial_period": "期间尚未结束，数据截至",
        "inspections": "巡检", "no_inspection": "本期未进行巡检。合同要求每季度巡检一次。",
        "inspection_count": "本期巡检 {n} 次。", "date": "日期", "run_id": "编号",
        "hosts": "主机数", "score": "评分", "findings": "发现项", "partial": "不完整",
        "copies_read": "已检查副本（容灾/复制）",
        "yes": "是", "no": "否", "unreachable": "无法访问",
        "problems": "问题与服务时限（SLA）", "level": "级别", "opened": "新增",
        "resolved": "解决", "still_open": "期末未解决", "met": "按时", "missed": "超时",
        "pending": "未到期", "compliance": "达标率", "total": "合计",
        "overall": "时限总体达标率", "no_deadline": "本期无到期时限",
        "open_list": "期末仍未解决的问题", "none_open": "期末无未解决的问题。",
        "id": "问题编号", "host": "主机", "title": "问题", "found": "发现时间",
        "owner": "负责人", "deadlines": "时限状态", "missed_list": "未满足的时限",
        "none_missed": "本期所有到期时限均已满足。", "deadline": "时限", "due": "到期",
        "done": "完成", "late": "超时", "respond": "响应", "solution": "解决方案",
        "resolve": "解决", "met_state": "已满足", "missed_state": "已超时",
        "overdue_state": "逾期未办", "due_state": "未到期",
        "runs": "运维手册执行", "no_runs": "本期未执行运维手册。", "runbook": "手册",
        "status": "状态", "count": "次数", "succeeded": "成功", "failed": "失败",
        "unfinished": "未结束", "interrupted": "中断", "refused": "拒绝执行",
        "patches": "补丁升级", "no_patches": "本期未升级补丁。", "version": "版本",
        "outage": "写中断", "strategy": "方式", "passed": "通过", "not_passed": "未通过",
        "backups": "备份", "no_backups": "本期无备份记录。", "database": "数据库",
        "label": "备份", "kind": "类型", "size": "大小", "drills": "恢复演练",
        "no_drills": "本期未进行恢复演练。", "rto": "恢复时间 (RTO)", "rpo": "数据丢失 (RPO)",
        "result": "结果", "baseline_checks": "配置基线检查", "no_checks": "本期未进行基线检查。",
        "baseline": "基线", "drift": "偏离", "errors": "错误", "baseline_applies": "基线整改",
        "no_applies": "本期未执行基线整改。", "changed": "变更项", "operator": "执行人",
        "quarters": "各季度统计", "quarter": "季度", "recommendations": "建议",
        "no_recommendations": "无。本期各项服务均符合合同要求。", "advice": "建议",
        "fact": "依据", "footer": "由 hisops 根据运维日志生成", "none": "—",
    },
    "en": {
        "html_lang": "en", "colon": ": ", "quarter_report": "Quarterly database service report",
        "year_report": "Annual database service report", "period": "Period",
        "timezone": "Time zone", "generated": "Generated", "journal": "Journal",
        "journal_ok": "verified (hash chain intact)", "journal_bad": "verification FAILED",
        "records": "records", "partial_period": "The period has not ended; facts as of",
        "inspections": "Inspections",
        "no_inspection": "No inspection was held in this period. The contract asks for one "
                         "each quarter.",
        "inspection_count": "{n} inspection(s) held.", "date": "Date", "run_id": "Run",
        "hosts": "Hosts", "score": "Score", "findings": "Findings", "partial": "Partial",
        "copies_read": "Copies read (DR/replica)",
        "yes": "yes", "no": "no", "unreachable": "unreachable",
        "problems": "Problems and service deadlines (SLA)", "level": "Level",
        "opened": "Opened", "resolved": "Resolved", "still_open": "Open at end",
        "met": "Met", "missed": "Missed", "pending": "Pending", "compliance": "Compliance",
        "total": "Total", "overall": "Overall SLA compliance",
        "no_deadline": "no deadline fell due", "open_list": "Problems still open at the end",
        "none_open": "No problem was open at the end.", "id": "Problem", "host": "Host",
        "title": "Title", "found": "Found", "owner": "Owner", "deadlines": "Deadlines",
        "missed_list": "Missed deadlines", "none_missed": "Every deadline due was met.",
        "deadline": "Deadline", "due": "Due", "done": "Done", "late": "Late by",
        "respond": "respond", "solution": "solution", "resolve": "resolve",
        "met_state": "met", "missed_state": "missed", "overdue_state": "overdue",
        "due_state": "due", "runs": "Runbooks run", "no_runs": "No runbook was run.",
        "runbook": "Runbook", "status": "Status", "count": "Runs", "succeeded": "succeeded",
        "failed": "failed", "unfinished": "unfinished", "interrupted": "interrupted",
        "refused": "refused", "patches": "Patches", "no_patches": "No patch was applied.",
        "version": "Version", "outage": "Write outage", "strategy": "Strategy",
        "passed": "passed", "not_passed": "not passed", "backups": "Backups",
        "no_backups": "No backup was recorded.", "database": "Database", "label": "Backup",
        "kind": "Type", "size": "Size", "drills": "Restore drills",
        "no_drills": "No restore drill was run.", "rto": "RTO", "rpo": "RPO",
        "result": "Result", "baseline_checks": "Baseline checks",
        "no_checks": "No baseline check was held.", "baseline": "Baseline", "drift": "Drift",
        "errors": "Errors", "baseline_applies": "Baseline applies",
        "no_applies": "No baseline was applied.", "changed": "Changes",
        "operator": "Operator", "quarters": "Quarter by quarter", "quarter": "Quarter",
        "recommendations": "Recommendations",
        "no_recommendations": "None: the service met the contract in this period.",
        "advice": "Recommendation", "fact": "Because", "footer": "Generated by hisops from "
        "the operations journal", "none": "-",
    },
}


def render_html(report: dict[str, Any], lang: str = "zh") -> str:
    """The report as one self-contained HTML page in Chinese (``zh``) or English (``en``)."""
    if lang not in LANGS:
        raise ValueError(f"report language must be one of {', '.join(LANGS)}, not {lang!r}")
    template = _environment().get_template("service.html.j2")
    return template.render(t=STRINGS[lang], lang=lang, r=report,
                           levels={str(n): lvl.name(lang) for n, lvl in LEVELS.items()})


def write_reports(report: dict[str, Any], *, html_path: Path | None = None,
                  json_path: Path | None = None, pdf_path: Path | None = None,
                  lang: str = "zh") -> None:
    """Write the HTML page, its PDF print and/or the JSON report (UTF-8), each replacing its
    file whole."""
    if html_path is not None:
        html.write_atomic(html_path, render_html(report, lang))
        log.info("wrote service report %s (%s)", html_path, report["period"]["label"])
    if pdf_path is not None:
        _write_pdf(report, html_path, pdf_path, lang)
    if json_path is not None:
        html.write_atomic(json_path, to_json(report))
        log.info("wrote service report %s (%s)", json_path, report["period"]["label"])


def _write_pdf(report: dict[str, Any], page: Path | None, pdf_path: Path, lang: str) -> None:
    import tempfile

    from hisops.reports.browser import html_to_pdf

    with tempfile.TemporaryDirectory(prefix="hisops-report-") as tmp:
        if page is None:
            page = Path(tmp) / "service-report.html"
            page.write_text(render_html(report, lang), encoding="utf-8")
        html_to_pdf(page, pdf_path)
    log.info("wrote service report %s (%s)", pdf_path, report["period"]["label"])


def to_json(report: dict[str, Any]) -> str:
    return json.dumps(report, ensure_ascii=False, indent=2) + "\n"


def summary_lines(report: dict[str, Any], lang: str = "zh") -> list[str]:
    """A few lines for the console: the headline numbers and the recommendations."""
    t = STRINGS[lang]
    period = report["period"]
    total = report["problems"]["total"]
    runs = report["runs"]
    drills = report["drills"]
    title = t["year_report"] if report["kind"] == "year" else t["quarter_report"]
    verification = report["verification"]
    lines = [f"{title} {period['label']} ({period['start'][:10]} .. {period['last_day']}, "
             f"{period['timezone']})",
             f"  {t['journal']}{t['colon']}"
             f"{t['journal_ok'] if verification['ok'] else t['journal_bad']}, "
             f"{verification['records']} {t['records']}"]
    count = report["inspections"]["count"]
    lines.append(f"  {t['inspections']}{t['colon']}"
                 + (t["inspection_count"].format(n=count) if count else t["no_inspection"]))
    lines.append(f"  {t['problems']}{t['colon']}{t['opened']} {total['opened']}, "
                 f"{t['resolved']} {total['resolved']}, {t['still_open']} "
                 f"{total['still_open']}; {t['met']} {total['deadlines_met']}, {t['missed']} "
                 f"{total['deadlines_missed']}, {t['compliance']} "
                 f"{percent(total['compliance'], t)}")
    lines.append(f"  {t['runs']}{t['colon']}{runs['count']} ({t['succeeded']} "
                 f"{runs['succeeded']}, {t['failed']} {runs['failed']}); {t['patches']} "
                 f"{len(report['patches'])}, {t['backups']} {len(report['backups'])}, "
                 f"{t['drills']} {sum(1 for d in drills if d['passed'])}/{len(drills)} "
                 f"{t['passed']}, {t['baseline_checks']} {len(report['baseline_checks'])}, "
                 f"{t['baseline_applies']} {len(report['baseline_applies'])}")
    recs = report["recommendations"]
    head = f"  {t['recommendations']}{t['colon']}"
    lines.append(head.rstrip() if recs else head + t["no_recommendations"])
    key = "_zh" if lang == "zh" else ""
    lines.extend(f"    - {rec['text' + key]} ({rec['fact' + key]})" for rec in recs)
    return lines


def percent(value: float | None, t: dict[str, str]) -> str:
    return t["none"] if value is None else f"{value * 100:.1f}%"


def _seconds(value: float | None) -> str:
    return "-" if value is None else human_duration(value)


def _size(value: float | None) -> str:
    if value is None:
        return "-"
    for unit, size in (("GB", 1024**3), ("MB", 1024**2), ("kB", 1024)):
        if value >= size:
            return f"{value / size:.1f} {unit}"
    return f"{int(value)} B"


def _environment() -> Environment:
    env = html.environment("hisops.servicereport")
    env.filters["percent"] = percent
    env.filters["duration"] = _seconds
    env.filters["size"] = _size
    env.filters["label"] = lambda value, t: t.get(str(value), str(value))
    return env

