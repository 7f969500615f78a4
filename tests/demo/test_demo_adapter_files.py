"""config/adapters/*.toml: one file per simulated system, in the documented format, and they work."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest

from portal.adapters.config import COMMON_KEYS, AdapterConfig
from portal.demo import data
from portal.demo.catalogue import SYSTEMS, get_spec
from portal.demo.socket_systems import MAIL_RECORD_LENGTH

ADAPTERS = Path(__file__).resolve().parents[2] / "config" / "adapters"
FILES = sorted(ADAPTERS.glob("*.toml"))


def load(path: Path) -> dict:
    with path.open("rb") as fh:
        return tomllib.load(fh)


def test_one_file_per_system():
    assert sorted(p.stem for p in FILES) == sorted(s.id for s in SYSTEMS)


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_file_matches_its_system_and_the_common_schema(path):
    doc = load(path)
    spec = get_spec(path.stem)
    config = AdapterConfig.model_validate({k: v for k, v in doc.items() if k in COMMON_KEYS})
    assert path.read_text("utf-8").startswith("#")  # a word for the system owner first
    assert (config.id, config.name, config.kind) == (spec.id, spec.name, spec.protocol)
    assert config.owner and config.timeout_s == 2.0
    assert 3 <= len(config.fields) <= 6
    assert config.deep_link.url == f"http://127.0.0.1:{spec.ui_port}/ui/customer/{{customer}}"
    assert config.deep_link.sso == ("form" if spec.id == "complaints" else "token")
    address = doc.get("wsdl") or doc.get("url") or f"http://{doc['host']}:{doc['port']}/"
    assert address.startswith(f"http://127.0.0.1:{spec.port}/")
    for name, field in config.fields.items():
        if name == "id_number":
            assert (field.sensitivity, field.mask) == ("pii", "keep_last:4")
        if "name" in name:
            assert field.sensitivity == "pii", name
        if any(word in name for word in ("balance", "amount", "limit", "cap")):
            assert field.sensitivity == "financial", name


def test_kind_specific_settings():
    docs = {p.stem: load(p) for p in FILES}
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
@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_adapter_reads_its_simulated_system(backoffice, path):
    registry = pytest.importorskip("portal.adapters.registry")
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
def test_adapters_read_the_values_the_systems_hold(backoffice):
    registry = pytest.importorskip("portal.adapters.registry")
    number = "13800000000"
    found = {}
    for stem in ("boss", "rbt", "mms", "mail", "smsc"):
        adapter = registry.load_adapter_file(ADAPTERS / f"{stem}.toml")
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
