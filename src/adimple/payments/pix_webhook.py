"""PIX webhook: Pix received, as the PSP notifies them (BCB "API Pix", callback ``/pix``).

The PSP POSTs ``{"pix": [{"endToEndId", "txid", "valor", "horario", "infoPagador"?,
"devolucoes"?, ...}]}`` to the URL registered for the key (``PUT /webhook/{chave}``) with
``/pix`` appended (some PSPs do not append it). Each Pix is recorded once per ``endToEndId``
(:class:`PixNotification`, unique per tenant), so a redelivery changes nothing; its ``txid`` is
matched to ``Receivable.pix_txid`` and the money applied through
:func:`adimple.payments.settlement.apply_payment` (external id ``pix:{endToEndId}``); a Pix
whose txid matches no receivable (or several) waits in the review queue.

The whole body is validated before anything is written: a malformed body is a 400 and the PSP
will retry it. ``devolucoes`` (refunds the receiver made) are kept in ``raw`` but not applied:
a refund of an overpayment is recorded by staff when the refund task is done.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from adimple.db.base import utcnow
from adimple.kit.errors import DomainError
from adimple.kit.money import money_str
from adimple.payments.models import (
    PixNotification,
    ReconciliationItem,
    ReviewReason,
    ReviewSource,
)
from adimple.payments.settlement import apply_payment
from adimple.portfolio.models import PaymentSource, Receivable
from adimple.tenancy.models import Tenant

# BCB API Pix: endToEndId is 32 alphanumerics; txid 26-35 alphanumerics (cobrança imediata) —
# accept 1-35 here, static QR codes carry shorter ones.
_E2E = re.compile(r"^[A-Za-z0-9]{1,32}$")
_TXID = re.compile(r"^[A-Za-z0-9]{1,35}$")
_VALOR = re.compile(r"^\d{1,10}\.\d{2}$")
MAX_ITEMS = 1000


class MalformedPixNotification(DomainError):
    """The body is not a BCB API Pix webhook notification (HTTP 400; the PSP retries)."""

    status_code = 400
    title = "Notificação Pix inválida"


@dataclass(frozen=True)
class PixReceived:
    end_to_end_id: str
    txid: str | None
    amount: Decimal
    paid_at: datetime
    payer: dict[str, Any]
    raw: dict[str, Any]


@dataclass
class PixWebhookReport:
    received: int = 0
    duplicates: int = 0
    payments_created: int = 0
    review: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "received": self.received,
            "duplicates": self.duplicates,
            "payments_created": self.payments_created,
            "review": self.review,
        }


def parse_notification(body: bytes | str | Any) -> list[PixReceived]:
    """Validates the whole body; raises :class:`MalformedPixNotification` naming the problem."""
    if isinstance(body, bytes | str):
        try:
            body = json.loads(body, parse_float=Decimal)
        except (ValueError, UnicodeDecodeError):
            raise MalformedPixNotification("the body is not JSON") from None
    if not isinstance(body, dict) or not isinstance(body.get("pix"), list):
        raise MalformedPixNotification('expected an object {"pix": [...]}')
    items = body["pix"]
    if len(items) > MAX_ITEMS:
        raise MalformedPixNotification(f"at most {MAX_ITEMS} Pix per notification")
    return [_parse_item(position, item) for position, item in enumerate(items)]


def _parse_item(position: int, item: object) -> PixReceived:
    where = f"pix[{position}]"
    if not isinstance(item, dict):
        raise MalformedPixNotification(f"{where}: expected an object")
    e2e = item.get("endToEndId")
    if not isinstance(e2e, str) or not _E2E.match(e2e):
        raise MalformedPixNotification(f"{where}.endToEndId: 1-32 letters or digits required")
    txid = item.get("txid")
    if txid is not None and (not isinstance(txid, str) or not _TXID.match(txid)):
        raise MalformedPixNotification(f"{where}.txid: 1-35 letters or digits")
    valor = item.get("valor")
    text = str(valor) if isinstance(valor, str | Decimal) else None
    if text is None or not _VALOR.match(text):
        raise MalformedPixNotification(f'{where}.valor: an amount like "123.45" required')
    try:
        amount = Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern already checked it
        raise MalformedPixNotification(f"{where}.valor: not an amount") from None
    if amount <= 0:
        raise MalformedPixNotification(f"{where}.valor: must be greater than zero")
    horario = item.get("horario")
    try:
        paid_at = datetime.fromisoformat(str(horario).replace("Z", "+00:00"))
    except ValueError:
        paid_at = None
    if not isinstance(horario, str) or paid_at is None or paid_at.tzinfo is None:
        raise MalformedPixNotification(f"{where}.horario: an RFC 3339 date-time with offset")
    payer: dict[str, Any] = {}
    if isinstance(item.get("infoPagador"), str):
        payer["infoPagador"] = item["infoPagador"][:140]
    if isinstance(item.get("pagador"), dict):
        payer["pagador"] = {k: str(v)[:140] for k, v in item["pagador"].items()}
    raw = json.loads(json.dumps(item, default=str))
    return PixReceived(e2e, txid, amount, paid_at, payer, raw)


def process_notification(
    session: Session, *, tenant: Tenant, body: bytes | str | Any, actor: str
) -> PixWebhookReport:
    """Records and applies every Pix of one webhook delivery (idempotent by endToEndId)."""
    received = parse_notification(body)
    report = PixWebhookReport(received=len(received))
    zone = ZoneInfo(tenant.timezone or "America/Sao_Paulo")
    for pix in received:
        notification = _record(session, tenant.id, pix)
        if notification is None:
            report.duplicates += 1
            continue
        paid_on = pix.paid_at.astimezone(zone).date()
        matches = _receivables_for(session, tenant.id, pix.txid)
        if len(matches) != 1:
            _review(session, tenant.id, notification, pix, paid_on, matches)
            report.review += 1
            continue
        result = apply_payment(
            session,
            tenant_id=tenant.id,
            receivable_id=matches[0],
            gross=pix.amount,
            paid_on=paid_on,
            source=PaymentSource.PIX,
            external_id=f"pix:{pix.end_to_end_id}",
            credited_on=paid_on,  # a Pix is credited at once
            details={"end_to_end_id": pix.end_to_end_id, "txid": pix.txid},
            actor=actor,
        )
        notification.payment_id = result.payment.id
        report.payments_created += int(result.created)
    session.flush()
    return report


def _record(session: Session, tenant_id: uuid.UUID, pix: PixReceived) -> PixNotification | None:
    """The new notification row, or None when this endToEndId was already received."""
    exists = session.scalar(
        select(PixNotification.id).where(
            PixNotification.tenant_id == tenant_id,
            PixNotification.end_to_end_id == pix.end_to_end_id,
        )
    )
    if exists is not None:
        return None
    row = PixNotification(
        tenant_id=tenant_id,
        end_to_end_id=pix.end_to_end_id,
        txid=pix.txid,
        amount=pix.amount,
        paid_at=pix.paid_at,
        payer=pix.payer,
        received_at=utcnow(),
        raw=pix.raw,
    )
    try:
        # Two deliveries of the same Pix at once: the second one meets the unique constraint.
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return None
    return row


def _receivables_for(session: Session, tenant_id: uuid.UUID, txid: str | None) -> list[uuid.UUID]:
    if not txid:
        return []
    return list(
        session.scalars(
            select(Receivable.id)
            .where(Receivable.tenant_id == tenant_id, Receivable.pix_txid == txid)
            .limit(5)
        )
    )


def _review(
    session: Session,
    tenant_id: uuid.UUID,
    notification: PixNotification,
    pix: PixReceived,
    paid_on: date,
    matches: list[uuid.UUID],
) -> None:
    reason = ReviewReason.AMBIGUOUS if matches else ReviewReason.UNMATCHED
    detail = (
        f"{len(matches)} títulos com este txid"
        if matches
        else ("Pix sem txid" if not pix.txid else "nenhum título com este txid")
    )
    session.add(
        ReconciliationItem(
            tenant_id=tenant_id,
            source=ReviewSource.PIX,
            pix_notification_id=notification.id,
            movement_key=f"pix:{pix.end_to_end_id}",
            txid=pix.txid,
            amount=pix.amount,
            paid_on=paid_on,
            reason=reason,
            detail=detail,
            candidates=[str(m) for m in matches],
            data={
                "end_to_end_id": pix.end_to_end_id,
                "valor": money_str(pix.amount),
                "horario": pix.paid_at.isoformat(),
                **pix.payer,
            },
        )
    )
    session.flush()
