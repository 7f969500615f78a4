"""Data, payloads and checks of the adapter contract kit (see :mod:`portal.adapters.testing`)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from portal.adapters.base import RAW_EXCERPT_CHARS, Adapter, Status, SystemResult
from portal.adapters.testing_servers import (
    LOGIN_PATH,
    SESSION_COOKIE,
    ContractHttpServer,
    Delivery,
    Seen,
)

CUSTOMER = "13800000000"
CREDENTIALS_NAME = "CONTRACT"
CREDENTIALS = ("contract-user", "contract-pass")
SCENARIOS = (
    "ok", "not_found", "drift", "garbage", "oversized", "hang", "drip", "reset", "refused",
    "billion_laughs", "xxe", "invalid_bytes", "unknown_charset", "login",
)  # fmt: skip

GARBAGE = b"\x00\x13\x89PNG garbage \xff\xfe{<]]>&;" * 16
BOMB_DOCTYPE = (
    '<!DOCTYPE r [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10))
    + "]>"
)
BOMB_VALUE = "&lol9;"
XXE_VALUE = "&xxe;&xxe2;"


@dataclass(frozen=True)
class ContractData:
    """What the system knows about :data:`CUSTOMER`. ``None`` means "leave the element out".

    Values are inserted into answers as they are, not escaped: the hostile
    scenarios put entity references (``&xxe;``) there on purpose.
    """

    plan: str | None = "Gold 88"
    balance: str | None = "12.50"
    bills: tuple[tuple[str, str], ...] = (("2026-05", "88.00"), ("2026-04", "90.50"))


def check_result(result: Any, adapter: Adapter) -> SystemResult:
    """Assert everything the contract says about the shape of any result; returns it."""
    assert isinstance(result, SystemResult), f"lookup returned {type(result).__name__}, not SystemResult"
    assert isinstance(result.status, Status)
    assert result.system_id == adapter.id
    assert type(result.elapsed_ms) is int and result.elapsed_ms >= 0
    assert isinstance(result.fields, dict) and isinstance(result.tables, dict)
    assert set(result.fields) <= set(adapter.config.fields), "fields the document does not declare"
    for name, value in result.fields.items():
        assert value is None or isinstance(value, str), f"field {name}: {type(value).__name__}"
    assert set(result.tables) <= set(adapter.config.tables)
    for name, rows in result.tables.items():
        assert isinstance(rows, list), f"table {name} is not a list"
        for row in rows:
            assert isinstance(row, dict) and all(isinstance(k, str) for k in row)
            assert all(v is None or isinstance(v, str) for v in row.values()), f"table {name}: {row}"
    if result.status is Status.OK:
        assert result.error is None
    else:
        assert isinstance(result.error, str) and result.error.strip(), "a failure needs a message"
        assert len(result.error) <= 300 and "\n" not in result.error and "Traceback" not in result.error
        assert not result.fields and not result.tables, "a failed lookup carries no data"
    assert result.raw_excerpt is None or (
        isinstance(result.raw_excerpt, str) and len(result.raw_excerpt) <= RAW_EXCERPT_CHARS
    )
    json.dumps(result.to_dict(include_raw=True))
    assert "raw_excerpt" not in result.to_dict()
    return result


class Nowhere:
    """The "refused" scenario: a port nobody listens on."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.session = "none"

    def stop(self) -> None:
        pass


def install_login(server: ContractHttpServer) -> None:
    """``POST /login`` with the contract credentials sets the session cookie and counts the login."""
    respond = server.state.responder

    def with_login(seen: Seen) -> Delivery:
        if seen.method == "POST" and seen.path.split("?", 1)[0] == LOGIN_PATH:
            body = seen.body.decode("utf-8", "replace")
            if all(value in body for value in CREDENTIALS):
                server.logins += 1
                return Delivery(
                    b"<html><body>Welcome</body></html>",
                    content_type="text/html; charset=utf-8",
                    headers={"Set-Cookie": f"{SESSION_COOKIE}={server.session}; Path=/"},
                )
        return respond(seen)

    server.state.responder = with_login


def open_fds() -> int | None:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:  # not Linux: the thread check still runs
        return None
