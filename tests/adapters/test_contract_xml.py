"""The xml kind passes the adapter contract (portal.adapters.testing)."""

from __future__ import annotations

from portal.adapters.testing import AdapterContract, ContractData

NS = "urn:contract:billing"


class TestXmlContract(AdapterContract):
    kind = "xml"
    parses_xml = True
    content_type = "application/xml; charset=utf-8"

    def document(self, server):
        return {
            "url": server.url + "/billing",
            "body": '<b:query xmlns:b="urn:contract:billing"><b:msisdn>{customer}</b:msisdn></b:query>',
            "namespaces": {"b": NS},
            "not_found": "/b:error[@code='NOT_FOUND']",
            "max_bytes": self.max_bytes,
            "fields": {
                "plan": {"path": "/b:account/b:plan", "label": "Plan", "required": True},
                "balance": {"path": "/b:account/b:balance", "label": "Balance"},
            },
            "tables": {"bills": {"path": "//b:bill", "columns": {"month": "b:month", "amount": "b:amount"}}},
        }

    def render(self, data: ContractData, doctype: str = "") -> bytes:
        parts = [f'<?xml version="1.0" encoding="UTF-8"?>{doctype}<b:account xmlns:b="{NS}">']
        if data.plan is not None:
            parts.append(f"<b:plan>{data.plan}</b:plan>")
        if data.balance is not None:
            parts.append(f"<b:balance>{data.balance}</b:balance>")
        parts.append("<b:bills>")
        parts += [f"<b:bill><b:month>{m}</b:month><b:amount>{a}</b:amount></b:bill>" for m, a in data.bills]
        parts.append("</b:bills></b:account>")
        return "".join(parts).encode()

    def render_not_found(self) -> bytes:
        return f'<b:error xmlns:b="{NS}" code="NOT_FOUND"><b:message>no such customer</b:message></b:error>'.encode()
