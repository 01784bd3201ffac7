"""The hospital's four database severity levels and what each obliges us to do.

From the contract (../shared/requirements, "服务问题的分级及响应标准"): level 1 is the most
severe. Baseline items, inspection findings and problems all carry one of these levels, so a
drift report and the problem list speak the contract's language.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta


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

    def name(self, lang: str = "en") -> str:
        return self.name_zh if lang == "zh" else self.name_en


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
             timedelta(hours=3), timedelta(days=1), None),
}


def level(number: int) -> Level:
    """The level with this number; ValueError for anything but 1-4."""
    try:
        return LEVELS[int(number)]
    except (KeyError, ValueError, TypeError):
        raise ValueError(f"severity must be 1, 2, 3 or 4 (the contract's levels), not {number!r}")\
            from None
