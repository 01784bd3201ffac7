"""A synthetic, deterministic HIS dataset: patients, visits, stays, prescriptions, orders, bills.

Why synthetic: runbooks and tests need data shaped like a hospital's (Chinese names, valid
resident ID numbers, foreign keys) without any real patient in it. Scale 1 is about 100,000
patients and 1.4 million rows in all; fractional scales (0.01) suit tests. The same seed and
scale give the same rows (for a given Faker version, which supplies the name and address pools).

Faker is slow for 100,000 names, so it only fills small pools once; a seeded ``random.Random``
combines them. Rows are loaded with binary COPY in one transaction.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg

from hisops.pii.idnumber import check_char as id_check_digit

log = logging.getLogger(__name__)

PATIENTS_PER_SCALE = 100_000
DEFAULT_SEED = 20240501
SCHEMA = "his"

# --- GB 11643-1999 resident identity numbers ---------------------------------------------------

# id_check_digit: the GB 11643 check character of an ID number's first 17 digits, kept once
# in hisops.pii.idnumber beside the PII scan's validity test


def id_number_valid(number: str) -> bool:
    """True when NUMBER is 18 characters with a correct check character and a real date."""
    if len(number) != 18 or not number[:17].isdigit():
        return False
    try:
        id_birth_date(number)
    except ValueError:
        return False
    return id_check_digit(number[:17]) == number[17].upper()


def id_birth_date(number: str) -> date:
    """The birth date encoded in digits 7-14."""
    return datetime.strptime(number[6:14], "%Y%m%d").date()  # noqa: DTZ007 - a date, no zone


def id_sex(number: str) -> str:
    """'M' when the 17th digit is odd, 'F' when even (GB 11643)."""
    return "M" if int(number[16]) % 2 else "F"


# --- reference data ----------------------------------------------------------------------------

DEPARTMENTS = ("内科", "外科", "儿科", "妇产科", "眼科", "耳鼻喉科", "口腔科", "皮肤科", "中医科",
               "急诊科", "心血管内科", "神经内科", "骨科", "呼吸内科", "消化内科")
DIAGNOSES = (("J06.9", "急性上呼吸道感染"), ("I10", "特发性高血压"), ("E11.9", "2型糖尿病"),
             ("K29.7", "胃炎"), ("J18.9", "肺炎"), ("M54.5", "腰痛"), ("N39.0", "尿路感染"),
             ("I25.1", "动脉硬化性心脏病"), ("S82.2", "胫骨骨干骨折"), ("K35.8", "急性阑尾炎"),
             ("C34.9", "支气管或肺恶性肿瘤"), ("I63.9", "脑梗死"))
DRUGS = (("阿莫西林胶囊", "0.5g", Decimal("12.80")),
         ("头孢克肟片", "0.1g", Decimal("25.60")),
         ("布洛芬缓释胶囊", "0.3g", Decimal("15.20")),
         ("盐酸二甲双胍片", "0.5g", Decimal("8.90")),
         ("苯磺酸氨氯地平片", "5mg", Decimal("21.50")),
         ("阿托伐他汀钙片", "20mg", Decimal("36.00")),
         ("奥美拉唑肠溶胶囊", "20mg", Decimal("18.40")),
         ("复方甘草片", "1片", Decimal("6.50")),
         ("0.9%氯化钠注射液", "250ml", Decimal("4.20")),
         ("硝苯地平控释片", "30mg", Decimal("32.10")))
WARDS = ("内科一病区", "内科二病区", "外科一病区", "骨科病区", "妇产科病区", "儿科病区", "ICU")
ORDER_ITEMS = (("长期", "一级护理"), ("长期", "二级护理"), ("长期", "低盐低脂饮食"),
               ("临时", "血常规"), ("临时", "尿常规"), ("临时", "胸部CT平扫"), ("临时", "心电图"),
               ("长期", "吸氧"), ("临时", "静脉输液"), ("临时", "肝功能"))
PAYMENT = ("医保", "自费", "商业保险")
# mainland mobile number prefixes (11 digits in all)
PHONE_PREFIXES = ("130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151",
                  "152", "155", "156", "157", "158", "159", "166", "176", "177", "180", "181",
                  "182", "185", "186", "187", "188", "189", "191", "198", "199")
_BIRTH_START = date(1930, 1, 1)
_BIRTH_DAYS = (date(2023, 12, 31) - _BIRTH_START).days
_CARE_START = datetime(2019, 1, 1, 8, 0)  # noqa: DTZ001 - hospital local time, no zone
_CARE_SECONDS = int((datetime(2025, 12, 31, 18, 0) - _CARE_START).total_seconds())  # noqa: DTZ001

# --- schema ------------------------------------------------------------------------------------

# (table, ((column, type for binary COPY), ...)) in load order: parents before children
TABLES: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("patients", (("patient_id", "int8"), ("name", "text"), ("sex", "text"),
                  ("birth_date", "date"), ("id_number", "text"), ("phone", "text"),
                  ("address", "text"), ("registered_at", "timestamp"))),
    ("outpatient_visits", (("visit_id", "int8"), ("patient_id", "int8"),
                           ("visit_time", "timestamp"), ("department", "text"), ("doctor", "text"),
                           ("diagnosis_code", "text"), ("diagnosis", "text"))),
    ("inpatient_stays", (("stay_id", "int8"), ("patient_id", "int8"),
                         ("admitted_at", "timestamp"), ("discharged_at", "timestamp"),
                         ("ward", "text"), ("bed", "text"), ("diagnosis_code", "text"))),
    ("prescriptions", (("prescription_id", "int8"), ("patient_id", "int8"), ("visit_id", "int8"),
                       ("drug", "text"), ("dose", "text"), ("quantity", "int4"),
                       ("unit_price", "numeric"), ("prescribed_at", "timestamp"))),
    ("orders", (("order_id", "int8"), ("stay_id", "int8"), ("patient_id", "int8"),
                ("order_type", "text"), ("item", "text"), ("status", "text"),
                ("ordered_at", "timestamp"))),
    ("billing", (("bill_id", "int8"), ("patient_id", "int8"), ("visit_id", "int8"),
                 ("stay_id", "int8"), ("amount", "numeric"), ("payment", "text"),
                 ("paid", "bool"), ("billed_at", "timestamp"))),
)

SCHEMA_SQL = f"""
CREATE SCHEMA IF NOT EXISTS {SCHEMA};
CREATE TABLE IF NOT EXISTS {SCHEMA}.patients (
    patient_id bigint PRIMARY KEY,
    name text NOT NULL,
    sex char(1) NOT NULL CHECK (sex IN ('M', 'F')),
    birth_date date NOT NULL,
    id_number char(18) NOT NULL UNIQUE,
    phone varchar(11) NOT NULL,
    address text NOT NULL,
    registered_at timestamp NOT NULL
);
CREATE TABLE IF NOT EXISTS {SCHEMA}.outpatient_visits (
    visit_id bigint PRIMARY KEY,
    patient_id bigint NOT NULL REFERENCES {SCHEMA}.patients,
    visit_time timestamp NOT NULL,
    department text NOT NULL,
    doctor text NOT NULL,
    diagnosis_code varchar(8) NOT NULL,
    diagnosis text NOT NULL
);
CREATE TABLE IF NOT EXISTS {SCHEMA}.inpatient_stays (
    stay_id bigint PRIMARY KEY,
    patient_id bigint NOT NULL REFERENCES {SCHEMA}.patients,
    admitted_at timestamp NOT NULL,
    discharged_at timestamp,
    ward text NOT NULL,
    bed varchar(8) NOT NULL,
    diagnosis_code varchar(8) NOT NULL,
    CHECK (discharged_at IS NULL OR discharged_at > admitted_at)
);
CREATE TABLE IF NOT EXISTS {SCHEMA}.prescriptions (
    prescription_id bigint PRIMARY KEY,
    patient_id bigint NOT NULL REFERENCES {SCHEMA}.patients,
    visit_id bigint NOT NULL REFERENCES {SCHEMA}.outpatient_visits,
    drug text NOT NULL,
    dose text NOT NULL,
    quantity integer NOT NULL CHECK (quantity > 0),
    unit_price numeric(10, 2) NOT NULL,
    prescribed_at timestamp NOT NULL
);
CREATE TABLE IF NOT EXISTS {SCHEMA}.orders (
    order_id bigint PRIMARY KEY,
    stay_id bigint NOT NULL REFERENCES {SCHEMA}.inpatient_stays,
    patient_id bigint NOT NULL REFERENCES {SCHEMA}.patients,
    order_type text NOT NULL,
    item text NOT NULL,
    status text NOT NULL,
    ordered_at timestamp NOT NULL
);
CREATE TABLE IF NOT EXISTS {SCHEMA}.billing (
    bill_id bigint PRIMARY KEY,
    patient_id bigint NOT NULL REFERENCES {SCHEMA}.patients,
    visit_id bigint REFERENCES {SCHEMA}.outpatient_visits,
    stay_id bigint REFERENCES {SCHEMA}.inpatient_stays,
    amount numeric(12, 2) NOT NULL,
    payment text NOT NULL,
    paid boolean NOT NULL,
    billed_at timestamp NOT NULL,
    CHECK ((visit_id IS NULL) <> (stay_id IS NULL))
);
CREATE TABLE IF NOT EXISTS {SCHEMA}.dataset_info (
    key text PRIMARY KEY,
    value text NOT NULL
);
"""
ALL_TABLES = (*(name for name, _ in TABLES), "dataset_info")

Row = tuple[Any, ...]


@dataclass(frozen=True)
class Pools:
    """Small value pools drawn once from Faker's zh_CN locale."""

    surnames: Sequence[str]
    male_given: Sequence[str]
    female_given: Sequence[str]
    addresses: Sequence[str]
    area_codes: Sequence[str]
    phone_prefixes: Sequence[str]


def make_pools(seed: int) -> Pools:
    """Pools of names, addresses and area codes; deterministic for SEED and the Faker version."""
    from faker import Faker  # imported here: only dataset generation needs it
    from faker.providers.ssn.zh_CN import Provider as SsnProvider

    fake = Faker("zh_CN")
    fake.seed_instance(seed)
    return Pools(
        # sampled (not the raw list) so common surnames are common, as Faker weights them
        surnames=[fake.last_name() for _ in range(600)],
        male_given=sorted({fake.first_name_male() for _ in range(400)}),
        female_given=sorted({fake.first_name_female() for _ in range(400)}),
        addresses=[" ".join(fake.address().split()) for _ in range(3000)],
        # county-level codes only (province and city codes end in 00)
        area_codes=[c for c in SsnProvider.area_codes if not c.endswith("00")],
        phone_prefixes=PHONE_PREFIXES,
    )


@dataclass
class Dataset:
    """Every generated row, by table, for one scale and seed."""

    scale: float
    seed: int
    rows: dict[str, list[Row]] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        return {name: len(rows) for name, rows in self.rows.items()}


def patient_count(scale: float) -> int:
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    return max(1, round(PATIENTS_PER_SCALE * scale))


def generate(scale: float, seed: int = DEFAULT_SEED) -> Dataset:
    """Generate the whole dataset in memory (about 1.4 million rows at scale 1).

    The loop is written for speed (about 10 s at scale 1): one ``random()`` per pick through
    local names, instead of ``choice``/``randint`` calls.
    """
    rng = random.Random(seed)  # noqa: S311 - synthetic data, not security
    rnd = rng.random
    pools = make_pools(seed)
    ds = Dataset(scale=scale, seed=seed, rows={name: [] for name, _ in TABLES})
    patients = ds.rows["patients"]
    visits, stays = ds.rows["outpatient_visits"], ds.rows["inpatient_stays"]
    prescriptions, orders, bills = ds.rows["prescriptions"], ds.rows["orders"], ds.rows["billing"]
    used_ids: set[str] = set()
    surnames, addresses, areas = pools.surnames, pools.addresses, pools.area_codes
    male_given, female_given, prefixes = pools.male_given, pools.female_given, pools.phone_prefixes
    given_all = [*male_given, *female_given]
    doctors = [surnames[int(rnd() * len(surnames))] + given_all[int(rnd() * len(given_all))]
               for _ in range(300)]
    n_sur, n_addr, n_area, n_pre = len(surnames), len(addresses), len(areas), len(prefixes)
    n_doc, n_dept, n_diag, n_drug = len(doctors), len(DEPARTMENTS), len(DIAGNOSES), len(DRUGS)
    n_ward, n_item, n_pay = len(WARDS), len(ORDER_ITEMS), len(PAYMENT)
    visit_counts, rx_counts = (0, 1, 2, 2, 3, 3, 4, 5, 6, 4), (0, 1, 1, 2, 2, 3)
    care_end = _CARE_START + timedelta(seconds=_CARE_SECONDS)
    registration_fee = Decimal("15.00")
    cent = Decimal("0.01")
    minute, hour, day = timedelta(minutes=1), timedelta(hours=1), timedelta(days=1)

    for pid in range(1, patient_count(scale) + 1):
        male = rnd() < 0.5
        given = (male_given[int(rnd() * len(male_given))] if male
                 else female_given[int(rnd() * len(female_given))])
        birth = _BIRTH_START + day * int(rnd() * _BIRTH_DAYS)
        while True:
            seq = int(rnd() * 500) * 2 + (1 if male else 0)  # 17th digit odd for men
            first17 = f"{areas[int(rnd() * n_area)]}{birth:%Y%m%d}{seq:03d}"
            number = first17 + id_check_digit(first17)
            if number not in used_ids:
                used_ids.add(number)
                break
        phone = f"{prefixes[int(rnd() * n_pre)]}{int(rnd() * 10**8):08d}"
        # care happens in 2019-2025 and never before birth
        floor = max(_CARE_START, datetime(birth.year, birth.month, birth.day, 8))  # noqa: DTZ001
        span = max(1, int((care_end - floor).total_seconds()))
        patients.append((pid, surnames[int(rnd() * n_sur)] + given, "M" if male else "F", birth,
                         number, phone, addresses[int(rnd() * n_addr)],
                         floor + timedelta(seconds=int(rnd() * span))))

        for _ in range(visit_counts[int(rnd() * 10)]):
            vid = len(visits) + 1
            when = floor + timedelta(seconds=int(rnd() * span))
            code, diagnosis = DIAGNOSES[int(rnd() * n_diag)]
            visits.append((vid, pid, when, DEPARTMENTS[int(rnd() * n_dept)],
                           doctors[int(rnd() * n_doc)], code, diagnosis))
            total = registration_fee
            for _ in range(rx_counts[int(rnd() * 6)]):
                drug, dose, price = DRUGS[int(rnd() * n_drug)]
                qty = 1 + int(rnd() * 6)
                total += price * qty
                prescriptions.append((len(prescriptions) + 1, pid, vid, drug, dose, qty, price,
                                      when + minute * (5 + int(rnd() * 36))))
            bills.append((len(bills) + 1, pid, vid, None, total, PAYMENT[int(rnd() * n_pay)],
                          rnd() < 0.97, when + minute * (10 + int(rnd() * 81))))

        if rnd() < 0.3:
            for _ in range(1 if rnd() < 0.85 else 2):
                sid = len(stays) + 1
                admitted = floor + timedelta(seconds=int(rnd() * span))
                days = 1 + int(rnd() * 21)
                discharged = (None if rnd() < 0.05
                              else admitted + day * days + hour * (1 + int(rnd() * 8)))
                stays.append((sid, pid, admitted, discharged, WARDS[int(rnd() * n_ward)],
                              f"{1 + int(rnd() * 40):02d}床", DIAGNOSES[int(rnd() * n_diag)][0]))
                for _ in range(2 + int(rnd() * 7)):
                    kind, item = ORDER_ITEMS[int(rnd() * n_item)]
                    orders.append((len(orders) + 1, sid, pid, kind, item,
                                   "执行中" if discharged is None else "已停止",
                                   admitted + hour * int(rnd() * 24 * days)))
                amount = (Decimal((800 + int(rnd() * 8201)) * days) / 10).quantize(cent)
                bills.append((len(bills) + 1, pid, None, sid, amount, PAYMENT[int(rnd() * n_pay)],
                              discharged is not None, discharged or admitted))
    return ds


# --- loading -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadResult:
    scale: float
    seed: int
    counts: dict[str, int]
    generate_seconds: float
    load_seconds: float


def apply_schema(conn: psycopg.Connection[Any]) -> None:
    """Create the ``his`` schema and tables if missing (also used on the logical subscriber)."""
    with conn.cursor() as cur:
        cur.execute(SCHEMA_SQL)
    conn.commit()


def loaded_info(conn: psycopg.Connection[Any]) -> dict[str, str]:
    """The dataset_info rows of a loaded dataset, or {} when none is loaded."""
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass(%s)", (f"{SCHEMA}.dataset_info",))
        row = cur.fetchone()
        if row is None or row[0] is None:
            return {}
        cur.execute(f"SELECT key, value FROM {SCHEMA}.dataset_info")  # noqa: S608 - constant
        info = {str(k): str(v) for k, v in cur.fetchall()}
    conn.rollback()
    return info


def load(conn: psycopg.Connection[Any], scale: float, seed: int = DEFAULT_SEED) -> LoadResult:
    """Replace the dataset in CONN's database with a fresh one (psycopg 3 connection).

    One transaction: TRUNCATE, then COPY every table. Foreign-key triggers are skipped for the
    COPY (``session_replication_role = replica``) because the generator builds consistent keys;
    the unit tests check that it does.
    """
    t0 = time.monotonic()
    ds = generate(scale, seed)
    t1 = time.monotonic()
    apply_schema(conn)
    with conn.cursor() as cur:
        cur.execute("SET LOCAL session_replication_role = replica")
        cur.execute("TRUNCATE " + ", ".join(f"{SCHEMA}.{t}" for t in ALL_TABLES))
        for table, columns in TABLES:
            names = ", ".join(name for name, _ in columns)
            # binary COPY: psycopg's C dumpers are about twice as fast as building text lines
            with cur.copy(f"COPY {SCHEMA}.{table} ({names}) FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types([typ for _, typ in columns])
                for row in ds.rows[table]:
                    copy.write_row(row)
        info = {"scale": repr(scale), "seed": str(seed),
                "patients": str(len(ds.rows["patients"])),
                "loaded_at": datetime.now().astimezone().isoformat(timespec="seconds")}
        cur.executemany(f"INSERT INTO {SCHEMA}.dataset_info (key, value) VALUES (%s, %s)",  # noqa: S608
                        list(info.items()))
    conn.commit()
    with conn.cursor() as cur:
        for table in ALL_TABLES:
            cur.execute(f"ANALYZE {SCHEMA}.{table}")
    conn.commit()
    t2 = time.monotonic()
    log.info("dataset scale %s loaded: %d rows (generate %.1f s, load %.1f s)",
             scale, sum(ds.counts().values()), t1 - t0, t2 - t1)
    return LoadResult(scale=scale, seed=seed, counts=ds.counts(),
                      generate_seconds=t1 - t0, load_seconds=t2 - t1)
