"""GoldenGate: GGSCI info all / lag text and REST status answers -> processes, lags, findings.

Fixtures: tests/fixtures/oracle/goldengate (formats and sources in SOURCES.md there). Each test
asserts what the replica check relies on: a Replicat that does not apply, or applies late, is
found and named.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hisops.engines.base import Severity
from hisops.engines.oracle.goldengate import (
    CHECK_GOLDENGATE,
    GGSCI_COMMANDS,
    GgLag,
    GgProcess,
    GgStatus,
    LagState,
    gg_findings,
    parse_info_all,
    parse_lag,
    parse_rest_status,
)
from hisops.engines.oracle.rman import UnreadableOutput

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "oracle" / "goldengate"


def text(name: str) -> str:
    return (FIXTURES / name).read_text()


def payload(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(text(name))
    return data


def replicat(group: str, status: GgStatus = GgStatus.RUNNING, lag: int = 0,
             since: int = 3) -> GgProcess:
    return GgProcess("REPLICAT", status, group, timedelta(seconds=lag), timedelta(seconds=since))


MANAGER = GgProcess("MANAGER", GgStatus.RUNNING)


# --- info all ----------------------------------------------------------------------------------


def test_info_all_healthy_reads_every_row() -> None:
    procs = parse_info_all(text("ggsci_info_all_healthy.txt"))
    assert [(p.program, p.status, p.group) for p in procs] == [
        ("MANAGER", GgStatus.RUNNING, ""), ("JAGENT", GgStatus.STOPPED, ""),
        ("REPLICAT", GgStatus.RUNNING, "RHISLAB"), ("REPLICAT", GgStatus.RUNNING, "RHISRPT")]
    assert procs[2].lag == timedelta(seconds=2)
    assert procs[2].since_checkpoint == timedelta(seconds=3)
    assert procs[0].lag is None
    assert procs[2].name == "REPLICAT RHISLAB"


def test_info_all_reads_hours_past_99_and_stops_at_the_next_prompt() -> None:
    out = ("GGSCI> info all\nProgram     Status      Group       Lag at Chkpt  Time Since Chkpt\n"
           "MANAGER     RUNNING\n"
           "REPLICAT    ABENDED     RSH         653:55:55     25:21:28\n"
           "GGSCI> info RSH detail\nREPLICAT   RSH       Last Started 2021-01-24 15:54   "
           "Status ABENDED\n")
    procs = parse_info_all(out)
    assert len(procs) == 2
    assert procs[1].lag == timedelta(hours=653, minutes=55, seconds=55)
    assert procs[1].since_checkpoint == timedelta(hours=25, minutes=21, seconds=28)


def test_info_all_starting_extract_and_admin_client_end() -> None:
    out = ("Program     Status      Group       Lag at Chkpt  Time Since Chkpt\n\n"
           "EXTRACT     STARTING    EHISPRD     00:00:00      00:00:01\n"
           "Command 6 succeeded: 'info all'\n")
    assert parse_info_all(out) == [
        GgProcess("EXTRACT", GgStatus.STARTING, "EHISPRD", timedelta(0), timedelta(seconds=1))]


@pytest.mark.parametrize(("out", "match"), [
    ("", "no GGSCI 'info all' table"),
    ("GGSCI (his-db-3) 1> \nERROR: Could not connect to manager.\n", "no GGSCI 'info all'"),
    ("Program     Status      Group       Lag at Chkpt  Time Since Chkpt\n\n\n",
     "has no rows"),
    ("Program     Status      Group       Lag at Chkpt  Time Since Chkpt\n"
     "REPLICAT    SUSPENDED   RHISRPT     00:00:00      00:00:01\n", "unreadable GGSCI"),
    ("Program     Status      Group       Lag at Chkpt  Time Since Chkpt\n"
     "COLLECTOR   RUNNING\n", "unreadable GGSCI"),
    ("Program     Status      Group       Lag at Chkpt  Time Since Chkpt\n"
     "REPLICAT    RUNNING\n", "needs a group"),
    ("Program     Status      Group       Lag at Chkpt  Time Since Chkpt\n"
     "REPLICAT    RUNNING     RHISRPT     0:0           00:00:01\n", "unreadable GGSCI"),
])
def test_unreadable_info_all_raises(out: str, match: str) -> None:
    with pytest.raises(UnreadableOutput, match=match):
        parse_info_all(out)


# --- lag ---------------------------------------------------------------------------------------


def test_lag_at_eof() -> None:
    assert parse_lag(text("lag_replicat_eof.txt")) == [
        GgLag("REPLICAT", "RHISRPT", 5, LagState.AT_EOF)]


def test_lag_no_records_yet() -> None:
    assert parse_lag(text("lag_replicat_no_records.txt")) == [
        GgLag("REPLICAT", "RHISRPT", None, LagState.NO_RECORDS)]


def test_lag_of_every_group_in_a_transcript() -> None:
    lags = parse_lag(text("ggsci_info_all_lagging.txt"))
    assert lags == [GgLag("REPLICAT", "RHISLAB", 94, LagState.AT_EOF),
                    GgLag("REPLICAT", "RHISRPT", 463, LagState.PROCESSING)]


def test_lag_of_a_stopped_group_is_not_running() -> None:
    lags = parse_lag(text("ggsci_info_all_abended.txt"))
    assert lags == [GgLag("REPLICAT", "RHISLAB", None, LagState.NOT_RUNNING),
                    GgLag("REPLICAT", "RHISRPT", 1, LagState.AT_EOF)]


@pytest.mark.parametrize(("line", "seconds"), [
    ("Last record lag: 6 seconds.", 6),
    ("Last record lag 1,218 seconds.", 1218),
    ("Last record lag: 15 minutes, 32 seconds.", 932),
])
def test_lag_wordings(line: str, seconds: int) -> None:
    out = (f"Sending GETLAG request to EXTRACT EHISPRD ...\n{line}\n"
           "At EOF, no more records to process.\n")
    assert parse_lag(out) == [GgLag("EXTRACT", "EHISPRD", seconds, LagState.AT_EOF)]


@pytest.mark.parametrize("out", [
    "",
    "GGSCI (his-db-3) 2> \nERROR: Invalid command.\n",
    "Sending GETLAG request to REPLICAT RHISRPT ...\n\nGGSCI (his-db-3) 3> \n",
])
def test_unreadable_lag_raises(out: str) -> None:
    with pytest.raises(UnreadableOutput):
        parse_lag(out)


# --- REST --------------------------------------------------------------------------------------


def test_rest_running_replicat() -> None:
    proc = parse_rest_status(payload("rest_replicat_status_running.json"))
    assert proc == GgProcess("REPLICAT", GgStatus.RUNNING, "RHISRPT", timedelta(seconds=3),
                             timedelta(seconds=2),
                             datetime(2026, 11, 20, 4, 12, 9, 431000, tzinfo=UTC))
    assert gg_findings([proc]) == []


def test_rest_abended_replicat_is_an_error() -> None:
    proc = parse_rest_status(payload("rest_replicat_status_abended.json"))
    assert (proc.status, proc.group) == (GgStatus.ABENDED, "RHISLAB")
    findings = gg_findings([proc])
    assert [(f.subject, f.severity) for f in findings] == [("REPLICAT RHISLAB", Severity.ERROR)]
    assert findings[0].problem.startswith("ABENDED")


def test_rest_stopped_extract_with_string_lag_and_null_start() -> None:
    proc = parse_rest_status(payload("rest_extract_status_stopped.json"))
    assert proc == GgProcess("EXTRACT", GgStatus.STOPPED, "EHISPRD", timedelta(0),
                             timedelta(seconds=865), None)
    findings = gg_findings([proc], replica=False)
    assert [(f.subject, f.severity) for f in findings] == [("EXTRACT EHISPRD", Severity.ERROR)]


def test_rest_name_argument_wins_over_links() -> None:
    data = payload("rest_replicat_status_running.json")
    data.pop("links")
    assert parse_rest_status(data, name="rhisrpt").group == "RHISRPT"
    with pytest.raises(UnreadableOutput, match="names no group"):
        parse_rest_status(data)


def test_rest_killed_is_an_error() -> None:
    data = payload("rest_replicat_status_running.json")
    data["response"]["status"] = "killed"
    proc = parse_rest_status(data)
    assert proc.status is GgStatus.KILLED
    assert [f.severity for f in gg_findings([proc])] == [Severity.ERROR]


@pytest.mark.parametrize(("change", "match"), [
    (lambda d: d.pop("response"), "without a 'response'"),
    (lambda d: d["response"].update({"$schema": "ogg:distPathStatus"}), "not an extract"),
    (lambda d: d["response"].update({"status": "paused"}), "unknown GoldenGate process status"),
    (lambda d: d["response"].update({"lag": -1}), "'lag'"),
    (lambda d: d["response"].update({"lag": True}), "'lag'"),
    (lambda d: d["response"].pop("sinceLagReported"), "'sinceLagReported'"),
    (lambda d: d["response"].update({"lastStarted": "yesterday"}), "lastStarted"),
])
def test_unreadable_rest_answer_raises(change: Any, match: str) -> None:
    data = payload("rest_replicat_status_running.json")
    change(data)
    with pytest.raises(UnreadableOutput, match=match):
        parse_rest_status(data)


def test_rest_error_message_is_quoted() -> None:
    data = {"$schema": "api:standardResponse", "links": [], "messages": [
        {"$schema": "ogg:message", "code": "OGG-12029", "issued": "2026-11-27T09:00:00Z",
         "severity": "ERROR", "title": "The replicat with name 'RHISXX' does not exist.",
         "type": "http://docs.oracle.com/goldengate/c1910/gg-winux/GMESG/oggus.htm"}]}
    with pytest.raises(UnreadableOutput, match="OGG-12029: The replicat with name"):
        parse_rest_status(data)


# --- findings ----------------------------------------------------------------------------------


def test_healthy_transcript_has_no_findings() -> None:
    out = text("ggsci_info_all_healthy.txt")
    assert gg_findings(parse_info_all(out), parse_lag(out)) == []


def test_abended_replicat_is_one_error_not_two() -> None:
    out = text("ggsci_info_all_abended.txt")
    findings = gg_findings(parse_info_all(out), parse_lag(out))
    assert [(f.check, f.subject, f.severity) for f in findings] == [
        (CHECK_GOLDENGATE, "REPLICAT RHISLAB", Severity.ERROR)]
    assert "VIEW REPORT RHISLAB" in findings[0].problem


def test_lagging_transcript_warns_and_errors_by_limit() -> None:
    out = text("ggsci_info_all_lagging.txt")
    findings = gg_findings(parse_info_all(out), parse_lag(out))
    assert [(f.subject, f.severity) for f in findings] == [
        ("REPLICAT RHISLAB", Severity.WARNING),  # checkpoint lag 00:01:37
        ("REPLICAT RHISRPT", Severity.ERROR),  # checkpoint lag 00:07:42
        ("REPLICAT RHISLAB", Severity.WARNING),  # last record lag 94 s
        ("REPLICAT RHISRPT", Severity.ERROR),  # last record lag 463 s
    ]
    assert findings[1].problem == ("lag at checkpoint 00:07:42 is over the critical limit of "
                                   "00:05:00: the replica is behind")
    assert findings[3].problem == ("last record lag 00:07:43 (records still to process) is over "
                                   "the critical limit of 00:05:00: the replica is behind")


def test_limits_are_the_callers() -> None:
    out = text("ggsci_info_all_lagging.txt")
    assert gg_findings(parse_info_all(out), parse_lag(out), lag_warn=timedelta(minutes=10),
                       lag_critical=timedelta(minutes=30)) == []
    with pytest.raises(ValueError, match="lag_warn"):
        gg_findings([MANAGER], lag_warn=timedelta(minutes=10), lag_critical=timedelta(minutes=5))


@pytest.mark.parametrize(("proc", "severity"), [
    (GgProcess("MANAGER", GgStatus.STOPPED), Severity.ERROR),
    (replicat("RHISRPT", GgStatus.STOPPED), Severity.ERROR),
    (replicat("RHISRPT", GgStatus.STARTING), Severity.WARNING),
])
def test_status_findings(proc: GgProcess, severity: Severity) -> None:
    procs = [proc, replicat("RHISLAB")] if proc.program == "MANAGER" else [MANAGER, proc]
    findings = gg_findings(procs)
    assert [(f.subject, f.severity) for f in findings] == [(proc.name, severity)]


def test_stopped_monitoring_agents_are_not_findings() -> None:
    procs = [MANAGER, GgProcess("JAGENT", GgStatus.STOPPED),
             GgProcess("PMSRVR", GgStatus.STOPPED), replicat("RHISRPT")]
    assert gg_findings(procs) == []


def test_running_group_without_a_recent_checkpoint_may_be_hung() -> None:
    findings = gg_findings([MANAGER, replicat("RHISRPT", since=3600)])
    assert [(f.subject, f.severity) for f in findings] == [("REPLICAT RHISRPT", Severity.ERROR)]
    assert findings[0].problem == "no checkpoint for 01:00:00: the process may be hung"


def test_replica_without_replicat_is_an_error() -> None:
    findings = gg_findings([MANAGER, GgProcess("EXTRACT", GgStatus.RUNNING, "EHISPRD",
                                               timedelta(0), timedelta(seconds=2))])
    assert [(f.subject, f.severity) for f in findings] == [("REPLICAT", Severity.ERROR)]
    assert "no REPLICAT group on this replica host" in findings[0].problem


def test_source_without_extract_is_an_error() -> None:
    findings = gg_findings([MANAGER, replicat("RHISRPT")], replica=False)
    assert [(f.subject, f.severity) for f in findings] == [("EXTRACT", Severity.ERROR)]


def test_lag_not_running_for_a_group_info_all_did_not_list_is_an_error() -> None:
    findings = gg_findings([MANAGER, replicat("RHISRPT")],
                           [GgLag("REPLICAT", "RHISOLD", None, LagState.NOT_RUNNING),
                            GgLag("REPLICAT", "RHISRPT", None, LagState.NO_RECORDS)])
    assert [(f.subject, f.severity) for f in findings] == [("REPLICAT RHISOLD", Severity.ERROR)]


def test_no_process_at_all_is_unreadable() -> None:
    with pytest.raises(UnreadableOutput, match="no GoldenGate process"):
        gg_findings([])


def test_ggsci_commands_are_the_two_reads_and_carry_no_credential() -> None:
    assert GGSCI_COMMANDS.splitlines() == ["info all", "lag replicat *"]
    assert "password" not in GGSCI_COMMANDS.lower()
    assert "dblogin" not in GGSCI_COMMANDS.lower()


def test_process_to_dict_is_json_safe() -> None:
    proc = parse_rest_status(payload("rest_replicat_status_running.json"))
    assert json.loads(json.dumps(proc.to_dict())) == {
        "program": "REPLICAT", "status": "RUNNING", "group": "RHISRPT", "lag_s": 3,
        "since_checkpoint_s": 2, "last_started": "2026-11-20T04:12:09.431000+00:00"}
