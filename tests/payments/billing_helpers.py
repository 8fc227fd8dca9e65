"""Builders for the billing tests: a customer, a receivable and the tenant's settings."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from adimple.payments.billing import service
from adimple.payments.billing.schemas import BillingSettingsInput
from adimple.portfolio.models import Customer, DocumentKind, Receivable

MARIA_CPF = "52998224725"
PADARIA_CNPJ = "11444777000161"
ITAU = {
    "bank": "341",
    "agencia": "1234",
    "conta": "12345",
    "conta_dv": "6",
    "carteira": "109",
}
PIX = {
    "key": "financeiro@loja.example",
    "merchant_name": "Loja Exemplo",
    "merchant_city": "São Paulo",
}


def customer(
    session: Session,
    tenant: Any,
    *,
    document: str = MARIA_CPF,
    name: str = "Maria da Silva",
    consumer: bool = False,
) -> Customer:
    kind = DocumentKind.CPF if len(document) == 11 else DocumentKind.CNPJ
    row = Customer(
        tenant_id=tenant.id,
        external_id=f"C-{uuid.uuid4().hex[:8]}",
        document=document,
        document_kind=kind,
        name=name,
        uf="SP",
        municipality="São Paulo",
        tags=[],
        consumer=consumer,
    )
    session.add(row)
    session.flush()
    return row


def receivable(
    session: Session,
    tenant: Any,
    owner: Customer,
    *,
    due: date,
    amount: str = "1234.56",
    external_id: str | None = None,
    issue: date = date(2026, 1, 5),
) -> Receivable:
    value = Decimal(amount)
    row = Receivable(
        tenant_id=tenant.id,
        customer_id=owner.id,
        external_id=external_id or f"T-{uuid.uuid4().hex[:8]}",
        issue_date=issue,
        due_date=due,
        original_amount=value,
        balance=value,
    )
    session.add(row)
    session.flush()
    return row


def configure(
    session: Session,
    tenant: Any,
    *,
    boleto: dict[str, Any] | None = ITAU,
    pix: dict[str, Any] | None = PIX,
    psp: dict[str, Any] | None = None,
) -> Any:
    document = BillingSettingsInput.model_validate({"boleto": boleto, "pix": pix, "psp": psp})
    return service.save_settings(session, tenant_id=tenant.id, document=document, actor="test")


def psp_settings(psp: Any, **extra: Any) -> dict[str, Any]:
    return {
        "base_url": psp.base_url,
        "client_id": psp.client_id,
        "client_secret": psp.client_secret,
        **extra,
    }
