"""Builders for the settlement/reconciliation tests (imported as a plain module).

Rows are created through the ORM with the same fields the import path fills; CNAB return files
are written from the parser's own field tables (``build_line``), so what the tests feed to the
reconciliation is exactly what a bank file with those values would parse to.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, func, select, text
from sqlalchemy.orm import Session

from adimple.cadence.models import (
    BureauStatus,
    Cadence,
    CadenceVersion,
    CaseStatus,
    CollectionCase,
    CreditBureauRecord,
)
from adimple.charges.policy import NoInterest, Policy
from adimple.charges.service import save_policy
from adimple.messaging.models import OutboxMessage, OutboxReceivable, OutboxStatus
from adimple.payments.cnab.fields import build_line
from adimple.payments.cnab.layouts import CNAB240_SEGMENT_T, CNAB240_SEGMENT_U, CNAB400_LAYOUTS
from adimple.portfolio.models import Channel, Customer, DocumentKind, Receivable
from adimple.tenancy.models import Tenant

D = Decimal


def customer(session: Session, tenant_id: uuid.UUID, external_id: str | None = None) -> Customer:
    row = Customer(
        tenant_id=tenant_id,
        external_id=external_id or f"C-{uuid.uuid4().hex[:8]}",
        document="52998224725",
        document_kind=DocumentKind.CPF,
        name="Maria da Silva",
        uf="SP",
        tags=[],
    )
    session.add(row)
    session.flush()
    return row


def receivable(
    session: Session,
    tenant_id: uuid.UUID,
    owner: Customer,
    *,
    external_id: str,
    amount: str,
    due: date,
    nosso_numero: str | None = None,
    pix_txid: str | None = None,
) -> Receivable:
    row = Receivable(
        tenant_id=tenant_id,
        customer_id=owner.id,
        external_id=external_id,
        issue_date=due - timedelta(days=30),
        due_date=due,
        original_amount=D(amount),
        balance=D(amount),
        nosso_numero=nosso_numero,
        pix_txid=pix_txid,
    )
    session.add(row)
    session.flush()
    return row


def flat_policy(session: Session, tenant_id: uuid.UUID) -> None:
    """2% multa, 1% a.m. juros, no correção: hand-checkable charges without index data."""
    policy = Policy(correction={"index": "none"}, interest={"mode": "monthly_simple"})
    save_policy(session, tenant_id=tenant_id, document=policy, actor="test")


def no_charges_policy(session: Session, tenant_id: uuid.UUID) -> None:
    policy = Policy(fine_percent=D(0), correction={"index": "none"}, interest=NoInterest())
    save_policy(session, tenant_id=tenant_id, document=policy, actor="test")


def open_case(session: Session, tenant_id: uuid.UUID, owner: Customer, due: date) -> CollectionCase:
    cadence = Cadence(tenant_id=tenant_id, name=f"padrao-{uuid.uuid4().hex[:6]}")
    session.add(cadence)
    session.flush()
    version = CadenceVersion(
        tenant_id=tenant_id,
        cadence_id=cadence.id,
        version=1,
        definition={},
        created_at=datetime.now(UTC),
        created_by="test",
    )
    session.add(version)
    session.flush()
    case = CollectionCase(
        tenant_id=tenant_id,
        customer_id=owner.id,
        status=CaseStatus.OPEN,
        segment="default",
        segment_reason="test",
        cadence_version_id=version.id,
        anchor_due_date=due,
        opened_on=due + timedelta(days=1),
        next_step_on=due + timedelta(days=10),
    )
    session.add(case)
    session.flush()
    return case


def queued_message(
    session: Session, tenant_id: uuid.UUID, owner: Customer, receivables: list[Receivable]
) -> OutboxMessage:
    now = datetime.now(UTC)
    message = OutboxMessage(
        tenant_id=tenant_id,
        customer_id=owner.id,
        channel=Channel.EMAIL,
        address="maria@example.com",
        step_key="d+5",
        template="lembrete",
        plan_date=now.date(),
        idempotency_key=f"msg:{uuid.uuid4().hex}",
        scheduled_for=now,
        next_attempt_at=now,
        status=OutboxStatus.QUEUED,
    )
    session.add(message)
    session.flush()
    for item in receivables:
        session.add(
            OutboxReceivable(tenant_id=tenant_id, outbox_id=message.id, receivable_id=item.id)
        )
    session.flush()
    return message


def active_bureau_record(
    session: Session, tenant_id: uuid.UUID, owner: Customer, item: Receivable
) -> CreditBureauRecord:
    record = CreditBureauRecord(
        tenant_id=tenant_id,
        customer_id=owner.id,
        receivable_id=item.id,
        status=BureauStatus.ACTIVE,
        amount=item.original_amount,
        notice_sent_on=item.due_date + timedelta(days=5),
        eligible_on=item.due_date + timedelta(days=15),
        activated_on=item.due_date + timedelta(days=16),
    )
    session.add(record)
    session.flush()
    return record


def count(session: Session, model: type, tenant_id: uuid.UUID) -> int:
    """Rows of ``model`` for one tenant (the CLI tests commit other tenants' rows to the same
    PostgreSQL database)."""
    query = select(func.count()).select_from(model).where(model.tenant_id == tenant_id)  # type: ignore[attr-defined]
    return int(session.scalar(query) or 0)


# --- CNAB return files ------------------------------------------------------------------------


@dataclass
class Movement:
    """One title movement to write into a synthetic retorno."""

    nosso_numero: str
    codigo: str = "06"
    paid: str = "0"
    titulo: str = "0"
    juros: str = "0"
    desconto: str = "0"
    abatimento: str = "0"
    tarifa: str = "0"
    on: date = date(2026, 11, 16)
    credit_on: date | None = date(2026, 11, 17)
    seu_numero: str | None = None
    uso_empresa: str | None = None
    motivo: str = ""


def cnab240(bank: str, movements: list[Movement]) -> bytes:
    """A FEBRABAN CNAB 240 retorno with one Segment T + U per movement."""
    lines = [
        build_line(
            (), {}, 240, literals={(1, 3): bank, (4, 7): "0000", (8, 8): "0", (143, 143): "2"}
        ),
        build_line(
            (), {}, 240, literals={(1, 3): bank, (4, 7): "0001", (8, 9): "1T", (10, 11): "01"}
        ),
    ]
    for m in movements:
        t = {
            "codigo_ocorrencia": m.codigo,
            "nosso_numero": m.nosso_numero,
            "seu_numero": m.seu_numero,
            "valor_titulo": D(m.titulo),
            "uso_empresa": m.uso_empresa,
            "valor_tarifa": D(m.tarifa),
            "motivo": m.motivo,
        }
        paid = D(m.paid)
        u = {
            "valor_juros": D(m.juros),
            "valor_desconto": D(m.desconto),
            "valor_abatimento": D(m.abatimento),
            "valor_pago": paid,
            "valor_liquido": paid - D(m.tarifa) if paid else D(0),
            "data_ocorrencia": m.on,
            "data_credito": m.credit_on,
        }
        common = {(1, 3): bank, (4, 7): "0001", (8, 8): "3"}
        lines.append(build_line(CNAB240_SEGMENT_T, t, 240, literals={**common, (14, 14): "T"}))
        lines.append(build_line(CNAB240_SEGMENT_U, u, 240, literals={**common, (14, 14): "U"}))
    lines.append(build_line((), {}, 240, literals={(1, 3): bank, (4, 7): "0001", (8, 8): "5"}))
    lines.append(build_line((), {}, 240, literals={(1, 3): bank, (4, 7): "9999", (8, 8): "9"}))
    return ("\r\n".join(lines) + "\r\n").encode("latin-1")


def cnab400(bank: str, movements: list[Movement]) -> bytes:
    """A CNAB 400 retorno in ``bank``'s layout (Bradesco 237, Itaú 341, …)."""
    layout = CNAB400_LAYOUTS[bank]
    header = build_line(
        (),
        {},
        400,
        literals={
            (1, 1): "0",
            (2, 2): "2",
            (3, 9): "RETORNO",
            (10, 11): "01",
            (12, 26): "COBRANCA",
            (77, 79): bank,
            (395, 400): "000001",
        },
    )
    names = {f.name for f in layout.fields}
    lines = [header]
    detail_type = sorted(layout.detail_types)[0]
    for index, m in enumerate(movements):
        paid = D(m.paid)
        values: dict[str, object] = {
            "uso_empresa": m.uso_empresa,
            "nosso_numero": m.nosso_numero,
            "codigo_ocorrencia": m.codigo,
            "data_ocorrencia": m.on,
            "seu_numero": m.seu_numero,
            "valor_titulo": D(m.titulo),
            "valor_tarifa": D(m.tarifa),
            "valor_abatimento": D(m.abatimento),
            "valor_desconto": D(m.desconto),
            "valor_pago": paid,
            "valor_liquido": paid - D(m.tarifa) if paid else D(0),
            "valor_juros": D(m.juros),
            "data_credito": m.credit_on,
            "motivo": m.motivo,
        }
        lines.append(
            build_line(
                layout.fields,
                {k: v for k, v in values.items() if k in names},  # type: ignore[misc]
                400,
                literals={(1, 1): detail_type, (395, 400): f"{index + 2:06d}"},
            )
        )
    lines.append(
        build_line(
            (),
            {},
            400,
            literals={(1, 1): "9", (2, 4): "201", (5, 7): bank, (395, 400): "999999"},
        )
    )
    return ("\r\n".join(lines) + "\r\n").encode("latin-1")


# --- rows written in SQL, for migration tests (the models may be ahead of the schema) ---------


def raw_id(engine: Engine) -> str:
    """A new id as the database stores it (SQLite keeps UUIDs as 32 hex digits)."""
    value = uuid.uuid4()
    return str(value) if engine.dialect.name == "postgresql" else value.hex


def raw_tenant_and_customer(conn: Connection, tenant: str, customer: str) -> None:
    """One tenant and one customer, inserted with the columns every migration has had."""
    conn.execute(
        text(
            "INSERT INTO tenant (id, slug, legal_name, document, address, city, uf, timezone, "
            "created_at, updated_at) VALUES (:id, 'm', 'M Ltda', '11222333000181', 'Rua A', "
            "'São Paulo', 'SP', 'America/Sao_Paulo', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
        ),
        {"id": tenant},
    )
    conn.execute(
        text(
            "INSERT INTO customer (id, tenant_id, external_id, document, document_kind, name, "
            "tags, consumer, deceased, disputed, superendividamento, do_not_contact, "
            "created_at, updated_at) VALUES (:id, :t, 'C1', '52998224725', 'cpf', 'Maria', "
            "'[]', false, false, false, false, false, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
        ),
        {"id": customer, "t": tenant},
    )


def pay(session: Session, tenant: Tenant, item: Receivable, gross: str, on: date, **kw: Any):  # type: ignore[no-untyped-def]
    """A payment through ``settlement.apply_payment`` (a PIX by default, keyed by its values)."""
    from adimple.payments.settlement import apply_payment
    from adimple.portfolio.models import PaymentSource

    kw.setdefault("external_id", f"pix:{item.external_id}:{gross}:{on}")
    kw.setdefault("source", PaymentSource.PIX)
    return apply_payment(
        session,
        tenant_id=tenant.id,
        receivable_id=item.id,
        gross=Decimal(gross),
        paid_on=on,
        actor="test",
        **kw,
    )
