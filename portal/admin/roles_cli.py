"""`portal roles ...`: list and show roles, grant and revoke permissions, from the command line.

The same engine as the role editor (:mod:`portal.rbac.roles`): validated, audited, and never
leaving the portal without an enabled admin. Granting accepts only registered permissions
(:mod:`portal.rbac.permissions`) so that a typo cannot create a permission nobody checks.
"""

from __future__ import annotations

import json

import click
from flask.cli import with_appcontext

from portal.errors import PortalError


@click.group()
def roles() -> None:
    """Roles: permissions, field grants and content rules."""


@roles.command("list")
@with_appcontext
def roles_list() -> None:
    """Every role with its permissions."""
    from portal.db import get_database
    from portal.rbac import roles as role_admin

    with get_database().session() as session:
        for role in role_admin.list_roles(session):
            marker = " (built-in)" if role.builtin else ""
            click.echo(f"{role.name}{marker}: {', '.join(sorted(role.permissions)) or '-'}")


@roles.command("show")
@click.argument("name")
@with_appcontext
def roles_show(name: str) -> None:
    """One role as JSON: permissions, field grants, content rules."""
    from portal.db import get_database
    from portal.rbac import roles as role_admin

    with get_database().session() as session:
        try:
            document = role_admin.role_document(role_admin.get_role(session, name))
        except PortalError as exc:
            raise click.ClickException(exc.detail) from exc
    click.echo(json.dumps(document, indent=2, ensure_ascii=False))


def _change(name: str, permissions: tuple[str, ...], grant: bool) -> None:
    from portal.audit.record import Actor
    from portal.db import get_database, unit_of_work
    from portal.rbac import permissions as registry
    from portal.rbac import roles as role_admin

    unknown = [p for p in permissions if not registry.is_known(p)]
    if grant and unknown:
        raise click.ClickException(f"unknown permission(s): {', '.join(unknown)}; "
                                   f"known: {', '.join(registry.names())} (or system.<id>.view|open)")
    with unit_of_work(get_database()) as session:
        try:
            role = role_admin.get_role(session, name)
            current = set(role.permissions)
            wanted = current | set(permissions) if grant else current - set(permissions)
            document = role_admin.role_document(role) | {"permissions": sorted(wanted)}
            document.pop("builtin", None)
            role = role_admin.update(session, Actor("cli"), name, document)
        except PortalError as exc:
            raise click.ClickException(exc.detail) from exc
        click.echo(f"{role.name}: {', '.join(sorted(role.permissions)) or '-'}")


@roles.command("grant")
@click.argument("name")
@click.argument("permissions", nargs=-1, required=True)
@with_appcontext
def roles_grant(name: str, permissions: tuple[str, ...]) -> None:
    """Add permissions to a role (audited)."""
    _change(name, permissions, grant=True)


@roles.command("revoke")
@click.argument("name")
@click.argument("permissions", nargs=-1, required=True)
@with_appcontext
def roles_revoke(name: str, permissions: tuple[str, ...]) -> None:
    """Take permissions from a role (audited; refused if it would leave no enabled admin)."""
    _change(name, permissions, grant=False)
