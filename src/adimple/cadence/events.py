"""What collection does when money arrives: the one entry point for every payment source.

Reconciliation (CNAB), PIX webhooks, manual payments and agreements call
:func:`receivables_settled` in the same transaction that records the payment, so a contact
still queued for a paid debt is never sent, a case with nothing overdue is cured at once,
and a bureau record is scheduled for removal within 5 business days (STJ Súmula 548).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from adimple.audit import service as audit
from adimple.cadence.models import (
    BureauStatus,
    CaseEvent,
    CaseEventKind,
    CaseStatus,
    CollectionCase,
    CreditBureauRecord,
)
from adimple.db.base import utcnow
from adimple.kit.calendar import add_bank_business_days, overdue_cutoff
from adimple.messaging.models import (
    OutboxMessage,
    OutboxReceivable,
    OutboxStatus,
    Task,
    TaskKind,
)
from adimple.portfolio.models import Receivable, ReceivableStatus

BUREAU_REMOVAL_BUSINESS_DAYS = 5  # STJ Súmula 548


@dataclass(frozen=True)
class SettlementEffects:
    cancelled_messages: int
    cured_cases: int
    bureau_removals: int


def receivables_settled(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    receivable_ids: Collection[uuid.UUID],
    on: date,
    actor: str,
) -> SettlementEffects:
    """Applies the consequences of payments (or an agreement) on these receivables.

    Call it after the receivables' balances and statuses are up to date. Safe to call twice.
    """
    if not receivable_ids:
        return SettlementEffects(0, 0, 0)
    ids = list(receivable_ids)
    customer_ids = list(
        session.scalars(
            select(Receivable.customer_id)
            .where(Receivable.tenant_id == tenant_id, Receivable.id.in_(ids))
            .distinct()
        )
    )
    cancelled = cancel_unneeded_messages(session, tenant_id=tenant_id, customer_ids=customer_ids)
    # Whether anything is still overdue is a question about now, not about the payment date: a
    # payment recorded late (a re-imported file, an old return file) must not cure a case
    # whose later títulos are overdue today.
    cured = cure_cases(
        session, tenant_id=tenant_id, customer_ids=customer_ids, on=max(on, _today())
    )
    removals = schedule_bureau_removals(
        session, tenant_id=tenant_id, receivable_ids=ids, on=on, actor=actor
    )
    return SettlementEffects(cancelled, cured, removals)


def _today() -> date:
    from zoneinfo import ZoneInfo

    from adimple.settings import get_settings

    return datetime.now(ZoneInfo(get_settings().timezone)).date()


def _still_owed() -> object:
    return exists().where(
        OutboxReceivable.outbox_id == OutboxMessage.id,
        Receivable.id == OutboxReceivable.receivable_id,
        Receivable.status == ReceivableStatus.OPEN,
        Receivable.balance > Decimal("0.00"),
    )


def cancel_unneeded_messages(
    session: Session, *, tenant_id: uuid.UUID, customer_ids: Collection[uuid.UUID]
) -> int:
    """Cancels queued messages none of whose receivables is still open.

    A message about several receivables stays queued while one of them is open: it is
    rendered at send time with what is still owed.
    """
    if not customer_ids:
        return 0
    agreement = exists().where(
        OutboxReceivable.outbox_id == OutboxMessage.id,
        Receivable.id == OutboxReceivable.receivable_id,
        Receivable.status == ReceivableStatus.AGREEMENT,
    )
    base = [
        OutboxMessage.tenant_id == tenant_id,
        OutboxMessage.customer_id.in_(list(customer_ids)),
        OutboxMessage.status == OutboxStatus.QUEUED,
        ~_still_owed(),  # type: ignore[operator]
    ]
    now = utcnow()
    count = 0
    for reason, condition in (("agreement", agreement), ("paid", ~agreement)):
        result = session.execute(
            update(OutboxMessage)
            .where(*base, condition)
            .values(status=OutboxStatus.CANCELLED, cancel_reason=reason, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        count += result.rowcount  # type: ignore[attr-defined]
    return count


def cure_cases(
    session: Session, *, tenant_id: uuid.UUID, customer_ids: Collection[uuid.UUID], on: date
) -> int:
    """Closes as cured the open cases of customers with nothing overdue left on ``on``."""
    if not customer_ids:
        return 0
    overdue = exists().where(
        Receivable.tenant_id == tenant_id,
        Receivable.customer_id == CollectionCase.customer_id,
        Receivable.status == ReceivableStatus.OPEN,
        Receivable.balance > Decimal("0.00"),
        Receivable.due_date <= overdue_cutoff(on),
    )
    cases = list(
        session.scalars(
            select(CollectionCase).where(
                CollectionCase.tenant_id == tenant_id,
                CollectionCase.customer_id.in_(list(customer_ids)),
                CollectionCase.status == CaseStatus.OPEN,
                ~overdue,
            )
        )
    )
    now = utcnow()
    for case in cases:
        case.status = CaseStatus.CURED
        case.closed_on = on
        case.close_reason = "paid"
        case.next_step_on = None
        session.add(
            CaseEvent(
                tenant_id=tenant_id,
                case_id=case.id,
                kind=CaseEventKind.CURED,
                on_date=on,
                idempotency_key=f"cured:{case.id}",
                data={"reason": "paid"},
                created_at=now,
            )
        )
        session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.tenant_id == tenant_id,
                OutboxMessage.case_id == case.id,
                OutboxMessage.status == OutboxStatus.QUEUED,
            )
            .values(status=OutboxStatus.CANCELLED, cancel_reason="paid", updated_at=now)
            .execution_options(synchronize_session=False)
        )
    session.flush()
    return len(cases)


def schedule_bureau_removals(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    receivable_ids: Collection[uuid.UUID],
    on: date,
    actor: str,
) -> int:
    """Active negativações of paid receivables must be removed within 5 business days
    (STJ Súmula 548); a notice not yet activated is simply cancelled."""
    records = list(
        session.scalars(
            select(CreditBureauRecord)
            .join(Receivable, Receivable.id == CreditBureauRecord.receivable_id)
            .where(
                CreditBureauRecord.tenant_id == tenant_id,
                CreditBureauRecord.receivable_id.in_(list(receivable_ids)),
                CreditBureauRecord.status.in_([BureauStatus.NOTICE_SENT, BureauStatus.ACTIVE]),
                Receivable.status != ReceivableStatus.OPEN,
            )
        )
    )
    scheduled = 0
    for record in records:
        if record.status == BureauStatus.NOTICE_SENT:
            record.status = BureauStatus.CANCELLED
            continue
        record.status = BureauStatus.REMOVAL_PENDING
        record.removal_due_on = add_bank_business_days(on, BUREAU_REMOVAL_BUSINESS_DAYS)
        session.add(
            Task(
                tenant_id=tenant_id,
                customer_id=record.customer_id,
                case_id=record.case_id,
                kind=TaskKind.BUREAU_REMOVAL,
                idempotency_key=f"bureau_removal:{record.id}",
                due_on=record.removal_due_on,
                priority=100,
                title="Retirar negativação (pagamento recebido)",
                data={"credit_bureau_record_id": str(record.id)},
            )
        )
        audit.record(
            session,
            tenant_id=tenant_id,
            actor=actor,
            action="bureau.removal_scheduled",
            entity_type="credit_bureau_record",
            entity_id=record.id,
            data={"removal_due_on": record.removal_due_on.isoformat()},
        )
        scheduled += 1
    session.flush()
    return scheduled


# --- agreements (acordos) ----------------------------------------------------------------------


def agreement_made(
    session: Session, *, tenant_id: uuid.UUID, customer_id: uuid.UUID, on: date, key: str
) -> SettlementEffects:
    """An agreement suspends the customer's receivables (status ``agreement``): contacts still
    queued about them are cancelled (reason ``agreement``) and the live case is paused at once,
    not only when its next step falls due (DESIGN §4.2: an agreement stops every pending
    contact). ``key`` makes the case event idempotent (the agreement number)."""
    cancelled = cancel_unneeded_messages(session, tenant_id=tenant_id, customer_ids=[customer_id])
    for case in session.scalars(
        select(CollectionCase).where(
            CollectionCase.tenant_id == tenant_id,
            CollectionCase.customer_id == customer_id,
            CollectionCase.status == CaseStatus.OPEN,
        )
    ).all():
        case.status = CaseStatus.PAUSED
        case.pause_reason = "agreement"
        _agreement_event(session, case, CaseEventKind.PAUSED, on, key)
    session.flush()
    return SettlementEffects(cancelled, 0, 0)


def agreement_ended(
    session: Session, *, tenant_id: uuid.UUID, customer_id: uuid.UUID, on: date, key: str
) -> int:
    """The agreement is over (completed, broken or lapsed): a case paused for it resumes and
    is looked at by the cycle of ``on`` — to be cured when everything was paid
    (:func:`receivables_settled` then closes it), or to collect the restored balance."""
    cases = session.scalars(
        select(CollectionCase).where(
            CollectionCase.tenant_id == tenant_id,
            CollectionCase.customer_id == customer_id,
            CollectionCase.status == CaseStatus.PAUSED,
            CollectionCase.pause_reason == "agreement",
        )
    ).all()
    for case in cases:
        case.status = CaseStatus.OPEN
        case.pause_reason = None
        case.next_step_on = on
        _agreement_event(session, case, CaseEventKind.RESUMED, on, key)
    session.flush()
    return len(cases)


def _agreement_event(
    session: Session, case: CollectionCase, kind: CaseEventKind, on: date, key: str
) -> None:
    session.add(
        CaseEvent(
            tenant_id=case.tenant_id,
            case_id=case.id,
            kind=kind,
            on_date=on,
            idempotency_key=f"{kind.value}:{key}:{case.id}",
            data={"reason": "agreement", "agreement": key},
            created_at=utcnow(),
        )
    )
