"""Imports every model module so that ``Base.metadata`` knows all tables (for Alembic and tests)."""

from portal.accounts.models import ApiToken, Role, User, user_roles  # noqa: F401
from portal.audit.models import AuditEvent  # noqa: F401
from portal.catalog.models import AdapterVersion, StoredAdapter  # noqa: F401
from portal.monitor.models import Alert, HealthCheck, MaintenanceWindow, MonitorLease, StateTransition, SystemHealth  # noqa: F401
