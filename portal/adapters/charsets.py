"""Which charset names an adapter document may use: real text encodings only.

Python's codec registry holds more than charsets: ``base64``, ``zlib``, ``hex``
and ``rot13`` transform bytes or text, ``punycode`` and ``idna`` encode host
names and refuse most bytes even with ``errors="replace"``, ``undefined`` fails
on everything, ``unicode_escape`` rewrites backslashes. Named as a page's or a
socket's charset they do not decode text, they make lookups and the test console
fail in ways nobody chose. So a charset is accepted when it is a text encoding
*and* behaves like one: it encodes a sample request and decodes it back, and it
decodes any bytes at all when asked to replace what it cannot read.
"""

from __future__ import annotations

import codecs
from functools import lru_cache

# Text codecs by Python's flag that still are not charsets of a document or a wire.
_NOT_CHARSETS = frozenset({"punycode", "idna", "undefined", "unicode-escape", "raw-unicode-escape"})
_SAMPLE_TEXT = "<p id='x'>Gold 88 &amp; 12.50</p> msisdn=13800000000|OK\r\n"
_ANY_BYTES = bytes(range(256))


@lru_cache(maxsize=128)  # also asked at lookup time, for charsets a system's headers name
def text_charset(name: str) -> str:
    """Python's name for charset ``name``; :class:`ValueError` saying why it cannot be used."""
    try:
        info = codecs.lookup(name)
    except (LookupError, TypeError, ValueError):
        raise ValueError(f"unknown charset {name!r}") from None
    if not getattr(info, "_is_text_encoding", True) or info.name in _NOT_CHARSETS:
        raise ValueError(f"{name!r} is not a text charset")
    try:
        if _SAMPLE_TEXT.encode(info.name).decode(info.name) != _SAMPLE_TEXT:
            raise ValueError("no round trip")
        _ANY_BYTES.decode(info.name, errors="replace")
    except (UnicodeError, ValueError, TypeError, LookupError):
        raise ValueError(f"{name!r} is not a text charset") from None
    return info.name


def is_text_charset(name: str | None) -> bool:
    """Whether ``name`` passes :func:`text_charset` (``None``: no)."""
    if not name:
        return False
    try:
        text_charset(name)
    except ValueError:
        return False
    return True


def check_charset(value: str | None) -> str | None:
    """A pydantic validator: ``value`` unchanged when it is a usable text charset (or ``None``)."""
    if value is not None:
        text_charset(value)
    return value
