"""Identity-provider sign-in as engine functions (portal.sso.provisioning): a session and claims in,
an operator (or an audited refusal) out; no Flask, no provider. The code flow itself, against a real
OpenID provider, is in test_oidc.py."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.accounts.service import find_user
from portal.audit.models import AuditEvent
from portal.db import end_unit_of_work
from portal.errors import ConfigError
from portal.sso.models import ExternalIdentity
from portal.sso.provisioning import ProviderRules, SignInRefused, sign_in

RULES = ProviderRules(name="test", role_map={"sd-agents": "agent", "sd-admins": "admin"}, create_users=True,
                      link_by_username=True)


def claims(sub: str = "sub-1", username: str | None = "carol", groups=("sd-agents",), **more) -> dict:
    found = {"sub": sub, "name": "Carol Chen", "groups": list(groups), **more}
    if username is not None:
        found["preferred_username"] = username
    return found


def events(db, action: str) -> list[AuditEvent]:
    db.expire_all()
    return list(db.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)))


def refused(db, rules: ProviderRules, given: dict, **options) -> SignInRefused:
    """Sign in expecting a refusal; then end the unit of work as the edge does after a 401."""
    with pytest.raises(SignInRefused) as caught:
        sign_in(db, rules, given, client_addr="10.0.0.9", **options)
    end_unit_of_work(db, ok=False)
    return caught.value


def test_an_unknown_account_gets_an_operator_with_the_mapped_roles(db):
    done = sign_in(db, RULES, claims(groups=["sd-agents", "sd-agents", "other"]), client_addr="10.0.0.9")
    end_unit_of_work(db, ok=True)
    carol = find_user(db, "carol")
    assert done.user is carol and done.method == "oidc:test" and not done.needs_second_factor
    assert carol.role_names == ["agent"] and carol.display_name == "Carol Chen" and carol.password_hash is None
    [created] = events(db, "user.create")
    assert created.actor == "oidc:test" and created.client_addr == "10.0.0.9"
    assert created.details == {"provider": "test", "roles": ["agent"], "jit": True}
    identity = db.scalar(select(ExternalIdentity))
    assert (identity.provider, identity.subject, identity.user_id) == ("test", "sub-1", carol.id)
    assert identity.claims["groups"] == ["sd-agents", "sd-agents", "other"] and identity.last_login_at > 0


def test_the_link_follows_the_subject_and_roles_follow_the_groups(db):
    sign_in(db, RULES, claims())
    end_unit_of_work(db, ok=True)
    done = sign_in(db, RULES, claims(username="carol.renamed", groups=["sd-admins"]))
    end_unit_of_work(db, ok=True)
    assert done.user.username == "carol" and done.user.role_names == ["admin"]
    assert len(events(db, "user.create")) == 1


def test_without_role_sync_the_portal_keeps_its_roles(db, make_user):
    make_user("dave", "supervisor")
    done = sign_in(db, ProviderRules(name="test", role_map=RULES.role_map, link_by_username=True, sync_roles=False),
                   claims(sub="d", username="dave", groups=["sd-admins"]))
    assert done.user.role_names == ["supervisor"]


def test_an_existing_operator_is_linked_by_username_only_where_allowed(db, make_user):
    make_user("dave", "agent")
    unlinked = ProviderRules(name="test", role_map=RULES.role_map, create_users=True)
    assert refused(db, unlinked, claims(sub="d", username="dave")).reason == "username_taken"
    done = sign_in(db, RULES, claims(sub="d", username="dave", groups=["sd-admins"]))
    assert done.user.username == "dave" and done.user.role_names == ["admin"]


def test_break_glass_accounts_stay_local(db, make_user):
    make_user("root", "admin")
    refusal = refused(db, RULES, claims(sub="r", username="root", groups=["sd-admins"]), break_glass_users={"root"})
    assert (refusal.reason, refusal.who, refusal.provider) == ("break_glass_account", "root", "test")
    assert db.scalar(select(ExternalIdentity)) is None


@pytest.mark.parametrize("rules, given, reason, who", [
    (RULES, claims(sub=""), "no_subject", "-"),
    (ProviderRules(name="test", role_map=RULES.role_map), claims(), "no_account", "carol"),
    (RULES, claims(username=None), "bad_username", "sub-1"),
    (RULES, claims(username="Not A Name!"), "bad_username", "not a name!"),
    (RULES, claims(groups=["marketing"]), "no_mapped_role", "carol"),
])
def test_refusals_are_audited_with_the_reason_and_change_nothing(db, rules, given, reason, who):
    refusal = refused(db, rules, given)
    assert (refusal.reason, refusal.who, refusal.http_status) == (reason, who, 401)
    [failed] = events(db, "auth.login_failed")
    assert failed.outcome == "failure" and failed.actor == who and failed.target == who
    assert failed.details == {"method": "oidc:test", "reason": reason} and failed.client_addr == "10.0.0.9"
    assert find_user(db, "carol") is None and db.scalar(select(ExternalIdentity)) is None


def test_a_disabled_operator_is_refused_and_the_role_sync_rolled_back(db, make_user):
    dave = make_user("dave", "agent")
    dave.enabled = False
    db.commit()
    refusal = refused(db, RULES, claims(sub="d", username="dave", groups=["sd-admins"]))
    assert refusal.reason == "disabled"
    db.expire_all()
    assert find_user(db, "dave").role_names == ["agent"]
    assert [e.details["reason"] for e in events(db, "auth.login_failed")] == ["disabled"]


def test_an_operator_left_without_a_role_is_refused(db, make_user):
    from portal.accounts.models import User

    user = make_user("erin", "agent")
    db.get(User, user.id).roles = []
    db.commit()
    assert refused(db, RULES, claims(sub="e", username="erin", groups=[])).reason == "no_role"


def test_a_second_factor_is_due_for_its_roles_unless_the_provider_did_it(db):
    admin = claims(sub="a", username="ada", groups=["sd-admins"])
    assert sign_in(db, RULES, admin, second_factor_roles={"admin"}).needs_second_factor
    trusted = ProviderRules(name="test", role_map=RULES.role_map, skip_mfa=True)
    assert not sign_in(db, trusted, admin, second_factor_roles={"admin"}).needs_second_factor
    assert not sign_in(db, RULES, admin, second_factor_roles={"auditor"}).needs_second_factor


def test_a_role_map_naming_an_unknown_role_is_a_configuration_error(db):
    wrong = ProviderRules(name="test", role_map={"sd-agents": "no-such-role"}, create_users=True)
    with pytest.raises(ConfigError) as caught:
        sign_in(db, wrong, claims())
    assert caught.value.key == "oidc_providers.role_map" and "no-such-role" in caught.value.reason


def test_only_plain_claims_are_kept_on_the_link(db):
    sign_in(db, RULES, claims(address={"street": "x"}, email_verified=True))
    kept = db.scalar(select(ExternalIdentity)).claims
    assert "address" not in kept and kept["email_verified"] is True


def test_rules_from_a_provider_entry():
    rules = ProviderRules.from_config({"name": "corp", "issuer": "https://idp", "client_id": "x",
                                       "role_map": {"g": "agent"}, "groups_claim": "roles", "skip_mfa": True})
    assert rules == ProviderRules(name="corp", groups_claim="roles", role_map={"g": "agent"}, skip_mfa=True)
    assert rules.method == "oidc:corp" and rules.roles({"roles": "g"}) == ["agent"]
    assert rules.username({"preferred_username": " Carol "}) == "carol"
