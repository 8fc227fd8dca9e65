"""Conciliação: CNAB 240/400 return files → payments, and the review queue.

:func:`reconcile_cnab` reads a retorno with the ``payments/cnab`` parser and, in the caller's
transaction:

* the same file (same SHA-256) again is a no-op that says when it was first imported;
* each liquidação (kinds ``paid`` and ``paid_after_writeoff``) is matched to a receivable —
  first by the company's own number (the record's *uso da empresa* field, then *seu número*,
  equal to our receivable ``external_id``), then by the *nosso número* (compared without
  punctuation and leading zeros; when that finds nothing, allowing a check digit on one side
  only) — and applied through :func:`adimple.payments.settlement.apply_payment` with the bank's
  breakdown. The payment's external id is derived from the bank movement itself
  (``cnab:{bank}:{nosso_numero}:{data_ocorrencia}:{codigo}:{valor_pago}``), so the same movement
  in another file is never applied twice;
* a liquidação with no receivable, several, or numbers that point at two different receivables
  goes to the review queue (:class:`ReconciliationItem`), as does an *entrada rejeitada*;
* the other movements (registered, cancelled, fee, write-off) are only counted.

A file the parser refuses is rejected whole with the parser's message (:class:`CnabRejected`).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import String, case, func, literal_column, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from adimple.audit import service as audit
from adimple.db.base import utcnow
from adimple.kit.errors import Conflict, DomainError, NotFound
from adimple.kit.money import ZERO, money_str
from adimple.payments.cnab import CnabError, CnabRecord, Kind, parse_bytes
from adimple.payments.models import (
    CnabFile,
    PixNotification,
    ReconciliationItem,
    ReviewReason,
    ReviewSource,
    ReviewStatus,
)
from adimple.payments.settlement import (
    PaymentBreakdown,
    PaymentInput,
    SettlementResult,
    apply_payment,
    apply_payments,
)
from adimple.portfolio.models import (
    NOSSO_NUMERO_KEY_SQL,
    PaymentSource,
    Receivable,
    ReceivableStatus,
)

PAID_KINDS = (Kind.PAID, Kind.PAID_AFTER_WRITEOFF)
_CHUNK = 500  # values per IN (...) list


class CnabRejected(DomainError):
    """A return file the parser cannot read: nothing of it is applied."""

    status_code = 422
    title = "Arquivo de retorno inválido"


@dataclass
class ReconcileReport:
    file: str
    layout: str
    bank_code: str
    sha256: str
    records: int
    file_id: uuid.UUID | None = None
    payments_created: int = 0
    already_applied: int = 0  # movements already recorded (e.g. in another file)
    amount_applied: Decimal = ZERO
    receivables_paid: int = 0
    partial: int = 0
    overpaid: int = 0
    overpaid_amount: Decimal = ZERO
    provisional: int = 0
    review: int = 0
    occurrences: dict[str, int] = field(default_factory=dict)
    already_imported: bool = False
    first_imported_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "file_id": None if self.file_id is None else str(self.file_id),
            "layout": self.layout,
            "bank_code": self.bank_code,
            "sha256": self.sha256,
            "records": self.records,
            "payments_created": self.payments_created,
            "already_applied": self.already_applied,
            "amount_applied": money_str(self.amount_applied),
            "receivables_paid": self.receivables_paid,
            "partial": self.partial,
            "overpaid": self.overpaid,
            "overpaid_amount": money_str(self.overpaid_amount),
            "review": self.review,
            "occurrences": dict(sorted(self.occurrences.items())),
            "already_imported": self.already_imported,
            "first_imported_at": (
                None if self.first_imported_at is None else self.first_imported_at.isoformat()
            ),
        }


def reconcile_cnab(
    session: Session, *, tenant_id: uuid.UUID, filename: str, content: bytes, actor: str
) -> ReconcileReport:
    """Imports a retorno (see the module docstring); flushes, never commits."""
    digest = hashlib.sha256(content).hexdigest()
    known = session.scalar(
        select(CnabFile).where(CnabFile.tenant_id == tenant_id, CnabFile.sha256 == digest)
    )
    if known is not None:
        return _already_imported(known, filename)
    try:
        parsed = parse_bytes(content, source=filename)
    except CnabError as exc:
        raise CnabRejected(str(exc)) from None

    row = CnabFile(
        tenant_id=tenant_id,
        sha256=digest,
        filename=filename[:255],
        layout=parsed.layout,
        bank_code=parsed.bank_code,
        record_count=len(parsed.records),
        imported_at=utcnow(),
        imported_by=actor,
        summary={},
    )
    try:
        # The same file uploaded twice at once: the second meets the unique (tenant, sha256)
        # once the first commits, and answers as a re-import.
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        known = session.scalar(
            select(CnabFile).where(CnabFile.tenant_id == tenant_id, CnabFile.sha256 == digest)
        )
        if known is None:
            raise
        return _already_imported(known, filename)
    report = ReconcileReport(
        file=filename,
        layout=parsed.layout,
        bank_code=parsed.bank_code,
        sha256=digest,
        records=len(parsed.records),
        file_id=row.id,
    )
    bank = parsed.bank_code
    for record in parsed.records:
        kind = "unknown" if record.kind is None else record.kind.value
        report.occurrences[kind] = report.occurrences.get(kind, 0) + 1

    relevant = [
        (i, r) for i, r in enumerate(parsed.records) if r.kind in (*PAID_KINDS, Kind.REJECTED)
    ]
    matcher = _Matcher(session, tenant_id, [r for _, r in relevant])
    keys = [movement_key(bank, r) for _, r in relevant]
    applied_keys = _existing_payment_keys(session, tenant_id, keys)
    queued_keys = _existing_review_keys(session, tenant_id, keys)

    inputs: list[PaymentInput] = []
    for (index, record), key in zip(relevant, keys, strict=True):
        if key in applied_keys:
            report.already_applied += 1
            continue
        if key in queued_keys:
            continue  # already waiting in the review queue (another file had it)
        match = matcher.match(record)
        if record.kind is Kind.REJECTED:
            _review(
                session,
                tenant_id,
                row,
                index,
                record,
                key,
                ReviewReason.REJECTED_BY_BANK,
                f"entrada rejeitada pelo banco (motivo {record.motivo or '-'})",
                match,
            )
            report.review += 1
            continue
        gross, paid_on = gross_amount(record), record.data_ocorrencia or record.data_credito
        if gross is None or gross <= ZERO or paid_on is None:
            _review(
                session,
                tenant_id,
                row,
                index,
                record,
                key,
                ReviewReason.INCOMPLETE,
                "liquidação sem valor pago ou sem data",
                match,
            )
            report.review += 1
            continue
        if match.receivable_id is None:
            _review(
                session,
                tenant_id,
                row,
                index,
                record,
                key,
                match.reason or ReviewReason.UNMATCHED,
                match.detail,
                match,
            )
            report.review += 1
            continue
        queued_keys.add(key)  # the same movement twice in one file is applied once
        inputs.append(
            _payment_input(
                record,
                key,
                gross,
                paid_on,
                match.receivable_id,
                {
                    "cnab_file_id": str(row.id),
                    "line": record.line,
                    "bank_code": bank,
                    "match": match.method,
                },
            )
        )

    results = apply_payments(session, tenant_id=tenant_id, items=inputs, actor=actor)
    _count(report, results)
    row.summary = report.as_dict()
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action="cnab.imported",
        entity_type="cnab_file",
        entity_id=row.id,
        data=row.summary,
    )
    session.flush()
    return report


def _already_imported(known: CnabFile, filename: str) -> ReconcileReport:
    summary = known.summary or {}
    return ReconcileReport(
        file=filename,
        layout=known.layout,
        bank_code=known.bank_code,
        sha256=known.sha256,
        records=known.record_count,
        file_id=known.id,
        occurrences=dict(summary.get("occurrences") or {}),
        already_imported=True,
        first_imported_at=known.imported_at,
    )


def _count(report: ReconcileReport, results: list[SettlementResult]) -> None:
    for result in results:
        if not result.created:
            report.already_applied += 1
            continue
        payment = result.payment
        report.payments_created += 1
        report.amount_applied += payment.gross
        if result.closed and payment.principal + payment.discount > ZERO:
            report.receivables_paid += 1
        elif result.receivable_status != ReceivableStatus.PAID:
            report.partial += 1
        if payment.overpaid > ZERO:
            report.overpaid += 1
            report.overpaid_amount += payment.overpaid
        if payment.details.get("provisional_charges"):
            report.provisional += 1


# --- amounts and keys -------------------------------------------------------------------------


def gross_amount(record: CnabRecord) -> Decimal | None:
    """What the payer paid: ``valor_pago``; layouts without it (Itaú 400) give the net credit,
    so the gross is net + tarifa."""
    if record.valor_pago is not None and record.valor_pago > ZERO:
        return record.valor_pago
    if record.valor_liquido is not None and record.valor_liquido > ZERO:
        return record.valor_liquido + (record.valor_tarifa or ZERO)
    return None


def movement_key(bank_code: str, record: CnabRecord) -> str:
    """The bank movement's identity: the same in every file that repeats it."""
    on = record.data_ocorrencia.isoformat() if record.data_ocorrencia else "-"
    amount = gross_amount(record)
    cents = "-" if amount is None else str(int(amount * 100))
    if record.kind is Kind.REJECTED:
        cents = f"rej{record.motivo or ''}"
    return f"cnab:{bank_code}:{record.nosso_numero}:{on}:{record.codigo_ocorrencia}:{cents}"[:80]


def _payment_input(
    record: CnabRecord,
    key: str,
    gross: Decimal,
    paid_on: date,
    receivable_id: uuid.UUID,
    details: dict[str, Any],
) -> PaymentInput:
    fees = min(record.valor_tarifa or ZERO, gross)
    return PaymentInput(
        receivable_id=receivable_id,
        gross=gross,
        paid_on=paid_on,
        source=PaymentSource.CNAB,
        external_id=key,
        fees=fees,
        credited_on=record.data_credito,
        breakdown=PaymentBreakdown(
            charges=record.valor_juros or ZERO,
            discount=record.valor_desconto or ZERO,
            rebate=record.valor_abatimento or ZERO,
        ),
        details={
            **details,
            "nosso_numero": record.nosso_numero,
            "codigo_ocorrencia": record.codigo_ocorrencia,
        },
    )


def _existing_payment_keys(session: Session, tenant_id: uuid.UUID, keys: list[str]) -> set[str]:
    from adimple.portfolio.models import Payment

    found: set[str] = set()
    for chunk in _chunks(sorted(set(keys))):
        found.update(
            session.scalars(
                select(Payment.external_id).where(
                    Payment.tenant_id == tenant_id, Payment.external_id.in_(chunk)
                )
            )
        )
    return found


def _existing_review_keys(session: Session, tenant_id: uuid.UUID, keys: list[str]) -> set[str]:
    found: set[str] = set()
    for chunk in _chunks(sorted(set(keys))):
        found.update(
            session.scalars(
                select(ReconciliationItem.movement_key).where(
                    ReconciliationItem.tenant_id == tenant_id,
                    ReconciliationItem.movement_key.in_(chunk),
                )
            )
        )
    return found


def _chunks(values: list[str]) -> list[list[str]]:
    return [values[i : i + _CHUNK] for i in range(0, len(values), _CHUNK)]


# --- matching -------------------------------------------------------------------------------


def normalize_nosso_numero(value: str | None) -> str:
    """Upper-case letters and digits only, without leading zeros ("000123-4" → "1234")."""
    if not value:
        return ""
    return "".join(c for c in value.upper() if c.isalnum()).lstrip("0")


@dataclass(frozen=True)
class Match:
    receivable_id: uuid.UUID | None
    method: str | None = None  # company_number | nosso_numero | nosso_numero_dv
    reason: ReviewReason | None = None
    detail: str | None = None
    candidates: tuple[uuid.UUID, ...] = ()


_COLUMNS = (Receivable.id, Receivable.nosso_numero, Receivable.original_amount)


class _Matcher:
    """Resolves a file's records to receivables with a few set-wise queries."""

    def __init__(self, session: Session, tenant_id: uuid.UUID, records: list[CnabRecord]):
        self.by_external: dict[str, uuid.UUID] = {}
        self.by_key: dict[str, list[uuid.UUID]] = {}
        self.amounts: dict[uuid.UUID, Decimal] = {}
        numbers = {n for r in records for n in (r.uso_empresa, r.seu_numero) if n}
        for chunk in _chunks(sorted(numbers)):
            for rid, ext in session.execute(
                select(Receivable.id, Receivable.external_id).where(
                    Receivable.tenant_id == tenant_id, Receivable.external_id.in_(chunk)
                )
            ):
                self.by_external[ext] = rid
        keys = {normalize_nosso_numero(r.nosso_numero) for r in records} - {""}
        # Stored numbers are compared normalised (NOSSO_NUMERO_KEY_SQL, an indexed expression),
        # so "0777" and "777" are both found and reported as ambiguous. Exact keys and "the
        # bank's field carries a check digit we lack" are index lookups.
        key = literal_column(NOSSO_NUMERO_KEY_SQL, type_=String())
        wanted = keys | {k[:-1] for k in keys if len(k) > 1}
        for chunk in _chunks(sorted(wanted)):
            self._add(
                session.execute(
                    select(*_COLUMNS).where(Receivable.tenant_id == tenant_id, key.in_(chunk))
                )
            )
        # "We stored a check digit the bank's field lacks" cannot use the index: asked only for
        # the numbers with no exact match (a scan of the tenant's numbers per 500 of them).
        # CASE: PostgreSQL refuses a negative substring length (an empty normalised value).
        without_last = case(
            (func.length(key) > 1, func.substr(key, 1, func.length(key) - 1)), else_=""
        )
        rest = sorted(k for k in keys if k not in self.by_key)
        for chunk in _chunks(rest):
            self._add(
                session.execute(
                    select(*_COLUMNS).where(
                        Receivable.tenant_id == tenant_id,
                        Receivable.nosso_numero.is_not(None),
                        without_last.in_(chunk),
                    )
                )
            )

    def _add(self, rows: Any) -> None:
        for rid, stored, amount in rows:
            self.amounts[rid] = amount
            ids = self.by_key.setdefault(normalize_nosso_numero(stored), [])
            if rid not in ids:
                ids.append(rid)

    def _by_nosso(self, value: str) -> tuple[list[uuid.UUID], str]:
        key = normalize_nosso_numero(value)
        if not key:
            return [], "nosso_numero"
        exact = sorted(set(self.by_key.get(key, [])), key=str)
        if exact:
            return exact, "nosso_numero"
        # The bank's field carries a check digit ours lacks, or ours carries one the bank's
        # field lacks.
        loose = set(self.by_key.get(key[:-1], [])) if len(key) > 1 else set()
        for stored, ids in self.by_key.items():
            if len(stored) > 1 and stored[:-1] == key:
                loose.update(ids)
        return sorted(loose, key=str), "nosso_numero_dv"

    def match(self, record: CnabRecord) -> Match:
        company = None
        for number in (record.uso_empresa, record.seu_numero):
            if number and number in self.by_external:
                company = self.by_external[number]
                break
        found, method = self._by_nosso(record.nosso_numero)
        if company is not None:
            if len(found) == 1 and found[0] != company:
                return Match(
                    None,
                    reason=ReviewReason.AMBIGUOUS,
                    detail="o número da empresa e o nosso número apontam títulos diferentes",
                    candidates=(company, found[0]),
                )
            return Match(company, method="company_number", candidates=(company,))
        # Sequential nosso números make "1234" + a digit look like "12345": a match that needs
        # the check digit dropped is applied only when the título's value agrees.
        if (
            len(found) == 1
            and method == "nosso_numero_dv"
            and (record.valor_titulo is None or self.amounts.get(found[0]) != record.valor_titulo)
        ):
            return Match(
                None,
                reason=ReviewReason.AMBIGUOUS,
                detail="o nosso número só confere sem o dígito verificador e o valor do "
                "título não confere",
                candidates=(found[0],),
            )
        if len(found) == 1:
            return Match(found[0], method=method, candidates=(found[0],))
        if found:
            return Match(
                None,
                reason=ReviewReason.AMBIGUOUS,
                detail=f"{len(found)} títulos com este nosso número",
                candidates=tuple(found),
            )
        return Match(
            None,
            reason=ReviewReason.UNMATCHED,
            detail="nenhum título com este número da empresa ou nosso número",
        )


def _review(
    session: Session,
    tenant_id: uuid.UUID,
    file: CnabFile,
    index: int,
    record: CnabRecord,
    key: str,
    reason: ReviewReason,
    detail: str | None,
    match: Match,
) -> ReconciliationItem:
    item = ReconciliationItem(
        tenant_id=tenant_id,
        source=ReviewSource.CNAB,
        cnab_file_id=file.id,
        record_index=index,
        line=record.line,
        movement_key=key,
        nosso_numero=record.nosso_numero[:30],
        company_number=(record.uso_empresa or record.seu_numero or None),
        codigo_ocorrencia=record.codigo_ocorrencia[:4],
        amount=gross_amount(record),
        paid_on=record.data_ocorrencia or record.data_credito,
        reason=reason,
        detail=(detail or "")[:300] or None,
        candidates=[str(c) for c in match.candidates],
        data={"bank_code": file.bank_code, **record.as_contract(), "line": record.line},
    )
    session.add(item)
    session.flush()
    return item


# --- the review queue -------------------------------------------------------------------------


def get_item(session: Session, *, tenant_id: uuid.UUID, item_id: uuid.UUID) -> ReconciliationItem:
    item = session.scalar(
        select(ReconciliationItem).where(
            ReconciliationItem.tenant_id == tenant_id, ReconciliationItem.id == item_id
        )
    )
    if item is None:
        raise NotFound(f"review item {item_id} not found")
    return item


def _open(item: ReconciliationItem) -> None:
    if item.status != ReviewStatus.OPEN:
        raise Conflict(f"review item {item.id} is already {item.status}")


def resolve_item(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    item_id: uuid.UUID,
    receivable_id: uuid.UUID,
    actor: str,
    note: str | None = None,
) -> tuple[ReconciliationItem, SettlementResult]:
    """Applies the movement to ``receivable_id`` (chosen by a person) and closes the item."""
    item = get_item(session, tenant_id=tenant_id, item_id=item_id)
    _open(item)
    if item.amount is None or item.amount <= ZERO or item.paid_on is None:
        raise Conflict("this item carries no payment to apply (a rejection): ignore it instead")
    data = item.data or {}
    if item.source == ReviewSource.CNAB:
        breakdown: PaymentBreakdown | None = PaymentBreakdown(
            charges=_money(data.get("valor_juros")),
            discount=_money(data.get("valor_desconto")),
            rebate=_money(data.get("valor_abatimento")),
        )
        fees = min(_money(data.get("valor_tarifa")), item.amount)
        credited = data.get("data_credito")
        credited_on = date.fromisoformat(credited) if credited else None
        source = PaymentSource.CNAB
    else:
        breakdown, fees, credited_on, source = None, ZERO, None, PaymentSource.PIX
    result = apply_payment(
        session,
        tenant_id=tenant_id,
        receivable_id=receivable_id,
        gross=item.amount,
        paid_on=item.paid_on,
        source=source,
        external_id=item.movement_key,
        fees=fees,
        credited_on=credited_on,
        breakdown=breakdown,
        details={"review_item_id": str(item.id), "resolved_by": actor},
        actor=actor,
    )
    item.status = ReviewStatus.RESOLVED
    item.resolved_receivable_id = receivable_id
    item.payment_id = result.payment.id
    item.resolved_by = actor
    item.resolved_at = utcnow()
    item.note = note
    if item.pix_notification_id is not None:
        notification = session.get(PixNotification, item.pix_notification_id)
        if notification is not None:
            notification.payment_id = result.payment.id
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action="reconciliation.resolved",
        entity_type="reconciliation_item",
        entity_id=item.id,
        data={"receivable_id": str(receivable_id), "payment_id": str(result.payment.id)},
    )
    session.flush()
    return item, result


def ignore_item(
    session: Session, *, tenant_id: uuid.UUID, item_id: uuid.UUID, note: str, actor: str
) -> ReconciliationItem:
    """Closes an item without applying anything (e.g. money returned to the payer)."""
    item = get_item(session, tenant_id=tenant_id, item_id=item_id)
    _open(item)
    item.status = ReviewStatus.IGNORED
    item.note = note
    item.resolved_by = actor
    item.resolved_at = utcnow()
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action="reconciliation.ignored",
        entity_type="reconciliation_item",
        entity_id=item.id,
        data={"note": note},
    )
    session.flush()
    return item


def _money(value: object) -> Decimal:
    if value in (None, ""):
        return ZERO
    try:
        return max(ZERO, Decimal(str(value)))
    except ArithmeticError:
        return ZERO
