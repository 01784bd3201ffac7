"""Chinese surnames for the name-content test, taken from Faker's zh_CN person provider.

Not typed in by hand: Faker's list (about 400 single and compound surnames, weighted by
frequency) is maintained upstream and is what the lab's synthetic patients are drawn from.
"""

from __future__ import annotations

from functools import cache


@cache
def surnames() -> frozenset[str]:
    """Every surname Faker's zh_CN provider knows, single (王) and compound (欧阳)."""
    from faker.providers.person.zh_CN import Provider  # imported late: Faker loads slowly

    return frozenset(str(name) for name in Provider.last_names)

