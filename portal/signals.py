"""Stopping long-running commands (``portal serve``, ``monitor``, ``demo``, ``backoffice``) cleanly."""

from __future__ import annotations

import signal


def interrupt_on_sigterm() -> None:
    """Stop on SIGTERM (service managers, CI) as cleanly as on Ctrl+C: raise KeyboardInterrupt."""

    def interrupt(_signum, _frame) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
