"""The socket kind passes the adapter contract (portal.adapters.testing), with connection reuse on."""

from __future__ import annotations

from portal.adapters.testing import AdapterContract, ContractData, Delivery


class TestSocketContract(AdapterContract):
    kind = "socket"
    transport = "tcp"

    def document(self, server):
        return {
            "host": "127.0.0.1",
            "port": server.port,
            "request": "QUERY {customer}",
            "framing": "line",
            "keep_alive": True,
            "max_bytes": self.max_bytes,
            "parse": "kv",
            "not_found": "^ERR NOTFOUND",
            "fields": {
                "plan": {"path": "plan", "label": "Plan", "required": True},
                "balance": {"path": "balance", "label": "Balance"},
            },
            "tables": {
                "bills": {"path": r"bill=(?P<month>[^:|]+):(?P<amount>[^|\n]+)",
                          "columns": {"month": "month", "amount": "amount"}},
            },
        }

    def render(self, data: ContractData, doctype: str = "") -> bytes:
        parts = ["OK"]
        if data.plan is not None:
            parts.append(f"plan={data.plan}")
        if data.balance is not None:
            parts.append(f"balance={data.balance}")
        parts += [f"bill={m}:{a}" for m, a in data.bills]
        return (doctype + "|".join(parts) + "\n").encode()

    def render_not_found(self) -> bytes:
        return b"ERR NOTFOUND\n"


class TestSocketContractOneConnectionPerLookup(TestSocketContract):
    """The same contract without connection reuse, and with a binary length prefix."""

    def document(self, server):
        return {**super().document(server), "keep_alive": False, "framing": "length", "length_bytes": 4}

    def render(self, data: ContractData, doctype: str = "") -> bytes:
        body = super().render(data, doctype).rstrip(b"\n")
        return len(body).to_bytes(4, "big") + body

    def render_not_found(self) -> bytes:
        return b"\x00\x00\x00\x0cERR NOTFOUND"

    def request_complete(self, data: bytes) -> bool:
        return len(data) >= 4 and len(data) >= 4 + int.from_bytes(data[:4], "big")

    def oversized(self, size: int) -> Delivery:
        return Delivery(b"plan=" + b"A" * 1000, mode="stream", stream_bytes=size, prefix=size.to_bytes(4, "big"))
