"""The html kind passes the adapter contract (portal.adapters.testing), form login included."""

from __future__ import annotations

from portal.adapters.testing import CREDENTIALS_NAME, AdapterContract, ContractData


class TestHtmlContract(AdapterContract):
    kind = "html"
    supports_login = True
    content_type = "text/html; charset=utf-8"

    def document(self, server):
        return {
            "url": server.url + "/customer/{customer}",
            "not_found": "//p[@class='unknown']",
            "max_bytes": self.max_bytes,
            "fields": {
                "plan": {"path": "//td[@id='plan']", "label": "Plan", "required": True},
                "balance": {"path": "css:span.balance", "label": "Balance"},
            },
            "tables": {"bills": {"path": "//tr[@class='bill']", "columns": {"month": "td[1]", "amount": "td[2]"}}},
            "login": {
                "url": server.url + "/login",
                "username_field": "user",
                "password_field": "pass",
                "credentials": CREDENTIALS_NAME,
                "login_page": "//form[@id='login']",
            },
        }

    def render(self, data: ContractData, doctype: str = "") -> bytes:
        plan = f"<tr><th>Plan</th><td id='plan'>{data.plan}</td></tr>" if data.plan is not None else ""
        balance = f"<p>Balance: <span class='balance'>{data.balance}</span></p>" if data.balance is not None else ""
        bills = "".join(f"<tr class='bill'><td>{m}</td><td>{a}</td></tr>" for m, a in data.bills)
        return (
            f"{doctype}<html><head><title>Customer</title></head><body><table>{plan}</table>{balance}"
            f"<table id='bills'>{bills}</table></body></html>"
        ).encode()

    def render_not_found(self) -> bytes:
        return b"<html><body><p class='unknown'>No such customer</p></body></html>"

    def login_page(self) -> bytes:
        return (
            b"<html><body><form id='login' method='post' action='/login'><input type='hidden' name='csrf' value='t'>"
            b"<input name='user'><input name='pass' type='password'></form></body></html>"
        )
