"""The simulated back office: twelve systems on loopback, with switches for tests and demos.

::

    with BackOffice(latency={"boss": 0.2}) as office:   # every port bound, or an error naming the port
        office.hang("rbt")              # rbt accepts requests and never answers
        office.stop_system("mail")      # mail refuses connections (portal status: unavailable)
        office.inject("vas", "http_error", times=2, status=502)   # vas's next two answers: HTTP 502
        office.inject("boss", "hang", number="13800000000")       # only requests about that customer
        office.clear_faults()           # (or office.clear_faults("boss"))
        office.reset()                  # all up, default latency, no hangs, no faults

Faults (:data:`FAULTS`, what each looks like per protocol: :mod:`portal.demo.faults`)
can also be injected from another process through the control endpoint on
127.0.0.1:8200 (:mod:`portal.demo.control`), which a whole back office serves
alongside its systems.

Each :class:`SimulatedSystem` owns a :class:`~portal.demo.servers.Control`
(latency and hang, applied inside the handlers before every answer of the
system: data, WSDL, login and screens alike, as a slow machine would) and one or
two listeners: HTTP systems serve data and screen on one port, socket systems
serve raw TCP on ``port`` and their screen on ``ui_port``.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any, Callable, Iterable, Mapping
from urllib.parse import quote

from portal.demo import html_systems, soap_systems, ui, xml_systems
from portal.demo.catalogue import SYSTEM_IDS, SystemSpec, get_spec
from portal.demo.control import CONTROL_HOST, CONTROL_PORT, control_app
from portal.demo.faults import FAULTS, FaultBook, make_fault
from portal.demo.servers import BindFailed, Control, Listener, http_listener, tcp_listener
from portal.demo.socket_systems import HANDLERS

__all__ = ["BackOffice", "BackOfficeError", "CONTROL_PORT", "ControlEndpoint", "DEMO_CREDENTIALS", "FAULTS",
           "SimulatedSystem"]

#: Service accounts of the systems that need a login; ``portal demo`` exports them as
#: ``PORTAL_CRED_<ID>_USERNAME`` / ``PORTAL_CRED_<ID>_PASSWORD`` for the adapters.
DEMO_CREDENTIALS: dict[str, tuple[str, str]] = {
    "complaints": (html_systems.COMPLAINTS_USERNAME, html_systems.COMPLAINTS_PASSWORD),
}

#: stop() must finish quickly even with hanging requests; threads get this long to end.
STOP_BUDGET_S = 1.5

_APP_BUILDERS: dict[str, Callable[[SystemSpec, str], Any]] = {
    "soap": soap_systems.build_app,
    "xml": xml_systems.build_app,
    "html": html_systems.build_app,
}


class BackOfficeError(RuntimeError):
    """A simulated system could not start (its port is taken, usually)."""

    def __init__(self, system_id: str, port: int, reason: str) -> None:
        self.system_id = system_id
        self.port = port
        self.reason = reason
        super().__init__(f"simulated system {system_id!r} cannot listen on port {port}: {reason}")


class SimulatedSystem:
    """One running (or stopped) simulated system."""

    def __init__(self, spec: SystemSpec, host: str, latency: float) -> None:
        self.spec = spec
        self.id = spec.id
        self.name = spec.name
        self.protocol = spec.protocol
        self.host = host
        self.port = spec.port
        self.ui_port = spec.ui_port
        self.base_url = f"http://{host}:{spec.port}"
        self.default_latency = latency
        self.control = Control(latency)
        self.faults = FaultBook(spec, self.control)  # kept across stop_system/start_system, like latency
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<SimulatedSystem {self.id} {self.protocol} {self.host}:{self.port} {state}>"

    @property
    def running(self) -> bool:
        return bool(self._listeners)

    def ui_url(self, number: str) -> str:
        """This system's own screen for one customer (the quick-channel target)."""
        return f"http://{self.host}:{self.ui_port}/ui/customer/{quote(number, safe='')}"

    def start(self) -> None:
        """Bind the port(s) and serve; a no-op when running. :class:`BackOfficeError` if a port is taken."""
        with self._lock:
            if self._listeners:
                return
            self.control.open()
            started: list[Listener] = []
            port = self.port
            try:
                if self.protocol == "socket":
                    started.append(tcp_listener(self.host, port, HANDLERS[self.id], self.control, self.faults))
                    port = self.ui_port
                    started.append(http_listener(self.host, port, ui.screen_app(self.spec), self.control))
                else:
                    app = _APP_BUILDERS[self.protocol](self.spec, self.host)
                    started.append(http_listener(self.host, port, app, self.control, self.faults))
            except BindFailed as exc:
                self.control.close()
                deadline = time.monotonic() + STOP_BUDGET_S
                for listener in started:
                    listener.stop(deadline)
                raise BackOfficeError(self.id, port, exc.reason) from exc
            self._listeners = started

    def stop(self, deadline: float | None = None) -> None:
        """Close the listening socket(s) and every connection; hung requests are dropped."""
        with self._lock:
            listeners, self._listeners = self._listeners, []
            self.control.close()  # wakes hung and sleeping handlers first, so the joins below are quick
            deadline = time.monotonic() + STOP_BUDGET_S if deadline is None else deadline
            for listener in listeners:
                listener.stop(deadline)


class ControlEndpoint:
    """The fault-control endpoint's listener, started and stopped like a system (always on loopback)."""

    id = "control"

    def __init__(self, office: BackOffice, port: int) -> None:
        self.port = port
        self.url = f"http://{CONTROL_HOST}:{port}/faults"
        self._office = office
        self._control = Control()  # no latency, no hang: the endpoint must answer while systems hang
        self._listener: Listener | None = None

    @property
    def running(self) -> bool:
        return self._listener is not None

    def start(self) -> None:
        if self._listener is None:
            self._control.open()
            try:
                self._listener = http_listener(CONTROL_HOST, self.port, control_app(self._office), self._control)
            except BindFailed as exc:
                self._control.close()
                raise BackOfficeError(self.id, self.port, exc.reason) from exc

    def stop(self, deadline: float | None = None) -> None:
        listener, self._listener = self._listener, None
        self._control.close()
        if listener is not None:
            listener.stop(time.monotonic() + STOP_BUDGET_S if deadline is None else deadline)


class BackOffice:
    """The twelve simulated systems (or the chosen ``systems``), started and stopped together.

    ``control`` serves the fault-control endpoint on 127.0.0.1:``control_port``;
    by default a whole back office does and a chosen few systems do not (so a
    test can run a second, partial back office beside the whole one).
    """

    def __init__(self, host: str = "127.0.0.1", latency: float | Mapping[str, float] | None = None,
                 systems: Iterable[str] | None = None, control: bool | None = None,
                 control_port: int = CONTROL_PORT) -> None:
        wanted = set(SYSTEM_IDS if systems is None else systems)
        unknown = wanted - set(SYSTEM_IDS)
        if unknown:
            raise ValueError(f"unknown simulated system(s): {', '.join(sorted(unknown))}")
        if isinstance(latency, Mapping) and set(latency) - set(SYSTEM_IDS):
            raise ValueError(f"latency for unknown system(s): {', '.join(sorted(set(latency) - set(SYSTEM_IDS)))}")
        self.host = host
        self.systems: dict[str, SimulatedSystem] = {
            system_id: SimulatedSystem(get_spec(system_id), host, _latency_of(latency, system_id))
            for system_id in SYSTEM_IDS if system_id in wanted  # catalogue order
        }
        serve_control = systems is None if control is None else control
        self.control_endpoint = ControlEndpoint(self, control_port) if serve_control else None

    def __enter__(self) -> BackOffice:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return any(system.running for system in self.systems.values())

    @property
    def control_url(self) -> str | None:
        """``http://127.0.0.1:8200/faults``, or None when this back office serves no control endpoint."""
        return self.control_endpoint.url if self.control_endpoint else None

    def start(self) -> BackOffice:
        """Start every system (and the control endpoint) not running yet; on a taken port undo and raise."""
        started: list[SimulatedSystem | ControlEndpoint] = []
        endpoint = [self.control_endpoint] if self.control_endpoint else []
        for system in [*self.systems.values(), *endpoint]:
            if system.running:
                continue
            try:
                system.start()
            except BackOfficeError:
                _stop_together(started)
                raise
            started.append(system)
        return self

    def stop(self) -> None:
        """Everything down, hangs released, faults cleared, threads joined; well under two seconds."""
        endpoint = [self.control_endpoint] if self.control_endpoint else []
        _stop_together([*self.systems.values(), *endpoint])  # hung requests are dropped, not answered
        for system in self.systems.values():
            system.control.set_hang(False)
            system.faults.clear()

    def stop_system(self, system_id: str) -> None:
        """Close the system's port(s): new connections are refused until :meth:`start_system`."""
        self._system(system_id).stop()

    def start_system(self, system_id: str) -> None:
        """Bring a stopped system back on the same port(s)."""
        self._system(system_id).start()

    def set_latency(self, system_id: str, seconds: float) -> None:
        """Add ``seconds`` before every answer of the system (0 for none)."""
        self._system(system_id).control.latency = _checked_latency(seconds)

    def hang(self, system_id: str, on: bool = True) -> None:
        """While on, the system accepts connections and requests but never answers."""
        self._system(system_id).control.set_hang(on)

    def reset(self) -> None:
        """All systems running, configured default latency, no hangs, no faults."""
        for system in self.systems.values():
            system.control.set_hang(False)
            system.control.latency = system.default_latency
            system.faults.clear()
        self.start()

    def inject(self, system_id: str, fault: str, *, times: int | None = None, number: str | None = None,
               **params: object) -> None:
        """Make the system's next ``times`` requests (None: all until cleared) hit ``fault``.

        ``number``: only requests about that customer. ``params`` depend on the
        fault (``seconds`` for latency, ``status`` for http_error, ``bytes`` and
        ``declared`` for oversized). Faults of one system apply in the order they
        were injected. ValueError for an unknown fault or a bad parameter.
        """
        system = self._system(system_id)
        system.faults.add(make_fault(fault, times, number, **params))

    def clear_faults(self, system_id: str | None = None) -> None:
        """Remove the faults of one system (or all); requests they hold or delay are released."""
        systems = [self._system(system_id)] if system_id is not None else list(self.systems.values())
        for system in systems:
            system.faults.clear()

    def active_faults(self, system_id: str | None = None) -> list[dict[str, object]]:
        """The faults in force: system, fault, times_left, number, params, served (requests hit so far)."""
        systems = [self._system(system_id)] if system_id is not None else list(self.systems.values())
        return [entry for system in systems for entry in system.faults.describe()]

    def serve_forever(self) -> None:
        """Start (if needed) and block until KeyboardInterrupt, then stop."""
        self.start()
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def _system(self, system_id: str) -> SimulatedSystem:
        try:
            return self.systems[system_id]
        except KeyError:
            raise KeyError(f"no simulated system {system_id!r} in this back office "
                           f"(running: {', '.join(self.systems)})") from None


def _checked_latency(seconds: float) -> float:
    value = float(seconds)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"latency must be a finite number of seconds >= 0, not {seconds!r}")
    return value


def _latency_of(latency: float | Mapping[str, float] | None, system_id: str) -> float:
    if latency is None:
        return 0.0
    if isinstance(latency, Mapping):
        return _checked_latency(latency.get(system_id, 0.0))
    return _checked_latency(latency)


def _stop_together(systems: list[SimulatedSystem | ControlEndpoint]) -> None:
    """Stop systems in parallel: each accept loop takes up to a poll interval to notice."""
    deadline = time.monotonic() + STOP_BUDGET_S
    threads = [threading.Thread(target=s.stop, args=(deadline,), name=f"demo-stop-{s.id}", daemon=True)
               for s in systems if s.running]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()) + 0.2)
