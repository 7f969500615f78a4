"""The soap kind passes the adapter contract (portal.adapters.testing)."""

from __future__ import annotations

import pytest

from portal.adapters import soap
from portal.adapters.testing import AdapterContract, ContractData

WSDL = """<?xml version="1.0" encoding="UTF-8"?>
<wsdl:definitions name="C" targetNamespace="urn:c" xmlns:tns="urn:c"
    xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
    xmlns:xsd="http://www.w3.org/2001/XMLSchema">
  <wsdl:types>
    <xsd:schema targetNamespace="urn:c" elementFormDefault="qualified">
      <xsd:element name="Get"><xsd:complexType><xsd:sequence>
        <xsd:element name="msisdn" type="xsd:string"/></xsd:sequence></xsd:complexType></xsd:element>
      <xsd:element name="GetResponse"><xsd:complexType><xsd:sequence>
        <xsd:element name="plan" type="xsd:string" minOccurs="0"/>
        <xsd:element name="balance" type="xsd:string" minOccurs="0"/>
        <xsd:element name="bills" minOccurs="0"><xsd:complexType><xsd:sequence>
          <xsd:element name="bill" minOccurs="0" maxOccurs="unbounded"><xsd:complexType><xsd:sequence>
            <xsd:element name="month" type="xsd:string"/><xsd:element name="amount" type="xsd:string"/>
          </xsd:sequence></xsd:complexType></xsd:element>
        </xsd:sequence></xsd:complexType></xsd:element>
      </xsd:sequence></xsd:complexType></xsd:element>
    </xsd:schema>
  </wsdl:types>
  <wsdl:message name="GetIn"><wsdl:part name="parameters" element="tns:Get"/></wsdl:message>
  <wsdl:message name="GetOut"><wsdl:part name="parameters" element="tns:GetResponse"/></wsdl:message>
  <wsdl:portType name="PT"><wsdl:operation name="Get">
    <wsdl:input message="tns:GetIn"/><wsdl:output message="tns:GetOut"/></wsdl:operation></wsdl:portType>
  <wsdl:binding name="B" type="tns:PT">
    <soap:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>
    <wsdl:operation name="Get"><soap:operation soapAction="urn:c#Get"/>
      <wsdl:input><soap:body use="literal"/></wsdl:input><wsdl:output><soap:body use="literal"/></wsdl:output>
    </wsdl:operation>
  </wsdl:binding>
  <wsdl:service name="S"><wsdl:port name="P" binding="tns:B"><soap:address location="{address}"/></wsdl:port></wsdl:service>
</wsdl:definitions>"""

ENVELOPE = '{doctype}<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>{body}</s:Body></s:Envelope>'


@pytest.fixture(autouse=True)
def fresh_clients():
    soap.clear_client_cache()
    yield
    soap.clear_client_cache()


class TestSoapContract(AdapterContract):
    kind = "soap"
    parses_xml = True
    content_type = "text/xml; charset=utf-8"

    def static_routes(self, server):
        return {"/svc": ("text/xml; charset=utf-8", WSDL.replace("{address}", server.url + "/svc").encode())}

    def document(self, server):
        return {
            "wsdl": server.url + "/svc?wsdl",
            "operation": "Get",
            "args": {"msisdn": "{customer}"},
            "not_found_faults": ["NO_SUCH_SUBSCRIBER"],
            "max_bytes": self.max_bytes,
            "fields": {
                "plan": {"path": "plan", "label": "Plan", "required": True},
                "balance": {"path": "balance", "label": "Balance"},
            },
            "tables": {"bills": {"path": "bills.bill", "columns": {"month": "month", "amount": "amount"}}},
        }

    def render(self, data: ContractData, doctype: str = "") -> bytes:
        parts = ['<GetResponse xmlns="urn:c">']
        if data.plan is not None:
            parts.append(f"<plan>{data.plan}</plan>")
        if data.balance is not None:
            parts.append(f"<balance>{data.balance}</balance>")
        parts.append("<bills>")
        parts += [f"<bill><month>{m}</month><amount>{a}</amount></bill>" for m, a in data.bills]
        parts.append("</bills></GetResponse>")
        return ENVELOPE.format(doctype=doctype, body="".join(parts)).encode()

    def render_not_found(self) -> bytes:
        fault = ("<s:Fault><faultcode>s:Client</faultcode><faultstring>NO_SUCH_SUBSCRIBER: unknown number"
                 "</faultstring></s:Fault>")
        return ENVELOPE.format(doctype="", body=fault).encode()
