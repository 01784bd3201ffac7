"""Value dictionaries for pseudonyms, built from Faker's zh_CN data when a policy is loaded.

Why from Faker and not typed in: the lists are long (400 surnames with their frequencies,
3,000 county codes, 50 mobile prefixes) and Faker already maintains them. Why sorted and
digested: a pseudonym is an index into these lists, so the same key gives the same output only
while the lists are the same; :attr:`Dictionaries.digest` goes into every plan and report so a
Faker upgrade that changes them is visible instead of silently changing the pseudonyms.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from dataclasses import asdict, dataclass

log = logging.getLogger(__name__)

SURNAME_SLOTS = 2048  # weighted table: a surname with 7 % of people gets ~7 % of the slots


@dataclass(frozen=True)
class Dictionaries:
    surnames: tuple[str, ...]  # weighted: common surnames repeat
    given_chars: tuple[str, ...]  # characters of Faker's given names, male and female
    provinces: tuple[str, ...]
    cities: tuple[str, ...]
    districts: tuple[str, ...]
    street_stems: tuple[str, ...]
    area_codes: tuple[str, ...]  # county-level resident-ID region codes, sorted
    phone_prefixes: tuple[str, ...]  # mainland mobile prefixes (3 digits), sorted

    @functools.cached_property
    def digest(self) -> str:
        """sha256 of the lists: equal digests mean equal pseudonyms under equal keys."""
        text = json.dumps(asdict(self), ensure_ascii=False, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@functools.cache
def load_dictionaries() -> Dictionaries:
    """The dictionaries, built once per process from the installed Faker."""
    from faker.providers.address.zh_CN import Provider as Address
    from faker.providers.person.zh_CN import Provider as Person
    from faker.providers.phone_number.zh_CN import Provider as Phone
    from faker.providers.ssn.zh_CN import Provider as Ssn

    weights = dict(Person.last_names)
    total = sum(weights.values())
    surnames: list[str] = []
    for name in sorted(weights):
        surnames.extend([name] * max(1, round(weights[name] / total * SURNAME_SLOTS)))
    given = {ch for names in (Person.first_names_male, Person.first_names_female,
                              Person.first_names) for name in names for ch in name}
    stems = {*Address.cities, *(n for n in weights if len(n) == 1)}
    return Dictionaries(
        surnames=tuple(surnames),
        given_chars=tuple(sorted(given)),
        provinces=tuple(sorted(set(Address.provinces))),
        cities=tuple(sorted(set(Address.cities))),
        districts=tuple(sorted(set(Address.districts))),
        street_stems=tuple(sorted(stems)),
        # county level only: province and city codes (ending in 00) are not where people live
        area_codes=tuple(sorted({c for c in Ssn.area_codes if not c.endswith("00")})),
        phone_prefixes=tuple(sorted({str(p) for p in Phone.phonenumber_prefixes})),
    )
