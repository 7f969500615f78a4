"""Per-app state lives in ``app.extensions`` (and reaches adapters through their boundary, engine code
through its session): two apps in one process share no credential store, password hasher or WSDL cache."""

from __future__ import annotations

import pytest


@pytest.fixture
def two_apps(settings_overrides, tmp_path):
    from portal import create_app, migrate
    from portal.db import get_database
    from portal.sso.vault import Vault

    made = {}
    for name, changes in (("vaulted", {"vault_key": Vault.new_key(), "passwords_time_cost": 2,
                                       "passwords_memory_kib": 2048}),
                          ("plain", {})):
        app = create_app({**settings_overrides, "database_url": f"sqlite:///{tmp_path / name}.db",
                          "data_dir": str(tmp_path / name), **changes})
        with app.app_context():
            migrate.upgrade(get_database().engine)
        made[name] = app
    yield made["vaulted"], made["plain"]
    for app in made.values():
        app.extensions["portal.catalog"].close()
        app.extensions["portal.db"].dispose()


def test_each_app_hashes_passwords_with_its_own_costs(two_apps):
    from portal.accounts.passwords import passwords_for
    from portal.accounts.service import authenticate, create_user

    for app, costs in zip(two_apps, ("m=2048,t=2,p=1", "m=1024,t=1,p=1"), strict=True):
        with app.extensions["portal.db"].session() as session:
            assert passwords_for(session) is app.extensions["portal.passwords"]
            user = create_user(session, "carol", "correct horse battery", ["agent"])
            assert costs in user.password_hash
            assert authenticate(session, "carol", "correct horse battery") is user


def test_each_apps_adapters_use_its_own_credential_store(two_apps):
    from portal.adapters.boundary import Scope, running
    from portal.adapters.secrets import credentials

    vaulted, plain = two_apps
    assert vaulted.extensions["portal.boundary"].credentials is vaulted.extensions["portal.adapter_credentials"]
    assert plain.extensions["portal.boundary"].credentials is None  # no vault: the environment
    vaulted.extensions["portal.credentials"].store("complaints", "svc-from-vault", "s3cret")
    with running(Scope(vaulted.extensions["portal.boundary"], "complaints", None)):
        assert credentials("COMPLAINTS") == ("svc-from-vault", "s3cret")
    with running(Scope(plain.extensions["portal.boundary"], "complaints", None)):
        assert credentials("COMPLAINTS") == ("portal-svc", "complaints-demo")  # tests/conftest.py's environment


def test_each_app_caches_wsdls_in_its_own_data_folder(two_apps, tmp_path):
    from portal.adapters import soapclient
    from portal.adapters.boundary import Scope, running

    caches = []
    for app, name in zip(two_apps, ("vaulted", "plain"), strict=True):
        boundary = app.extensions["portal.boundary"]
        assert boundary.wsdl_cache_dir == (tmp_path / name / "cache").resolve()
        with running(Scope(boundary, "boss", None)):
            caches.append(soapclient._active_cache())
    assert caches[0] is not caches[1] and None not in caches
    assert soapclient._active_cache() is None  # outside any lookup: no disk cache at all
