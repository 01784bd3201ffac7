"""Filters of oracle_baseline: check each fix statement, judge what SQL*Plus answered.

The statements come only from hisops's own fix strings (``hisops.engines.oracle.baseline``), and
the role runs them as SYSDBA: so each is matched against the exact forms hisops writes, one
statement on one line, and anything else is refused, naming it, before anything runs.
"""

from __future__ import annotations

import re
from typing import Any

from ansible.errors import AnsibleFilterError

# SQL*Plus refuses a longer line (SP2-0027); hisops's statements are far shorter
MAX_LINE = 2499
RUNNABLE_NEEDS = ("none", "restart")

_WORD = r"[A-Za-z0-9_.$#]+"
_RATIO_WORD = r"[A-Za-z0-9_.$#/]+"
_LITERAL = r"'(?:[^'\n]|'')*'"
_NAME = r"[A-Z][A-Z0-9_$#]*"
_IDENT = rf'(?:{_NAME}|"(?:[^"\n]|"")+")'

# the four forms hisops.engines.oracle.baseline writes (_alter_system, _profile, _audit, _noaudit)
_FORMS: dict[str, re.Pattern[str]] = {
    "parameter": re.compile(
        rf"ALTER SYSTEM SET (?P<target>[A-Za-z][A-Za-z0-9_]*|\"_[A-Za-z0-9_]+\")="
        rf"(?:{_LITERAL}|{_WORD}(?:,{_WORD})*)(?: DEFERRED)? SCOPE=(?P<scope>MEMORY|SPFILE|BOTH)"
        rf" SID='(?:\*|[A-Za-z][A-Za-z0-9_$#]*)';"),
    "profile": re.compile(
        rf"ALTER PROFILE (?P<target>{_NAME} LIMIT [A-Z][A-Z0-9_]*) "
        rf"(?:{_LITERAL}|{_RATIO_WORD}(?:,{_RATIO_WORD})*);"),
    "audit": re.compile(rf"AUDIT POLICY (?P<target>{_NAME})(?: WHENEVER (?:NOT )?SUCCESSFUL)?;"),
    "noaudit": re.compile(
        rf"NOAUDIT POLICY (?P<target>{_NAME})"
        rf"(?: BY (?:USERS WITH GRANTED ROLES )?{_IDENT}(?:, {_IDENT})*)?;"),
}
# what SQL*Plus prints (FEEDBACK ON, NLS_LANG AMERICAN) when each kind of statement worked
FEEDBACK = {"parameter": "System altered.", "profile": "Profile altered.",
            "audit": "Audit succeeded.", "noaudit": "Noaudit succeeded."}
_ERROR_LINE = re.compile(r"^\s*((?:ORA|SP2|TNS)-\d{4,5}\b.*?)\s*$", re.MULTILINE)


def statement(sql: str) -> dict[str, str]:
    """``{kind, target, scope}`` of one fix statement in a form hisops writes; anything else
    raises :class:`AnsibleFilterError` naming it."""
    text = str(sql).strip()
    if "\n" in text or "\r" in text or len(text) > MAX_LINE:
        raise AnsibleFilterError(f"oracle_baseline: refusing {text!r}: a fix is one statement "
                                 f"on one line of at most {MAX_LINE} characters")
    for kind, form in _FORMS.items():
        if found := form.fullmatch(text):
            return {"kind": kind, "target": found["target"].strip('"'),
                    "scope": found.groupdict().get("scope") or ""}
    raise AnsibleFilterError(f"oracle_baseline: refusing {text!r}: not a single ALTER SYSTEM "
                             "SET, ALTER PROFILE, AUDIT POLICY or NOAUDIT POLICY statement in "
                             "the form hisops writes")


def sqlplus_script(sql: str) -> str:
    """What SQL*Plus reads on stdin for one statement: stop at the first error with its code,
    no substitution variables (``&`` in a string literal stays literal), feedback on."""
    return ("WHENEVER OSERROR EXIT FAILURE\n"
            "WHENEVER SQLERROR EXIT SQL.SQLCODE\n"
            "SET ECHO OFF FEEDBACK ON\n"
            "SET DEFINE OFF\n"
            f"{sql}\n"
            "EXIT\n")


def plan(statements: Any) -> list[dict[str, str]]:
    """The statements to run, each checked, with its kind, target, scope, the feedback that
    confirms it and its SQL*Plus script. Refuses the whole list if one entry is wrong."""
    if not isinstance(statements, list):
        raise AnsibleFilterError("oracle_baseline: oracle_baseline_statements must be a list")
    out = []
    for entry in statements:
        if not isinstance(entry, dict) or not entry.get("item") or not entry.get("sql"):
            raise AnsibleFilterError(f"oracle_baseline: each statement needs an item and its "
                                     f"sql, got {entry!r}")
        item, sql = str(entry["item"]), str(entry["sql"]).strip()
        needs = str(entry.get("needs") or "none")
        if needs not in RUNNABLE_NEEDS:
            raise AnsibleFilterError(f"oracle_baseline: {item}: refusing {sql!r}: it needs "
                                     f"{needs!r}, which is for a person, not this role")
        try:
            parsed = statement(sql)
        except AnsibleFilterError as exc:
            why = exc.message.removeprefix("oracle_baseline: ")
            raise AnsibleFilterError(f"oracle_baseline: {item}: {why}") from None
        if needs == "restart" and parsed["scope"] != "SPFILE":
            raise AnsibleFilterError(f"oracle_baseline: {item}: refusing {sql!r}: a fix that "
                                     "needs a restart is an ALTER SYSTEM ... SCOPE=SPFILE")
        out.append({"item": item, "sql": sql, "needs": needs, **parsed,
                    "feedback": FEEDBACK[parsed["kind"]], "script": sqlplus_script(sql)})
    return out


def statement_error(result: Any, feedback: str) -> str:
    """Why one SQL*Plus call did not do its statement; empty when it did (or, in check mode,
    did not run). SQL.SQLCODE is an exit status modulo 256 (ORA-01792 would exit 0), so the
    output is read too: any ORA-/SP2-/TNS- line, or no confirming feedback, is a failure."""
    if not isinstance(result, dict) or result.get("skipped"):
        return ""
    stdout = str(result.get("stdout") or "")
    errors = _ERROR_LINE.findall(stdout + "\n" + str(result.get("stderr") or ""))
    rc = result.get("rc")
    if rc != 0 or errors:
        said = "; ".join(errors) or str(result.get("msg") or "").strip() or "no error printed"
        return f"sqlplus exited with {rc}: {said}"
    if feedback not in (line.strip() for line in stdout.splitlines()):
        return f"SQL*Plus did not confirm the statement (no {feedback!r} in its output)"
    return ""


def restart_pending(done: list[dict[str, Any]]) -> list[str]:
    """Parameters written to the spfile only that wait for a restart (hisops never restarts
    Oracle). A SCOPE=SPFILE fix of an item needing nothing more (the live value is already
    right, the spfile was wrong) waits for nothing."""
    names = [e["target"] for e in done
             if e.get("kind") == "parameter" and e.get("scope") == "SPFILE"
             and e.get("needs") == "restart"]
    return sorted(set(names))


def outcome(registered: Any, check_mode: bool = False) -> dict[str, Any]:
    """What the loop over the plan did: ``changed`` (``KIND TARGET: SQL``, in check mode what a
    real run would change), ``failed`` (``ITEM: SQL: why``), ``restart_pending`` (bool) and
    ``warnings``, the latter three for the evidence."""
    results = registered.get("results", []) if isinstance(registered, dict) else []
    done: list[dict[str, Any]] = []
    failed: list[str] = []
    for result in results:
        entry = result.get("item") if isinstance(result, dict) else None
        if not isinstance(entry, dict):
            continue
        if result.get("skipped") and not check_mode:
            continue
        error = statement_error(result, str(entry.get("feedback", "")))
        if error:
            failed.append(f"{entry['item']}: {entry['sql']}: {error}")
        else:
            done.append(entry)
    waiting = restart_pending(done)
    warnings = []
    if waiting:
        warnings.append(f"restart pending for {', '.join(waiting)}: written to the spfile "
                        "(SCOPE=SPFILE), they take effect at the next restart of the instance, "
                        "which hisops never does")
    warnings += [f"Oracle refused {f}" for f in failed]
    return {"changed": [f"{e['kind']} {e['target']}: {e['sql']}" for e in done],
            "failed": failed, "restart_pending": bool(waiting),
            "restart_pending_for": waiting, "warnings": warnings}


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "hisops_oracle_baseline_plan": plan,
            "hisops_oracle_baseline_statement_error": statement_error,
            "hisops_oracle_baseline_outcome": outcome,
        }
