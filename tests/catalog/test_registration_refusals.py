"""What a hostile or careless system owner registers is refused with a 422 naming the key and the reason.

The per-kind matrices live in the adapter contract kit (portal/adapters/testing.py) and in
tests/adapters/; this is the same seen through the API, as an owner meets it.
"""

import pytest


def with_field(document: dict, name: str, **changes) -> dict:
    document["fields"][name] = {**document["fields"][name], **changes}
    return document


def html_login(document: dict, credentials: str) -> dict:
    document["login"] = {"url": document["url"].rsplit("/", 1)[0] + "/login", "username_field": "u",
                         "password_field": "p", "credentials": credentials, "login_page": "//form[@id='login']"}
    return document


def xml_with_xsd(document: dict, xsd: str) -> dict:
    return {"id": "points2", "name": "XML points", "kind": "xml", "owner": "marketing-team",
            "url": document["url"], "body": "<q>{customer}</q>", "xsd": xsd, "fields": {"tier": {"path": "//tier"}}}


CASES = {
    "mask": (lambda d: with_field(d, "member_name", mask="bogus"), "fields.member_name.mask",
             "expected keep_last:N, keep_first:N or all"),
    "charset": (lambda d: {**d, "charset": "punycode"}, "charset", "not a text charset"),
    "xpath": (lambda d: with_field(d, "member_name", path="//span["), "fields.member_name.path", "invalid XPath"),
    "css": (lambda d: with_field(d, "tier", path="css:#"), "fields.tier.path", "invalid CSS selector"),
    "redis-port": (lambda d: {**d, "url": "http://127.0.0.1:6379/member"}, "url", "refused by the egress policy"),
    "metadata": (lambda d: {**d, "url": "http://169.254.169.254/latest/meta-data"}, "url",
                 "169.254.169.254 is a cloud metadata address"),
    "link-local": (lambda d: {**d, "url": "http://169.254.10.1:8207/member"}, "url", "a link-local address"),
    "localhost": (lambda d: {**d, "url": "http://localhost:6379/member"}, "url", "refused by the egress policy"),
    "credential": (lambda d: html_login(d, "COMPLAINTS"), "login.credentials", "bound to system complaints"),
    "xsd-file": (lambda d: xml_with_xsd(d, "/etc/passwd"), "xsd", "a registered adapter may not name a local file"),
    "xsd-dev-zero": (lambda d: xml_with_xsd(d, "/dev/zero"), "xsd",
                     "a registered adapter may not name a local file"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_refused_document_is_a_422_naming_the_key(client, api, tokens, loyalty_document, case, db):
    from portal.catalog.models import StoredAdapter

    change, key, reason = CASES[case]
    response = api(client, "POST", "/api/v1/adapters", tokens["mkt"], json=change(loyalty_document()))
    assert response.status_code == 422, response.get_json()
    problem = response.get_json()
    assert problem["key"] == key and reason in problem["reason"], problem
    assert db.get(StoredAdapter, "points2") is None  # nothing stored
