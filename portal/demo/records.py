"""The records each simulated system keeps about a customer.

Plain frozen dataclasses, one per system (plus their row types), so that the
protocol modules render the same facts whatever their wire format. They are
filled by :mod:`portal.demo.data`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal


@dataclass(frozen=True)
class Bill:
    month: str  # "YYYY-MM"
    amount: Decimal
    paid: bool


@dataclass(frozen=True)
class Subscriber:  # boss
    msisdn: str
    name: str
    id_number: str
    account_id: str
    status: str
    plan_name: str
    monthly_fee: Decimal
    balance: Decimal
    credit_limit: Decimal
    bills: tuple[Bill, ...]


@dataclass(frozen=True)
class Payment:
    date: date
    amount: Decimal
    channel: str


@dataclass(frozen=True)
class PaymentAccount:  # payments
    msisdn: str
    last_top_up: date
    auto_top_up: bool
    payments: tuple[Payment, ...]


@dataclass(frozen=True)
class RoamingStatus:  # roaming
    msisdn: str
    enabled: bool
    zone: str
    current_country: str
    daily_cap: Decimal


@dataclass(frozen=True)
class Subscription:
    service: str
    code: str
    since: date
    fee: Decimal


@dataclass(frozen=True)
class VasAccount:  # vas
    msisdn: str
    name: str
    subscriptions: tuple[Subscription, ...]


@dataclass(frozen=True)
class Porting:  # portability
    msisdn: str
    status: str
    donor_operator: str
    recipient_operator: str
    port_date: date | None


@dataclass(frozen=True)
class WapProfile:  # wap
    msisdn: str
    apn: str
    data_enabled: bool
    last_session: datetime
    usage_mb: int


@dataclass(frozen=True)
class PointTransaction:
    date: date
    description: str
    points: int


@dataclass(frozen=True)
class LoyaltyAccount:  # loyalty
    msisdn: str
    name: str
    tier: str
    points: int
    expiring: int
    transactions: tuple[PointTransaction, ...]


@dataclass(frozen=True)
class Ticket:
    id: str
    opened: date
    category: str
    state: str


@dataclass(frozen=True)
class ComplaintFile:  # complaints
    msisdn: str
    name: str
    tickets: tuple[Ticket, ...]


@dataclass(frozen=True)
class Tone:
    title: str
    artist: str
    price: Decimal
    expires: date


@dataclass(frozen=True)
class RbtAccount:  # rbt
    msisdn: str
    name: str
    current: Tone
    library: tuple[Tone, ...]


@dataclass(frozen=True)
class Sms:
    time: datetime
    direction: str  # MO (sent by the customer) or MT (received)
    peer: str
    status: str
    length: int


@dataclass(frozen=True)
class SmscAccount:  # smsc
    msisdn: str
    sent: int
    received: int
    barred: bool
    history: tuple[Sms, ...]


@dataclass(frozen=True)
class MmsAccount:  # mms
    msisdn: str
    name: str
    sent: int
    received: int
    last_subject: str
    storage_kb: int
    status: str


@dataclass(frozen=True)
class Mailbox:  # mail
    msisdn: str
    address: str
    quota_mb: int
    used_mb: int
    status: str
