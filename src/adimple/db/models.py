"""Imports every model so ``Base.metadata`` is complete (Alembic and tests use this)."""

from adimple.audit.models import AuditEvent
from adimple.charges.models import CollectionPolicy, IndexValue
from adimple.db.base import Base
from adimple.portfolio.models import ChannelOptOut, ContactPoint, Customer, Payment, Receivable
from adimple.tenancy.models import ApiKey, Tenant

__all__ = [
    "ApiKey",
    "AuditEvent",
    "Base",
    "ChannelOptOut",
    "CollectionPolicy",
    "ContactPoint",
    "Customer",
    "IndexValue",
    "Payment",
    "Receivable",
    "Tenant",
]
