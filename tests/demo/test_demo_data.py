"""The demo customers: deterministic, and known or unknown by clear rules."""

from __future__ import annotations

import subprocess
import sys
from datetime import date

import pytest

from portal.demo import data
from portal.demo.catalogue import CATALOGUE, SYSTEM_IDS, SYSTEMS, get_spec

NUMBERS = [str(n) for n in range(data.FIRST_NUMBER, data.LAST_NUMBER + 1)]


def test_catalogue_lists_the_twelve_systems_in_order_three_per_protocol():
    assert CATALOGUE is SYSTEMS
    assert SYSTEM_IDS == ("boss", "payments", "roaming", "vas", "portability", "wap",
                          "loyalty", "complaints", "rbt", "smsc", "mms", "mail")
    assert [s.port for s in SYSTEMS] == list(range(8201, 8213))
    for spec in SYSTEMS:
        assert spec.ui_port == (spec.port + 100 if spec.protocol == "socket" else spec.port)
    assert [s.protocol for s in SYSTEMS] == ["soap"] * 3 + ["xml"] * 3 + ["html"] * 3 + ["socket"] * 3
    assert get_spec("rbt").name == "Ring-back tone"
    with pytest.raises(KeyError, match="nosuch"):
        get_spec("nosuch")


def test_same_records_in_another_process_with_another_hash_seed():
    script = ("from portal.demo import data\n"
              "print(repr([data.record(s, n) for s in data.UNKNOWN_ONE_IN for n in ('13800000000', '13800000417')]))")
    runs = [subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": seed, "PATH": ""}).stdout for seed in ("1", "2")]
    here = repr([data.record(s, n) for s in data.UNKNOWN_ONE_IN for n in ("13800000000", "13800000417")])
    assert runs[0] == runs[1] == here + "\n"


def test_the_reference_customer_is_known_everywhere_with_lists():
    n = data.ALWAYS_KNOWN
    assert all(data.known(s, n) and data.record(s, n) is not None for s in SYSTEM_IDS)
    assert len(data.boss(n).bills) == 6
    assert len(data.payments(n).payments) >= 2
    assert len(data.vas(n).subscriptions) >= 2
    assert len(data.loyalty(n).transactions) >= 2
    assert len(data.complaints(n).tickets) >= 2
    assert len(data.rbt(n).library) >= 2
    assert len(data.smsc(n).history) >= 2


@pytest.mark.parametrize("number", ["13900000000", "13800001000", "13799999999", "1380000000", "138000000000",
                                    "1380000000x", "", " 13800000001", "１３８０００００００１", "abc"])
def test_anything_but_a_demo_number_is_unknown_everywhere(number):
    assert not data.in_range(number)
    for system_id in SYSTEM_IDS:
        assert data.known(system_id, number) is False
        assert data.record(system_id, number) is None


def test_unknown_system_is_an_error_not_a_silent_false():
    with pytest.raises(KeyError):
        data.known("nosuch", "13800000000")
    with pytest.raises(KeyError):
        data.record("nosuch", "13800000000")


def test_record_is_none_exactly_when_the_system_does_not_know_the_number():
    for system_id in SYSTEM_IDS:
        for number in NUMBERS[:120]:
            assert (data.record(system_id, number) is None) == (not data.known(system_id, number))


def test_each_system_forgets_about_its_share_of_customers():
    for system_id, one_in in data.UNKNOWN_ONE_IN.items():
        unknown = sum(not data.known(system_id, n) for n in NUMBERS)
        expected = len(NUMBERS) / one_in
        assert 0.6 * expected < unknown < 1.5 * expected, (system_id, unknown, expected)


def test_early_numbers_mix_known_and_unknown_across_systems():
    partly = [n for n in NUMBERS[1:21] if 0 < sum(data.known(s, n) for s in SYSTEM_IDS) < len(SYSTEM_IDS)]
    assert len(partly) >= 5
    for system_id in SYSTEM_IDS:  # every system has someone to say "not found" about early on
        assert data.unknown_numbers(system_id), system_id
    # the list the report and other tests rely on
    assert data.unknown_numbers("boss") == ["13800000007", "13800000018"]
    assert data.unknown_numbers("mail")[:3] == ["13800000004", "13800000005", "13800000007"]


def test_a_customer_has_one_name_in_every_system():
    for number in NUMBERS[:200]:
        name = data.person(number).name
        names = {getattr(data.record(s, number), "name", name) for s in SYSTEM_IDS if data.known(s, number)}
        assert names <= {name}
        assert data.boss(number) is None or data.boss(number).id_number == data.person(number).id_number


def test_id_numbers_look_like_prc_resident_ids():
    for number in NUMBERS[:300]:
        who = data.person(number)
        assert len(who.id_number) == 18 and who.id_number[:17].isdigit()
        assert who.id_number[-1] == data.id_check_digit(who.id_number[:17])
        assert who.id_number[6:14] == who.birth_date.strftime("%Y%m%d")
    assert data.id_check_digit("11010519491231002") == "X"  # the published example


def test_boss_subscriber_is_the_wire_view_of_the_record():
    wire = data.boss_subscriber("13800000000")
    record = data.boss("13800000000")
    assert wire["idNumber"] == record.id_number and wire["account"]["balance"] == str(record.balance)
    assert [b["month"] for b in wire["bills"]] == [b.month for b in record.bills]
    assert data.boss_subscriber(data.unknown_numbers("boss")[0]) is None


def test_values_fit_their_wire_formats():
    for number in NUMBERS:
        box = data.mail(number)
        assert box is None or (len(box.address) <= 40 and box.address.isascii() and box.used_mb <= box.quota_mb)
        rbt = data.rbt(number)
        if rbt is not None:  # the GBK system must be able to encode everything it holds
            for tone in rbt.library:
                (tone.title + tone.artist + rbt.name).encode("gbk")
        bill_months = [b.month for b in data.boss(number).bills] if data.boss(number) else []
        assert bill_months == sorted(bill_months, reverse=True)
        payments = data.payments(number)
        assert payments is None or payments.last_top_up == max(p.date for p in payments.payments)
        assert payments is None or all(p.date <= data.TODAY for p in payments.payments)
    assert data.TODAY == date(2026, 6, 30)
