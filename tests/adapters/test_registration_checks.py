"""Masks, charsets, selectors and templates are compiled and checked when a document is registered
(issue 11, item 5): a document that loads can never make a lookup or the test console answer 500.
"""

from __future__ import annotations

import json
import random

import pytest

from portal.adapters.base import Status
from portal.adapters.boundary import Boundary
from portal.adapters.registry import build_adapter
from portal.errors import ConfigError
from portal.rbac.masking import apply_mask
from tests.adapters.conftest import Reply

GUARDED = Boundary(guarded=True)
SOURCE = "adapter sys"

GOOD = {
    "html": {"url": "http://127.0.0.1:1/c/{customer}", "fields": {"plan": {"path": "//td[@id='plan']"}}},
    "xml": {"url": "http://127.0.0.1:1/x", "body": "<q>{customer}</q>", "fields": {"plan": {"path": "//plan"}}},
    "soap": {"wsdl": "http://127.0.0.1:1/s?wsdl", "operation": "Get", "fields": {"plan": {"path": "plan.name"}}},
    "socket": {"host": "127.0.0.1", "port": 1, "request": "Q {customer}", "pattern": r"PLAN=(?P<plan>\w+)",
               "fields": {"plan": {"path": "plan"}}},
}
KINDS = list(GOOD)
MASK_REASON = "expected keep_last:N, keep_first:N or all"


def doc(kind: str, **changes) -> dict:
    data = {"id": "sys", "name": "System", "kind": kind, "owner": "some-team", **GOOD[kind]}
    for key, value in changes.items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    return data


def refused(data: dict) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        build_adapter(data, SOURCE, GUARDED).close()
    assert info.value.source == SOURCE
    return info.value


def with_field(kind: str, **spec) -> dict:
    return {"plan": {**GOOD[kind]["fields"]["plan"], **spec}}


# -- each invalid document is a ConfigError naming the key ----------------------------------------

@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mask", ["bogus", "keep_last:²", "keep_last:-1", "keep_last: 4", "KEEP_LAST:4", "all:2",
                                  "keep_first:", "", "keep_last:4 "])
def test_an_invalid_mask_is_refused(kind, mask):
    error = refused(doc(kind, fields=with_field(kind, mask=mask)))
    assert (error.key, error.reason) == ("fields.plan.mask", MASK_REASON)


def test_the_issues_example_reads_as_written():
    error = refused(doc("socket", fields={"name": {"path": "plan", "mask": "bogus"}}, pattern=r"(?P<plan>\w+)"))
    assert str(error) == "adapter sys: fields.name.mask: expected keep_last:N, keep_first:N or all"


@pytest.mark.parametrize("mask", ["all", "keep_last:4", "keep_first:0", "keep_first:1", "keep_last:9999"])
def test_valid_masks_load_and_apply(mask):
    build_adapter(doc("html", fields=with_field("html", mask=mask)), SOURCE, GUARDED).close()
    assert apply_mask("13800000000", mask)


NOT_TEXT = ["punycode", "idna", "rot13", "base64", "zlib", "hex", "bz2", "uu", "quopri", "undefined",
            "unicode_escape", "raw_unicode_escape"]


@pytest.mark.parametrize("charset", NOT_TEXT)
@pytest.mark.parametrize("kind, key, change", [
    ("html", "charset", lambda c: {"charset": c}),
    ("xml", "content_type", lambda c: {"content_type": f"application/xml; charset={c}"}),
    ("socket", "charset", lambda c: {"charset": c}),
])
def test_a_charset_that_is_not_text_is_refused(kind, key, change, charset):
    error = refused(doc(kind, **change(charset)))
    assert error.key == key and error.reason == f"{charset!r} is not a text charset"


def test_an_html_charset_the_parser_cannot_read_is_refused_and_python_spellings_are_mapped():
    error = refused(doc("html", charset="cp037"))
    assert error.key == "charset" and error.reason.startswith("the HTML parser cannot read 'cp037'")
    for spelling in ("latin-1", "euc_jp", "gbk", "UTF-8"):
        build_adapter(doc("html", charset=spelling), SOURCE, GUARDED).close()


@pytest.mark.parametrize("kind, change, key, reason", [
    ("html", {"tables": {"t": {"path": "count(//tr)", "columns": {"c": "td"}}}}, "tables.t.path",
     "must select the rows (elements), but computes a number"),
    ("xml", {"tables": {"t": {"path": "string(//row)", "columns": {"c": "c"}}}}, "tables.t.path",
     "must select the rows (elements), but computes a string"),
    ("html", {"tables": {"t": {"path": "//tr = 1", "columns": {"c": "td"}}}}, "tables.t.path",
     "must select the rows (elements), but computes a boolean"),
    ("html", {"fields": {"plan": {"path": "//td[re:test(., '(a|aa)+$')]"}}}, "fields.plan.path", "invalid XPath"),
    ("xml", {"namespaces": {"re": "http://exslt.org/regular-expressions"},
             "fields": {"plan": {"path": "re:match(//plan, '(a|aa)+$')"}}}, "fields.plan.path", "invalid XPath"),
    ("html", {"not_found": "//div[re:test(., 'x')]"}, "not_found", "invalid XPath"),
    ("html", {"fields": {"plan": {"path": "document('/etc/passwd')"}}}, "fields.plan.path", "invalid XPath"),
    ("html", {"fields": {"plan": {"path": "css:p:nth-child(x)"}}}, "fields.plan.path", "invalid CSS selector"),
    ("html", {"fields": {"plan": {"path": "//td["}}}, "fields.plan.path", "invalid XPath"),
])
def test_selectors_are_compiled_and_must_fit_their_use(kind, change, key, reason):
    error = refused(doc(kind, **change))
    assert error.key == key and error.reason.startswith(reason), error.reason


@pytest.mark.parametrize("expression", [
    "//td[@id='plan']", "count(//tr)", "//v:plan", "child::node()", "//a[contains(@class, 're:test(')]",
    "//tr[position() > 1]/td[2]/text()", "1 div (2)", "//*[local-name()='x']", "//a/@xml:lang", "//a[. = 'x:y']",
    "//my-el[count(a)-count(b) > 0]", "//processing-instruction('x')", "substring-before(//a, ':')",
])
def test_xpath_1_0_passes_the_text_check(expression):
    from portal.adapters.xpathcheck import check_expression

    check_expression(expression, {"v": "urn:v"})


@pytest.mark.parametrize("expression, reason", [
    ("//td[re:test(., 'a')]", "extension function re:test() is not allowed"),
    ("//td[str:tokenize(.)]", "extension function str:tokenize() is not allowed"),
    ("//p[1 -foo()]", "unknown function foo()"),
    ("//p[document('/etc/passwd')]", "unknown function document()"),
    ("//p[x:q]", "undefined namespace prefix 'x'"),
    ("//p[$v]", "variables ($name) are not available"),
])
def test_what_predicates_would_only_meet_on_a_real_page_is_refused_up_front(expression, reason):
    from portal.adapters.xpathcheck import check_expression

    with pytest.raises(ValueError) as info:
        check_expression(expression, {})
    assert str(info.value).startswith(reason)


@pytest.mark.parametrize("kind, change, key", [
    ("html", {"url": "http://127.0.0.1:1/c/{custmer}"}, "url"),
    ("html", {"params": {"q": "{boss.account_id}"}}, "params.q"),
    ("xml", {"body": "<q>{ customer }</q>"}, "body"),
    ("soap", {"args": {"number": "{customer_id}"}}, "args.number"),
    ("socket", {"request": "Q {Customer}"}, "request"),
    ("socket", {"deep_link": {"url": "https://crm.example/c/{number}"}}, "deep_link.url"),
])
def test_templates_may_only_use_the_customer_placeholder(kind, change, key):
    error = refused(doc(kind, **change))
    assert error.key == key and error.reason.startswith("unknown placeholder {"), error.reason
    assert "only {customer} is filled in" in error.reason


def test_braces_that_are_no_placeholder_stay_allowed():
    build_adapter(doc("socket", request='{"msisdn": "{customer}", "op": "get"}'), SOURCE, GUARDED).close()
    build_adapter(doc("xml", body="<q a='{}'>{customer}</q>"), SOURCE, GUARDED).close()


# -- a document that builds never makes a lookup raise nor fail unexpectedly ------------------------

# (values that load, values that do not): a generated document mixes them, so that some load.
ODD = {
    "mask": ([None, "all", "keep_last:4", "keep_first:0", "keep_last:9999"], ["bogus", "keep_last:²", ":4", "all "]),
    "charset": ([None, "utf-8", "gbk", "latin-1", "utf-16", "UTF-8", "big5"],
                ["punycode", "idna", "rot13", "base64", "cp037", "klingon", "undefined"]),
    "path": (["//p[@id='v']", "css:#v", "count(//p)", "string(//p)", "//p/@id", "//*", "true()", "//script",
              "//style", "name(/*)", "sum(//p)", "//p[contains(., 're:test(')]", "//td[position() = 1]"],
             ["//p[", "re:test(., 'a')", "css:p > ", "//td[re:test(., '(a|aa)+$')]", "//p[$x]", "//x:p"]),
    "rows": (["//tr", "css:tr", "//tr/@id", "/", "//tr[td]"], ["count(//tr)", "'x'", "//tr[", "//tr[foo()]"]),
    "column": (["td[1]", "string(.)", "count(td)", "@id", "css:td", "../..", "1 div 0"], ["td[", "bar()"]),
    "template": (["{customer}", "{{customer}}", "{}", "x{", "%s", "\x00", "a{customer}b"],
                 ["{custmer}", "{ customer }", "{boss.x}"]),
}
ANSWERS = {
    "content_type": ["text/html; charset=utf-8", "text/html; charset=punycode", "text/html; charset=base64",
                     "text/html; charset=utf-16", "text/html", "text/html; charset=klingon",
                     "text/html; charset=undefined",
                     "text/html; charset=latin-1"],
    "body": [b"<html><body><p id='v'>Gold <script>evil()</script>88</p><table><tr id='r'><td>1</td></tr></table>"
             b"</body></html>",
             "<html><body><p id='v'>\u91d1\u724c</p></body></html>".encode("gbk"),
             b"\xff\xfe<\x00p\x00>\x00",
             b"<p id='v'>\xe9\xe8\x80\x81</p>",
             b"", b"   ", b"\x00" * 64, b"<"],
}


def picker(rng: random.Random):
    def pick(key: str):
        good, bad = ODD[key]
        return rng.choice(bad if rng.random() < 0.12 else good)

    return pick


def odd_html_document(rng: random.Random, url: str) -> dict:
    pick = picker(rng)
    document = {
        "id": "oddsys", "name": "Odd", "kind": "html", "owner": "some-team", "timeout_s": 1.0,
        "url": url + "/page", "params": {"q": pick("template")},
        "fields": {"plan": {"path": pick("path"), "mask": pick("mask")},
                   "other": {"path": pick("path"), "mask": pick("mask"), "required": rng.random() < 0.3}},
        "tables": {"t": {"path": pick("rows"), "columns": {"c": pick("column")}}},
    }
    if rng.random() < 0.6:
        document["charset"] = pick("charset")
    if rng.random() < 0.3:
        document["not_found"] = pick("path")
    return strip_none(document)


def odd_socket_document(rng: random.Random, port: int) -> dict:
    pick = picker(rng)
    patterns = [r"(?P<plan>\w+)", r"(?P<plan>(a|aa)+)$", r"(?P<plan>", r"(?P<plan>.)*", r"(?P<other>x)?"]
    document = {
        "id": "oddsock", "name": "Odd socket", "kind": "socket", "owner": "some-team", "timeout_s": 1.0,
        "host": "127.0.0.1", "port": port, "request": pick("template"), "charset": pick("charset") or "utf-8",
        "parse": "regex", "pattern": rng.choice(patterns),
        "expect": rng.choice([None, "^OK", "(a|aa)+$", "["]),
        "fields": {"plan": {"path": "plan", "mask": pick("mask")}},
    }
    return strip_none(document)


def strip_none(value):
    if isinstance(value, dict):
        return {k: strip_none(v) for k, v in value.items() if v is not None}
    return value


def check_never_fails(adapter) -> None:
    try:
        result = adapter.lookup("13800000000", capture_raw=True)
    except BaseException as exc:  # noqa: BLE001 - the promise under test
        pytest.fail(f"lookup raised {type(exc).__name__}: {exc}")
    assert result.status in set(Status)
    assert result.error != "unexpected adapter failure (logged)", "a document that loaded made a kind fail"
    json.dumps(result.to_dict(include_raw=True))
    for name, value in result.fields.items():
        spec = adapter.config.fields[name]
        if value is not None:
            apply_mask(str(value), spec.mask or "keep_last:4")  # what a masking role's lookup does


@pytest.mark.parametrize("seed", range(6))
def test_an_html_document_that_loads_never_fails_a_lookup(web, seed):
    rng = random.Random(seed)
    built = 0
    for _ in range(40):
        web.route("GET", "/page", Reply(body=rng.choice(ANSWERS["body"]),
                                        content_type=rng.choice(ANSWERS["content_type"])))
        try:
            adapter = build_adapter(odd_html_document(rng, web.url), SOURCE, GUARDED)
        except ConfigError:
            continue
        built += 1
        try:
            check_never_fails(adapter)
        finally:
            adapter.close()
    assert built, "no generated document loaded: the property was not exercised"


@pytest.mark.parametrize("seed", range(3))
def test_a_socket_document_that_loads_never_fails_a_lookup(tcp, seed):
    rng = random.Random(seed)
    answers = [b"OK aaaa\n", b"a" * 40 + b"b\n", b"\xff\xfe\x00\n", "OK \u91d1\n".encode("gbk"), b"\n"]

    def handler(conn):
        conn.recv(4096)
        conn.sendall(rng.choice(answers))

    server = tcp(handler)
    built = 0
    for _ in range(25):
        try:
            adapter = build_adapter(odd_socket_document(rng, server.port), SOURCE, GUARDED)
        except ConfigError:
            continue
        built += 1
        try:
            check_never_fails(adapter)
        finally:
            adapter.close()
    assert built


# -- the same through the API: registration answers 201 or 422, the test console never 500 -------------

LOYALTY_VARIANTS = {  # (values that register, values that do not)
    "charset": ([None, None, "utf-8", "latin-1", "gbk", "UTF-8"], ["punycode", "base64", "cp037"]),
    "mask": ([None, "all", "keep_first:1", "keep_last:9999"], ["bogus"]),
    "path": (["//span[@id='member-name']", "css:#tier", "count(//span)", "string(//title)", "//script", "name(/*)"],
             ["//span[", "//span[re:test(., 'a')]"]),
    "rows": (["//table[@id='transactions']/tbody/tr", "css:tr", "/", "//tr[td]"], ["count(//tr)"]),
    "template": (["{customer}", "{{customer}}", "x{", "86{customer}"], ["{custmer}"]),
}


def loyalty_variant(rng: random.Random, number: int, adapters_dir) -> dict:
    import tomllib

    def pick(key: str):
        good, bad = LOYALTY_VARIANTS[key]
        return rng.choice(bad if rng.random() < 0.1 else good)

    document = tomllib.loads((adapters_dir / "loyalty.toml").read_text())
    document.update(id=f"odd{number}", name=f"Odd {number}", owner="marketing-team", charset=pick("charset"),
                    params={"msisdn": pick("template")})
    document["fields"]["member_name"].update(path=pick("path"), mask=pick("mask"))
    document["fields"]["points"].update(mask=pick("mask"), sensitivity=rng.choice(["pii", "internal", "public"]))
    document["tables"]["transactions"]["path"] = pick("rows")
    return strip_none(document)


@pytest.mark.backoffice
def test_the_test_console_never_answers_500_for_a_document_that_registered(backoffice, app, client,
                                                                              demo_adapters_dir):
    from portal.accounts.service import create_user, issue_token

    with app.extensions["portal.db"].session() as session:
        create_user(session, "mkt", "a long password", ["system_owner"], teams=["marketing-team"])
        create_user(session, "root", "a long password", ["admin"])
        tokens = [issue_token(session, name)[1] for name in ("mkt", "root")]
        session.commit()
    owner, admin = ({"Authorization": f"Bearer {token}"} for token in tokens)
    rng = random.Random(11)
    registered = 0
    for number in range(30):
        created = client.post("/api/v1/adapters", headers=owner, json=loyalty_variant(rng, number, demo_adapters_dir))
        assert created.status_code in (201, 422), created.get_json()
        if created.status_code == 422:
            continue
        registered += 1
        for tester in (owner, admin):
            tested = client.post(f"/api/v1/adapters/odd{number}/test", headers=tester, json={"number": "13800000000"})
            assert tested.status_code == 200, tested.get_json()
            assert tested.get_json()["result"]["error"] != "unexpected adapter failure (logged)"
    assert registered, "no variant registered: the property was not exercised"
