"""Production serving: one waitress process, or several gunicorn worker processes.

Why several processes: a lookup spends about 8 ms of Python CPU per twelve systems
(HTTP, XML and SOAP parsing), and one CPython process runs Python on one core at
a time. Twenty agents looking up at once saturate one process; worker processes
(each with its own adapters, connection pools and breakers, sharing the database
and Redis like separate instances behind a load balancer) spread them over the
cores. See ``bench/lookup_concurrency.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

AppFactory = Callable[[], Flask]


def serve(factory: AppFactory, *, host: str, port: int, workers: int, threads: int) -> None:
    """Serve until interrupted. ``workers == 1``: waitress in this process; more: gunicorn's gthread workers."""
    if workers <= 1:
        from waitress import serve as waitress_serve

        from portal.signals import interrupt_on_sigterm

        app = factory()
        interrupt_on_sigterm()  # a service manager's stop is as clean as Ctrl+C
        try:
            waitress_serve(app, host=host, port=port, threads=threads, ident="portal")
        except KeyboardInterrupt:
            pass
        return
    _GunicornApplication(factory, {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread",
        # Each worker builds its own app after the fork: its own pools, threads and breakers.
        "preload_app": False,
        # A lookup never takes longer than its deadline; a worker silent this long is stuck.
        "timeout": 60,
        "graceful_timeout": 20,
        "proc_name": "portal",
        "errorlog": "-",
    }).run()


class _GunicornApplication(BaseApplication):
    """Gunicorn's documented embedding: options set in code, the app built in each worker."""

    def __init__(self, factory: AppFactory, options: dict[str, Any]) -> None:
        self._factory = factory
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self._factory()
