"""Pure-Python reference of every masking method, bit for bit what the SQL in :mod:`.sqlgen`
computes.

Why keep a second implementation: the database does the work (set-based SQL), but the
properties that matter (a permutation is a bijection, check digits are valid, sex parity is
kept) are proved far more easily over a whole small domain in Python; the integration tests
then check the SQL against this reference row by row, which ties the two together.

Building blocks:

* ``prf(key, msg)``: the first 4 bytes of sha256(key || msg) as an unsigned integer. The key is
  a 32-byte derived key of fixed length; outputs are truncated to 32 bits, so sha256's length
  extension (which needs the whole digest) does not apply.
* ``feistel(key, tweak, x, a, b, rounds)``: a keyed permutation of range(a * b). x is split
  into (l, r) in Z_a x Z_b; even rounds add F(i, r) to l mod a, odd rounds add F(i, l) to r
  mod b, where F(i, v) is the first 4 bytes of sha256(key || tweak || 8-byte (i << 40 | v)).
  Each round is invertible whatever a and b are, so no cycle-walking is needed: the mixed-radix
  domain is permuted exactly.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date, timedelta

from hisops.masking.dictionaries import Dictionaries
from hisops.pii.idnumber import CHECK_CHARS, WEIGHTS, check_char

ID_WEIGHTS, ID_CHECK = WEIGHTS, CHECK_CHARS  # GB 11643, kept in hisops.pii.idnumber
SEQ_HALF = 500  # the 3-digit sequence keeps its parity (sex): 500 even or 500 odd values
DIGIT_CHUNK = 18  # digits permuted together (10**18 fits a bigint)
ID_PATTERN = r"(?<![0-9])[0-9]{17}[0-9Xx](?![0-9])"  # redacted in free text
PHONE_PATTERN = r"(?<![0-9])1[3-9][0-9]{9}(?![0-9])"


def derive_key(secret: str | bytes) -> bytes:
    """The 32-byte working key: the caller's secret never leaves this function as such."""
    raw = secret.encode() if isinstance(secret, str) else secret
    return hashlib.sha256(b"hisops-masking-v1\x00" + raw).digest()


def key_id(key: bytes) -> str:
    """A short fingerprint of a derived key, safe to journal: tells two keys apart."""
    return hashlib.sha256(b"hisops-masking-key-id\x00" + key).hexdigest()[:12]


def prf(key: bytes, msg: str) -> int:
    return int.from_bytes(hashlib.sha256(key + msg.encode()).digest()[:4], "big")


def prf_bytes(key: bytes, msg: str) -> bytes:
    return hashlib.sha256(key + msg.encode()).digest()


def u32(h: bytes, offset: int) -> int:
    return int.from_bytes(h[offset:offset + 4], "big")


def feistel(key: bytes, tweak: str, x: int, a: int, b: int, rounds: int) -> int:
    prefix = key + tweak.encode()
    left, right = divmod(x, b)
    for i in range(rounds):
        if i % 2 == 0:
            left = (left + _round(prefix, i, right)) % a
        else:
            right = (right + _round(prefix, i, left)) % b
    return left * b + right


def _round(prefix: bytes, i: int, half: int) -> int:
    # halves are below 2**40 (the largest, 500 x 3,133 x 366, is below 2**30)
    return u32(hashlib.sha256(prefix + (i << 40 | half).to_bytes(8, "big")).digest(), 0)


# --- digits in place ---------------------------------------------------------------------------

def digits(key: bytes, tweak: str, value: str, rounds: int) -> str:
    """Permute the ASCII digits of VALUE in place, other characters kept where they are.

    A bijection on the values with the same non-digit skeleton: the fallback for values that
    are not in the expected shape, so a unique column stays unique even for malformed entries.
    """
    found = "".join(ch for ch in value if "0" <= ch <= "9")
    out = []
    for j in range(0, len(found), DIGIT_CHUNK):
        chunk = found[j:j + DIGIT_CHUNK]
        n = len(chunk)
        a, b = 10 ** (n // 2), 10 ** (n - n // 2)
        out.append(f"{feistel(key, f'{tweak}|{n}|{j}', int(chunk), a, b, rounds):0{n}d}")
    new = iter("".join(out))
    return "".join(next(new) if "0" <= ch <= "9" else ch for ch in value)


# --- resident ID numbers -----------------------------------------------------------------------



def _birth(text: str) -> date | None:
    year, month, day = int(text[:4]), int(text[4:6]), int(text[6:8])
    try:
        return date(year, month, day)
    except ValueError:
        return None


def id_number(key: bytes, value: str, dicts: Dictionaries, *, birth_shift: bool,
              region_shift: bool, rounds: int) -> str:
    """Pseudonymous resident ID: a bijection that keeps length, sex parity and the check
    character's validity (a valid input gives a valid output; an invalid one stays exactly as
    wrong, so it can never collide with a valid output)."""
    if not re.fullmatch(r"[0-9]{17}[0-9X]", value):
        return digits(key, "idx", value, rounds)
    region, ymd, seq = value[:6], value[6:14], int(value[14:17])
    deviation = (ID_CHECK.index(value[17]) - ID_CHECK.index(check_char(value[:17]))) % 11
    born = _birth(ymd)
    if born is None:
        # the date is not a date: keep it (so the output is no valid ID either), permute the rest
        scrambled = digits(key, f"idb|{ymd}", region + value[14:17], rounds)
        first17 = scrambled[:6] + ymd + scrambled[6:]
    else:
        parity, s = seq % 2, seq // 2
        r_idx = _index(dicts.area_codes, region) if region_shift else None
        n_regions = len(dicts.area_codes) if r_idx is not None else 1
        year_start = date(born.year, 1, 1)
        n_days = (date(born.year + 1, 1, 1) - year_start).days if birth_shift else 1
        d_idx = (born - year_start).days if birth_shift else 0
        tweak = (f"id|{'*' if r_idx is not None else region}|"
                 f"{born.year if birth_shift else ymd}|{parity}")
        if r_idx is None and not birth_shift:
            a, b, x = 20, 25, s  # 500 = 20 x 25: two halves for the Feistel
        else:
            a, b, x = SEQ_HALF, n_regions * n_days, s * n_regions * n_days + (
                (r_idx or 0) * n_days + d_idx)
        y = feistel(key, tweak, x, a, b, rounds)
        if r_idx is None and not birth_shift:
            s2, rest = y, 0
        else:
            s2, rest = divmod(y, n_regions * n_days)
        r2, d2 = divmod(rest, n_days)
        region2 = dicts.area_codes[r2] if r_idx is not None else region
        born2 = year_start + timedelta(days=d2) if birth_shift else born
        # not strftime: %Y does not pad years before 1000 to 4 digits on glibc
        first17 = (f"{region2}{born2.year:04d}{born2.month:02d}{born2.day:02d}"
                   f"{s2 * 2 + parity:03d}")
    return first17 + ID_CHECK[(ID_CHECK.index(check_char(first17)) + deviation) % 11]


def _index(items: tuple[str, ...], item: str) -> int | None:
    try:
        return items.index(item)
    except ValueError:
        return None


# --- phones ------------------------------------------------------------------------------------

def phone(key: bytes, value: str, dicts: Dictionaries, *, rounds: int) -> str:
    """11-digit mobile numbers with a known prefix map to such numbers (prefix included in the
    permuted domain); 11 digits with an unknown prefix keep the prefix; anything else has its
    digits permuted in place. Three disjoint classes, each permuted: a bijection overall."""
    if not re.fullmatch(r"[0-9]{11}", value):
        return digits(key, "phx", value, rounds)
    p_idx = _index(dicts.phone_prefixes, value[:3])
    rest = int(value[3:])
    if p_idx is None:
        return value[:3] + f"{feistel(key, 'ph|' + value[:3], rest, 10**4, 10**4, rounds):08d}"
    n_pre = len(dicts.phone_prefixes)
    high, low = divmod(rest, 10**4)
    y = feistel(key, "ph", high * n_pre * 10**4 + p_idx * 10**4 + low, 10**4,
                n_pre * 10**4, rounds)
    high2, mid = divmod(y, n_pre * 10**4)
    p2, low2 = divmod(mid, 10**4)
    return f"{dicts.phone_prefixes[p2]}{high2:04d}{low2:04d}"


# --- names, addresses, dates, text -------------------------------------------------------------

def name(key: bytes, value: str, dicts: Dictionaries) -> str:
    h = prf_bytes(key, "nm|" + value)
    chars, n = dicts.given_chars, len(dicts.given_chars)
    given = chars[u32(h, 4) % n] + (chars[u32(h, 8) % n] if u32(h, 12) % 4 else "")
    return dicts.surnames[u32(h, 0) % len(dicts.surnames)] + given


def address(key: bytes, value: str, dicts: Dictionaries) -> str:
    h = prf_bytes(key, "ad|" + value)
    return (dicts.provinces[u32(h, 0) % len(dicts.provinces)]
            + dicts.cities[u32(h, 4) % len(dicts.cities)] + "市"
            + dicts.districts[u32(h, 8) % len(dicts.districts)] + "区"
            + dicts.street_stems[u32(h, 12) % len(dicts.street_stems)]
            + ("路" if u32(h, 16) % 2 else "街")
            + f"{1 + u32(h, 20) % 999}号")


def date_offset(key: bytes, per_value: str | None, days: int) -> int:
    """Days to add: never 0, within +-DAYS, the same for every row of one subject."""
    h = prf(key, "ds|" + (per_value if per_value is not None else ""))
    return offsets(days)[h % (2 * days)]


def offsets(days: int) -> list[int]:
    return [*range(-days, 0), *range(1, days + 1)]
