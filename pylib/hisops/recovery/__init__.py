"""The planning core of the emergency restore: which backup chain and WAL reach the recovery
target (``chain``), the incident's level-1 clock (``clock``), the ETA and data-loss window
from earlier drills' evidence (``eta``), and the plan shown before a restore that composes
them (``plan``). Pure functions: nothing here touches a host.
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
    parse_target,
    segment_position,
    select_backup,
    stanza_info,
)
from hisops.recovery.clock import Deadline, IncidentClock, incident_clock, render_clock
from hisops.recovery.eta import DrillTiming, Eta, data_loss_window, drill_timings, estimate
from hisops.recovery.plan import (
    RESTORE_MODES,
    DiskCheck,
    HostTouch,
    RestoreMode,
    RestorePlan,
    Step,
    build_plan,
    restore_command,
)

__all__ = [
    "RESTORE_MODES",
    "ArchiveRange",
    "Backup",
    "Deadline",
    "DiskCheck",
    "DrillTiming",
    "Eta",
    "HostTouch",
    "IncidentClock",
    "InfoFormatError",
    "NoBackupForTarget",
    "RecoveryTarget",
    "RestoreMode",
    "RestorePlan",
    "Selection",
    "StanzaInfo",
    "Step",
    "WalRange",
    "build_plan",
    "data_loss_window",
    "disk_needed",
    "drill_timings",
    "estimate",
    "incident_clock",
    "parse_info",
    "parse_target",
    "render_clock",
    "restore_command",
    "segment_position",
    "select_backup",
    "stanza_info",
]
