"""Owner-supplied regular expressions: compiled once, run within a time budget.

A pattern in an adapter document is untrusted input. With Python's ``re`` a
catastrophic one (``(a|aa)+$`` against a long answer) holds the interpreter
for as long as it likes: the adapter's own timeout cannot interrupt it, and
every other request of the process (``/healthz`` included) waits for the GIL.

So every such pattern is compiled with the ``regex`` library when the adapter
is built (a syntax error is a :class:`ConfigError` naming the key) and matched
with

* ``timeout=``: the boundary's ``regex_budget_s``
  (:attr:`portal.adapters.boundary.Boundary.regex_budget_s`), and never beyond
  what is left of the lookup's deadline;
* ``concurrent=True``: the GIL is released while matching, so other threads run.

Running out of budget costs only this adapter's panel: a
:class:`BackendProtocolError` ("pattern took longer than 0.25 s; the adapter's
regular expression is too costly"), or a :class:`BackendTimeout` when it was the
lookup's deadline that ran out first.
"""

from __future__ import annotations

from collections.abc import Mapping

import regex

from portal.adapters.base import LookupContext, format_seconds
from portal.adapters.boundary import DEFAULT_REGEX_BUDGET_S
from portal.errors import BackendProtocolError, BackendTimeout, ConfigError


def check_pattern(value: str | None) -> str | None:
    """A pydantic validator: ``value`` unchanged when it compiles, else :class:`ValueError` saying why."""
    if value is not None:
        try:
            regex.compile(value)
        except (regex.error, ValueError, TypeError) as exc:
            raise ValueError(f"invalid regular expression: {exc}") from None
    return value


class BoundedPattern:
    """One compiled owner pattern; ``key`` (``pattern``, ``tables.sms.path``) names it in messages."""

    def __init__(self, pattern: str, *, source: str, key: str, budget_s: float = DEFAULT_REGEX_BUDGET_S) -> None:
        try:
            self._compiled = regex.compile(pattern)
        except (regex.error, ValueError, TypeError) as exc:
            raise ConfigError(source, key, f"invalid regular expression: {exc}") from exc
        self.key = key
        self.budget_s = budget_s

    @property
    def groupindex(self) -> Mapping[str, int]:
        return self._compiled.groupindex

    def search(self, text: str, context: LookupContext) -> regex.Match[str] | None:
        """The first match in ``text``, within the budget."""
        timeout = self._timeout(context)
        try:
            return self._compiled.search(text, timeout=timeout, concurrent=True)
        except TimeoutError:
            raise self._too_slow(timeout, context) from None

    def finditer(self, text: str, context: LookupContext) -> list[regex.Match[str]]:
        """Every match in ``text``; the budget covers the whole scan, not each match."""
        timeout = self._timeout(context)
        try:
            return list(self._compiled.finditer(text, timeout=timeout, concurrent=True))
        except TimeoutError:
            raise self._too_slow(timeout, context) from None

    def _timeout(self, context: LookupContext) -> float:
        return min(self.budget_s, context.remaining())  # remaining() raises once the deadline has passed

    def _too_slow(self, timeout: float, context: LookupContext) -> Exception:
        if timeout < self.budget_s:  # the lookup's deadline, not the pattern's budget, ran out
            return BackendTimeout(
                f"{context.timeout_message()}: {self.key} was still matching; the adapter's regular expression "
                "is too costly"
            )
        return BackendProtocolError(
            f"{self.key} took longer than {format_seconds(self.budget_s)} s; "
            "the adapter's regular expression is too costly"
        )
