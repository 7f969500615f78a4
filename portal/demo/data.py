"""Deterministic customer data for the simulated back office.

Everything is derived from the customer number (and the system id) with seeded
``random.Random`` instances, so every run, every process and every test sees the
same customers. ``random.Random(str)`` hashes the string with SHA-512, which does
not depend on ``PYTHONHASHSEED``.

Rules other code relies on:

* customers are ``13800000000`` .. ``13800000999`` (11 digits); anything else is
  unknown to every system;
* ``13800000000`` is known to all twelve systems and has non-empty lists;
* every other number is unknown to each system with a per-system probability
  (see :data:`UNKNOWN_ONE_IN`), decided by :func:`known`;
* a customer's name (and ID number) is the same in every system that knows them.

The per-system functions (``boss``, ``payments``, ...) return a frozen record
(types in :mod:`portal.demo.records`) or ``None`` when that system does not know
the number; :func:`record` dispatches by system id.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from portal.demo.records import (
    Bill,
    ComplaintFile,
    LoyaltyAccount,
    Mailbox,
    MmsAccount,
    Payment,
    PaymentAccount,
    PointTransaction,
    Porting,
    RbtAccount,
    RoamingStatus,
    Sms,
    SmscAccount,
    Subscriber,
    Subscription,
    Ticket,
    Tone,
    VasAccount,
    WapProfile,
)

FIRST_NUMBER = 13800000000
LAST_NUMBER = 13800000999
ALWAYS_KNOWN = "13800000000"
#: The demo's "today": fixed, so dates do not drift between runs.
TODAY = date(2026, 6, 30)
OUR_OPERATOR = "DemoTel"

#: Each system forgets roughly one customer in N (BOSS, the system of record, the fewest).
UNKNOWN_ONE_IN: dict[str, int] = {
    "boss": 12, "payments": 7, "roaming": 5, "vas": 6, "portability": 4, "wap": 6,
    "loyalty": 5, "complaints": 4, "rbt": 4, "smsc": 8, "mms": 5, "mail": 6,
}

_SURNAMES = (("王", "wang"), ("李", "li"), ("张", "zhang"), ("刘", "liu"), ("陈", "chen"),
             ("杨", "yang"), ("黄", "huang"), ("赵", "zhao"), ("吴", "wu"), ("周", "zhou"),
             ("徐", "xu"), ("孙", "sun"), ("马", "ma"), ("朱", "zhu"), ("胡", "hu"),
             ("郭", "guo"), ("何", "he"), ("高", "gao"), ("林", "lin"), ("罗", "luo"))
_GIVEN = (("伟", "wei"), ("芳", "fang"), ("娜", "na"), ("秀英", "xiuying"), ("敏", "min"),
          ("静", "jing"), ("丽", "li"), ("强", "qiang"), ("磊", "lei"), ("军", "jun"),
          ("洋", "yang"), ("勇", "yong"), ("艳", "yan"), ("杰", "jie"), ("娟", "juan"),
          ("涛", "tao"), ("明", "ming"), ("超", "chao"), ("秀兰", "xiulan"), ("霞", "xia"),
          ("晓东", "xiaodong"), ("建华", "jianhua"), ("志强", "zhiqiang"), ("海燕", "haiyan"),
          ("婷婷", "tingting"), ("子轩", "zixuan"), ("雨涵", "yuhan"), ("浩然", "haoran"))
_REGIONS = ("110101", "310101", "440103", "440305", "330106", "510104", "420102", "320102")
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_PLANS = (("4G Flying 58", "58.00"), ("5G Smart 128", "128.00"), ("Global 188", "188.00"),
          ("Youth 39", "39.00"), ("Family 199", "199.00"))
_CHANNELS = ("app", "counter", "bank-card", "wechat-pay", "alipay", "voucher")
_ZONES = ("Zone 1 Hong Kong/Macau/Taiwan", "Zone 2 Asia-Pacific", "Zone 3 Europe & Americas")
_COUNTRIES = {_ZONES[0]: ("HK", "MO", "TW"), _ZONES[1]: ("JP", "KR", "TH", "SG"),
              _ZONES[2]: ("FR", "DE", "US", "GB")}
_SERVICES = (("Caller ID display", "VAS-CLIP", "5.00"), ("Missed-call alert", "VAS-MCA", "3.00"),
             ("Mobile news", "VAS-NEWS", "5.00"), ("Cloud storage 50 GB", "VAS-CLOUD50", "10.00"),
             ("Video membership", "VAS-VIDEO", "15.00"), ("Music pack", "VAS-MUSIC", "8.00"),
             ("Security guard", "VAS-SAFE", "6.00"), ("Weather SMS", "VAS-WX", "2.00"))
_OTHER_OPERATORS = ("North Unicom", "Sky Telecom", "Broadnet")
_POINT_REASONS = ("Monthly bill points", "Top-up bonus", "Birthday bonus",
                  "Redeemed: 1 GB data pack", "Redeemed: movie ticket")
_CATEGORIES = ("Billing dispute", "Network coverage", "Roaming charge", "VAS unsubscribe",
               "Porting delay", "Customer service")
_TICKET_STATES = ("open", "in progress", "resolved", "closed")
_SONGS = (("月亮代表我的心", "邓丽君"), ("甜蜜蜜", "邓丽君"), ("青花瓷", "周杰伦"), ("稻香", "周杰伦"),
          ("后来", "刘若英"), ("平凡之路", "朴树"), ("光年之外", "邓紫棋"), ("童话", "光良"),
          ("成都", "赵雷"), ("红豆", "王菲"), ("小幸运", "田馥甄"), ("海阔天空", "Beyond"),
          ("朋友", "周华健"), ("千千阙歌", "陈慧娴"))
_MMS_SUBJECTS = ("生日快乐", "新年好", "旅行照片", "会议通知", "周末聚会", "宝宝满月")


# --------------------------------------------------------------------------- who is known


def in_range(number: str) -> bool:
    """True for the 1000 demo customer numbers (exactly 11 ASCII digits, in range)."""
    return (isinstance(number, str) and len(number) == 11 and number.isascii()
            and number.isdigit() and FIRST_NUMBER <= int(number) <= LAST_NUMBER)


def known(system_id: str, number: str) -> bool:
    """Whether ``system_id`` knows customer ``number``.

    Decided by a hash of system id and number (not ``random``), so it is stable
    and independent between systems: a customer unknown to one system is
    usually known to the others.
    """
    if system_id not in UNKNOWN_ONE_IN:
        raise KeyError(f"no simulated system {system_id!r}")
    if not in_range(number):
        return False
    if number == ALWAYS_KNOWN:
        return True
    digest = hashlib.sha256(f"known:{system_id}:{number}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % UNKNOWN_ONE_IN[system_id] != 0


def _rng(topic: str, number: str) -> random.Random:
    return random.Random(f"demo:{topic}:{number}")


def _count(rng: random.Random, low: int, high: int, number: str) -> int:
    """A list length; the always-known customer gets at least two rows to show off."""
    n = rng.randint(low, high)
    return max(n, 2) if number == ALWAYS_KNOWN else n


def _money(rng: random.Random, low: float, high: float) -> Decimal:
    return Decimal(rng.randint(int(low * 100), int(high * 100))) / 100


def _cents(value: int | str) -> Decimal:
    """Money always carries two decimals, as every back office prints it."""
    return Decimal(value).quantize(Decimal("0.01"))


def _day(rng: random.Random, within_days: int) -> date:
    return TODAY - timedelta(days=rng.randint(0, within_days))


# --------------------------------------------------------------------------- the person


@dataclass(frozen=True)
class Person:
    number: str
    name: str
    name_pinyin: str  # "given.surname", used for the mailbox address
    id_number: str  # 18 characters, PRC resident ID layout with a valid check digit
    birth_date: date


def person(number: str) -> Person:
    """The customer behind ``number``; the same in every system. ``ValueError`` if out of range."""
    if not in_range(number):
        raise ValueError(f"{number!r} is not a demo customer number")
    rng = _rng("person", number)
    surname, given = rng.choice(_SURNAMES), rng.choice(_GIVEN)
    birth = date(1950, 1, 1) + timedelta(days=rng.randint(0, 20454))  # up to 2005-12-31
    body = f"{rng.choice(_REGIONS)}{birth:%Y%m%d}{rng.randint(1, 999):03d}"
    return Person(number, surname[0] + given[0], f"{given[1]}.{surname[1]}",
                  body + id_check_digit(body), birth)


def id_check_digit(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character of a PRC resident ID number."""
    total = sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True))
    return "10X98765432"[total % 11]


# --------------------------------------------------------------------------- records


def boss(number: str) -> Subscriber | None:
    if not known("boss", number):
        return None
    who, rng = person(number), _rng("boss", number)
    plan, fee = rng.choice(_PLANS)
    monthly = Decimal(fee)
    months = [(TODAY.year * 12 + TODAY.month - 1 - back) for back in range(1, 7)]
    bills = tuple(Bill(f"{m // 12}-{m % 12 + 1:02d}", monthly + _money(rng, 0, 60),
                       back > 0 or rng.random() > 0.3) for back, m in enumerate(months))
    status = rng.choices(("active", "suspended", "barred"), (85, 10, 5))[0]
    return Subscriber(number, who.name, who.id_number, f"ACC{rng.randint(10**7, 10**8 - 1)}",
                      status, plan, monthly, _money(rng, -50, 300),
                      _cents(rng.choice((0, 100, 200, 500))), bills)


def boss_subscriber(number: str) -> dict[str, Any] | None:
    """BOSS's subscriber as its SOAP answer spells it (camelCase keys, strings), or ``None``.

    For tests that need the exact value a system sends, e.g. the unmasked ID number.
    """
    s = boss(number)
    if s is None:
        return None
    return {
        "msisdn": s.msisdn, "name": s.name, "idNumber": s.id_number, "accountId": s.account_id,
        "status": s.status,
        "plan": {"name": s.plan_name, "monthlyFee": str(s.monthly_fee)},
        "account": {"balance": str(s.balance), "creditLimit": str(s.credit_limit)},
        "bills": [{"month": b.month, "amount": str(b.amount), "paid": b.paid} for b in s.bills],
    }


def payments(number: str) -> PaymentAccount | None:
    if not known("payments", number):
        return None
    rng = _rng("payments", number)
    rows = sorted((Payment(_day(rng, 180), _cents(rng.choice((20, 30, 50, 100, 200, 300))),
                           rng.choice(_CHANNELS)) for _ in range(_count(rng, 1, 8, number))),
                  key=lambda p: p.date, reverse=True)
    return PaymentAccount(number, rows[0].date, rng.random() < 0.3, tuple(rows))


def roaming(number: str) -> RoamingStatus | None:
    if not known("roaming", number):
        return None
    rng = _rng("roaming", number)
    if number != ALWAYS_KNOWN and rng.random() < 0.6:
        return RoamingStatus(number, False, "NONE", "CN", _cents(0))
    zone = rng.choice(_ZONES)
    country = rng.choice(_COUNTRIES[zone]) if rng.random() < 0.3 else "CN"
    return RoamingStatus(number, True, zone, country, _cents(rng.choice((25, 50, 100, 200))))


def vas(number: str) -> VasAccount | None:
    if not known("vas", number):
        return None
    rng = _rng("vas", number)
    chosen = rng.sample(_SERVICES, _count(rng, 0, 4, number))
    subs = tuple(Subscription(s, code, _day(rng, 900), Decimal(fee)) for s, code, fee in chosen)
    return VasAccount(number, person(number).name, subs)


def portability(number: str) -> Porting | None:
    if not known("portability", number):
        return None
    rng = _rng("portability", number)
    status = rng.choices(("NOT_PORTED", "PORTED_IN", "PORT_OUT_REQUESTED"), (70, 22, 8))[0]
    other = rng.choice(_OTHER_OPERATORS)
    if status == "PORTED_IN":
        return Porting(number, status, other, OUR_OPERATOR, _day(rng, 1500))
    if status == "PORT_OUT_REQUESTED":
        return Porting(number, status, OUR_OPERATOR, other, TODAY + timedelta(days=rng.randint(1, 14)))
    return Porting(number, status, "", "", None)


def wap(number: str) -> WapProfile | None:
    if not known("wap", number):
        return None
    rng = _rng("wap", number)
    last = datetime.combine(_day(rng, 20), datetime.min.time()) + timedelta(seconds=rng.randint(0, 86399))
    return WapProfile(number, rng.choice(("demotel.net", "demotel.net", "demotel.wap", "ims")),
                      rng.random() < 0.85, last, rng.randint(0, 20000))


def loyalty(number: str) -> LoyaltyAccount | None:
    if not known("loyalty", number):
        return None
    rng = _rng("loyalty", number)
    points = rng.randint(0, 30000)
    tier = "Silver" if points < 2000 else "Gold" if points < 8000 else "Platinum" if points < 20000 else "Diamond"
    rows = []
    for _ in range(_count(rng, 1, 8, number)):
        reason = rng.choice(_POINT_REASONS)
        amount = -rng.choice((500, 1000, 2000)) if reason.startswith("Redeemed") else rng.randint(10, 600)
        rows.append(PointTransaction(_day(rng, 365), reason, amount))
    rows.sort(key=lambda t: t.date, reverse=True)
    return LoyaltyAccount(number, person(number).name, tier, points,
                          min(points, rng.randint(0, 3000)), tuple(rows))


def complaints(number: str) -> ComplaintFile | None:
    if not known("complaints", number):
        return None
    rng = _rng("complaints", number)
    tickets = sorted((Ticket(f"CT-{rng.randint(100000, 999999)}", _day(rng, 400),
                             rng.choice(_CATEGORIES), rng.choice(_TICKET_STATES))
                      for _ in range(_count(rng, 0, 4, number))), key=lambda t: t.opened, reverse=True)
    return ComplaintFile(number, person(number).name, tuple(tickets))


def rbt(number: str) -> RbtAccount | None:
    if not known("rbt", number):
        return None
    rng = _rng("rbt", number)
    songs = rng.sample(_SONGS, _count(rng, 1, 5, number))
    library = tuple(Tone(t, a, Decimal(rng.choice(("2.00", "3.00", "5.00"))),
                         TODAY + timedelta(days=rng.randint(10, 365))) for t, a in songs)
    return RbtAccount(number, person(number).name, library[0], library)


def smsc(number: str) -> SmscAccount | None:
    if not known("smsc", number):
        return None
    rng = _rng("smsc", number)
    history = []
    for _ in range(_count(rng, 1, 8, number)):
        when = datetime.combine(_day(rng, 30), datetime.min.time()) + timedelta(seconds=rng.randint(0, 86399))
        peer = rng.choice(("10080", "95588", f"138{rng.randint(0, 99999999):08d}"))
        history.append(Sms(when, rng.choice(("MO", "MT")), peer,
                           rng.choices(("DELIVERED", "PENDING", "FAILED"), (85, 10, 5))[0], rng.randint(1, 160)))
    history.sort(key=lambda s: s.time, reverse=True)
    return SmscAccount(number, rng.randint(0, 900), rng.randint(0, 1500), rng.random() < 0.05, tuple(history))


def mms(number: str) -> MmsAccount | None:
    if not known("mms", number):
        return None
    rng = _rng("mms", number)
    return MmsAccount(number, person(number).name, rng.randint(0, 80), rng.randint(0, 120),
                      rng.choice(_MMS_SUBJECTS), rng.randint(0, 50000),
                      "ACTIVE" if rng.random() < 0.93 else "BARRED")


def mail(number: str) -> Mailbox | None:
    if not known("mail", number):
        return None
    rng = _rng("mail", number)
    quota = rng.choice((1024, 2048, 5120))
    status = rng.choices(("ACTIVE", "SUSPENDED", "LOCKED"), (88, 8, 4))[0]
    return Mailbox(number, f"{person(number).name_pinyin}{number[-4:]}@mail.demotel.cn",
                   quota, rng.randint(0, quota), status)


_BUILDERS: dict[str, Callable[[str], Any]] = {
    "boss": boss, "payments": payments, "roaming": roaming, "vas": vas,
    "portability": portability, "wap": wap, "loyalty": loyalty, "complaints": complaints,
    "rbt": rbt, "smsc": smsc, "mms": mms, "mail": mail,
}


def record(system_id: str, number: str) -> Any | None:
    """What ``system_id`` holds about ``number``, or ``None`` when it does not know them."""
    try:
        builder = _BUILDERS[system_id]
    except KeyError:
        raise KeyError(f"no simulated system {system_id!r}") from None
    return builder(number)


def unknown_numbers(system_id: str, first: int = FIRST_NUMBER + 1, last: int = FIRST_NUMBER + 30) -> list[str]:
    """The numbers in ``first..last`` that ``system_id`` does not know (handy for tests and demos)."""
    return [str(n) for n in range(first, last + 1) if not known(system_id, str(n))]
