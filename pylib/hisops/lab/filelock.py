"""An exclusive advisory lock on a file, so two ``lab up`` (or two image builds) never interleave.

Why: a test session and a developer, or two CI steps, may start the lab at the same moment; both
would create the same containers and clusters. The second waits for the first, then finds
everything done (``lab up`` is idempotent).
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from hisops.lab.errors import LabError

log = logging.getLogger(__name__)


@contextmanager
def locked(path: Path, *, timeout: float = 1800, what: str = "the lab") -> Iterator[None]:
    """Hold an exclusive flock on PATH; wait up to TIMEOUT seconds for another holder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + timeout
        waited = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not waited:
                    log.info("waiting for another process working on %s (%s)", what, path)
                    waited = True
                if time.monotonic() > deadline:
                    raise LabError(f"{what} is busy: {path} stayed locked for {timeout:.0f} s"
                                   ) from None
                time.sleep(0.5)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
