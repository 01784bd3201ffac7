"""The hospital's four severity levels and what each obliges us to do.

From the contract (../shared/requirements, "服务问题的分级及响应标准"): level 1 is the most
severe. Baseline items, inspection findings and problems all carry one of these levels, so a
drift report and the problem list speak the contract's language. ``LEVELS`` is the database
table (what hisops deals with); ``APP_LEVELS`` the applications' (HIS/EMR) table.

Hour limits are wall-clock (level 1's clock runs at 3 a.m. too); the limits the contract gives
in *working days* are named in ``Level.working_day_limits`` and counted on a service calendar
(``hisops.problems.workcalendar``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

Scale = Literal["database", "application"]
SCALES: tuple[Scale, ...] = ("database", "application")
LimitName = Literal["respond", "solution", "resolve"]
LIMIT_NAMES: tuple[LimitName, ...] = ("respond", "solution", "resolve")


@dataclass(frozen=True)
class Limit:
    """One contract limit: a wall-clock span, or whole working days on the service calendar."""

    wall: timedelta | None = None
    working_days: int = 0

    def text(self, lang: str = "en") -> str:
        if self.wall is None:
            return f"{self.working_days} 个工作日" if lang == "zh" else (
                f"{self.working_days} working day" + ("s" if self.working_days != 1 else ""))
        seconds = int(self.wall.total_seconds())
        if seconds == 0:
            return "立即" if lang == "zh" else "at once"
        if seconds % 3600 == 0:
            return f"{seconds // 3600} 小时" if lang == "zh" else f"{seconds // 3600} h"
        return f"{seconds // 60} 分钟" if lang == "zh" else f"{seconds // 60} min"


@dataclass(frozen=True)
class Level:
    number: int
    name_en: str
    name_zh: str
    meaning_en: str
    meaning_zh: str
    respond_within: timedelta
    solution_within: timedelta
    resolve_within: timedelta | None  # level 4: "a solution within 1 working day", no more
    # Which of respond/solution/resolve the contract counts in working days: their timedelta
    # is then that many whole days (timedelta(days=1) = 1 working day), never wall-clock days.
    working_day_limits: frozenset[str] = frozenset()
    scale: Scale = "database"

    def name(self, lang: str = "en") -> str:
        return self.name_zh if lang == "zh" else self.name_en

    def limit(self, which: LimitName) -> Limit | None:
        """The limit for ``respond``, ``solution`` or ``resolve``; None when there is none."""
        span = {"respond": self.respond_within, "solution": self.solution_within,
                "resolve": self.resolve_within}[which]
        if span is None:
            return None
        if which in self.working_day_limits:
            return Limit(working_days=span.days)
        return Limit(wall=span)


LEVELS: dict[int, Level] = {
    1: Level(1, "level 1", "一级", "database crash stops business, data loss, or major impact",
             "数据库宕机导致业务停止、数据丢失或重大影响",
             timedelta(0), timedelta(hours=1), timedelta(hours=6)),
    2: Level(2, "level 2", "二级", "database fault stops part of the applications",
             "数据库故障导致部分应用停止",
             timedelta(minutes=30), timedelta(hours=1), timedelta(hours=12)),
    3: Level(3, "level 3", "三级", "performance abnormal or deadlocks, some business affected",
             "性能异常或死锁，部分业务受影响",
             timedelta(hours=1), timedelta(hours=6), timedelta(hours=24)),
    4: Level(4, "level 4", "四级", "information or help on configuration; little or no impact",
             "配置咨询或帮助，影响很小或没有影响",
             timedelta(hours=3), timedelta(days=1), None, frozenset({"solution"})),
}

# The applications' table: no resolution time is given, only a fix or workaround ("solution").
APP_LEVELS: dict[int, Level] = {
    1: Level(1, "level 1", "一级", "system down, or major impact on users' business",
             "系统瘫痪或对用户业务有重大影响",
             timedelta(0), timedelta(hours=1), None, frozenset(), "application"),
    2: Level(2, "level 2", "二级", "operability severely degraded, business seriously affected",
             "系统可操作性严重降级，业务受到严重影响",
             timedelta(minutes=30), timedelta(hours=2), None, frozenset(), "application"),
    3: Level(3, "level 3", "三级", "operability impaired, most business still works",
             "系统可操作性受损，大部分业务仍可运行",
             timedelta(hours=4), timedelta(days=1), None, frozenset({"solution"}),
             "application"),
    4: Level(4, "level 4", "四级",
             "information or help on function, installation or configuration; little impact",
             "功能、安装或配置的信息或帮助，影响很小或没有影响",
             timedelta(days=1), timedelta(days=2), None, frozenset({"respond", "solution"}),
             "application"),
}


def levels(scale: str = "database") -> dict[int, Level]:
    """The table for ``database`` or ``application``; ValueError for anything else."""
    if scale == "database":
        return LEVELS
    if scale == "application":
        return APP_LEVELS
    raise ValueError(f"scale must be 'database' or 'application', not {scale!r}")


def level(number: int, scale: str = "database") -> Level:
    """The level with this number; ValueError for anything but 1-4."""
    table = levels(scale)
    found = None
    if not isinstance(number, bool):  # True would otherwise pass as level 1
        try:
            found = table.get(int(number))
        except (ValueError, TypeError):
            found = None
    if found is None:
        raise ValueError(f"severity must be 1, 2, 3 or 4 (the contract's levels), not {number!r}")
    return found
