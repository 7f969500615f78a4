"""Encryption at rest for sign-in secrets: form-mode credentials, TOTP secrets, hand-off signing keys.

Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``) with the key in
``PORTAL_VAULT_KEY`` (``portal sso vault-key`` prints a new one). Without it the
portal derives a key from its secret key (HKDF) so that the demo runs with no
setup; production sets ``PORTAL_VAULT_KEY`` and keeps it out of the database's
backups.
"""

from __future__ import annotations

import base64
import logging

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from portal.errors import ConfigError, PortalError

log = logging.getLogger(__name__)


class VaultError(PortalError):
    code = "vault_error"
    title = "A stored secret cannot be read"


class Vault:
    def __init__(self, key: str | bytes, derived: bool = False) -> None:
        try:
            self._fernet = Fernet(key)
        except (ValueError, TypeError) as exc:
            raise ConfigError("environment PORTAL_VAULT_KEY", "vault_key",
                              "must be 32 bytes in URL-safe base64 (run `portal sso vault-key`)") from exc
        self.derived = derived

    @classmethod
    def from_settings(cls, vault_key: str, secret_key: str) -> Vault:
        if vault_key:
            return cls(vault_key.encode())
        log.warning("PORTAL_VAULT_KEY is not set: sign-in secrets are encrypted with a key derived from the "
                    "secret key")
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"portal-vault", info=b"v1").derive(
            secret_key.encode())
        return cls(base64.urlsafe_b64encode(derived), derived=True)

    @staticmethod
    def new_key() -> str:
        return Fernet.generate_key().decode()

    def encrypt(self, plain: str | bytes) -> bytes:
        return self._fernet.encrypt(plain.encode() if isinstance(plain, str) else plain)

    def decrypt(self, token: bytes) -> bytes:
        try:
            return self._fernet.decrypt(bytes(token))
        except InvalidToken as exc:
            raise VaultError("a stored secret does not match PORTAL_VAULT_KEY (was the key changed?)") from exc
