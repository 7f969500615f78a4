"""Checking request templates (``url``, ``params``, ``body``, ``args``, ``request``) when a document loads.

A kind fills exactly one placeholder, ``{customer}`` (:func:`portal.adapters.base.render_key`);
anything else between braces that looks like a placeholder (``{customr}``,
``{boss.account_id}``: that one belongs in the adapter's ``key``) would be sent
to the system as written, for every customer, and nobody would notice until a
lookup went wrong. Braces that are not a placeholder (a JSON request over a
socket: ``{"msisdn": "{customer}"}``) stay allowed.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator

# What render_key fills in (portal.adapters.base); config.py imports this module, not the other way.
CUSTOMER_PLACEHOLDER = "{customer}"
# Something an owner meant as a placeholder: a name (dots and dashes allowed) between braces.
_LOOKS_LIKE_PLACEHOLDER = re.compile(r"\{\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*\}")


def check_template(template: str) -> str:
    """``template`` unchanged, or :class:`ValueError` naming the first placeholder that is not ``{customer}``."""
    for match in _LOOKS_LIKE_PLACEHOLDER.finditer(template):
        name = match.group(1)
        if match.group(0) != CUSTOMER_PLACEHOLDER:
            hint = (
                f"; an other adapter's field goes in the adapter's key (key = \"{{{name}}}\"), "
                "which this template then sees as {customer}"
                if "." in name
                else ""
            )
            raise ValueError(f"unknown placeholder {match.group(0)}: only {{customer}} is filled in{hint}")
    return template


#: A string option that is a request template: ``params: dict[str, Template]`` names ``params.<name>`` in errors.
Template = Annotated[str, AfterValidator(check_template)]
