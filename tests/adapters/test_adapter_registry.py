"""Kinds from entry points (with built-in fallback) and adapters from a directory of TOML files."""

from __future__ import annotations

from importlib.metadata import EntryPoint
from pathlib import Path

import pytest

from portal.adapters import registry
from portal.adapters.base import Adapter, Extracted
from portal.adapters.html import HtmlAdapter, HtmlOptions
from portal.adapters.registry import AdapterRegistry, build_adapter, kind_options, load_adapter_dir
from portal.errors import ConfigError

HTML = """id = "{id}"
name = "System {id}"
kind = "html"
url = "http://127.0.0.1:1/c/{{customer}}"
{extra}
[fields.plan]
path = "//td"
"""


def write(directory: Path, filename: str, adapter_id: str, extra: str = "") -> Path:
    path = directory / filename
    path.write_text(HTML.format(id=adapter_id, extra=extra), encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def fresh_kinds():
    registry.reset_kinds()
    yield
    registry.reset_kinds()


def test_builtin_kinds_and_options():
    assert set(registry.available_kinds()) >= {"html", "xml", "soap", "socket"}
    assert kind_options("html") is HtmlOptions
    assert kind_options("carrier-pigeon") is None
    assert registry.kind_problems() == {}


def test_builtins_remain_when_distribution_metadata_is_missing(monkeypatch):
    monkeypatch.setattr(registry, "entry_points", lambda group: [])
    assert set(registry.available_kinds()) == {"html", "xml", "soap", "socket"}


class PluginAdapter(Adapter):
    kind = "plugin"
    Options = HtmlOptions

    def fetch(self, key, context):
        return Extracted(fields={"plan": "from plugin"})


def test_third_party_kind_from_an_entry_point(monkeypatch):
    eps = [EntryPoint("plugin", f"{__name__}:PluginAdapter", registry.GROUP)]
    monkeypatch.setattr(registry, "entry_points", lambda group: eps)
    adapter = build_adapter({"id": "plug", "name": "P", "kind": "plugin", "url": "http://h/"}, "db:plug")
    assert isinstance(adapter, PluginAdapter)
    assert adapter.lookup("1").fields == {"plan": "from plugin"}


def test_broken_entry_points_are_reported_not_fatal(monkeypatch):
    eps = [
        EntryPoint("ghost", "no_such_module_xyz:Adapter", registry.GROUP),
        EntryPoint("notadapter", "pathlib:Path", registry.GROUP),
        EntryPoint("html", "no_such_module_xyz:Html", registry.GROUP),  # may not replace a built-in
    ]
    monkeypatch.setattr(registry, "entry_points", lambda group: eps)
    problems = registry.kind_problems()
    assert set(problems) == {"ghost", "notadapter"}
    assert "ModuleNotFoundError" in problems["ghost"]
    assert registry.kind_class("html") is HtmlAdapter
    with pytest.raises(ConfigError) as info:
        build_adapter({"id": "g1", "name": "G", "kind": "ghost"}, "ghost.toml")
    assert info.value.key == "kind" and "could not be loaded" in info.value.reason


def test_load_dir_reports_broken_files_and_loads_the_rest(tmp_path):
    write(tmp_path, "b_second.toml", "second")
    write(tmp_path, "a_first.toml", "first")
    write(tmp_path, "c_bad_path.toml", "bad", extra="not_found = '//div['")
    (tmp_path / "d_not_toml.toml").write_text("id = = 1", encoding="utf-8")
    write(tmp_path, "e_unknown_key.toml", "unknownkey", extra="colour = 'blue'")
    (tmp_path / "README.md").write_text("not an adapter")

    loaded = load_adapter_dir(tmp_path)
    assert loaded.registry.ids() == ["first", "second"]  # sorted by file name, not by id
    assert not loaded.ok
    by_file = {Path(e.source).name: e for e in loaded.errors}
    assert set(by_file) == {"c_bad_path.toml", "d_not_toml.toml", "e_unknown_key.toml"}
    assert by_file["c_bad_path.toml"].key == "not_found"
    assert "not valid TOML" in by_file["d_not_toml.toml"].reason
    assert (by_file["e_unknown_key.toml"].key, by_file["e_unknown_key.toml"].reason) == ("colour", "unknown key")
    assert loaded.registry.source_of("first") == str(tmp_path / "a_first.toml")
    loaded.registry.close()


def test_field_path_errors_name_the_file_not_the_id(tmp_path):
    path = tmp_path / "x.toml"
    path.write_text(HTML.format(id="xsys", extra="").replace('path = "//td"', 'path = "//td["'), encoding="utf-8")
    loaded = load_adapter_dir(tmp_path)
    [error] = loaded.errors
    assert (error.source, error.key) == (str(path), "fields.plan.path")


def test_duplicate_ids_name_both_files(tmp_path):
    write(tmp_path, "one.toml", "same")
    write(tmp_path, "two.toml", "same")
    loaded = load_adapter_dir(tmp_path)
    assert loaded.registry.ids() == ["same"]
    [error] = loaded.errors
    assert error.source == str(tmp_path / "two.toml")
    assert str(tmp_path / "one.toml") in error.reason
    assert "duplicate adapter id 'same'" in error.reason


def test_missing_directory_is_one_error(tmp_path):
    loaded = load_adapter_dir(tmp_path / "nope")
    assert len(loaded.registry) == 0
    assert loaded.errors[0].reason == "adapter directory not found"


def test_registry_get_iter_enabled_close(tmp_path):
    write(tmp_path, "a.toml", "alpha")
    write(tmp_path, "b.toml", "beta", extra="enabled = false")
    reg = load_adapter_dir(tmp_path).registry
    assert [a.id for a in reg] == ["alpha", "beta"]
    assert [a.id for a in reg.enabled()] == ["alpha"]
    assert reg.get("alpha").id == "alpha" and reg.get("nope") is None
    assert "beta" in reg and len(reg) == 2
    with pytest.raises(KeyError):
        reg["nope"]

    closed = []

    class Closing:
        def __init__(self, adapter_id, fail=False):
            self.id = adapter_id
            self.fail = fail

        def close(self):
            closed.append(self.id)
            if self.fail:
                raise RuntimeError("close failed")

    manual = AdapterRegistry([Closing("one", fail=True), Closing("two")])  # type: ignore[list-item]
    manual.close()
    assert closed == ["one", "two"]  # one failure does not stop the rest
    with pytest.raises(ConfigError, match="duplicate adapter id 'one'"):
        manual.add(Closing("one"), "db:one")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("extra", "kind"),
    [
        ("", "connect"),  # html without a test number: is the port open?
        ('probe = { number = "13800000000" }', "canary"),
        ('probe = { kind = "none" }', "none"),
        ('probe = { kind = "connect", number = "13800000000" }', "connect"),
    ],
)
def test_probe_defaults_follow_the_document(tmp_path, extra, kind):
    adapter = registry.load_adapter_file(write(tmp_path, "a.toml", "probed", extra=extra))
    assert adapter.config.probe.kind_for(adapter.config.kind) == kind
    assert adapter.address() == ("127.0.0.1", 1)


@pytest.mark.parametrize(
    ("extra", "key", "reason"),
    [
        ('probe = { kind = "canary" }', "probe", "needs the test customer's number"),
        ('probe = { kind = "ping" }', "probe.kind", "Input should be"),
        ('probe = { interval_s = 0 }', "probe.interval_s", "greater than or equal to 1"),
        ('probe = { every = 5 }', "probe.every", "unknown key"),
    ],
)
def test_bad_probe_tables_name_the_key(tmp_path, extra, key, reason):
    path = write(tmp_path, "bad.toml", "badprobe", extra=extra)
    with pytest.raises(ConfigError) as caught:
        registry.load_adapter_file(path)
    assert caught.value.key == key
    assert reason in caught.value.reason
