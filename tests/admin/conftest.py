import pytest


@pytest.fixture
def admin_token(app, make_user):
    """A bearer token of an admin operator named root."""
    from portal.accounts.service import issue_token

    make_user("root", "admin")
    with app.extensions["portal.db"].session() as session:
        _, token = issue_token(session, "root")
        session.commit()
    return token


@pytest.fixture
def api(client, admin_token):
    def call(method, path, body=None):
        return client.open(path, method=method, json=body, headers={"Authorization": f"Bearer {admin_token}"})

    return call
