"""Is a lock holder still running? Tells a stale lock from a busy one before breaking it."""

from __future__ import annotations

import logging
import os
import socket

from hisops.journal.records import LockHolder

log = logging.getLogger(__name__)


def is_holder_alive(holder: LockHolder) -> bool | None:
    """True/False for a holder on this machine; None when it ran elsewhere (unknowable here)."""
    if holder.machine != socket.gethostname():
        return None
    if holder.pid <= 0:
        return False  # os.kill(0 or -n) would signal a whole process group
    try:
        os.kill(holder.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by another user
    return True
