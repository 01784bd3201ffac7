"""hisops: tested, idempotent, journaled runbooks for hospital database operations."""

from __future__ import annotations

import logging

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())
