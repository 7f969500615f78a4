"""TOTP second factor (RFC 6238, pyotp): enrolment, verification, and who must have one.

Roles listed in ``mfa_required_roles`` (e.g. admin, auditor) must pass a TOTP code
after their password; an operator in such a role without a confirmed factor is
taken to enrolment first. Secrets are kept encrypted by the vault; an accepted
time step cannot be used again (no replay of a code within its 30 s).
"""

from __future__ import annotations

import pyotp
from sqlalchemy.orm import sessionmaker

from portal import clock
from portal.sso.models import TotpFactor
from portal.sso.vault import Vault


class Totp:
    def __init__(self, sessions: sessionmaker, vault: Vault, required_roles: list[str], issuer: str) -> None:
        self._sessions = sessions
        self._vault = vault
        self.required_roles = set(required_roles)
        self.issuer = issuer

    def required_for(self, role_names: list[str]) -> bool:
        return bool(self.required_roles.intersection(role_names))

    def enrolled(self, user_id: int) -> bool:
        with self._sessions() as db:
            row = db.get(TotpFactor, user_id)
            return row is not None and row.confirmed_at is not None

    def begin(self, user_id: int, username: str) -> tuple[str, str]:
        """A new (unconfirmed) secret: (base32 secret, otpauth:// provisioning URI)."""
        secret = pyotp.random_base32()
        with self._sessions() as db:
            row = db.get(TotpFactor, user_id)
            if row is None:
                row = TotpFactor(user_id=user_id)
                db.add(row)
            row.secret, row.confirmed_at, row.last_step = self._vault.encrypt(secret), None, None
            db.commit()
        return secret, pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=self.issuer)

    def pending(self, user_id: int, username: str) -> tuple[str, str] | None:
        """The unconfirmed secret being enrolled and its provisioning URI, if any."""
        with self._sessions() as db:
            row = db.get(TotpFactor, user_id)
            if row is None or row.confirmed_at is not None:
                return None
            secret = self._vault.decrypt(row.secret).decode()
        return secret, pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=self.issuer)

    def verify(self, user_id: int, code: str, confirm: bool = False) -> bool:
        """True for a right, unused code (one step of clock drift either way); ``confirm`` ends enrolment."""
        code = (code or "").strip().replace(" ", "")
        if not code.isdigit() or len(code) != 6:
            return False
        with self._sessions() as db:
            row = db.get(TotpFactor, user_id)
            if row is None or (row.confirmed_at is None and not confirm):
                return False
            totp = pyotp.TOTP(self._vault.decrypt(row.secret).decode())
            now = clock.now()
            step = int(now // totp.interval)
            for candidate in (step - 1, step, step + 1):
                if totp.at(candidate * totp.interval) == code:
                    if row.last_step is not None and candidate <= row.last_step:
                        return False  # this code (or a later one) was used already
                    row.last_step = candidate
                    if confirm and row.confirmed_at is None:
                        row.confirmed_at = now
                    db.commit()
                    return True
            return False

    def remove(self, user_id: int) -> None:
        with self._sessions() as db:
            row = db.get(TotpFactor, user_id)
            if row is not None:
                db.delete(row)
                db.commit()
