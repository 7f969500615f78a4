"""``portal demo``: the whole product on one machine with no configuration at all.

Creates the data folder and database, starts the simulated back office and the
portal on loopback, and creates one demo operator per role, printing their
passwords the first time only. A second start reuses everything.

The back office takes the README's fixed ports when it can, else (another demo
runs, or ``--free-ports``) ports the kernel picks; either way the demo's adapters
are rendered into ``<data_dir>/adapters`` for the ports it got, and adapters may
reach exactly those ports on loopback.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from portal.signals import interrupt_on_sigterm

if TYPE_CHECKING:
    from portal.demo.backoffice import BackOffice

DEMO_USERS = [  # username, role, display name, teams
    ("agent", "agent", "Demo Agent", []),
    ("supervisor", "supervisor", "Demo Supervisor", []),
    ("admin", "admin", "Demo Admin", []),
    ("auditor", "auditor", "Demo Auditor", []),
    ("owner", "system_owner", "Demo System Owner", ["marketing-team", "customer-care-team"]),
]


@click.command("demo")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address the portal listens on.")
@click.option("--port", default=5000, show_default=True, type=int, help="Port the portal listens on.")
@click.option("--backoffice/--no-backoffice", default=True, show_default=True,
              help="Start the simulated back office (off: use one already running, e.g. `portal backoffice`).")
@click.option("--free-ports", is_flag=True,
              help="Put the simulated systems on free ports, not 8201-8212 (done anyway when one of those is taken).")
@click.option("--reset-passwords", is_flag=True, help="Give the demo users new passwords and print them.")
def demo_command(host: str, port: int, backoffice: bool, free_ports: bool, reset_passwords: bool) -> None:
    """Run the portal and the simulated back office on this machine until interrupted."""
    from waitress.server import create_server

    from portal import create_app, migrate
    from portal.config import load_settings
    from portal.db import get_database
    from portal.demo.adapter_files import write_adapters
    from portal.demo.backoffice import DEMO_CREDENTIALS
    from portal.demo.catalogue import Addresses
    from portal.errors import PortalError

    # The simulated systems accept hand-offs from this portal only (and show visitors their login page).
    os.environ.setdefault("PORTAL_DEMO_PORTAL_URL", f"http://{host}:{port}")
    for system_id, (username, password) in DEMO_CREDENTIALS.items():
        os.environ.setdefault(f"PORTAL_CRED_{system_id.upper()}_USERNAME", username)
        os.environ.setdefault(f"PORTAL_CRED_{system_id.upper()}_PASSWORD", password)

    # Plain HTTP on loopback: a Secure cookie would never come back.
    overrides = {"session_cookie_secure": False,
                 "serve_addresses": [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]}
    try:
        data_dir = load_settings(overrides).data_dir
    except PortalError as exc:
        raise click.ClickException(exc.detail) from exc
    office = start_backoffice(free_ports) if backoffice else None
    try:
        addresses = office.addresses if office is not None else Addresses.fixed()
        # Adapters for the ports the back office got; they may reach those ports and nothing else on
        # loopback, and never this portal itself.
        overrides.update(adapters_dir=str(write_adapters(addresses, data_dir / "adapters")),
                         egress_allow=addresses.egress_allow())
        try:
            app = create_app(overrides)
        except PortalError as exc:
            raise click.ClickException(exc.detail) from exc
        settings = app.extensions["portal.settings"]
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        with app.app_context():
            engine = get_database().engine
            migrate.upgrade(engine)
            with get_database().session() as session:
                created = ensure_demo_users(session, reset_passwords)
    except BaseException:
        if office is not None:
            office.close()
        raise

    server = create_server(app, host=host, port=port, threads=32, ident="portal")
    monitor = start_monitor(app)
    click.echo(f"Data folder: {Path(settings.data_dir).resolve()}  (database {engine.url.render_as_string()})")
    if office is not None:
        click.echo(f"Simulated back office: {len(office.systems)} systems on 127.0.0.1 ports "
                   f"{addresses.egress_allow()[0]['ports']}"
                   + (f"; fault injection at {office.control_url}" if office.control_url else ""))
    where = "these ports" if office is not None else "the fixed ports of `portal backoffice`"
    click.echo(f"Adapters: {settings.adapters_dir} (rendered for {where})")
    if created:
        click.echo("Demo users (passwords are shown only now; `portal demo --reset-passwords` makes new ones):")
        for username, role, password in created:
            click.echo(f"  {username:10} role {role:13} password {password}")
    else:
        click.echo("Demo users agent, supervisor, admin, auditor, owner already exist (passwords were shown at first start).")
    click.echo(f"Monitor: running in this process ({monitor.lease.description}); system health at "
               f"http://{host}:{port}/monitor")
    click.echo(f"Portal: http://{host}:{port}/   Try customer 13800000000.  Press Ctrl+C to stop.")
    sys.stdout.flush()
    interrupt_on_sigterm()
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        monitor.stop()  # before the back office goes, so its last probes do not see systems vanish
        if office is not None:
            office.close()
        click.echo("stopped")


def start_backoffice(free_ports: bool) -> BackOffice:
    """The back office on the README's fixed ports, or on free ones when asked or when one is taken."""
    from portal.demo.backoffice import BackOffice, BackOfficeError

    if not free_ports:
        try:
            return BackOffice(ports="fixed").start()
        except BackOfficeError as exc:
            # Another `portal demo` or `portal backoffice` most likely; this one need not fail for it.
            click.echo(f"Port {exc.port} is taken (another `portal demo` or `portal backoffice`?): "
                       "the simulated systems take free ports instead.")
    try:
        return BackOffice(ports="free").start()
    except BackOfficeError as exc:
        raise click.ClickException(str(exc)) from exc


def start_monitor(app):
    """The health monitor in a thread beside the portal (one per database acts: it takes the lease)."""
    from portal.monitor.runner import Monitor

    monitor = Monitor.from_app(app)
    monitor.start_thread()
    return monitor


def ensure_demo_users(session, reset_passwords: bool = False) -> list[tuple[str, str, str]]:
    """Create missing demo users (or reset their passwords); returns (username, role, password) made now."""
    from portal.accounts.passwords import passwords_for
    from portal.accounts.service import create_user, find_user
    from portal.audit.record import Actor, Event, record

    made = []
    for username, role, display_name, teams in DEMO_USERS:
        password = secrets.token_urlsafe(12)
        user = find_user(session, username)
        if user is None:
            create_user(session, username, password, [role], display_name, teams)
            record(session, Actor("demo"), Event(action="user.create", target=username, details={"roles": [role]}))
        elif reset_passwords:
            user.password_hash = passwords_for(session).hash(password)
            record(session, Actor("demo"), Event(action="user.password_reset", target=username))
        else:
            continue
        made.append((username, role, password))
    session.commit()
    return made
