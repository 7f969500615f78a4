"""Optional XSD validation of the xml kind: from a file beside the adapter file or from a URL."""

from __future__ import annotations

import shutil
import tomllib
from pathlib import Path

import pytest

from portal.adapters.base import Status, adapter_source
from portal.adapters.registry import build_adapter
from portal.errors import ConfigError

from .conftest import Reply

FIXTURES = Path(__file__).parent / "fixtures"
VAS_XSD = FIXTURES / "vas.xsd"
VAS_TOML = Path(__file__).resolve().parents[2] / "config" / "adapters" / "vas.toml"

NS = 'xmlns:vas="urn:demotel:vas:v1"'
GOOD = f"""<vas:subscriptions {NS} msisdn="13800000000" count="1">
<vas:subscriber><vas:name>Liu Xia</vas:name></vas:subscriber>
<vas:subscription><vas:service>Weather SMS</vas:service><vas:code>VAS-WX</vas:code>
<vas:since>2026-04-27</vas:since><vas:fee currency="CNY">2.00</vas:fee></vas:subscription>
</vas:subscriptions>""".encode()
# A changed schema: "since" is no longer a date.
BAD = GOOD.replace(b"2026-04-27", b"last spring")
NOT_FOUND = f'<vas:error {NS} code="NOT_FOUND"><vas:message>no</vas:message></vas:error>'.encode()


def vas_document(url: str, **changes) -> dict:
    """The shipped vas adapter, pointed at ``url``, with ``changes`` applied."""
    with VAS_TOML.open("rb") as fh:
        doc = tomllib.load(fh)
    doc.update(url=url, **changes)
    return doc


def build_from(tmp_path: Path, doc: dict):
    """Build as the loader does for a file in ``tmp_path``: relative paths resolve there."""
    with adapter_source(str(tmp_path / "vas.toml")):
        return build_adapter(doc, str(tmp_path / "vas.toml"))


@pytest.fixture
def built():
    adapters = []
    yield adapters
    for adapter in adapters:
        adapter.close()


def test_a_valid_answer_passes_and_an_invalid_one_says_where(web, tmp_path, built):
    shutil.copy(VAS_XSD, tmp_path / "vas.xsd")
    adapter = build_from(tmp_path, vas_document(web.url + "/vas", xsd="vas.xsd"))
    built.append(adapter)
    web.route("POST", "/vas", Reply(body=GOOD, content_type="application/xml"))
    result = adapter.lookup("13800000000")
    assert result.status is Status.OK, result.error
    assert result.fields["first_service"] == "Weather SMS"

    web.route("POST", "/vas", Reply(body=BAD, content_type="application/xml"))
    result = adapter.lookup("13800000000", capture_raw=True)
    assert result.status is Status.ERROR
    assert result.error.startswith("answer does not match schema: Element '{urn:demotel:vas:v1}since'")
    assert result.error.endswith("(line 4)")
    assert "last spring" in result.raw_excerpt


def test_not_found_documents_are_not_validated_against_the_answer_schema(web, tmp_path, built):
    xsd = tmp_path / "only-answers.xsd"
    xsd.write_text(VAS_XSD.read_text().split('  <xs:element name="error">')[0] + "</xs:schema>\n")
    adapter = build_from(tmp_path, vas_document(web.url + "/vas", xsd=str(xsd)))  # absolute path
    built.append(adapter)
    web.route("POST", "/vas", Reply(body=NOT_FOUND, content_type="application/xml"))
    assert adapter.lookup("1").status is Status.NOT_FOUND


def test_xsd_from_a_url_is_fetched_once(web, built):
    web.route("GET", "/schema/vas.xsd", Reply(body=VAS_XSD.read_bytes(), content_type="application/xml"))
    web.route("POST", "/vas", Reply(body=GOOD, content_type="application/xml"))
    adapter = build_adapter(vas_document(web.url + "/vas", xsd=web.url + "/schema/vas.xsd"), "db:vas")
    built.append(adapter)
    for _ in range(3):
        assert adapter.lookup("1").status is Status.OK
    assert [s.path for s in web.seen if s.method == "GET"] == ["/schema/vas.xsd"]


def test_xsd_url_failures_are_errors_and_retried(web, built):
    web.route("POST", "/vas", Reply(body=GOOD, content_type="application/xml"))
    web.route("GET", "/schema/vas.xsd", Reply(status=503, body=b"down"))
    adapter = build_adapter(vas_document(web.url + "/vas", xsd=web.url + "/schema/vas.xsd"), "db:vas")
    built.append(adapter)
    assert adapter.lookup("1").error == "HTTP 503 from system for its XSD"
    web.route("GET", "/schema/vas.xsd", Reply(body=b'<!DOCTYPE x [<!ENTITY e "b">]><x>&e;</x>'))
    assert adapter.lookup("1").error == "XSD could not be used: XML document declares entity 'e' (refused)"
    web.route("GET", "/schema/vas.xsd", Reply(body=VAS_XSD.read_bytes()))
    assert adapter.lookup("1").status is Status.OK


def rejected(tmp_path: Path, xsd: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        build_from(tmp_path, vas_document("http://127.0.0.1:1/vas", xsd=xsd))
    assert info.value.key == "xsd"
    return info.value


def test_broken_or_unsafe_schemas_are_load_errors(tmp_path):
    assert "cannot be read" in rejected(tmp_path, "missing.xsd").reason
    (tmp_path / "bad.xsd").write_text("<xs:schema xmlns:xs='http://www.w3.org/2001/XMLSchema'><xs:element/></xs:schema>")
    assert "invalid XSD" in rejected(tmp_path, "bad.xsd").reason
    (tmp_path / "html.xsd").write_text("<html/>")
    assert "not an XML Schema" in rejected(tmp_path, "html.xsd").reason
    (tmp_path / "xxe.xsd").write_text('<!DOCTYPE s [<!ENTITY x SYSTEM "file:///etc/passwd">]><s>&x;</s>')
    assert "refused" in rejected(tmp_path, "xxe.xsd").reason
    (tmp_path / "inc.xsd").write_text(
        "<xs:schema xmlns:xs='http://www.w3.org/2001/XMLSchema'><xs:include schemaLocation='/etc/passwd'/></xs:schema>"
    )
    assert "xs:include of another document is not supported" in rejected(tmp_path, "inc.xsd").reason
    assert rejected(tmp_path, "ftp://host/vas.xsd").reason == "expected a path to an .xsd file or an http(s) URL"


def test_relative_xsd_needs_an_adapter_file():
    with pytest.raises(ConfigError) as info:
        build_adapter(vas_document("http://127.0.0.1:1/vas", xsd="vas.xsd"), "db:vas")
    assert (info.value.key, info.value.source) == ("xsd", "db:vas")
    assert "relative path needs an adapter file" in info.value.reason


@pytest.mark.backoffice
def test_the_demo_vas_answers_match_the_schema(backoffice, tmp_path, built):
    """The fixture schema describes the simulated VAS platform: every known number validates."""
    from portal.demo import data

    shutil.copy(VAS_XSD, tmp_path / "vas.xsd")
    url = f"{backoffice.systems['vas'].base_url}/vas/subscriptions"
    adapter = build_from(tmp_path, vas_document(url, xsd="vas.xsd"))
    built.append(adapter)
    numbers = [str(data.FIRST_NUMBER + n) for n in range(30)]
    results = {number: adapter.lookup(number) for number in numbers}
    for number, result in results.items():
        expected = Status.OK if data.known("vas", number) else Status.NOT_FOUND
        assert result.status is expected, (number, result.error)
    assert sum(r.status is Status.OK for r in results.values()) >= 10


def test_relative_xsd_is_found_beside_the_adapter_file(tmp_path):
    import tomli_w

    from portal.adapters.registry import load_adapter_dir

    shutil.copy(VAS_XSD, tmp_path / "vas.xsd")
    (tmp_path / "vas.toml").write_text(tomli_w.dumps(vas_document("http://127.0.0.1:1/vas", xsd="vas.xsd")))
    loaded = load_adapter_dir(tmp_path)
    assert loaded.errors == [] and loaded.registry.ids() == ["vas"]
    loaded.registry.close()
