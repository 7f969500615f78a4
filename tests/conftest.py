"""Shared fixtures: the simulated back office (and, added later, app, db and client)."""

from __future__ import annotations

import os

import pytest

# The demo complaints system's service account; real deployments set these in the environment.
os.environ.setdefault("PORTAL_CRED_COMPLAINTS_USERNAME", "portal-svc")
os.environ.setdefault("PORTAL_CRED_COMPLAINTS_PASSWORD", "complaints-demo")


@pytest.fixture(scope="session")
def backoffice_session():
    """All twelve simulated systems on their loopback ports, once per test session."""
    from portal.demo.backoffice import BackOffice

    with BackOffice() as backoffice:
        yield backoffice


@pytest.fixture
def backoffice(backoffice_session):
    """The running back office, put back to normal (all up, no delay, no hang) after the test."""
    yield backoffice_session
    backoffice_session.reset()
