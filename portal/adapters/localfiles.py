"""Local files named by adapter documents (the xml kind's ``xsd``, the soap kind's ``wsdl``).

An adapter document is untrusted input, and a path in it is read with the
portal's own rights. So, under the portal's guarded boundary
(:mod:`portal.adapters.boundary`):

* only **file-based** adapters (deployed by admins into the configuration
  folder) may name a file; a registered (database) adapter gives an http(s) URL
  or uploads the document's content with its version (``xsd_content``,
  ``wsdl_content``);
* the file must stay inside ``boundary.config_dir`` once symlinks and ``..``
  are resolved;

and whatever the boundary, a file is read only when it is a regular file (not
``/dev/zero``, a FIFO or a directory) and never beyond its size limit: at most
``max_bytes + 1`` bytes are read, so an endless file costs nothing.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from portal.adapters.base import current_source_dir
from portal.adapters.boundary import current_boundary
from portal.errors import ConfigError


@dataclass(frozen=True)
class OwnerDocument:
    """What a path-like key named, read: the resolved file and its bytes."""

    path: Path
    content: bytes


def is_url(value: str) -> bool:
    """An http(s) URL (fetched through the egress policy) rather than a local path."""
    return value.startswith(("http://", "https://"))


def read_owner_file(value: str, *, source: str, key: str, content_key: str, what: str, max_bytes: int) -> OwnerDocument:
    """Read the file ``value`` named by key ``key`` of the adapter being built, within the rules above.

    ``content_key`` and ``what`` only make the refusal helpful: "upload the
    schema as xsd_content". Every refusal is a :class:`ConfigError` naming ``key``.
    """
    boundary = current_boundary()
    base = current_source_dir()
    if base is None and boundary.guarded:
        raise ConfigError(source, key, "a registered adapter may not name a local file; give an http(s) URL or "
                          f"upload the {what} as {content_key}")
    path = Path(value)
    if not path.is_absolute():
        if base is None:
            raise ConfigError(
                source, key, "a relative path needs an adapter file to be relative to; use an absolute path or a URL"
            )
        path = base / path
    resolved = Path(os.path.realpath(path))  # symlinks and ".." resolved before the folder is compared
    if boundary.config_dir is not None:
        folder = Path(os.path.realpath(boundary.config_dir))
        if not resolved.is_relative_to(folder):
            raise ConfigError(source, key, f"{value} is outside the configuration folder ({folder})")
    return OwnerDocument(resolved, _read_regular_file(resolved, source=source, key=key, max_bytes=max_bytes))


def _read_regular_file(path: Path, *, source: str, key: str, max_bytes: int) -> bytes:
    # O_NONBLOCK: opening a FIFO must not wait for a writer; the type is checked on the open
    # descriptor (fstat), so a file swapped for a device after the check is still refused.
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise ConfigError(source, key, f"{path} cannot be read: {exc.strerror or exc}") from exc
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise ConfigError(source, key, f"{path} is not a regular file")
        chunks: list[bytes] = []
        left = max_bytes + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 16))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    except OSError as exc:
        raise ConfigError(source, key, f"{path} cannot be read: {exc.strerror or exc}") from exc
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > max_bytes:
        raise ConfigError(source, key, f"{path} is larger than {max_bytes} bytes")
    return data
