"""The simulated back office: twelve systems of a carrier's service desk, four protocols.

Modules, one job each:

* :mod:`~portal.demo.catalogue` — the twelve systems (id, name, protocol, ports);
* :mod:`~portal.demo.data` and :mod:`~portal.demo.records` — deterministic customers
  13800000000..13800000999 and what each system knows about them;
* :mod:`~portal.demo.soap_systems`, :mod:`~portal.demo.xml_systems`,
  :mod:`~portal.demo.html_systems`, :mod:`~portal.demo.socket_systems` — the wire
  formats, three systems each;
* :mod:`~portal.demo.ui` — each system's own screen for one customer (quick channels);
* :mod:`~portal.demo.web` and :mod:`~portal.demo.servers` — WSGI helpers, safe XML
  parsing, and the loopback servers (keep-alive, TCP_NODELAY, latency, hang, quick stop);
* :mod:`~portal.demo.faults` and :mod:`~portal.demo.fault_payloads` — injected faults
  (latency, HTTP errors, junk, hangs, resets, oversized answers, XML bombs, XXE, wrong
  charsets, login pages), per system and per request, and their bytes per protocol;
* :mod:`~portal.demo.control` — the fault-control endpoint on 127.0.0.1:8200;
* :mod:`~portal.demo.backoffice` — :class:`BackOffice`, which runs them all.

Nothing runs at import time; import :mod:`portal.demo.backoffice` to start systems.
"""
