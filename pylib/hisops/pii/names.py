"""Column names that suggest personal data: English, Chinese, and the pinyin initials that
Chinese HIS schemas use (``brxm`` 病人姓名, ``sfzh`` 身份证号, ``lxdh`` 联系电话,
``jtdz`` 家庭地址).

The patterns are data: one table, read top to bottom, first match wins. Order matters where
names overlap (``email_address`` is an e-mail, not an address). ``strong`` patterns rarely mean
anything else; ``weak`` ones are common abbreviations with other meanings too (``xm`` is 姓名
but also 项目 "item"; ``dh`` is 电话 but also 单号 "order number"), so the scan trusts them only
when the content agrees.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Kind = Literal["name", "id_number", "phone", "address", "email", "birth_date", "free_text"]
Strength = Literal["strong", "weak"]


@dataclass(frozen=True)
class NameMatch:
    kind: Kind
    strength: Strength
    pattern: str  # the pattern that matched, shown as evidence


def _tokens(alternatives: str) -> str:
    """A regex matching ALTERNATIVES as whole ``_``-separated tokens of a normalized name."""
    return rf"(?:^|_)(?:{alternatives})(?:_|$)"


# Names that contain a personal word but are about machines or things, checked first.
NOT_PERSONAL: tuple[str, ...] = (
    _tokens(r"(?:ip|mac|url|uri|host|server|web|wifi|network|net|file|disk|memory|mem|remote"
            r"|local|client|peer|proxy|bind|listen|gateway)_?"
            r"(?:addr|address)"),
    _tokens(r"(?:ip|mac)"),
    r"(?:^|_)(?:table|column|schema|file|host|user|db|database|server|drug|dept|department"
    r"|item|ward|product|model|class|type|field|org|hospital|company)_?name(?:_|$)",
)

# (kind, strength, regex over the normalized name); first match wins.
PATTERNS: tuple[tuple[Kind, Strength, str], ...] = (
    # e-mail before address: "email_address", 电子邮件地址
    ("email", "strong", _tokens(r"e_?mail(?:_?(?:address|addr))?|mail_?addr(?:ess)?|dzyx"
                                r"|youxiang|dianziyouxiang")),
    ("email", "strong", r"邮箱|电子邮件|邮件地址"),
    ("email", "weak", _tokens(r"mail|yx")),
    # resident ID numbers and other personal document numbers
    ("id_number", "strong", _tokens(
        r"id_?(?:number|no|num|card|card_?no)|idcard(?:_?no)?|identity(?:_?(?:no|number|card))?"
        r"|citizen_?id|national_?id|resident_?id|ssn|passport(?:_?(?:no|number))?"
        r"|cert(?:ificate)?_?(?:no|number)|sfz|sfzh|sfzhm|sfzjh|shenfenzheng(?:hao)?"
        r"|zjhm|zjh|jmsfz|brsfz|hzsfz|[a-z]{0,3}sfzh")),
    ("id_number", "strong", r"身份证|证件号"),
    # phone numbers
    ("phone", "strong", _tokens(
        r"(?:mobile|cell|contact|home|work|office|emergency|patient|guardian)?_?"
        r"(?:phone|telephone|tel|mobile)(?:_?(?:no|number|num))?"
        r"|cellphone|mobilephone|sjh|sjhm|shouji|dhhm|lxdh|yddh|gddh|jtdh|lxrdh|jhrdh|brdh"
        r"|hzdh|dianhua|lianxidianhua")),
    ("phone", "strong", r"电话|手机|联系方式"),
    ("phone", "weak", _tokens(r"dh|cell")),
    # birth dates
    ("birth_date", "strong", _tokens(
        r"birth(?:_?(?:date|day|dt))?|birthday|birthdate|dob|date_of_birth|born(?:_on)?"
        r"|csrq|csny|chusheng(?:riqi)?|shengri|brcsrq|hzcsrq")),
    ("birth_date", "strong", r"出生|生日"),
    # postal addresses
    ("address", "strong", _tokens(
        r"(?:home|family|current|contact|residence|residential|mailing|postal|work|permanent)?_?"
        r"(?:address|addr)|street|residence|domicile|dizhi|jtdz|xzz|hjdz|lxdz|hkdz|gzdz|jzdz"
        r"|brdz|hzdz|xjzd")),
    ("address", "strong", r"地址|住址|住所|居住地"),
    ("address", "weak", _tokens(r"dz|zz")),
    # people's names (after id/phone/address: "contact_phone" is a phone, not a name)
    ("name", "strong", _tokens(
        r"(?:patient|pat|person|full|first|last|given|family|sur|middle|contact|guardian"
        r"|emergency|mother|father|spouse|relative|nick|real|legal|customer|member|insured"
        r"|applicant|doctor|nurse|staff|employee|operator)_?name|surname|fullname|firstname"
        r"|lastname|xingming|brxm|hzxm|lxrxm|jhrxm|ysxm|hsxm|czyxm|jzrxm|mqxm|fqxm|poxm")),
    ("name", "strong", r"姓名|名字"),
    ("name", "weak", r"^(?:name|xm)$"),
    # free text that often carries names and numbers in HIS notes
    ("free_text", "weak", _tokens(
        r"remarks?|notes?|memo|comments?|bz|beizhu|zs|zhusu|xbs|jws|chief_complaint")),
    ("free_text", "weak", r"备注|主诉|病史|说明"),
)

_NOT_PERSONAL = tuple(re.compile(p) for p in NOT_PERSONAL)
_COMPILED = tuple((kind, strength, pattern, re.compile(pattern))
                  for kind, strength, pattern in PATTERNS)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_SEPARATORS = re.compile(r"[^0-9a-z\u4e00-\u9fff]+")


def normalize(column: str) -> str:
    """``PatientName`` and ``patient-name`` both become ``patient_name``."""
    return _SEPARATORS.sub("_", _CAMEL.sub("_", column).lower()).strip("_")


def match_column_name(column: str) -> NameMatch | None:
    """What kind of personal data COLUMN's name suggests, or None."""
    name = normalize(column)
    if any(rx.search(name) for rx in _NOT_PERSONAL):
        return None
    for kind, strength, pattern, rx in _COMPILED:
        if rx.search(name):
            return NameMatch(kind=kind, strength=strength, pattern=pattern)
    return None
