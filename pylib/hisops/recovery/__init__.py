"""The planning core of the emergency restore: which backup chain and WAL reach the recovery
target (``chain``), the incident's level-1 clock (``clock``), and the ETA and data-loss window
from earlier drills' evidence (``eta``). Pure functions: nothing here touches a host.
"""

from __future__ import annotations

from hisops.recovery.chain import (
    ArchiveRange,
    Backup,
    InfoFormatError,
    NoBackupForTarget,
    RecoveryTarget,
    Selection,
    StanzaInfo,
    WalRange,
    disk_needed,
    parse_info,
    segment_position,
    select_backup,
    stanza_info,
)
from hisops.recovery.clock import Deadline, IncidentClock, incident_clock, render_clock
from hisops.recovery.eta import DrillTiming, Eta, data_loss_window, drill_timings, estimate

__all__ = [
    "ArchiveRange",
    "Backup",
    "Deadline",
    "DrillTiming",
    "Eta",
    "IncidentClock",
    "InfoFormatError",
    "NoBackupForTarget",
    "RecoveryTarget",
    "Selection",
    "StanzaInfo",
    "WalRange",
    "data_loss_window",
    "disk_needed",
    "drill_timings",
    "estimate",
    "incident_clock",
    "parse_info",
    "render_clock",
    "segment_position",
    "select_backup",
    "stanza_info",
]
