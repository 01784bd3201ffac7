"""The podman lab: a small hospital estate (primary, standby, subscriber, backup, verify, app
hosts) in containers on this machine, every host reached at 127.0.0.1 on its own port.

Entry points: :func:`hisops.lab.lifecycle.up` / ``status`` / ``down``, the click group
:data:`hisops.lab.cli.lab`, and the dataset generator :mod:`hisops.lab.dataset`.
"""

from __future__ import annotations

import logging

logging.getLogger(__name__).addHandler(logging.NullHandler())
