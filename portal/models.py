"""Imports every model module so that ``Base.metadata`` knows all tables (for Alembic and tests)."""

from portal.accounts.models import ApiToken, Role, User, user_roles  # noqa: F401
from portal.audit.models import AuditAnchor, AuditChainHead, AuditEvent, AuditEventSystem  # noqa: F401
from portal.catalog.models import AdapterTransition, AdapterVersion, ShadowComparison, StoredAdapter  # noqa: F401
from portal.monitor.models import (  # noqa: F401
    Alert,
    HealthCheck,
    MaintenanceWindow,
    MonitorLease,
    StateTransition,
    SystemHealth,
)
from portal.sso.models import (  # noqa: F401
    ExternalIdentity,
    LoginThrottle,
    RedeemedHandoff,
    SessionRow,
    SigningKey,
    SystemCredential,
    TotpFactor,
)
