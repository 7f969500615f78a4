"""Quick channels that sign the operator in: signed hand-off tokens, the key ring, form-mode credentials.

``token`` mode: the portal signs a short JWT (ES256 or RS256, ``handoff_ttl_s``
seconds, at most 60) for one system (``aud`` = the system id), naming the
operator (``sub``, ``name``), the customer, a unique ``jti``, the portal session
it came from (``sid``: the session's handle) and the operator's session epoch.
The browser posts it to the system's ``/sso`` endpoint. The system checks the
signature against ``/.well-known/jwks.json``, the audience, the issuer and the
expiry, refuses a ``jti`` it has seen, and redeems the token at the portal
(``POST /sso/handoff/redeem``), which refuses a second redemption and a token
whose portal session has ended (logout, timeout, admin) — so logging out makes
outstanding hand-offs invalid.

Keys: the newest key signs; :meth:`KeyRing.rotate` retires the current one, which
stays published until every token it signed has expired. Private keys are kept
encrypted by the vault.

``form`` mode: per-system credentials (a service account, operator ``*``, or one
per operator), encrypted at rest, delivered by an auto-submitting form post to
the system's login form.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from typing import Any

from joserfc import jwk, jwt
from joserfc.errors import JoseError
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from portal import clock
from portal.errors import PortalError, RequestError
from portal.sso.models import RedeemedHandoff, SigningKey, SystemCredential
from portal.sso.vault import Vault

MAX_TTL_S = 60
RETIRED_KEY_GRACE_S = MAX_TTL_S + 60  # a retired key stays published this long
SERVICE_ACCOUNT = "*"


class HandoffRefused(RequestError):
    """A hand-off token that must not sign anyone in; ``reason`` says which check failed."""

    code = "handoff_refused"
    title = "Hand-off refused"
    http_status = 403

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        super().__init__(detail)

    def extras(self) -> dict[str, Any]:
        return {"reason": self.reason}


class NoCredentials(PortalError):
    code = "no_credentials"
    title = "No credentials for this system"
    http_status = 409


# --------------------------------------------------------------------------- keys


class KeyRing:
    """The portal's hand-off signing keys, shared through the database by every process."""

    def __init__(self, sessions: sessionmaker, vault: Vault, alg: str = "ES256") -> None:
        self._sessions = sessions
        self._vault = vault
        self.alg = alg
        self._lock = threading.Lock()
        self._cache: dict[str, jwk.Key] = {}

    def _generate(self, db: Session) -> SigningKey:
        kid = secrets.token_urlsafe(12)
        if self.alg == "ES256":
            key = jwk.ECKey.generate_key("P-256", private=True, parameters={"kid": kid, "alg": "ES256", "use": "sig"})
        else:
            key = jwk.RSAKey.generate_key(2048, private=True, parameters={"kid": kid, "alg": "RS256", "use": "sig"})
        row = SigningKey(kid=kid, alg=self.alg, private_key=self._vault.encrypt(key.as_pem(private=True)),
                         public_jwk=key.as_dict(private=False), created_at=clock.now())
        db.add(row)
        db.flush()
        return row

    def active(self, db: Session | None = None) -> tuple[SigningKey, jwk.Key]:
        """The key that signs now (created on first use).

        With ``db``, a key created on first use joins that unit of work (the caller commits): a request
        that has already written (e.g. audited the opening of a quick channel) must not wait on a second
        connection for its own write lock.
        """
        if db is not None:
            row = self._current(db) or self._generate(db)
            return row, self._private(row)
        with self._sessions() as own:
            found = self._current(own)
            if found is None:
                found = self._generate(own)
                own.commit()
            return found, self._private(found)

    @staticmethod
    def _current(db: Session) -> SigningKey | None:
        return db.scalar(select(SigningKey).where(SigningKey.retired_at.is_(None))
                         .order_by(SigningKey.created_at.desc()).limit(1))

    def _private(self, row: SigningKey) -> jwk.Key:
        with self._lock:
            key = self._cache.get(row.kid)
            if key is None:
                pem = self._vault.decrypt(row.private_key)
                cls = jwk.ECKey if row.alg == "ES256" else jwk.RSAKey
                key = cls.import_key(pem, {"kid": row.kid, "alg": row.alg, "use": "sig"})
                self._cache[row.kid] = key
            return key

    def rotate(self) -> str:
        """A new signing key; the old ones stay published until their tokens have expired. Returns the new kid."""
        now = clock.now()
        with self._sessions() as db:
            for row in db.scalars(select(SigningKey).where(SigningKey.retired_at.is_(None))):
                row.retired_at = now
            new = self._generate(db)
            db.execute(delete(SigningKey).where(SigningKey.retired_at < now - RETIRED_KEY_GRACE_S))
            db.commit()
            return new.kid

    def published(self) -> list[dict[str, Any]]:
        """The public keys a system may see a valid token signed with."""
        horizon = clock.now() - RETIRED_KEY_GRACE_S
        with self._sessions() as db:
            rows = list(db.scalars(select(SigningKey).order_by(SigningKey.created_at.desc())))
        if not any(row.retired_at is None for row in rows):
            self.active()
            return self.published()
        return [dict(row.public_jwk, alg=row.alg, use="sig", kid=row.kid)
                for row in rows if row.retired_at is None or row.retired_at >= horizon]

    def key_set(self) -> jwk.KeySet:
        return jwk.KeySet.import_key_set({"keys": self.published()})


# --------------------------------------------------------------------------- tokens


@dataclass(frozen=True)
class Handoff:
    """What a system's ``/sso`` endpoint receives."""

    token: str
    jti: str
    expires_at: float


class Handoffs:
    def __init__(self, sessions: sessionmaker, keys: KeyRing, ttl_s: int) -> None:
        self._sessions = sessions
        self.keys = keys
        self.ttl_s = min(ttl_s, MAX_TTL_S)

    def issue(self, *, issuer: str, system_id: str, username: str, display_name: str, customer: str,
              session_handle: str, epoch: int, roles: tuple[str, ...] = (), db: Session | None = None) -> Handoff:
        """A signed one-time token; ``db``: the caller's unit of work (see :meth:`KeyRing.active`)."""
        row, key = self.keys.active(db)
        now = int(clock.now())
        jti = secrets.token_urlsafe(16)
        claims = {"iss": issuer, "aud": system_id, "sub": username, "name": display_name, "customer": customer,
                  "roles": list(roles), "jti": jti, "iat": now, "nbf": now, "exp": now + self.ttl_s,
                  "sid": session_handle, "sep": epoch}
        token = jwt.encode({"alg": row.alg, "kid": row.kid, "typ": "portal-handoff+jwt"}, claims, key)
        return Handoff(token, jti, now + self.ttl_s)

    def verify(self, token: str, *, issuer: str, audience: str | None = None) -> dict[str, Any]:
        """The claims of a genuine, current token; :class:`HandoffRefused` says which check failed."""
        claims = verify_token(token, self.keys.key_set(), issuer=issuer, audience=audience)
        return claims

    def redeem(self, token: str, *, issuer: str, audience: str | None, session_alive, user_epoch) -> dict[str, Any]:
        """Accept the token once: genuine, current, unused, from a session that is still open."""
        claims = self.verify(token, issuer=issuer, audience=audience)
        if not session_alive(claims.get("sid")):
            raise HandoffRefused("session_ended", "the portal session that issued this hand-off has ended")
        epoch = user_epoch(claims["sub"])
        if epoch is None or epoch != claims.get("sep"):
            raise HandoffRefused("session_ended", "the operator's sessions were ended or the account disabled")
        now = clock.now()
        with self._sessions() as db:
            db.execute(delete(RedeemedHandoff).where(RedeemedHandoff.expires_at < now - MAX_TTL_S))
            db.add(RedeemedHandoff(jti=str(claims["jti"])[:64], system_id=str(claims["aud"])[:64],
                                   username=str(claims["sub"])[:64], redeemed_at=now, expires_at=float(claims["exp"])))
            try:
                db.commit()
            except IntegrityError as exc:
                raise HandoffRefused("replayed", "this hand-off was used already") from exc
        return claims


def verify_token(token: str, key_set: jwk.KeySet, *, issuer: str, audience: str | None,
                 leeway_s: int = 5) -> dict[str, Any]:
    """Signature, algorithm, issuer, audience, lifetime: shared by the portal and the simulated systems."""
    if not token or len(token) > 8192:
        raise HandoffRefused("malformed", "no hand-off token")
    try:
        decoded = jwt.decode(token, key_set, algorithms=["ES256", "RS256"])
    except JoseError as exc:
        raise HandoffRefused("bad_signature", f"the hand-off token is not genuine ({exc.error})") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise HandoffRefused("malformed", "the hand-off token cannot be read") from exc
    claims = dict(decoded.claims)
    now = clock.now()
    for name in ("iss", "aud", "sub", "jti", "exp", "iat"):
        if name not in claims:
            raise HandoffRefused("malformed", f"the hand-off token lacks {name!r}")
    if claims["iss"] != issuer:
        raise HandoffRefused("wrong_issuer", "the hand-off token comes from another portal")
    if audience is not None and claims["aud"] != audience:
        raise HandoffRefused("wrong_audience", "the hand-off token is meant for another system")
    try:
        exp, iat = float(claims["exp"]), float(claims["iat"])
    except (TypeError, ValueError) as exc:
        raise HandoffRefused("malformed", "the hand-off token's times are not numbers") from exc
    if exp - iat > MAX_TTL_S:
        raise HandoffRefused("too_long", "the hand-off token lives longer than 60 seconds")
    if now > exp + leeway_s:
        raise HandoffRefused("expired", "the hand-off token has expired")
    if iat > now + leeway_s:
        raise HandoffRefused("not_yet_valid", "the hand-off token is not valid yet")
    return claims


# --------------------------------------------------------------------------- form mode


class CredentialVault:
    """Per-system credentials, encrypted at rest."""

    def __init__(self, sessions: sessionmaker, vault: Vault) -> None:
        self._sessions = sessions
        self._vault = vault

    def store(self, system_id: str, login_username: str, password: str, operator: str = SERVICE_ACCOUNT) -> None:
        with self._sessions() as db:
            self.store_in(db, system_id, login_username, password, operator)
            db.commit()

    def store_in(self, db: Session, system_id: str, login_username: str, password: str,
                 operator: str = SERVICE_ACCOUNT) -> bool:
        """Store in the caller's transaction (it commits with its audit event); ``True`` if new."""
        row = db.scalar(select(SystemCredential).where(SystemCredential.system_id == system_id,
                                                       SystemCredential.operator == operator))
        created = row is None
        if row is None:
            row = SystemCredential(system_id=system_id, operator=operator)
            db.add(row)
        row.login_username = login_username
        row.secret = self._vault.encrypt(password)
        row.updated_at = clock.now()
        db.flush()
        return created

    def remove(self, system_id: str, operator: str = SERVICE_ACCOUNT) -> bool:
        with self._sessions() as db:
            removed = self.remove_in(db, system_id, operator)
            db.commit()
            return removed

    def remove_in(self, db: Session, system_id: str, operator: str = SERVICE_ACCOUNT) -> bool:
        result = db.execute(delete(SystemCredential).where(SystemCredential.system_id == system_id,
                                                           SystemCredential.operator == operator))
        return bool(result.rowcount)

    def lookup(self, system_id: str, operator: str) -> tuple[str, str, str] | None:
        """(login username, password, whose: the operator or ``*``): the operator's own first."""
        with self._sessions() as db:
            rows = {row.operator: row for row in db.scalars(
                select(SystemCredential).where(SystemCredential.system_id == system_id,
                                               SystemCredential.operator.in_([operator, SERVICE_ACCOUNT])))}
        row = rows.get(operator) or rows.get(SERVICE_ACCOUNT)
        if row is None:
            return None
        return row.login_username, self._vault.decrypt(row.secret).decode(), row.operator

    def listing(self, db: Session | None = None) -> list[dict[str, Any]]:
        """Every stored credential without its secret: system, operator, login username, updated_at."""
        if db is None:
            with self._sessions() as own:
                return self.listing(own)
        return [{"system": row.system_id, "operator": row.operator, "login_username": row.login_username,
                 "updated_at": row.updated_at}
                for row in db.scalars(select(SystemCredential).order_by(SystemCredential.system_id,
                                                                        SystemCredential.operator))]


def adapter_credentials_provider(vault: CredentialVault):
    """Adapters' service-account logins (``[login] credentials = "NAME"``) from the encrypted store:
    the service account stored for system ``name`` (lower-cased), else the environment."""
    import logging

    from portal.adapters.secrets import environment_credentials

    log = logging.getLogger(__name__)

    def provider(name: str):
        try:
            found = vault.lookup(name.lower(), SERVICE_ACCOUNT)
        except Exception:  # a broken store must not hide credentials the environment has
            log.exception("credential store lookup failed for %r", name)
            found = None
        if found is not None:
            return found[0], found[1]
        return environment_credentials(name)

    return provider
