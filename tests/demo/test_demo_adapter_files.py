"""The demo adapters: templates rendered for a back office's ports, in the documented format, and they work.

``portal/demo/adapters/*.toml`` are the templates; the tests read them rendered for the session's back
office (``demo_adapters_dir``); ``config/adapters/`` is the rendering at the fixed ports, checked in.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path

import pytest

from portal.adapters.config import COMMON_KEYS, AdapterConfig
from portal.adapters.egress import EgressPolicy, EgressRefused
from portal.demo import data
from portal.demo.adapter_files import AdapterTemplate, render, write_adapters
from portal.demo.catalogue import SYSTEM_IDS, SYSTEMS, Addresses, get_spec
from portal.demo.socket_systems import MAIL_RECORD_LENGTH

ADAPTERS = Path(__file__).resolve().parents[2] / "config" / "adapters"


def load(path: Path) -> dict:
    with path.open("rb") as fh:
        return tomllib.load(fh)


def test_one_file_per_system():
    assert sorted(p.stem for p in ADAPTERS.glob("*.toml")) == sorted(s.id for s in SYSTEMS)


@pytest.mark.parametrize("system_id", SYSTEM_IDS)
def test_config_adapters_are_the_templates_rendered_at_the_fixed_ports(system_id):
    checked_in = (ADAPTERS / f"{system_id}.toml").read_text("utf-8")
    assert checked_in == render(system_id, Addresses.fixed()), (
        f"config/adapters/{system_id}.toml differs from portal/demo/adapters/{system_id}.toml rendered at the "
        "fixed ports: edit the template, then run `python -m portal.demo.adapter_files config/adapters`")


@pytest.mark.parametrize("system_id", SYSTEM_IDS)
def test_rendering_changes_only_where_the_system_listens(backoffice_session, system_id):
    fixed, here = Addresses.fixed(), backoffice_session.addresses
    moved = render(system_id, here)
    for kind in ("ui_ports", "ports"):  # screens first: an HTTP system's screen port is its data port
        old, new = getattr(fixed, kind)[system_id], getattr(here, kind)[system_id]
        moved = re.sub(rf"(?<=:){new}(?=/)|(?<=port = ){new}$", str(old), moved, flags=re.M)
    assert moved == render(system_id, fixed)


def test_templates_have_three_placeholders_and_leave_the_rest_alone():
    template = AdapterTemplate("url = 'http://${host}:${port}/${ui_port}?n={customer}'\nexpect = '^OK$'\ncost = '$5'")
    assert template.substitute(host="h", port="1", ui_port="2") == \
        "url = 'http://h:1/2?n={customer}'\nexpect = '^OK$'\ncost = '$5'"
    with pytest.raises(KeyError, match="hots"):
        AdapterTemplate("${hots}").substitute(host="h")
    ipv6 = Addresses("::1", {"boss": 1}, {"boss": 1})
    with pytest.raises(ValueError, match="IPv4"):
        render("boss", ipv6)


def test_write_adapters_renders_every_system_of_a_back_office(tmp_path):
    addresses = Addresses("127.0.0.1", {"boss": 40001, "mail": 40002}, {"boss": 40001, "mail": 40003})
    write_adapters(addresses, tmp_path / "adapters")
    assert sorted(p.name for p in (tmp_path / "adapters").iterdir()) == ["boss.toml", "mail.toml"]
    mail = load(tmp_path / "adapters" / "mail.toml")
    assert (mail["host"], mail["port"], mail["deep_link"]["url"]) == \
        ("127.0.0.1", 40002, "http://127.0.0.1:40003/ui/customer/{customer}")


def test_the_egress_rule_allows_exactly_the_back_offices_ports(backoffice_session):
    addresses = backoffice_session.addresses
    policy = EgressPolicy.from_settings(addresses.egress_allow())
    chosen = set(addresses.ports.values()) | set(addresses.ui_ports.values())
    for port in chosen:
        policy.check("127.0.0.1", port, "any-team")
    for port in {addresses.control_port, 8201, min(chosen) - 1, max(chosen) + 1} - chosen:
        with pytest.raises(EgressRefused):
            policy.check("127.0.0.1", port, "any-team")
    assert Addresses.fixed().egress_allow()[0]["ports"] == "8201-8212,8310-8312"


@pytest.mark.parametrize("system_id", SYSTEM_IDS)
def test_file_matches_its_system_and_the_common_schema(demo_adapters_dir, backoffice_session, system_id):
    path = demo_adapters_dir / f"{system_id}.toml"
    doc = load(path)
    spec, system = get_spec(system_id), backoffice_session.systems[system_id]
    config = AdapterConfig.model_validate({k: v for k, v in doc.items() if k in COMMON_KEYS})
    assert path.read_text("utf-8").startswith("#")  # a word for the system owner first
    assert (config.id, config.name, config.kind) == (spec.id, spec.name, spec.protocol)
    assert config.owner and config.timeout_s == 2.0
    assert 3 <= len(config.fields) <= 6
    assert config.deep_link.url == f"http://127.0.0.1:{system.ui_port}/ui/customer/{{customer}}"
    assert config.deep_link.sso == ("form" if spec.id == "complaints" else "token")
    address = doc.get("wsdl") or doc.get("url") or f"http://{doc['host']}:{doc['port']}/"
    assert address.startswith(f"http://127.0.0.1:{system.port}/")
    for name, field in config.fields.items():
        if name == "id_number":
            assert (field.sensitivity, field.mask) == ("pii", "keep_last:4")
        if "name" in name:
            assert field.sensitivity == "pii", name
        if any(word in name for word in ("balance", "amount", "limit", "cap")):
            assert field.sensitivity == "financial", name


def test_kind_specific_settings():
    docs = {p.stem: load(p) for p in ADAPTERS.glob("*.toml")}
    assert docs["boss"]["not_found_faults"] == ["NO_SUCH_SUBSCRIBER"]
    assert docs["complaints"]["login"]["credentials"] == "COMPLAINTS"
    assert docs["rbt"]["charset"] == "gbk"
    assert {k: docs["mms"][k] for k in ("framing", "charset", "parse")} == \
        {"framing": "length", "charset": "gbk", "parse": "kv"}
    assert (docs["mail"]["framing"], docs["mail"]["record_length"]) == ("fixed", MAIL_RECORD_LENGTH)
    assert (docs["smsc"]["framing"], docs["smsc"]["parse"]) == ("line", "regex")
    tables = {stem for stem, doc in docs.items() if doc.get("tables")}
    assert tables == {"boss", "payments", "vas", "loyalty", "complaints", "rbt", "smsc"}


@pytest.mark.backoffice
@pytest.mark.parametrize("system_id", SYSTEM_IDS)
def test_adapter_reads_its_simulated_system(backoffice, demo_adapters_dir, system_id):
    registry = pytest.importorskip("portal.adapters.registry")
    path = demo_adapters_dir / f"{system_id}.toml"
    assert os.environ["PORTAL_CRED_COMPLAINTS_USERNAME"]  # set by tests/conftest.py for the login
    adapter = registry.load_adapter_file(path)
    try:
        result = adapter.lookup("13800000000")
        assert result.status.value == "ok", result.error
        assert all(value is not None for value in result.fields.values()), result.fields
        for name, rows in result.tables.items():
            assert rows and all(all(v is not None for v in row.values()) for row in rows), name
        missing = adapter.lookup(data.unknown_numbers(path.stem)[0])
        assert missing.status.value == "not_found", missing.error
    finally:
        adapter.close()


@pytest.mark.backoffice
def test_adapters_read_the_values_the_systems_hold(backoffice, demo_adapters_dir):
    registry = pytest.importorskip("portal.adapters.registry")
    number = "13800000000"
    found = {}
    for stem in ("boss", "rbt", "mms", "mail", "smsc"):
        adapter = registry.load_adapter_file(demo_adapters_dir / f"{stem}.toml")
        try:
            found[stem] = adapter.lookup(number)
        finally:
            adapter.close()
    assert found["boss"].fields["id_number"] == data.person(number).id_number
    assert [r["month"] for r in found["boss"].tables["bills"]] == [b.month for b in data.boss(number).bills]
    assert found["rbt"].fields["current_title"] == data.rbt(number).current.title  # GBK decoded
    assert found["mms"].fields["name"] == data.person(number).name
    assert found["mail"].fields["address"] == data.mail(number).address
    assert len(found["smsc"].tables["history"]) == len(data.smsc(number).history)
