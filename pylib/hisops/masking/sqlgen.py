"""The SQL of a masking run: helper functions in ``pg_temp``, one UPDATE per table (computed in
parallel into a staging table first, for tables with pseudonym functions).

Everything here is text without the key: the key is read by each statement from the session's
temp table (``(SELECT k FROM pg_temp.hisops_mask_key)``, an InitPlan evaluated once per
statement), so the statements can be shown in a plan, logged by the server, or journaled.

The functions mirror :mod:`hisops.masking.reference` exactly (the integration tests compare
them row by row). They are PL/pgSQL because a Feistel network needs a loop and local
variables; PL/pgSQL caches its plans, and the dictionaries are constants inside those plans.
"""

from __future__ import annotations

from collections.abc import Sequence

from psycopg import sql

from hisops.masking.dictionaries import Dictionaries
from hisops.masking.reference import DIGIT_CHUNK, ID_CHECK, ID_WEIGHTS, SEQ_HALF, offsets

KEY_TABLE = "pg_temp.hisops_mask_key"
STAGE_SCHEMA = "hisops_mask"  # created and dropped inside the masking transaction
KEY_EXPR = f"(SELECT k FROM {KEY_TABLE})"  # noqa: S608 - constant names
FUNCTIONS = ("hm_u32(bytea, integer)", "hm_feistel(bytea, text, bigint, bigint, bigint)",
             "hm_digits(bytea, text, text)", "hm_check(bigint)",
             "hm_id(bytea, text, boolean, boolean)", "hm_phone(bytea, text, bytea)",
             "hm_name(bytea, text)", "hm_address(bytea, text)")


def _lit(text: str) -> str:
    """A SQL string literal (standard_conforming_strings is on in every supported version)."""
    return "'" + text.replace("'", "''") + "'"


def _array(items: Sequence[str]) -> str:
    return "ARRAY[" + ",".join(_lit(i) for i in items) + "]::text[]"


def _ints(items: Sequence[int]) -> str:
    return "'{" + ",".join(str(i) for i in items) + "}'::bigint[]"


def perfect_hash(codes: Sequence[str], size: int = 8191, buckets: int = 1024
                 ) -> tuple[list[int], list[int], list[int]]:
    """(displacements, slot codes, slot indexes): a collision-free table for the region codes.

    Why: a region lookup per row must be O(1) in SQL; strpos over 3,000 codes or a probing loop
    in PL/pgSQL cost more than the rest of the ID permutation. slot(k) = (k + disp[k % buckets])
    % size, found by "hash and displace". Two codes of one bucket differ by a multiple of
    1,024, and by less than 8,191 x 1,024, so they never share a slot, whatever the
    displacement; the search only has to avoid slots other buckets took.
    """
    keys = [int(c) for c in codes]
    groups: dict[int, list[int]] = {}
    for k in keys:
        groups.setdefault(k % buckets, []).append(k)
    disp, slot_code, slot_idx = [0] * buckets, [0] * size, [-1] * size
    index = {k: i for i, k in enumerate(keys)}
    for bucket, members in sorted(groups.items(), key=lambda g: -len(g[1])):
        for d in range(size):
            slots = [(k + d) % size for k in members]
            if len(set(slots)) == len(slots) and all(slot_code[x] == 0 for x in slots):
                break
        else:
            raise ValueError("no perfect hash for the region codes")  # pragma: no cover
        disp[bucket] = d
        for k, x in zip(members, slots, strict=True):
            slot_code[x], slot_idx[x] = k, index[k]
    return disp, slot_code, slot_idx


def _pairs(words: Sequence[str]) -> list[int]:
    """Words of one or two characters as integers: first code point << 21 | second (or 0).

    Why: a bigint[] is indexed in O(1), a text[] is walked element by element; with 2,000
    weighted surnames that walk was most of a name's cost."""
    if any(not 1 <= len(w) <= 2 for w in words):
        raise ValueError("only words of one or two characters can be coded")
    return [ord(w[0]) << 21 | (ord(w[1]) if len(w) == 2 else 0) for w in words]


def _u32(expr: str) -> str:
    """The first 4 bytes of a bytea as an unsigned integer, in one expression (the hash is
    computed once: a multi-use SQL function would be inlined and repeat it)."""
    return f"('x' || encode(substr({expr}, 1, 4), 'hex'))::bit(32)::bigint"


def _round_hash(kt: str, i: int | str, other: str) -> str:
    """The round function's hash: key and tweak KT, then the round number and the other half
    as 8 bytes (int8send: no text conversion per round). One form for the hashed rounds and
    the phones' tabulated ones, so the two cannot drift apart."""
    return f"sha256({kt} || int8send(({i}::bigint << 40) | {other}))"


def _round(i: int, target: str, other: str, modulus: str) -> str:
    return f"  {target} := ({target} + {_u32(_round_hash('kt', i, other))}) % {modulus};"


def _rounds(rounds: int, *, tabulated_odd: bool = False) -> str:
    """The round statements alone (halves l, r, moduli fa, fb, key and tweak kt set by the
    caller): unrolled, one statement per round is the cheapest form measured. TABULATED_ODD:
    the odd rounds read the known-prefix phones' table ft instead (_table_round)."""
    return "\n".join(_round(i, "l", "r", "fa") if i % 2 == 0 else
                     _table_round(i) if tabulated_odd else _round(i, "r", "l", "fb")
                     for i in range(rounds))


PHONE_HIGH = 10_000  # a known-prefix phone's left half: its 4 digits after the prefix


def _table_round(i: int) -> str:
    """Round I (odd: r from l) of the known-prefix phone's Feistel, read from the table ft
    instead of hashed: ft holds the round function's 4 bytes for every l (phone_table)."""
    at = f"({(i // 2) * PHONE_HIGH} + l)::int * 4"
    # parenthesised: << and | have the same precedence in PostgreSQL, left to right
    u32 = (f"((get_byte(ft, {at})::bigint << 24) | (get_byte(ft, {at} + 1) << 16)"
           f" | (get_byte(ft, {at} + 2) << 8) | get_byte(ft, {at} + 3))")
    return f"    r := (r + {u32}) % fb;"


def phone_table(rounds: int) -> str:
    """The odd rounds' function of the known-prefix phones, tabulated: 4 bytes for each
    round i and each l in range(10,000), in that order, computed by one scalar subquery (an
    InitPlan: once per statement, in memory, handed to parallel workers as a parameter; never
    stored). Why: those rounds hash the 4-digit half, so 4 x 10,000 hashes per run replace 4
    per phone (one sha256 costs about 1.2 us, a lookup about 0.2 us)."""
    kt = f"{KEY_EXPR} || convert_to('ph', 'UTF8')"  # the tweak hm_phone gives this class
    hashed = f"substr({_round_hash(kt, 'i', 'l')}, 1, 4)"
    return (f"(SELECT string_agg({hashed}, ''::bytea ORDER BY i, l) "  # noqa: S608 - integers
            f"FROM generate_series(1, {rounds - 1}, 2) AS i, "
            f"generate_series(0, {PHONE_HIGH - 1}) AS l)")


def _feistel(rounds: int) -> str:
    """PL/pgSQL statements permuting x in range(fa * fb) under key k and tweak tw into y: the
    body of hm_feistel (hm_id and hm_phone set their halves directly and use _rounds)."""
    return f"""  kt := k || convert_to(tw, 'UTF8'); l := x / fb; r := x % fb;
{_rounds(rounds)}
  y := l * fb + r;"""


def functions_sql(d: Dictionaries, rounds: int) -> str:
    """CREATE statements of the helper functions (no key inside: it is an argument)."""
    # digit i of a 17-digit number n, times its weight: integer arithmetic, no substr per digit
    check_sum = " + ".join(f"n / {10 ** (16 - i)} % 10 * {w}" for i, w in enumerate(ID_WEIGHTS))
    disp, slot_code, slot_idx = perfect_hash(d.area_codes)
    prefix_idx = [-1] * 1000
    for i, p in enumerate(d.phone_prefixes):
        prefix_idx[int(p)] = i
    feistel = _feistel(rounds)
    rounds_sql = _rounds(rounds)
    table_rounds_sql = _rounds(rounds, tabulated_odd=True)
    # the county's slot in the perfect hash of the region codes (digits 1-6 of n17)
    slot = (f"1 + (n17 / 100000000000 + ({_ints(disp)})[1 + n17 / 100000000000 % {len(disp)}])"
            f" % {len(slot_code)}")
    chk = _lit(ID_CHECK)
    given = _ints([ord(c) for c in d.given_chars])
    return f"""
CREATE OR REPLACE FUNCTION pg_temp.hm_feistel(k bytea, tw text, x bigint, fa bigint,
                                              fb bigint)
RETURNS bigint LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE COST 1000 AS $f$
DECLARE y bigint; l bigint; r bigint; kt bytea;
BEGIN
{feistel}
  RETURN y;
END $f$;

CREATE OR REPLACE FUNCTION pg_temp.hm_digits(k bytea, tw text, v text)
RETURNS text LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE COST 1000 AS $f$
DECLARE d text := regexp_replace(v, '[^0-9]', '', 'g'); o text := ''; c text; n integer;
        j integer := 0; res text := ''; ch text;
BEGIN
  WHILE j < length(d) LOOP
    c := substr(d, j + 1, {DIGIT_CHUNK}); n := length(c);
    o := o || lpad(pg_temp.hm_feistel(k, tw || '|' || n || '|' || j, c::bigint,
                                      (10::numeric ^ (n / 2))::bigint,
                                      (10::numeric ^ (n - n / 2))::bigint)::text, n, '0');
    j := j + {DIGIT_CHUNK};
  END LOOP;
  j := 0;
  FOREACH ch IN ARRAY regexp_split_to_array(v, '') LOOP
    IF strpos('0123456789', ch) > 0 THEN
      j := j + 1; res := res || substr(o, j, 1);
    ELSE
      res := res || ch;
    END IF;
  END LOOP;
  RETURN res;
END $f$;

CREATE OR REPLACE FUNCTION pg_temp.hm_check(n bigint) RETURNS integer
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $f$
  SELECT ({check_sum}) % 11  -- the position of the check character in {chk}, from 0
$f$;

CREATE OR REPLACE FUNCTION pg_temp.hm_id(k bytea, v text, birth_shift boolean,
                                         region_shift boolean) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE COST 1000 AS $f$
-- Few statements, integer arithmetic: every PL/pgSQL statement costs about 0.25 us a row (plan
-- validity checks, variable assignment), and substr() on text walks multibyte lengths; the
-- ID number is parsed once into n17 (digits 1-17) and taken apart with / and %.
DECLARE n17 bigint; ymd bigint; yr integer; r_idx bigint; y0 date; n_days bigint;
        d_idx bigint; f bigint; tw text; fa bigint; fb bigint; l bigint; r bigint; kt bytea;
BEGIN
  -- the shape test without a regular expression: a regex match costs 2.4 us a row here
  IF NOT (length(v) = 18 AND ltrim(left(v, 17), '0123456789') = ''
          AND strpos('0123456789X', right(v, 1)) > 0) THEN
    RETURN pg_temp.hm_digits(k, 'idx', v);
  END IF;
  n17 := left(v, 17)::bigint; ymd := n17 / 1000 % 100000000; yr := ymd / 10000;
  -- a real date? Days of the month in integer arithmetic (interval arithmetic and a numeric
  -- extract cost more than the rest of this test), leap years as in PostgreSQL's and
  -- Python's proleptic Gregorian calendar; parenthesised: IF ends at the first bare THEN
  IF NOT (yr >= 1 AND ymd / 100 % 100 BETWEEN 1 AND 12 AND ymd % 100 >= 1
          AND ymd % 100 <= (CASE WHEN ymd / 100 % 100 = 2 THEN
            CASE WHEN yr % 4 = 0 AND (yr % 100 <> 0 OR yr % 400 = 0) THEN 29 ELSE 28 END
            ELSE 30 + (ymd / 100 % 100 + ymd / 100 % 100 / 8) % 2 END)) THEN
    -- not a date: kept, so the output is no valid ID either; the other digits permuted
    tw := pg_temp.hm_digits(k, 'idb|' || substr(v, 7, 8), left(v, 6) || substr(v, 15, 3));
    f := (left(tw, 6) || substr(v, 7, 8) || substr(tw, 7, 3))::bigint;
  ELSE
    -- the county's index in the dictionary (NULL: unknown, kept) by the perfect hash
    r_idx := CASE WHEN region_shift AND ({_ints(slot_code)})[{slot}] = n17 / 100000000000
             THEN ({_ints(slot_idx)})[{slot}] END;
    IF birth_shift THEN
      y0 := make_date(yr, 1, 1); n_days := make_date(yr + 1, 1, 1) - y0;
      d_idx := make_date(yr, (ymd / 100 % 100)::int, (ymd % 100)::int) - y0;
    ELSE
      n_days := 1; d_idx := 0;
    END IF;
    -- the tweak: what is kept (county when kept, birth date or year, parity = n17 % 2)
    kt := k || convert_to('id|' || CASE WHEN r_idx IS NULL THEN left(v, 6) ELSE '*' END || '|'
                          || CASE WHEN birth_shift THEN yr::text ELSE substr(v, 7, 8) END
                          || CASE WHEN n17 % 2 = 0 THEN '|0' ELSE '|1' END, 'UTF8');
    -- the halves directly: x = s * fb + rest with rest < fb, so x / fb = s, x % fb = rest
    IF r_idx IS NULL AND NOT birth_shift THEN
      fa := 20; fb := 25; l := n17 % 1000 / 2 / 25; r := n17 % 1000 / 2 % 25;  -- 500 = 20 x 25
    ELSE
      fa := {SEQ_HALF}; fb := CASE WHEN r_idx IS NULL THEN 1 ELSE {len(d.area_codes)} END * n_days;
      l := n17 % 1000 / 2; r := coalesce(r_idx, 0) * n_days + d_idx;
    END IF;
{rounds_sql}
    -- y = l * fb + r: the new sequence half and (county, day) are l and r (or y in the 20 x 25
    -- case); n17 % 2 is the kept parity
    f := CASE WHEN r_idx IS NULL THEN n17 / 100000000000
              ELSE ({_ints([int(c) for c in d.area_codes])})[1 + r / n_days] END * 100000000000
         + CASE WHEN birth_shift THEN to_char(y0 + (r % n_days)::int, 'YYYYMMDD')::bigint
                ELSE ymd END * 1000
         + CASE WHEN fa = 20 THEN l * 25 + r ELSE l END * 2 + n17 % 2;
  END IF;
  -- the check character keeps its deviation from the right one (0 for a valid input)
  RETURN lpad(f::text, 17, '0')
         || substr({chk}, 1 + (pg_temp.hm_check(f) + strpos({chk}, right(v, 1)) + 10
                               - pg_temp.hm_check(n17)) % 11, 1);
END $f$;

CREATE OR REPLACE FUNCTION pg_temp.hm_phone(k bytea, v text, ft bytea) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE COST 1000 AS $f$
-- Few statements (see hm_id). x = (high 4 digits) x (prefix, low 4 digits) for a known
-- prefix, the 8 digits after an unknown one: either way l = the high 4 digits. FT: the odd
-- rounds of the known-prefix class, tabulated (phone_table).
DECLARE p bigint; fa bigint := 10000; fb bigint; l bigint; r bigint; kt bytea;
BEGIN
  IF NOT (length(v) = 11 AND ltrim(v, '0123456789') = '') THEN  -- no regex: see hm_id
    RETURN pg_temp.hm_digits(k, 'phx', v);
  END IF;
  p := ({_ints(prefix_idx)})[1 + left(v, 3)::int]; l := right(v, 8)::bigint;
  IF p < 0 THEN  -- an unknown prefix is kept: the 8 other digits are permuted
    kt := k || convert_to('ph|' || left(v, 3), 'UTF8'); fb := 10000; r := l % 10000;
  ELSE
    kt := k || convert_to('ph', 'UTF8'); fb := {len(d.phone_prefixes)} * 10000;
    r := p * 10000 + l % 10000;
  END IF;
  l := l / 10000;
  IF p < 0 THEN
{rounds_sql}
  ELSE
{table_rounds_sql}
  END IF;
  RETURN CASE WHEN p < 0 THEN left(v, 3)
              ELSE (({_ints([int(x) for x in d.phone_prefixes])})[1 + r / 10000])::text END
         || lpad(l::text, 4, '0') || lpad((r % 10000)::text, 4, '0');
END $f$;

CREATE OR REPLACE FUNCTION pg_temp.hm_u32(h bytea, o integer) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $f$
  SELECT (get_byte(h, o)::bigint << 24) | (get_byte(h, o + 1) << 16)
         | (get_byte(h, o + 2) << 8) | get_byte(h, o + 3)
$f$;

CREATE OR REPLACE FUNCTION pg_temp.hm_name(k bytea, v text) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE COST 1000 AS $f$
DECLARE h bytea := sha256(k || convert_to('nm|' || v, 'UTF8')); s bigint;
BEGIN
  s := ({_ints(_pairs(d.surnames))})[1 + pg_temp.hm_u32(h, 0) % {len(d.surnames)}];
  RETURN chr((s >> 21)::int) || CASE WHEN s & 2097151 > 0 THEN chr((s & 2097151)::int) ELSE ''
                                END
      || chr(({given})[1 + pg_temp.hm_u32(h, 4) % {len(d.given_chars)}]::int)
      || CASE WHEN pg_temp.hm_u32(h, 12) % 4 <> 0
              THEN chr(({given})[1 + pg_temp.hm_u32(h, 8) % {len(d.given_chars)}]::int)
              ELSE '' END;
END $f$;

CREATE OR REPLACE FUNCTION pg_temp.hm_address(k bytea, v text) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE COST 1000 AS $f$
DECLARE h bytea := sha256(k || convert_to('ad|' || v, 'UTF8'));
BEGIN
  RETURN ({_array(d.provinces)})[1 + (pg_temp.hm_u32(h, 0) % {len(d.provinces)})::int]
      || ({_array(d.cities)})[1 + (pg_temp.hm_u32(h, 4) % {len(d.cities)})::int] || '市'
      || ({_array(d.districts)})[1 + (pg_temp.hm_u32(h, 8) % {len(d.districts)})::int] || '区'
      || ({_array(d.street_stems)})[1 + (pg_temp.hm_u32(h, 12) % {len(d.street_stems)})::int]
      || CASE WHEN pg_temp.hm_u32(h, 16) % 2 = 1 THEN '路' ELSE '街' END
      || (1 + pg_temp.hm_u32(h, 20) % 999)::text || '号';
END $f$;
"""  # noqa: S608 - no input: dictionaries and constants only


def offset_expr(per: sql.Composable, days: int) -> sql.Composed:
    """Inline SQL (no function call: the hot path of every dated row) for the day offset."""
    head, tail = _u32(f"sha256({KEY_EXPR} || convert_to('ds|' || coalesce(@, ''), 'UTF8'))"
                      ).split("@")
    return sql.Composed([sql.SQL(f"({_ints(offsets(days))})[1 + ({head}"), per,
                         sql.SQL(f"{tail} % {2 * days})::int]")])


def drop_functions_sql() -> str:
    return "".join(f"DROP FUNCTION IF EXISTS pg_temp.{f};\n" for f in FUNCTIONS)


def update_statement(schema: str, table: str, assignments: Sequence[tuple[str, sql.Composable]],
                     mapped: Sequence[tuple[str, sql.Composable]] = ()) -> sql.Composed:
    """One UPDATE over the whole table: every masked column in a single pass.

    MAPPED columns ((column, expression of ``x.d``), NOT NULL, few distinct values, e.g. the
    doctor of a visit) are masked once per distinct value and joined back: the same values
    as row by row (the methods are functions of the value), for a hash join's cost instead
    of a pseudonym per row.
    """
    target = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table))
    sets = [sql.SQL("{} = {}").format(sql.Identifier(col), expr) for col, expr in assignments]
    joins: list[sql.Composable] = []
    conditions: list[sql.Composable] = []
    for i, (col, expr) in enumerate(mapped):
        alias = sql.Identifier(f"m{i}")
        sets.append(sql.SQL("{} = {}.v").format(sql.Identifier(col), alias))
        # OFFSET 0 keeps the planner from pulling the subquery up into the join, which would
        # evaluate the pseudonym once per joined row again (measured: +16 s on 3,000,000 visits)
        joins.append(sql.SQL("(SELECT x.d, {} AS v FROM (SELECT DISTINCT {} AS d FROM {}) AS x"
                             " OFFSET 0) AS {}").format(expr, sql.Identifier(col), target,
                                                        alias))
        conditions.append(sql.SQL("t.{} = {}.d").format(sql.Identifier(col), alias))
    statement = sql.SQL("UPDATE {} AS t SET {}").format(target, sql.SQL(", ").join(sets))
    if joins:
        statement += sql.SQL(" FROM {} WHERE {}").format(sql.SQL(", ").join(joins),
                                                         sql.SQL(" AND ").join(conditions))
    return statement


def staged_statements(schema: str, table: str, stage: str,
                      assignments: Sequence[tuple[str, sql.Composable]]
                      ) -> tuple[sql.Composed, sql.Composed]:
    """(compute, apply) for a table with expensive columns.

    Why two statements: an UPDATE runs on one core, but the SELECT of a CREATE TABLE AS can
    run in parallel workers; the masked values are computed there into an unlogged staging
    table (masked values only, dropped with its schema at the end of the run), and one UPDATE
    joined on (tableoid, ctid) writes them: ctids are stable (the table is locked for the
    whole run), and tableoid tells a partitioned table's partitions apart.
    """
    names = [sql.Identifier(f"c{i}") for i in range(len(assignments))]
    compute = sql.SQL("CREATE UNLOGGED TABLE {}.{} AS SELECT t.tableoid AS hisops_rel, "
                      "t.ctid AS hisops_ctid, {} "
                      "FROM {}.{} AS t").format(
        sql.Identifier(STAGE_SCHEMA), sql.Identifier(stage),
        sql.SQL(", ").join(sql.SQL("{} AS {}").format(expr, name)
                           for (_, expr), name in zip(assignments, names, strict=True)),
        sql.Identifier(schema), sql.Identifier(table))
    sets = sql.SQL(", ").join(sql.SQL("{} = s.{}").format(sql.Identifier(col), name)
                              for (col, _), name in zip(assignments, names, strict=True))
    apply = sql.SQL("UPDATE {}.{} AS t SET {} FROM {}.{} AS s "
                    "WHERE t.tableoid = s.hisops_rel AND t.ctid = s.hisops_ctid").format(
        sql.Identifier(schema), sql.Identifier(table), sets,
        sql.Identifier(STAGE_SCHEMA), sql.Identifier(stage))
    return compute, apply


def rewrite_statements(schema: str, table: str, stage: str, columns: Sequence[str],
                       masked: dict[str, sql.Composable],
                       mapped: Sequence[tuple[str, sql.Composable]] = ()
                       ) -> tuple[sql.Composed, sql.Composed, sql.Composed]:
    """(compute, clear, refill) for a table written anew instead of updated in place.

    Why: an UPDATE of every row writes each row twice (the old version marked, a new one
    added; 12.6-14.3 s for 3,000,000 visits on the lab with no masking at all), and leaves the
    table twice its size. Here every column (COLUMNS, in order: MASKED ones as their masked
    expression, the rest as they are) is computed in parallel into an unlogged staging table,
    the table is emptied (TRUNCATE: same relation, owner, grants, comments and defaults; a new
    file) and filled again from the stage. The planner only chooses this where nothing else
    can tell the difference: see planner._rewritable.

    MAPPED columns ((column, expression of ``x.d``): few distinct values, NOT NULL) are
    masked once per value into a map table first (``<stage>_m<i>``: each distinct value and
    its pseudonym, in the staging schema, dropped with it) and joined in the parallel compute:
    a hash probe instead of a pseudonym per row. The map is a table and not a subquery
    because a subquery that must not be pulled up (OFFSET 0) keeps the workers out. The join
    is a LEFT JOIN falling back to the per-row expression, so a row can never be lost.
    """
    target = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table))
    names = [sql.Identifier(f"c{i}") for i in range(len(columns))]
    values_of = dict(masked)
    maps: list[sql.Composable] = []
    joins: list[sql.Composable] = []
    for i, (col, expr) in enumerate(mapped):
        map_table = sql.SQL("{}.{}").format(sql.Identifier(STAGE_SCHEMA),
                                            sql.Identifier(f"{stage}_m{i}"))
        alias, column = sql.Identifier(f"m{i}"), sql.Identifier(col)
        maps.append(sql.SQL("CREATE UNLOGGED TABLE {} AS SELECT x.d, {} AS v FROM "
                            "(SELECT DISTINCT t.{} AS d FROM {} AS t) AS x; ").format(
            map_table, expr, column, target))
        joins.append(sql.SQL(" LEFT JOIN {} AS {} ON {}.d = t.{}").format(
            map_table, alias, alias, column))
        values_of[col] = sql.SQL("coalesce({}.v, {})").format(alias, masked[col])
    values = [sql.SQL("{} AS {}").format(
        values_of.get(col, sql.SQL("t.{}").format(sql.Identifier(col))), name)
        for col, name in zip(columns, names, strict=True)]
    stage_table = sql.SQL("{}.{}").format(sql.Identifier(STAGE_SCHEMA), sql.Identifier(stage))
    compute = sql.Composed([*maps, sql.SQL("CREATE UNLOGGED TABLE {} AS SELECT {} FROM {} AS t{}"
                                           ).format(stage_table, sql.SQL(", ").join(values),
                                                    target, sql.Composed(joins))])
    clear = sql.SQL("TRUNCATE {}").format(target)
    refill = sql.SQL("INSERT INTO {} ({}) OVERRIDING SYSTEM VALUE SELECT {} FROM {}").format(
        target, sql.SQL(", ").join(sql.Identifier(c) for c in columns),
        sql.SQL(", ").join(names), stage_table)
    return compute, clear, refill
