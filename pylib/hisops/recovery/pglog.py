"""What PostgreSQL's own log says a recovery did.

After a point-in-time recovery the server log is the only record of where replay stopped and
which transaction was the last one kept: the data-loss window (the RPO actually achieved) is
measured from it, not from the target the operator asked for.
"""

from __future__ import annotations

import re
from typing import Any

_TS = r"[0-9-]+ [0-9:.]+(?:[+-][0-9:]+| [A-Z]{2,5})"
_RECOVERED = re.compile(
    r"(?P<kind>recovery stopping (?P<how>before|after) (?P<end>commit|abort) of transaction "
    r"(?P<xid>\d+), "
    r"time (?P<stop>" + _TS + ")"
    r"|last completed transaction was at log time (?P<last>" + _TS + ")"
    r"|selected new timeline ID: (?P<tli>\d+)"
    r"|recovery stopping at restore point \"(?P<point>[^\"]+)\", time (?P<ptime>" + _TS + ")"
    r"|redo done at (?P<redo>[0-9A-F]+/[0-9A-F]+))")


def recovery_facts(log_text: str) -> dict[str, Any]:
    """What PostgreSQL's log says recovery did: where it stopped, the last transaction it
    replayed (the data-loss reference), and the timeline it opened on."""
    out: dict[str, Any] = {"stopped_at": None, "stopped_xid": None, "stopped_how": None,
                           "last_transaction_at": None, "timeline": None, "redo_done_at": None,
                           "restore_point": None}
    for match in _RECOVERED.finditer(str(log_text)):
        if match["stop"]:
            out["stopped_at"], out["stopped_xid"] = match["stop"], int(match["xid"])
            # before: that transaction is not in the restored database; after: it is (an
            # inclusive target, or an xid target stopping after the transaction named)
            out["stopped_how"] = f"{match['how']} {match['end']}"
        elif match["last"]:
            out["last_transaction_at"] = match["last"]
        elif match["tli"]:
            out["timeline"] = int(match["tli"])
        elif match["point"]:
            out["restore_point"], out["stopped_at"] = match["point"], match["ptime"]
            out["stopped_how"] = "restore point"
        elif match["redo"]:
            out["redo_done_at"] = match["redo"]
    return out
