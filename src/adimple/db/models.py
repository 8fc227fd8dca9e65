"""Imports every model so ``Base.metadata`` is complete (Alembic and tests use this)."""

from adimple.audit.models import AuditEvent
from adimple.db.base import Base
from adimple.portfolio.models import ChannelOptOut, ContactPoint, Customer, Payment, Receivable
from adimple.tenancy.models import ApiKey, Tenant

__all__ = [
    "ApiKey",
    "AuditEvent",
    "Base",
    "ChannelOptOut",
    "ContactPoint",
    "Customer",
    "Payment",
    "Receivable",
    "Tenant",
]
