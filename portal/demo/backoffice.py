"""The simulated back office: twelve systems on loopback, with switches for tests and demos.

::

    with BackOffice(latency={"boss": 0.2}) as office:   # every port bound, or an error naming the port
        office.addresses                # where it listens: ports by system, screens, control endpoint
        office.hang("rbt")              # rbt accepts requests and never answers
        office.stop_system("mail")      # mail refuses connections (portal status: unavailable)
        office.inject("vas", "http_error", times=2, status=502)   # vas's next two answers: HTTP 502
        office.inject("boss", "hang", number="13800000000")       # only requests about that customer
        office.clear_faults()           # (or office.clear_faults("boss"))
        office.reset()                  # all up, default latency, no hangs, no faults

Ports: ``BackOffice()`` listens on the README's fixed ports (8201-8212, screens
8310-8312, control 8200); ``BackOffice(ports="free")`` on ports the kernel picks,
so any number of back offices run at once (one per test worker, beside a running
demo). Adapter files for whatever ports it got come from
:mod:`portal.demo.adapter_files`. A system keeps its ports across stops until
:meth:`BackOffice.close` (:mod:`portal.demo.ports`).

Faults (:data:`FAULTS`, what each looks like per protocol: :mod:`portal.demo.faults`)
can also be injected from another process through the control endpoint
(127.0.0.1:8200 on fixed ports; :mod:`portal.demo.control`), which a whole back
office serves alongside its systems.

Each :class:`SimulatedSystem` owns a :class:`~portal.demo.servers.Control`
(latency and hang, applied inside the handlers before every answer of the
system: data, WSDL, login and screens alike, as a slow machine would) and one or
two listeners: HTTP systems serve data and screen on one port, socket systems
serve raw TCP on ``port`` and their screen on ``ui_port``.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal
from urllib.parse import quote

from portal.demo import html_systems, soap_systems, ui, xml_systems
from portal.demo.catalogue import SYSTEM_IDS, Addresses, SystemSpec, get_spec
from portal.demo.control import CONTROL_HOST, CONTROL_PORT, control_app
from portal.demo.faults import FAULTS, FaultBook, make_fault
from portal.demo.ports import PortHold
from portal.demo.servers import BindFailed, Control, Listener, http_listener, tcp_listener
from portal.demo.socket_systems import HANDLERS

__all__ = ["Addresses", "BackOffice", "BackOfficeError", "CONTROL_PORT", "ControlEndpoint", "DEMO_CREDENTIALS",
           "FAULTS", "PortChoice", "SimulatedSystem"]

#: Where the systems listen: ``"fixed"`` (the catalogue's ports), ``"free"`` (ports the kernel
#: picks), or chosen ports by system id (``port``, or ``(port, ui_port)`` for a socket system;
#: 0 or a system left out: a free port).
PortChoice = Literal["fixed", "free"] | Mapping[str, int | tuple[int, int]]

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
    """One running (or stopped) simulated system.

    ``port`` and ``ui_port`` are where it listens: the ports asked for (0: any free
    port) until first started, then the real ones, kept across stops. Once started,
    ``spec`` is the catalogue's entry with these ports (what its WSDL names).
    """

    def __init__(self, spec: SystemSpec, host: str, latency: float, port: int, ui_port: int) -> None:
        self.spec = spec
        self.id = spec.id
        self.name = spec.name
        self.protocol = spec.protocol
        self.host = host
        self.default_latency = latency
        self.control = Control(latency)
        self.faults = FaultBook(spec, self.control)  # kept across stop_system/start_system, like latency
        # A socket system has two listeners (data, screen); an HTTP system one, so one hold.
        self._holds = [PortHold(host, port)] + ([PortHold(host, ui_port)] if spec.protocol == "socket" else [])
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()

    @property
    def port(self) -> int:
        return self._holds[0].port

    @property
    def ui_port(self) -> int:
        return self._holds[-1].port

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<SimulatedSystem {self.id} {self.protocol} {self.host}:{self.port} {state}>"

    @property
    def running(self) -> bool:
        return bool(self._listeners)

    def ui_url(self, number: str) -> str:
        """This system's own screen for one customer (the quick-channel target)."""
        return f"http://{self.host}:{self.ui_port}/ui/customer/{quote(number, safe='')}"

    @property
    def reserved(self) -> bool:
        """Its ports are kept for it (started before, not released since)."""
        return all(hold.kept for hold in self._holds)

    def start(self) -> None:
        """Bind the port(s) and serve; a no-op when running. :class:`BackOfficeError` if a port is taken."""
        with self._lock:
            if self._listeners:
                return
            kept_before = [hold.kept for hold in self._holds]
            self.control.open()
            started: list[Listener] = []
            hold = self._holds[0]
            try:
                for hold in self._holds:
                    hold.reserve()  # first: a free port is known before the pages and WSDL that name it are built
                self.spec = dataclasses.replace(self.spec, port=self.port, ui_port=self.ui_port)
                for hold, serve in zip(self._holds, self._servers(), strict=True):
                    started.append(hold.listen(serve))
            except BindFailed as exc:
                self.control.close()
                deadline = time.monotonic() + STOP_BUDGET_S
                for listener in started:
                    listener.stop(deadline)
                failed = BackOfficeError(self.id, hold.port, exc.reason)
                for each, was_kept in zip(self._holds, kept_before, strict=True):  # ports kept as before this call
                    if was_kept:
                        each.keep()
                    else:
                        each.release()
                raise failed from exc
            self._listeners = started

    def _servers(self) -> list[Callable[[int], Listener]]:
        """What listens on each held port, given the port: data (and screen, for a socket system)."""
        if self.protocol == "socket":
            return [lambda port: tcp_listener(self.host, port, HANDLERS[self.id], self.control, self.faults),
                    lambda port: http_listener(self.host, port, ui.screen_app(self.spec), self.control)]
        app = _APP_BUILDERS[self.protocol](self.spec, self.host)
        return [lambda port: http_listener(self.host, port, app, self.control, self.faults)]

    def stop(self, deadline: float | None = None) -> None:
        """Close the listening socket(s) and every connection; hung requests are dropped. The ports stay held."""
        with self._lock:
            listeners, self._listeners = self._listeners, []
            self.control.close()  # wakes hung and sleeping handlers first, so the joins below are quick
            deadline = time.monotonic() + STOP_BUDGET_S if deadline is None else deadline
            for listener in listeners:
                listener.stop(deadline)
            for hold in self._holds:
                hold.keep()

    def release(self) -> None:
        """Stop, then give the ports back; a later start asks for the same port numbers again."""
        self.stop()
        with self._lock:
            for hold in self._holds:
                hold.release()


class ControlEndpoint:
    """The fault-control endpoint's listener, started and stopped like a system (always on loopback)."""

    id = "control"

    def __init__(self, office: BackOffice, port: int) -> None:
        self._hold = PortHold(CONTROL_HOST, port)
        self._office = office
        self._control = Control()  # no latency, no hang: the endpoint must answer while systems hang
        self._listener: Listener | None = None

    @property
    def port(self) -> int:
        """The port asked for (0: a free one) until started, then the real one."""
        return self._hold.port

    @property
    def url(self) -> str:
        return f"http://{CONTROL_HOST}:{self.port}/faults"

    @property
    def running(self) -> bool:
        return self._listener is not None

    @property
    def reserved(self) -> bool:
        return self._hold.kept

    def start(self) -> None:
        if self._listener is None:
            kept_before = self._hold.kept
            self._control.open()
            try:
                self._hold.reserve()
                app = control_app(self._office)
                self._listener = self._hold.listen(lambda port: http_listener(CONTROL_HOST, port, app, self._control))
            except BindFailed as exc:
                self._control.close()
                if not kept_before:
                    self._hold.release()
                raise BackOfficeError(self.id, self.port, exc.reason) from exc

    def stop(self, deadline: float | None = None) -> None:
        listener, self._listener = self._listener, None
        self._control.close()
        if listener is not None:
            listener.stop(time.monotonic() + STOP_BUDGET_S if deadline is None else deadline)
        self._hold.keep()

    def release(self) -> None:
        self.stop()
        self._hold.release()


class BackOffice:
    """The twelve simulated systems (or the chosen ``systems``), started and stopped together.

    ``ports`` (:data:`PortChoice`): the catalogue's fixed ports by default, ``"free"``
    for ports the kernel picks; :attr:`addresses` says where it listens once started.
    ``control`` serves the fault-control endpoint on 127.0.0.1:``control_port``
    (default: 8200 on fixed ports, else a free one); by default a whole back office
    does and a chosen few systems do not.
    """

    def __init__(self, host: str = "127.0.0.1", latency: float | Mapping[str, float] | None = None,
                 systems: Iterable[str] | None = None, control: bool | None = None,
                 control_port: int | None = None, ports: PortChoice = "fixed") -> None:
        wanted = set(SYSTEM_IDS if systems is None else systems)
        unknown = wanted - set(SYSTEM_IDS)
        if unknown:
            raise ValueError(f"unknown simulated system(s): {', '.join(sorted(unknown))}")
        if isinstance(latency, Mapping) and set(latency) - set(SYSTEM_IDS):
            raise ValueError(f"latency for unknown system(s): {', '.join(sorted(set(latency) - set(SYSTEM_IDS)))}")
        self.host = host
        self.systems: dict[str, SimulatedSystem] = {
            system_id: SimulatedSystem(get_spec(system_id), host, _latency_of(latency, system_id),
                                       *_ports_of(ports, system_id))
            for system_id in SYSTEM_IDS if system_id in wanted  # catalogue order
        }
        if control_port is None:
            control_port = CONTROL_PORT if ports == "fixed" else 0
        serve_control = systems is None if control is None else control
        self.control_endpoint = ControlEndpoint(self, control_port) if serve_control else None

    def __enter__(self) -> BackOffice:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def addresses(self) -> Addresses:
        """Where the systems listen (for adapter files and the egress rule); ValueError before the first start."""
        unresolved = [s.id for s in self.systems.values() if not (s.port and s.ui_port)]
        if unresolved:
            raise ValueError(f"system(s) {', '.join(unresolved)} not started yet: their ports are not chosen")
        control = self.control_endpoint.port if self.control_endpoint and self.control_endpoint.port else None
        return Addresses(self.host, {s.id: s.port for s in self.systems.values()},
                         {s.id: s.ui_port for s in self.systems.values()}, control)

    @property
    def running(self) -> bool:
        return any(system.running for system in self.systems.values())

    @property
    def control_url(self) -> str | None:
        """``http://127.0.0.1:8200/faults`` (on fixed ports), or None when this back office serves none."""
        return self.control_endpoint.url if self.control_endpoint else None

    def start(self) -> BackOffice:
        """Start every system (and the control endpoint) not running yet; on a taken port undo and raise."""
        started: list[SimulatedSystem | ControlEndpoint] = []
        fresh = {member.id for member in self._members() if not member.reserved}
        for system in self._members():
            if system.running:
                continue
            try:
                system.start()
            except BackOfficeError:
                _stop_together(started)
                for member in started:
                    if member.id in fresh:  # ports taken by this call go back; ports held before stay held
                        member.release()
                raise
            started.append(system)
        return self

    def stop(self) -> None:
        """Everything down, hangs released, faults cleared, threads joined; well under two seconds.

        The ports stay held (connections are refused), so :meth:`start` brings every
        system back where it was; :meth:`close` gives them back.
        """
        _stop_together(self._members())  # hung requests are dropped, not answered
        for system in self.systems.values():
            system.control.set_hang(False)
            system.faults.clear()

    def close(self) -> None:
        """:meth:`stop`, then give the ports back (what leaving a ``with BackOffice()`` block does)."""
        self.stop()
        for member in self._members():
            member.release()

    def _members(self) -> list[SimulatedSystem | ControlEndpoint]:
        return [*self.systems.values(), *([self.control_endpoint] if self.control_endpoint else [])]

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
        """Start (if needed) and block until KeyboardInterrupt, then close."""
        self.start()
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            self.close()

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


def _ports_of(ports: PortChoice, system_id: str) -> tuple[int, int]:
    """(port, ui_port) asked for ``system_id``: 0 is any free port."""
    spec = get_spec(system_id)
    if ports == "fixed":
        return spec.port, spec.ui_port
    if ports == "free":
        return 0, 0
    if isinstance(ports, str):
        raise ValueError(f"ports must be 'fixed', 'free' or ports by system id, not {ports!r}")
    chosen = ports.get(system_id, 0)
    port, ui_port = chosen if isinstance(chosen, tuple) else (chosen, 0)
    return port, (ui_port if spec.protocol == "socket" else port)


def _stop_together(systems: list[SimulatedSystem | ControlEndpoint]) -> None:
    """Stop systems in parallel: each accept loop takes up to a poll interval to notice."""
    deadline = time.monotonic() + STOP_BUDGET_S
    threads = [threading.Thread(target=s.stop, args=(deadline,), name=f"demo-stop-{s.id}", daemon=True)
               for s in systems if s.running]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()) + 0.2)
