"""The simulated back office: twelve systems of a carrier's service desk, four protocols.

Modules, one job each:

* :mod:`~portal.demo.catalogue` — the twelve systems (id, name, protocol, fixed ports) and
  :class:`~portal.demo.catalogue.Addresses`, where one back office really listens;
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
* :mod:`~portal.demo.control` — the fault-control endpoint (127.0.0.1:8200 on the fixed ports);
* :mod:`~portal.demo.ports` — ports held across a system's stops, so it comes back where it was;
* :mod:`~portal.demo.backoffice` — :class:`BackOffice`, which runs them all, on fixed or free ports;
* :mod:`~portal.demo.adapter_files` — the demo adapters (templates in ``adapters/``) rendered for
  a back office's ports: ``portal demo``'s data folder, the tests, ``config/adapters/``.

Nothing runs at import time; import :mod:`portal.demo.backoffice` to start systems.
"""
