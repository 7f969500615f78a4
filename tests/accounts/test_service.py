"""Accounts: argon2 passwords, roles, hashed personal tokens."""

import pytest
from sqlalchemy import select

from portal.accounts.models import ApiToken, Role
from portal.accounts.service import authenticate, create_user, issue_token, user_for_token
from portal.errors import RequestError, ResourceNotFound


def test_builtin_roles_exist_from_the_first_migration(db):
    names = set(db.scalars(select(Role.name)))
    assert {"agent", "admin", "auditor", "system_owner"} <= names


def test_password_is_stored_as_argon2_and_checked(db, make_user):
    user = make_user("bob", "agent", password="a long enough secret")
    assert user.password_hash.startswith("$argon2id$")
    assert "a long enough secret" not in user.password_hash
    assert authenticate(db, "bob", "a long enough secret").username == "bob"
    assert authenticate(db, "bob", "wrong password!") is None
    assert authenticate(db, "nobody", "a long enough secret") is None


def test_disabled_user_cannot_authenticate(db, make_user):
    user = make_user("carol", "agent")
    user.enabled = False
    db.commit()
    assert authenticate(db, "carol", "correct horse battery") is None


@pytest.mark.parametrize(
    ("username", "password", "roles", "message"),
    [
        ("Bad Name", "long enough pw", ["agent"], "username"),
        ("dave", "short", ["agent"], "at least 10"),
        ("dave", "long enough pw", [], "at least one role"),
        ("dave", "long enough pw", ["wizard"], "unknown role(s): wizard"),
    ],
)
def test_create_user_rejects_bad_input(db, username, password, roles, message):
    with pytest.raises(RequestError, match=message.replace("(", r"\(").replace(")", r"\)")):
        create_user(db, username, password, roles)


def test_duplicate_username_is_refused(db, make_user):
    make_user("erin", "agent")
    with pytest.raises(RequestError, match="already exists"):
        create_user(db, "erin", "another password", ["agent"])


def test_tokens_are_stored_hashed_and_resolve_to_their_user(db, make_user):
    make_user("frank", "agent")
    _, token = issue_token(db, "frank")
    db.commit()
    stored = db.scalars(select(ApiToken)).one()
    assert token not in (stored.token_hash, stored.prefix) and len(stored.token_hash) == 64
    assert user_for_token(db, token).username == "frank"
    assert user_for_token(db, token + "x") is None


def test_token_for_unknown_user(db):
    with pytest.raises(ResourceNotFound):
        issue_token(db, "ghost")


def test_token_use_is_recorded_at_most_once_a_minute(db, make_user):
    from datetime import timedelta

    make_user("gina", "agent")
    _, token = issue_token(db, "gina")
    db.commit()
    user_for_token(db, token)
    db.commit()
    row = db.scalars(select(ApiToken)).one()
    first = row.last_used_at
    assert first is not None
    user_for_token(db, token)
    assert not db.dirty  # a second use within the minute writes nothing
    row.last_used_at = first - timedelta(minutes=2)
    db.commit()
    user_for_token(db, token)
    assert db.dirty


def test_password_costs_come_from_the_settings_and_old_hashes_still_verify(caplog):
    from argon2 import PasswordHasher

    from portal.accounts.passwords import DEFAULT, Passwords

    made_with_defaults = PasswordHasher().hash("correct horse battery")
    with caplog.at_level("WARNING", logger="portal.accounts.passwords"):
        passwords = Passwords(time_cost=1, memory_kib=1024, parallelism=1)
    assert "below OWASP's minimum" in caplog.text
    cheap = passwords.hash("correct horse battery")
    assert "m=1024,t=1,p=1" in cheap
    assert passwords.verify(made_with_defaults, "correct horse battery")
    assert passwords.needs_rehash(made_with_defaults)  # renewed with the configured costs at next sign-in
    assert not passwords.verify(None, "correct horse battery")  # unknown user: the dummy hash
    assert "m=65536,t=3,p=4" in DEFAULT.hash("x" * 12)  # a session of no app: argon2-cffi's costs


def test_engine_code_hashes_with_the_costs_of_the_app_its_session_belongs_to(app, db):
    from portal.accounts.passwords import passwords_for
    from portal.accounts.service import authenticate, create_user

    assert passwords_for(db) is app.extensions["portal.passwords"]
    user = create_user(db, "costly", "correct horse battery", ["agent"])
    assert "m=1024,t=1,p=1" in user.password_hash  # the test settings' costs
    assert authenticate(db, "costly", "correct horse battery") is user
