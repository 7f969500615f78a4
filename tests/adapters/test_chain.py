"""Key chaining: the `key` template, load-time checks, waves and key resolution."""

from __future__ import annotations

from pathlib import Path

import pytest

from portal.adapters import chain, registry
from portal.adapters.base import Status, SystemResult
from portal.adapters.chain import (
    ChainError,
    KeyUnavailable,
    find_problems,
    plan_waves,
    resolve_key,
)
from portal.adapters.registry import build_adapter, load_adapter_dir
from portal.errors import ConfigError


@pytest.fixture(autouse=True)
def fresh_kinds():
    registry.reset_kinds()
    yield
    registry.reset_kinds()


def doc(adapter_id: str, key: str | None = None, fields=("account_id",)) -> dict:
    data = {
        "id": adapter_id, "name": f"System {adapter_id}", "kind": "html",
        "url": "http://127.0.0.1:1/c/{customer}",
        "fields": {name: {"path": "//td"} for name in fields},
    }
    if key is not None:
        data["key"] = key
    return data


def adapters(*docs: dict):
    return [build_adapter(d, f"{d['id']}.toml") for d in docs]


@pytest.mark.parametrize("template, reason", [
    ("", 'must not be empty; use "{customer}" for the customer number'),
    ("ACC", "must contain {customer} or {<adapter id>.<field>}"),
    ("{boss}", "unknown placeholder {boss}: use {customer} or {<adapter id>.<field>}"),
    ("{Boss.x}", "unknown placeholder {Boss.x}: use {customer} or {<adapter id>.<field>}"),
    ("{boss.account_id", "unbalanced brace; placeholders look like {customer} or {boss.account_id}"),
    ("x}{customer}", "unbalanced brace; placeholders look like {customer} or {boss.account_id}"),
])
def test_bad_key_templates_are_rejected_at_load_with_source_key_and_reason(template, reason):
    with pytest.raises(ConfigError) as info:
        build_adapter(doc("loyalty", key=template), "config/adapters/loyalty.toml")
    assert (info.value.source, info.value.key, info.value.reason) == ("config/adapters/loyalty.toml", "key", reason)


def test_key_must_be_a_string():
    with pytest.raises(ConfigError) as info:
        build_adapter(doc("loyalty", key=42), "loyalty.toml")  # type: ignore[arg-type]
    assert info.value.key == "key"


def test_good_templates_and_their_references():
    [plain, chained, mixed] = adapters(doc("plain"), doc("chained", "{boss.account_id}"),
                                       doc("mixed", "{customer}-{boss.account_id}-{crm.id}-{boss.account_id}"))
    assert plain.config.key == "{customer}" and plain.config.key_references == ()
    assert [str(r) for r in chained.config.key_references] == ["boss.account_id"]
    assert [str(r) for r in mixed.config.key_references] == ["boss.account_id", "crm.id"]
    assert chain.upstream_ids(mixed) == ["boss", "crm"]


def test_plan_waves_orders_by_dependency_and_keeps_input_order():
    items = adapters(
        doc("mail", "{loyalty.account_id}"),
        doc("loyalty", "{boss.account_id}"),
        doc("boss"),
        doc("smsc"),
        doc("rbt", "{boss.account_id}"),
    )
    waves = plan_waves(items)
    assert [[a.id for a in wave] for wave in waves] == [["boss", "smsc"], ["loyalty", "rbt"], ["mail"]]
    assert plan_waves([]) == []
    assert [a.id for a in chain.with_upstreams(items[0], items)] == ["boss", "loyalty", "mail"]


def test_unknown_adapter_or_field_names_the_adapters_involved():
    items = adapters(doc("loyalty", "{boss.account_id}"), doc("rbt", "{crm.nope}"), doc("crm", fields=("id", "tier")))
    problems = find_problems(items)
    assert [(p.adapter_id, p.involved) for p in problems] == [("loyalty", ("loyalty", "boss")), ("rbt", ("rbt", "crm"))]
    assert problems[0].key == "key"
    assert problems[0].reason == "{boss.account_id} refers to adapter 'boss', which is not loaded"
    assert problems[1].reason == "{crm.nope} refers to field 'nope', which 'crm' does not declare (its fields: id, tier)"
    with pytest.raises(ChainError) as info:
        plan_waves(items)
    assert info.value.adapter_id == "loyalty"


def test_cycles_and_what_depends_on_them():
    items = adapters(
        doc("aaa", "{bbb.account_id}"), doc("bbb", "{ccc.account_id}"), doc("ccc", "{aaa.account_id}"),
        doc("self", "{self.account_id}"), doc("downstream", "{bbb.account_id}"), doc("fine"),
    )
    problems = {p.adapter_id: p for p in find_problems(items)}
    assert set(problems) == {"aaa", "bbb", "ccc", "self", "downstream"}
    assert problems["aaa"].reason == "key chain forms a cycle: aaa -> bbb -> ccc -> aaa (each needs the next)"
    assert problems["ccc"].involved == ("aaa", "bbb", "ccc")
    assert problems["self"].reason == "key chain forms a cycle: self -> self (each needs the next)"
    assert problems["downstream"].reason.startswith("needs adapter 'bbb', which is rejected (key chain forms a cycle")
    assert plan_waves([items[-1]]) == [[items[-1]]]


# -- resolve_key ------------------------------------------------------------------------


def ok(system_id: str, **fields) -> SystemResult:
    return SystemResult(system_id, Status.OK, fields=fields)


def test_resolve_key_fills_customer_and_fields():
    results = {"boss": ok("boss", account_id="  ACC-7 ")}
    assert resolve_key("{customer}", "13800000000", {}) == "13800000000"
    assert resolve_key("{boss.account_id}", "1", results) == "ACC-7"
    assert resolve_key("{customer}:{boss.account_id}", "1", results) == "1:ACC-7"
    assert resolve_key("{boss.account_id}", "1", {"boss": ok("boss", account_id=42)}) == "42"


@pytest.mark.parametrize("result, message", [
    (None, "needs boss.account_id: BOSS is not queried in this lookup"),
    (SystemResult("boss", Status.TIMEOUT, error="x"), "needs boss.account_id: BOSS did not answer (timeout)"),
    (SystemResult("boss", Status.UNAVAILABLE), "needs boss.account_id: BOSS could not be reached (unavailable)"),
    (SystemResult("boss", Status.NOT_FOUND), "needs boss.account_id: BOSS does not know this customer (not_found)"),
    (SystemResult("boss", Status.ERROR), "needs boss.account_id: BOSS answered with an error (error)"),
    (ok("boss"), "needs boss.account_id: BOSS answered without account_id"),
    (ok("boss", account_id=None), "needs boss.account_id: BOSS answered without account_id"),
    (ok("boss", account_id="   "), "needs boss.account_id: BOSS answered without account_id"),
    (ok("boss", account_id="A" * 257), "needs boss.account_id: BOSS returned 257 characters, too long for a key"),
    (ok("boss", account_id="A1\r\nQUIT"), "needs boss.account_id: BOSS returned a value with control characters"),
])
def test_resolve_key_says_why_it_cannot(result, message):
    results = {} if result is None else {"boss": result}
    with pytest.raises(KeyUnavailable) as info:
        resolve_key("{boss.account_id}", "1", results, names={"boss": "BOSS"})
    assert info.value.detail == message
    assert info.value.result_status == "error"


# -- the registry reports chain problems as load errors -----------------------------------

TOML = """id = "{id}"
name = "System {id}"
kind = "html"
url = "http://127.0.0.1:1/c/{{customer}}"
{extra}
[fields.account_id]
path = "//td"
"""


def write(directory: Path, adapter_id: str, extra: str = "") -> Path:
    path = directory / f"{adapter_id}.toml"
    path.write_text(TOML.format(id=adapter_id, extra=extra), encoding="utf-8")
    return path


def test_load_dir_rejects_cycles_and_unknown_references_and_loads_the_rest(tmp_path):
    write(tmp_path, "boss")
    write(tmp_path, "loyalty", 'key = "{boss.account_id}"')
    write(tmp_path, "aaa", 'key = "{bbb.account_id}"')
    write(tmp_path, "bbb", 'key = "{aaa.account_id}"')
    write(tmp_path, "ghost", 'key = "{nobody.account_id}"')
    write(tmp_path, "nofield", 'key = "{boss.plan}"')
    write(tmp_path, "badsyntax", 'key = "{boss.account_id"')

    loaded = load_adapter_dir(tmp_path)
    assert loaded.registry.ids() == ["boss", "loyalty"]
    errors = {Path(e.source).name: e for e in loaded.errors}
    assert set(errors) == {"aaa.toml", "bbb.toml", "ghost.toml", "nofield.toml", "badsyntax.toml"}
    assert all(e.key == "key" for e in errors.values())
    assert "key chain forms a cycle: aaa -> bbb -> aaa" in errors["aaa.toml"].reason
    assert errors["bbb.toml"].involved == ("aaa", "bbb")
    assert str(errors["aaa.toml"]) == f"{tmp_path / 'aaa.toml'}: key: {errors['aaa.toml'].reason}"
    assert errors["ghost.toml"].reason == "{nobody.account_id} refers to adapter 'nobody', which is not loaded"
    assert "does not declare" in errors["nofield.toml"].reason
    assert errors["badsyntax.toml"].reason.startswith("unbalanced brace")
    assert [[a.id for a in w] for w in loaded.registry.waves()] == [["boss"], ["loyalty"]]
    loaded.registry.close()


def test_an_upstream_whose_file_is_broken_takes_its_dependents_with_it(tmp_path):
    (tmp_path / "boss.toml").write_text("id = = broken", encoding="utf-8")
    write(tmp_path, "loyalty", 'key = "{boss.account_id}"')
    write(tmp_path, "smsc")
    loaded = load_adapter_dir(tmp_path)
    assert loaded.registry.ids() == ["smsc"]
    reasons = {Path(e.source).name: e.reason for e in loaded.errors}
    assert reasons["loyalty.toml"] == "{boss.account_id} refers to adapter 'boss', which is not loaded"
    assert "not valid TOML" in reasons["boss.toml"]
