"""The exception tree in portal/errors.py's docstring names every PortalError the portal defines, where it lives."""

from __future__ import annotations

import importlib
import pkgutil
import re

import portal
from portal import errors
from portal.errors import PortalError


def every_portal_error() -> list[type[PortalError]]:
    for module in pkgutil.walk_packages(portal.__path__, "portal."):
        if ".migrations" not in module.name:
            importlib.import_module(module.name)
    found, todo = [], [PortalError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def test_the_docstring_tree_lists_every_class_with_its_parent_and_module():
    tree = errors.__doc__.split("::", 1)[1].split("\n\n", 2)[1]
    lines = {m.group(2): (len(m.group(1)), m.group(3)) for m in re.finditer(
        r"^( *(?:[|+ ]-- |\|   |    )*)(\w+) +(.*)$", tree, re.MULTILINE)}
    missing = []
    for cls in every_portal_error():
        if cls.__name__ not in lines:
            missing.append(f"{cls.__name__} ({cls.__module__})")
            continue
        depth, text = lines[cls.__name__]
        if cls is not PortalError:
            parent = cls.__mro__[1].__name__
            assert lines[parent][0] < depth, f"{cls.__name__} is not drawn under {parent}"
        if cls.__module__ != "portal.errors":
            assert text.startswith(cls.__module__.removeprefix("portal.") + ":"), (
                f"{cls.__name__}: name its module ({cls.__module__})")
    assert missing == [], "add to the tree in portal/errors.py: " + ", ".join(missing)
