"""Imports every model so ``Base.metadata`` is complete (Alembic and tests use this)."""

from adimple.audit.models import AuditEvent
from adimple.cadence.models import (
    Cadence,
    CadenceStep,
    CadenceVersion,
    CaseEvent,
    CollectionCase,
    ContactSuppression,
    CreditBureauRecord,
    CycleRun,
    Segment,
)
from adimple.charges.models import CollectionPolicy, IndexValue
from adimple.db.base import Base
from adimple.messaging.channels.models import ChannelConfig
from adimple.messaging.models import OutboxMessage, OutboxReceivable, Task
from adimple.messaging.template_models import MessageTemplate, ToneTerm
from adimple.negotiation.models import (
    Agreement,
    AgreementCounter,
    AgreementInstallment,
    AgreementReceivable,
)
from adimple.payments.billing.models import BillingReference, BillingSettings, ChargeDocument
from adimple.payments.models import CnabFile, PixNotification, ReconciliationItem
from adimple.portfolio.models import ChannelOptOut, ContactPoint, Customer, Payment, Receivable
from adimple.tenancy.models import ApiKey, Tenant
from adimple.web.portal.models import (
    PortalAttempt,
    PortalLinkUse,
    PortalOneTimeCode,
    PortalSession,
)

__all__ = [
    "Agreement",
    "AgreementCounter",
    "AgreementInstallment",
    "AgreementReceivable",
    "ApiKey",
    "AuditEvent",
    "Base",
    "BillingReference",
    "BillingSettings",
    "Cadence",
    "CadenceStep",
    "CadenceVersion",
    "CaseEvent",
    "ChannelConfig",
    "ChannelOptOut",
    "ChargeDocument",
    "CnabFile",
    "CollectionCase",
    "CollectionPolicy",
    "ContactPoint",
    "ContactSuppression",
    "CreditBureauRecord",
    "Customer",
    "CycleRun",
    "IndexValue",
    "MessageTemplate",
    "OutboxMessage",
    "OutboxReceivable",
    "Payment",
    "PixNotification",
    "PortalAttempt",
    "PortalLinkUse",
    "PortalOneTimeCode",
    "PortalSession",
    "Receivable",
    "ReconciliationItem",
    "Segment",
    "Task",
    "Tenant",
    "ToneTerm",
]
