"""Each system's own screen for one customer: ``GET /ui/customer/<number>``.

This is where the portal's quick channels (deep links) land. Every system has
its own colours and banner, so an agent sees they have left the portal, and the
page is titled with the system's name. HTTP systems serve it on their own
port; socket systems on their UI port (port + 100), through :func:`screen_app`.

The demo screens are open (no login of their own): the adapters use
``sso = "none"``. A real deployment would accept the portal's hand-off token.
An unknown customer is a 404 page with ``<div id="not-found">``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from werkzeug.wrappers import Request, Response

from portal.demo import data
from portal.demo.catalogue import SystemSpec
from portal.demo.web import App, h, html_response, page

#: system id -> (accent colour, product banner): each back office looks like itself.
LOOKS: dict[str, tuple[str, str]] = {
    "boss": ("#0b3d91", "BOSS 3.2 · Customer 360"),
    "payments": ("#00695c", "PayHub · Payments"),
    "roaming": ("#6a1b9a", "Roam Manager"),
    "vas": ("#ef6c00", "VAS Console"),
    "portability": ("#37474f", "MNP Clearing House"),
    "wap": ("#1565c0", "WAP Gateway Admin"),
    "loyalty": ("#9e7c0c", "Points Club"),
    "complaints": ("#b71c1c", "Ticket Desk"),
    "rbt": ("#ad1457", "彩铃平台 · Ring-back tones"),
    "smsc": ("#2e7d32", "SMSC Operator Console"),
    "mms": ("#4527a0", "MMSC Console"),
    "mail": ("#455a64", "Mail Administration"),
}

#: The ring-back tone platform is a GBK system, screens included.
CHARSETS: dict[str, str] = {"rbt": "GBK"}


@dataclass
class Screen:
    """What a system shows about one customer: labelled values and captioned tables."""

    fields: list[tuple[str, Any]] = field(default_factory=list)
    tables: list[tuple[str, list[str], list[list[Any]]]] = field(default_factory=list)


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _boss(s: Any) -> Screen:
    return Screen([("Name", s.name), ("ID number", s.id_number), ("Account", s.account_id),
                   ("Status", s.status), ("Plan", s.plan_name), ("Monthly fee", s.monthly_fee),
                   ("Balance", s.balance), ("Credit limit", s.credit_limit)],
                  [("Bills", ["Month", "Amount", "Paid"], [[b.month, b.amount, _yes(b.paid)] for b in s.bills])])


def _payments(p: Any) -> Screen:
    return Screen([("Last top-up", p.last_top_up), ("Auto top-up", _yes(p.auto_top_up))],
                  [("Payments", ["Date", "Amount", "Channel"],
                    [[x.date, x.amount, x.channel] for x in p.payments])])


def _roaming(r: Any) -> Screen:
    return Screen([("Roaming", "enabled" if r.enabled else "disabled"), ("Zone", r.zone),
                   ("Current country", r.current_country), ("Daily cap", r.daily_cap)])


def _vas(v: Any) -> Screen:
    return Screen([("Name", v.name), ("Subscriptions", len(v.subscriptions))],
                  [("Subscriptions", ["Service", "Code", "Since", "Monthly fee"],
                    [[x.service, x.code, x.since, x.fee] for x in v.subscriptions])])


def _portability(p: Any) -> Screen:
    return Screen([("Status", p.status), ("Donor operator", p.donor_operator or "-"),
                   ("Recipient operator", p.recipient_operator or "-"), ("Port date", p.port_date or "-")])


def _wap(w: Any) -> Screen:
    return Screen([("APN", w.apn), ("Data", "enabled" if w.data_enabled else "disabled"),
                   ("Last session", w.last_session), ("Usage this month (MB)", w.usage_mb)])


def _loyalty(a: Any) -> Screen:
    return Screen([("Member", a.name), ("Tier", a.tier), ("Points", a.points), ("Expiring", a.expiring)],
                  [("Point transactions", ["Date", "Description", "Points"],
                    [[t.date, t.description, t.points] for t in a.transactions])])


def _complaints(c: Any) -> Screen:
    return Screen([("Customer", c.name), ("Tickets", len(c.tickets))],
                  [("Tickets", ["Ticket", "Opened", "Category", "State"],
                    [[t.id, t.opened, t.category, t.state] for t in c.tickets])])


def _rbt(r: Any) -> Screen:
    return Screen([("用户 Subscriber", r.name), ("当前彩铃 Current tone", f"{r.current.title} — {r.current.artist}")],
                  [("彩铃库 Library", ["Title", "Artist", "Price", "Expires"],
                    [[t.title, t.artist, t.price, t.expires] for t in r.library])])


def _smsc(s: Any) -> Screen:
    return Screen([("Sent", s.sent), ("Received", s.received), ("Barred", _yes(s.barred))],
                  [("SMS history", ["Time", "Direction", "Peer", "Status", "Length"],
                    [[m.time, m.direction, m.peer, m.status, m.length] for m in s.history])])


def _mms(m: Any) -> Screen:
    return Screen([("Name", m.name), ("Sent", m.sent), ("Received", m.received),
                   ("Last subject", m.last_subject), ("Storage (KB)", m.storage_kb), ("Status", m.status)])


def _mail(m: Any) -> Screen:
    return Screen([("Mailbox", m.address), ("Quota (MB)", m.quota_mb), ("Used (MB)", m.used_mb),
                   ("Status", m.status)])


_SCREENS: dict[str, Callable[[Any], Screen]] = {
    "boss": _boss, "payments": _payments, "roaming": _roaming, "vas": _vas,
    "portability": _portability, "wap": _wap, "loyalty": _loyalty, "complaints": _complaints,
    "rbt": _rbt, "smsc": _smsc, "mms": _mms, "mail": _mail,
}


def screen(system_id: str, number: str) -> Screen | None:
    """What ``system_id`` shows for ``number``; ``None`` when it does not know them."""
    record = data.record(system_id, number)
    return None if record is None else _SCREENS[system_id](record)


def render(spec: SystemSpec, number: str, operator: str | None = None) -> tuple[str, int]:
    """The screen page for ``number`` and its HTTP status (404 for an unknown customer)."""
    colour, banner = LOOKS[spec.id]
    shown = screen(spec.id, number)
    if shown is None:
        main = f'<div id="not-found">{h(spec.name)} has no customer {h(number)}.</div>'
        status = 404
    else:
        items = "".join(f"<dt>{h(label)}</dt><dd>{h(value)}</dd>" for label, value in shown.fields)
        main = f'<dl id="fields">{items}</dl>'
        for caption, headers, rows in shown.tables:
            head = "".join(f"<th>{h(x)}</th>" for x in headers)
            body = "".join("<tr>" + "".join(f"<td>{h(v)}</td>" for v in row) + "</tr>" for row in rows)
            main += f"<table><caption>{h(caption)}</caption><tr>{head}</tr>{body}</table>"
        status = 200
    style = (f"body{{font-family:sans-serif;margin:0}}header{{background:{colour};color:#fff;padding:.6em 1em}}"
             f"header .banner{{font-size:.8em;opacity:.85}}main{{padding:1em}}dt{{font-weight:bold}}"
             f"table{{border-collapse:collapse;margin-top:1em}}td,th{{border:1px solid #ccc;padding:.2em .6em}}"
             f"caption{{text-align:left;font-weight:bold;color:{colour}}}footer{{color:#888;padding:1em}}")
    signed_in = (f'<div class="banner">Signed in as <span id="operator">{h(operator)}</span></div>'
                 if operator else "")
    body = (f'<header><div class="banner">{h(banner)}</div><h1 id="system">{h(spec.name)}</h1>{signed_in}</header>\n'
            f'<main><h2>Customer <span id="customer">{h(number)}</span></h2>\n{main}</main>\n'
            f"<footer>Simulated back-office system “{h(spec.id)}” · DemoTel</footer>")
    return page(f"{spec.name} — customer {number}", body, CHARSETS.get(spec.id, "utf-8"), style), status


def add_screen_route(app: App, spec: SystemSpec) -> None:
    """Serve ``/ui/customer/<number>`` from ``app``, and ``/sso`` where the portal's hand-offs land.

    A system joined to a portal (:mod:`portal.demo.sso_receiver`) shows the screen to
    signed-in operators only; others get its login page.
    """
    from portal.demo.sso_receiver import receiver_for

    receiver = receiver_for(spec)

    @app.route("/ui/customer/<path:number>")
    def customer_screen(request: Request, number: str) -> Response:
        operator = receiver.operator(request)
        if receiver.joined and operator is None:
            return receiver.refuse(request)
        text, status = render(spec, number, operator)
        return html_response(text, status, CHARSETS.get(spec.id, "utf-8"))

    @app.route("/sso", methods=("GET", "POST"))
    def sso(request: Request) -> Response:
        return receiver.handle_sso(request)


def screen_app(spec: SystemSpec) -> App:
    """The HTTP UI of a socket system (its data port speaks raw TCP)."""
    app = App(f"{spec.name} UI")
    add_screen_route(app, spec)
    return app
