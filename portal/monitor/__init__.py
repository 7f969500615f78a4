"""Monitoring: back-office health, alerts to administrators, the portal's own health and metrics.

``states`` judges a system from observations (hysteresis); ``probes`` observes between lookups;
``checker`` records probes and real lookups; ``lease`` lets one monitor process act at a time;
``alerts``/``channels`` tell people; ``maintenance`` silences planned outages; ``views``/``api``
show it all; ``metrics`` serves Prometheus.
"""
