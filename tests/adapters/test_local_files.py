"""No local files from owner documents (issue 11, item 4).

``xsd`` (xml kind) and ``wsdl`` (soap kind) take an http(s) URL or the document
uploaded with the adapter version (``xsd_content``, ``wsdl_content``). Only
file-based adapters may name a file, only inside the configuration folder, only
a regular file, and never beyond the size limit.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest
import tomli_w

from portal.adapters import soap, soapclient
from portal.adapters.base import Status
from portal.adapters.boundary import UNRESTRICTED, Boundary
from portal.adapters.registry import build_adapter, load_adapter_file
from portal.adapters.xml import XSD_MAX_BYTES
from portal.errors import ConfigError
from tests.adapters.conftest import Reply
from tests.adapters.test_soap_adapter import ANSWER, WSDL
from tests.adapters.test_xml_schema import BAD, GOOD, VAS_TOML, VAS_XSD

GUARDED = Boundary(guarded=True)
XSD_REFUSAL = ("a registered adapter may not name a local file; give an http(s) URL or upload the schema as "
               "xsd_content")
WSDL_REFUSAL = ("a registered adapter may not name a local file; give an http(s) URL or upload the WSDL as "
                "wsdl_content")


def vas_document(url: str = "http://127.0.0.1:1/vas", **changes) -> dict:
    document = tomllib.loads(VAS_TOML.read_text())
    document.update(url=url, **changes)
    return document


def soap_document(**changes) -> dict:
    document = {"id": "svc", "name": "Service", "kind": "soap", "owner": "billing-team", "operation": "Get",
                "args": {"msisdn": "{customer}"}, "timeout_s": 2.0, "fields": {"plan": {"path": "plan.name"}}}
    document.update(changes)
    return document


def refused(document: dict, boundary: Boundary = GUARDED, source: str = "adapter vas") -> ConfigError:
    with pytest.raises(ConfigError) as info:
        build_adapter(document, source, boundary).close()
    return info.value


def file_adapter(folder: Path, document: dict, boundary: Boundary = UNRESTRICTED):
    """Write ``document`` as ``<folder>/<id>.toml`` and load it as the loader loads config/adapters."""
    path = folder / f"{document['id']}.toml"
    path.write_text(tomli_w.dumps(document))
    return load_adapter_file(path, boundary)


def file_refused(folder: Path, document: dict, boundary: Boundary = UNRESTRICTED) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        file_adapter(folder, document, boundary).close()
    return info.value


@pytest.fixture(autouse=True)
def fresh_clients():
    soap.clear_client_cache()
    yield
    soap.clear_client_cache()


@pytest.fixture
def built():
    adapters = []
    yield adapters
    for adapter in adapters:
        adapter.close()


# -- registered (database) adapters under the guarded boundary ---------------------------------------

@pytest.mark.parametrize("path", [str(VAS_XSD), "/etc/passwd", "vas.xsd", "/dev/zero", "file:///etc/passwd"])
def test_a_registered_adapter_may_not_name_a_local_xsd(path):
    error = refused(vas_document(xsd=path))
    assert error.key == "xsd"
    if path.startswith("file:"):
        assert error.reason == "expected a path to an .xsd file or an http(s) URL"
    else:
        assert error.reason == XSD_REFUSAL
    assert str(error).startswith("adapter vas: xsd: ")


@pytest.mark.parametrize("path", ["/etc/passwd", "boss.wsdl", "/dev/zero"])
def test_a_registered_adapter_may_not_name_a_local_wsdl(path):
    error = refused(soap_document(wsdl=path))
    assert (error.key, error.reason) == ("wsdl", WSDL_REFUSAL)


@pytest.mark.parametrize("wsdl", ["file:///etc/passwd", "ftp://host/x.wsdl"])
def test_only_http_urls_name_a_wsdl(wsdl):
    error = refused(soap_document(wsdl=wsdl))
    assert error.key == "wsdl" and error.reason.startswith("expected an http(s) URL")


def test_the_url_or_the_content_but_not_both_and_not_neither():
    assert (refused(vas_document(xsd="http://x/s.xsd", xsd_content=VAS_XSD.read_text())).key) == "xsd_content"
    error = refused(soap_document(wsdl="http://x/s?wsdl", wsdl_content=WSDL))
    assert error.key == "wsdl_content" and "not both" in error.reason
    error = refused(soap_document())
    assert error.key == "wsdl" and error.reason.startswith("required")


@pytest.mark.parametrize("content, reason", [
    ("<html/>", "not an XML Schema"),
    ("<xs:schema xmlns:xs='http://www.w3.org/2001/XMLSchema'><xs:element/></xs:schema>", "invalid XSD"),
    ('<!DOCTYPE s [<!ENTITY x SYSTEM "file:///etc/passwd">]><s>&x;</s>', "refused"),
    ("<xs:schema xmlns:xs='http://www.w3.org/2001/XMLSchema'><xs:include schemaLocation='/etc/x.xsd'/></xs:schema>",
     "xs:include of another document is not supported"),
    ("not xml", "not well-formed XML"),
    ("<x>" + "a" * XSD_MAX_BYTES + "</x>", f"larger than {XSD_MAX_BYTES} bytes"),
])
def test_uploaded_schemas_are_checked_when_registered(content, reason):
    error = refused(vas_document(xsd_content=content))
    assert error.key == "xsd_content" and reason in error.reason, error.reason


@pytest.mark.parametrize("content, reason", [
    ("<html/>", "not a WSDL"),
    ('<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><d>&x;</d>', "refused"),
    ("<d>" + "a" * soap.MAX_BYTES + "</d>", f"larger than {soap.MAX_BYTES} bytes"),
])
def test_uploaded_wsdls_are_checked_when_registered(content, reason):
    error = refused(soap_document(wsdl_content=content))
    assert error.key == "wsdl_content" and reason in error.reason, error.reason


# -- uploaded documents work end to end ---------------------------------------------------------------

def test_an_inline_xsd_validates_answers_end_to_end(web, built):
    adapter = build_adapter(vas_document(web.url + "/vas", xsd_content=VAS_XSD.read_text()), "adapter vas", GUARDED)
    built.append(adapter)
    web.route("POST", "/vas", Reply(body=GOOD, content_type="application/xml"))
    result = adapter.lookup("13800000000")
    assert result.status is Status.OK, result.error
    assert result.fields["first_service"] == "Weather SMS"
    web.route("POST", "/vas", Reply(body=BAD, content_type="application/xml"))
    result = adapter.lookup("13800000000")
    assert result.status is Status.ERROR
    assert result.error.startswith("answer does not match schema: Element '{urn:demotel:vas:v1}since'")
    assert [s.method for s in web.seen] == ["POST", "POST"], "the schema was fetched from somewhere"


def test_an_inline_wsdl_is_served_to_zeep_from_memory(web, built):
    wsdl = WSDL.format(address=web.url + "/svc", imports="")
    web.route("POST", "/svc", Reply(body=ANSWER, content_type="text/xml; charset=utf-8"))
    adapter = build_adapter(soap_document(wsdl_content=wsdl), "adapter svc", GUARDED)
    built.append(adapter)
    result = adapter.lookup("13800000000")
    assert result.status is Status.OK, result.error
    assert result.fields == {"plan": "Gold 88"}
    assert [s.method for s in web.seen] == ["POST"], "only the operation was called: no WSDL fetched"
    assert adapter.address() == ("127.0.0.1", web.server.server_address[1])
    assert adapter.service_description_url() is None
    second = build_adapter(soap_document(id="svc2", wsdl_content=wsdl), "adapter svc2", GUARDED)
    built.append(second)
    assert second.lookup("13800000000").status is Status.OK
    assert len(soap._clients) == 1, "adapters uploading the same WSDL share one client"


@pytest.mark.parametrize("location", ["/etc/passwd", "types.xsd", "file:///etc/passwd"])
def test_an_inline_wsdl_cannot_import_local_files(web, built, location):
    imports = f'<xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema"><xsd:import namespace="urn:x" ' \
              f'schemaLocation="{location}"/></xsd:schema>'
    wsdl = WSDL.format(address=web.url + "/svc", imports="").replace("<wsdl:types>", "<wsdl:types>" + imports)
    adapter = build_adapter(soap_document(wsdl_content=wsdl), "adapter svc", GUARDED)
    built.append(adapter)
    result = adapter.lookup("13800000000")
    assert (result.status, result.error) == (Status.ERROR, "the WSDL refers to a document that is not http(s)")


def test_a_closed_adapter_releases_its_uploaded_wsdl(web):
    adapter = build_adapter(soap_document(wsdl_content=WSDL.format(address=web.url + "/svc", imports="")),
                            "adapter svc", GUARDED)
    assert soapclient._inline
    adapter.close()
    assert not soapclient._inline


# -- file-based adapters: inside the configuration folder, regular files, bounded ----------------------

def test_a_file_adapter_reads_a_schema_inside_the_configuration_folder(tmp_path, web, built):
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "vas.xsd").write_text(VAS_XSD.read_text())
    adapter = file_adapter(tmp_path, vas_document(web.url + "/vas", xsd="schemas/vas.xsd"),
                           Boundary(guarded=True, config_dir=tmp_path))
    built.append(adapter)
    web.route("POST", "/vas", Reply(body=GOOD, content_type="application/xml"))
    assert adapter.lookup("13800000000").status is Status.OK


def test_a_file_adapter_reads_a_wsdl_inside_the_configuration_folder(tmp_path, web, built):
    (tmp_path / "svc.wsdl").write_text(WSDL.format(address=web.url + "/svc", imports=""))
    web.route("POST", "/svc", Reply(body=ANSWER, content_type="text/xml; charset=utf-8"))
    adapter = file_adapter(tmp_path, soap_document(wsdl="svc.wsdl"), Boundary(guarded=True, config_dir=tmp_path))
    built.append(adapter)
    assert adapter.lookup("13800000000").fields == {"plan": "Gold 88"}


@pytest.mark.parametrize("boundary", [UNRESTRICTED, "guarded"])
def test_dev_zero_is_refused_even_for_file_adapters(tmp_path, boundary):
    boundary = Boundary(guarded=True, config_dir=Path("/")) if boundary == "guarded" else boundary
    error = file_refused(tmp_path, vas_document(xsd="/dev/zero"), boundary)
    assert (error.key, error.reason) == ("xsd", "/dev/zero is not a regular file")
    error = file_refused(tmp_path, soap_document(wsdl="/dev/zero"), boundary)
    assert (error.key, error.reason) == ("wsdl", "/dev/zero is not a regular file")


def test_a_fifo_or_a_directory_is_refused_without_waiting(tmp_path):
    os.mkfifo(tmp_path / "pipe.xsd")
    (tmp_path / "folder.xsd").mkdir()
    for name in ("pipe.xsd", "folder.xsd"):
        error = file_refused(tmp_path, vas_document(xsd=name), Boundary(guarded=True, config_dir=tmp_path))
        assert error.key == "xsd" and error.reason.endswith("is not a regular file")


@pytest.mark.parametrize("where", ["dotdot", "absolute", "symlink"])
def test_a_path_outside_the_configuration_folder_is_refused(tmp_path, where):
    folder, outside = tmp_path / "adapters", tmp_path / "elsewhere"
    folder.mkdir()
    outside.mkdir()
    (outside / "vas.xsd").write_text(VAS_XSD.read_text())
    (folder / "link.xsd").symlink_to(outside / "vas.xsd")
    path = {"dotdot": "../elsewhere/vas.xsd", "absolute": str(outside / "vas.xsd"), "symlink": "link.xsd"}[where]
    error = file_refused(folder, vas_document(xsd=path), Boundary(guarded=True, config_dir=folder))
    assert error.key == "xsd"
    assert error.reason == f"{path} is outside the configuration folder ({folder.resolve()})"


def test_a_file_larger_than_the_limit_is_refused_after_reading_no_more_than_the_limit(tmp_path):
    with (tmp_path / "huge.xsd").open("wb") as fh:
        fh.truncate(50 * XSD_MAX_BYTES)  # sparse: 100 MB that cost nothing on disk
    error = file_refused(tmp_path, vas_document(xsd="huge.xsd"), Boundary(guarded=True, config_dir=tmp_path))
    assert error.key == "xsd" and error.reason.endswith(f"is larger than {XSD_MAX_BYTES} bytes")


def test_a_fetched_schema_is_bounded_too(web, built):
    web.route("GET", "/big.xsd", Reply(body=b"<x>" + b"a" * (XSD_MAX_BYTES + 10) + b"</x>",
                                       content_type="application/xml"))
    web.route("POST", "/vas", Reply(body=GOOD, content_type="application/xml"))
    adapter = build_adapter(vas_document(web.url + "/vas", xsd=web.url + "/big.xsd", max_bytes=10 * XSD_MAX_BYTES),
                            "adapter vas", GUARDED)
    built.append(adapter)
    result = adapter.lookup("13800000000")
    assert result.status is Status.ERROR and "larger than" in result.error, result.error


# -- through the API: 422 naming the key --------------------------------------------------------------

@pytest.mark.parametrize("key, value", [("xsd", "/etc/passwd"), ("xsd", "/dev/zero"), ("xsd", str(VAS_XSD))])
def test_registering_an_adapter_that_names_a_local_file_is_422(app, client, backoffice_session, key, value):
    from portal.accounts.service import create_user, issue_token

    with app.extensions["portal.db"].session() as session:
        create_user(session, "vasowner", "a long password", ["system_owner"], teams=["vas-team"])
        _, token = issue_token(session, "vasowner")
        session.commit()
    document = vas_document(f"{backoffice_session.systems['vas'].base_url}/vas/subscriptions", **{key: value})
    document.update(id="vas2", name="VAS (registered)")
    response = client.post("/api/v1/adapters", headers={"Authorization": f"Bearer {token}"}, json=document)
    assert response.status_code == 422, response.get_json()
    assert (response.get_json()["key"], response.get_json()["reason"]) == ("xsd", XSD_REFUSAL)


def test_registering_an_adapter_with_its_schema_uploaded_is_accepted(app, client, backoffice_session):
    from portal.accounts.service import create_user, issue_token

    with app.extensions["portal.db"].session() as session:
        create_user(session, "vasowner", "a long password", ["system_owner"], teams=["vas-team"])
        _, token = issue_token(session, "vasowner")
        session.commit()
    document = vas_document(f"{backoffice_session.systems['vas'].base_url}/vas/subscriptions", xsd_content=VAS_XSD.read_text())
    document.update(id="vas2", name="VAS (registered)")
    response = client.post("/api/v1/adapters", headers={"Authorization": f"Bearer {token}"}, json=document)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["document"]["xsd_content"] == VAS_XSD.read_text()  # stored with the version
