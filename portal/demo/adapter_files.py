"""The twelve demo adapter files, rendered for wherever the simulated back office listens.

The adapters are templates (``portal/demo/adapters/<id>.toml``) in which
``${host}``, ``${port}`` and ``${ui_port}`` stand for the system's address, data
port and screen port. :func:`write_adapters` renders them for a back office's
:class:`~portal.demo.catalogue.Addresses`:

* ``portal demo`` into ``<data_dir>/adapters``, for the ports it got;
* the tests into a temporary folder, for the session's back office on free ports;
* ``config/adapters/`` is the rendering at the fixed ports, checked in (for
  ``portal serve`` beside ``portal backoffice``, the benchmarks and the docs);
  ``python -m portal.demo.adapter_files config/adapters`` writes it again after a
  template changed, and a test fails while the two differ.

Only ``${name}`` is a placeholder: a bare ``$`` (regular expressions end with one)
and ``{customer}`` (the adapters' own placeholder) are left alone, and a name
that is not one of the three is an error rather than silently left in a file.
"""

from __future__ import annotations

import string
import sys
from importlib import resources
from pathlib import Path

from portal.demo.catalogue import SYSTEM_IDS, Addresses

TEMPLATES = "adapters"  # the folder of templates inside the portal.demo package


class AdapterTemplate(string.Template):
    """``string.Template`` with ``${name}`` as the only placeholder (never ``$name`` nor ``$$``)."""

    pattern = r"""
        \$(?:
            (?P<escaped>(?!))                          # no escape: a lone $ is kept as it is
          | (?P<named>(?!))                            # no bare $name
          | \{(?P<braced>[_a-z][_a-z0-9]*)\}          # ${name}
          | (?P<invalid>(?!))
        )
    """  # type: ignore[assignment]


def template_text(system_id: str) -> str:
    """The template of one system's adapter."""
    return resources.files("portal.demo").joinpath(TEMPLATES, f"{system_id}.toml").read_text("utf-8")


def render(system_id: str, addresses: Addresses) -> str:
    """One system's adapter file for ``addresses``; KeyError for an unknown placeholder."""
    if ":" in addresses.host:
        # The templates put the host into URLs as it is; an IPv6 address there would need brackets.
        raise ValueError(f"adapter files need an IPv4 address or a host name, not {addresses.host!r}")
    values = {"host": addresses.host, "port": str(addresses.ports[system_id]),
              "ui_port": str(addresses.ui_ports[system_id])}
    return AdapterTemplate(template_text(system_id)).substitute(values)


def write_adapters(addresses: Addresses, folder: Path | str) -> Path:
    """Write ``<folder>/<id>.toml`` for every system of ``addresses`` (replacing older renderings)."""
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    for system_id in SYSTEM_IDS:
        if system_id in addresses.ports:
            path = target / f"{system_id}.toml"
            path.write_text(render(system_id, addresses), "utf-8")
    return target


def main(argv: list[str]) -> int:
    """``python -m portal.demo.adapter_files FOLDER``: the adapters at the fixed ports into FOLDER."""
    if len(argv) != 1:
        print("usage: python -m portal.demo.adapter_files FOLDER   (e.g. config/adapters)", file=sys.stderr)
        return 2
    folder = write_adapters(Addresses.fixed(), argv[0])
    print(f"wrote {len(SYSTEM_IDS)} adapter files for the fixed demo ports into {folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
