"""Settings: defaults, then ``config/portal.toml``, then ``PORTAL_*`` variables, then a test mapping.

Loaded once by :func:`portal.create_app`; nothing is read at import time. Every
value is validated here; an error names where the bad value came from (the file
or the environment variable), the key and the reason.
"""

from __future__ import annotations

import os
import re
import secrets
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from portal.errors import ConfigError

ENV_PREFIX = "PORTAL_"
DEFAULT_CONFIG_FILE = Path("config/portal.toml")


class Settings(BaseModel):
    """Every setting of the portal. See ``config/portal.example.toml`` for what each one means."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    data_dir: Path = Path("var")
    database_url: str = ""
    secret_key: str = ""
    adapters_dir: Path = Path("config/adapters")
    # A registered adapter version is approved by someone other than its author ([adapters] four_eyes).
    adapters_four_eyes: bool = True
    # Wall-clock budget of one owner-supplied regular expression over one answer ([adapters] regex_budget_s).
    adapters_regex_budget_s: float = Field(default=0.25, gt=0, le=5)
    # Credential set NAME -> "system:<adapter id>" or "team:<owner team>" ([adapters] credential_bindings);
    # a name not listed belongs to the system of the same id (COMPLAINTS -> complaints).
    adapters_credential_bindings: dict[str, str] = Field(default_factory=dict)
    customer_number_pattern: str = r"^1[3-9][0-9]{9}$"
    lookup_deadline_s: float = Field(default=3.0, gt=0, le=60)
    fanout_workers: int = Field(default=256, ge=1, le=4096)
    session_idle_minutes: int = Field(default=30, ge=1, le=24 * 60)
    session_cookie_secure: bool = True
    # Sign-in and sessions (portal.sso; docs/sso.md).
    session_absolute_hours: float = Field(default=10.0, gt=0, le=24 * 7)
    session_warning_seconds: int = Field(default=120, ge=10, le=3600)
    session_store: str = Field(default="auto", pattern=r"^(auto|database|redis)$")
    redis_url: str = ""
    login_max_failures: int = Field(default=5, ge=1, le=1000)
    login_max_failures_per_address: int = Field(default=20, ge=1, le=100000)
    login_failure_window_minutes: float = Field(default=15.0, gt=0, le=24 * 60)
    login_lockout_minutes: float = Field(default=15.0, gt=0, le=24 * 60)
    handoff_ttl_s: int = Field(default=30, ge=5, le=60)
    handoff_issuer: str = ""
    handoff_key_alg: str = Field(default="ES256", pattern=r"^(ES256|RS256)$")
    vault_key: str = ""
    mfa_required_roles: list[str] = Field(default_factory=list)
    mfa_issuer: str = "Service desk"
    password_login: str = Field(default="all", pattern=r"^(all|break_glass)$")
    break_glass_users: list[str] = Field(default_factory=list)
    oidc_providers: list[dict[str, Any]] = Field(default_factory=list)
    # Argon2id costs of operators' passwords (portal.accounts.passwords); argon2-cffi's defaults.
    passwords_time_cost: int = Field(default=3, ge=1, le=20)
    passwords_memory_kib: int = Field(default=65536, ge=64, le=4 * 1024 * 1024)
    passwords_parallelism: int = Field(default=4, ge=1, le=64)
    # The operation log (portal.audit; docs/audit.md).
    audit_retention_days: int = Field(default=0, ge=0, le=36500)  # 0: keep every event
    audit_archive_dir: str = ""  # default: <data_dir>/audit-archive
    audit_forward: str = Field(default="", pattern=r"^(|syslog|syslog:.+:[0-9]+|file:.+)$")
    # Monitoring and alerts (portal.monitor; docs/monitoring.md).
    monitor_interval_s: float = Field(default=30.0, ge=1, le=3600)  # between probes of one system
    monitor_tick_s: float = Field(default=5.0, gt=0, le=60)  # how often the monitor looks for due work
    monitor_down_after: int = Field(default=3, ge=1, le=100)  # consecutive failures before "down"
    monitor_up_after: int = Field(default=2, ge=1, le=100)  # consecutive successes before "up" again
    monitor_degraded_ms: int = Field(default=1500, ge=1, le=600_000)  # slower answers than this are "slow"
    monitor_degraded_after: int = Field(default=3, ge=1, le=100)  # consecutive slow answers before "degraded"
    monitor_lease_s: float = Field(default=30.0, ge=2, le=3600)  # a silent monitor loses the lease after this
    monitor_history_days: int = Field(default=7, ge=1, le=3650)  # observations, transitions, alerts kept
    alerts_smtp_host: str = ""  # empty: no e-mail
    alerts_smtp_port: int = Field(default=25, ge=1, le=65535)
    alerts_smtp_security: str = Field(default="starttls", pattern=r"^(none|starttls|tls)$")
    alerts_smtp_username: str = ""
    alerts_smtp_password: str = ""  # from the environment: PORTAL_ALERTS_SMTP_PASSWORD
    alerts_smtp_timeout_s: float = Field(default=10.0, gt=0, le=120)
    alerts_mail_from: str = Field(default="service-desk-portal@localhost", pattern=r"^[^@\s]+@[^@\s]+$")
    alerts_sms_url: str = Field(default="", pattern=r"^(|https?://.+)$")  # empty: no SMS
    alerts_sms_token: str = ""  # sent as "Authorization: Bearer"; from PORTAL_ALERTS_SMS_TOKEN
    alerts_sms_format: str = Field(default="json", pattern=r"^(json|form)$")
    alerts_sms_body: dict[str, str] = Field(default_factory=lambda: {"to": "{phone}", "text": "{text}"})
    alerts_sms_timeout_s: float = Field(default=10.0, gt=0, le=120)
    alerts_text_down: str = "{system_name} ({system}) is DOWN since {since}: {reason}"
    alerts_text_recovered: str = "{system_name} ({system}) has RECOVERED at {since} after {duration} down"
    alerts_max_per_hour: int = Field(default=6, ge=1, le=1000)  # messages about one system, per channel
    alerts_roles: list[str] = Field(default_factory=lambda: ["admin"])  # members get every system's alerts
    alerts_extra_emails: list[str] = Field(default_factory=list)  # e.g. the operations centre's mailbox
    alerts_extra_phones: list[str] = Field(default_factory=list)
    metrics_token: str = ""  # required as Bearer by /metrics from non-loopback clients when set
    # Where adapters may connect ([egress]; portal.adapters.egress; docs/adapters.md). Deny by default.
    egress_allow: list[dict[str, Any]] = Field(default_factory=list)  # [[egress.allow]] rules
    egress_own_addresses: list[str] = Field(default_factory=list)  # more host:port of the portal itself
    # Where this process's web server listens (host:port), refused to adapters; `portal serve`/`demo` set it.
    serve_addresses: list[str] = Field(default_factory=list)
    log_level: str = Field(default="INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR)$")
    testing: bool = False

    @field_validator("mfa_required_roles", "break_glass_users", "alerts_roles", "alerts_extra_emails",
                     "alerts_extra_phones", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        if isinstance(value, str):  # PORTAL_MFA_REQUIRED_ROLES="admin,auditor"
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("alerts_text_down", "alerts_text_recovered")
    @classmethod
    def _alert_text(cls, value: str) -> str:
        _check_placeholders(value, ALERT_TEXT_PLACEHOLDERS)
        return value

    @field_validator("alerts_sms_body")
    @classmethod
    def _sms_body(cls, value: dict[str, str]) -> dict[str, str]:
        if not value:
            raise ValueError("must name at least one field, e.g. { to = \"{phone}\", text = \"{text}\" }")
        for template in value.values():
            _check_placeholders(template, SMS_BODY_PLACEHOLDERS)
        return value

    @field_validator("oidc_providers", "alerts_sms_body", "egress_allow", mode="before")
    @classmethod
    def _json_list(cls, value: Any) -> Any:
        # PORTAL_OIDC_PROVIDERS='[{"name": ...}]', PORTAL_EGRESS_ALLOW='[{"hosts": ["10.0.0.7"], "ports": "8080"}]'
        if isinstance(value, str):
            import json

            try:
                return json.loads(value)
            except ValueError as exc:
                raise ValueError(f"not valid JSON: {exc}") from exc
        return value

    @field_validator("egress_allow")
    @classmethod
    def _egress_rules(cls, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        from portal.adapters.egress import parse_rules

        parse_rules(value)  # a bad CIDR or port range stops the start, naming the rule
        return value

    @field_validator("egress_own_addresses", "serve_addresses", mode="before")
    @classmethod
    def _host_port_list(cls, value: Any) -> Any:
        if isinstance(value, str):  # PORTAL_SERVE_ADDRESSES="127.0.0.1:5000,[::1]:5000"
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("egress_own_addresses", "serve_addresses")
    @classmethod
    def _host_ports(cls, value: list[str]) -> list[str]:
        from portal.adapters.egress_settings import parse_host_port

        for item in value:
            parse_host_port(item)
        return value

    @field_validator("adapters_credential_bindings", mode="before")
    @classmethod
    def _bindings_text(cls, value: Any) -> Any:
        # PORTAL_ADAPTERS_CREDENTIAL_BINDINGS='{"SHARED": "team:billing-team"}' or "SHARED=team:billing-team,X=system:x"
        if isinstance(value, str):
            import json

            if value.strip().startswith("{"):
                try:
                    return json.loads(value)
                except ValueError as exc:
                    raise ValueError(f"not valid JSON: {exc}") from exc
            pairs = [item.partition("=") for item in value.split(",") if item.strip()]
            return {name.strip(): binding.strip() for name, _, binding in pairs}
        return value

    @field_validator("adapters_credential_bindings")
    @classmethod
    def _bindings(cls, value: dict[str, str]) -> dict[str, str]:
        bindings: dict[str, str] = {}
        for name, binding in value.items():
            if not _CREDENTIAL_NAME.match(name):
                raise ValueError(f"{name!r} is not a credential name (a letter, then letters, digits or _)")
            if not _CREDENTIAL_BINDING.match(binding):
                raise ValueError(
                    f"{name} = {binding!r}: expected \"system:<adapter id>\" or \"team:<owner team>\""
                )
            bindings[name.upper()] = binding  # names are looked up in upper case, as adapters write them
        return bindings

    @property
    def redis_sessions(self) -> bool:
        return self.session_store == "redis" or (self.session_store == "auto" and bool(self.redis_url))

    @field_validator("customer_number_pattern")
    @classmethod
    def _pattern_compiles(cls, value: str) -> str:
        import re

        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"not a regular expression: {exc}") from exc
        return value

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if value and not value.startswith(("sqlite:", "postgresql:", "postgresql+")):
            raise ValueError("only sqlite:// and postgresql:// URLs are supported")
        return value

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'portal.db').resolve()}"


_CREDENTIAL_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_CREDENTIAL_BINDING = re.compile(r"^(system:[a-z][a-z0-9_-]{1,31}|team:[^\s:]+)$")

#: What alert texts may say; anything else between braces is a configuration error.
ALERT_TEXT_PLACEHOLDERS = frozenset({"system", "system_name", "state", "since", "reason", "duration", "owner"})
#: The SMS gateway's request fields may use the recipient's number and the alert text.
SMS_BODY_PLACEHOLDERS = frozenset({"phone", "text", "system", "state"})
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def _check_placeholders(template: str, known: frozenset[str]) -> None:
    for name in _PLACEHOLDER.findall(template):
        if name not in known:
            raise ValueError(f"unknown placeholder {{{name}}}; use {', '.join('{' + k + '}' for k in sorted(known))}")


def fill_template(template: str, values: Mapping[str, str]) -> str:
    """Replace ``{name}`` by ``values[name]``; no format-string attribute or index access, ever."""
    return _PLACEHOLDER.sub(lambda match: str(values.get(match.group(1), match.group(0))), template)


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    config_file: Path | None = None,
) -> Settings:
    """Merge the four sources in order and validate the result once."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    origin: dict[str, str] = {}

    path = config_file or Path(environ.get("PORTAL_CONFIG", DEFAULT_CONFIG_FILE))
    explicit = config_file is not None or "PORTAL_CONFIG" in environ
    if path.is_file():
        for key, value in _read_toml(path).items():
            values[key], origin[key] = value, str(path)
    elif explicit:
        raise ConfigError(str(path), None, "configuration file not found")

    known = Settings.model_fields
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name == "PORTAL_CONFIG":
            continue
        key = name[len(ENV_PREFIX):].lower()
        if key in known:
            values[key], origin[key] = value, f"environment {name}"

    for key, value in (overrides or {}).items():
        values[key], origin[key] = value, "test configuration"

    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = str(first["loc"][0]) if first["loc"] else None
        reason = "unknown setting" if first["type"] == "extra_forbidden" else first["msg"].removeprefix("Value error, ")
        raise ConfigError(origin.get(key or "", "settings"), key, reason) from exc


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), None, f"not valid TOML: {exc}") from exc
    # Sections only group keys for people; [lookup] deadline_s is lookup_deadline_s.
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            for sub, subvalue in value.items():
                flat[f"{key}_{sub}"] = subvalue
        else:
            flat[key] = value
    return flat


def ensure_secret_key(settings: Settings) -> str:
    """The configured secret, or one generated once and kept (mode 0600) in the data folder."""
    if settings.secret_key:
        return settings.secret_key
    path = settings.data_dir / "secret_key"
    if path.is_file():
        return path.read_text().strip()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key
