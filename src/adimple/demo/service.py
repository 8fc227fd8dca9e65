"""``adimple demo``: a demo creditor, a generated portfolio loaded through the import path,
and a summary of what is owed."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from adimple.demo.portfolio import DemoFiles, generate
from adimple.portfolio import service as portfolio
from adimple.portfolio.import_file import ImportKind, load
from adimple.portfolio.models import Customer, Receivable, ReceivableStatus
from adimple.tenancy import service as tenancy
from adimple.tenancy.models import Tenant

DEMO_SLUG = "demo"

AGING_BUCKETS: list[tuple[str, int, int | None]] = [
    ("1–30 dias", 1, 30),
    ("31–60 dias", 31, 60),
    ("61–90 dias", 61, 90),
    ("91–180 dias", 91, 180),
    ("181–360 dias", 181, 360),
    ("mais de 360 dias", 361, None),
]


@dataclass
class Summary:
    customers: int
    receivables: int
    open_count: int
    open_balance: Decimal
    overdue_count: int
    overdue_balance: Decimal
    overdue_customers: int
    aging: list[tuple[str, int, Decimal]]


def demo_tenant(session: Session) -> Tenant:
    existing = session.scalar(select(Tenant).where(Tenant.slug == DEMO_SLUG))
    if existing is not None:
        return existing
    return tenancy.create_tenant(
        session,
        slug=DEMO_SLUG,
        legal_name="Loja Exemplo Comércio de Eletrodomésticos Ltda",
        trade_name="Loja Exemplo",
        document="11.222.333/0001-81",
        address="Avenida Paulista, 1578, 10º andar, Bela Vista",
        city="São Paulo",
        uf="SP",
        postal_code="01310200",
        contact_email="cobranca@lojaexemplo.example",
        contact_phone="+551140040000",
    )


def load_portfolio(
    session: Session, tenant_id: uuid.UUID, files: DemoFiles
) -> list[portfolio.ImportResult]:
    """Imports the generated files exactly as `adimple import` would."""
    results = []
    for path, kind in (
        (files.customers, ImportKind.CUSTOMERS),
        (files.receivables, ImportKind.RECEIVABLES),
        (files.payments, ImportKind.PAYMENTS),
    ):
        validated, _ = load(path, kind)
        results.append(
            portfolio.import_validated(
                session,
                tenant_id=tenant_id,
                kind=kind,
                validated=validated,
                source=path.name,
                actor="demo",
            )
        )
    return results


def configure_billing(session: Session, tenant: Tenant) -> None:
    """Boleto (Itaú, carteira 109) and a static PIX key, so every portal page can show how to
    pay. No PSP: the demo's PIX is a static BR Code (nothing leaves the machine)."""
    from adimple.payments.billing import service as billing
    from adimple.payments.billing.schemas import BillingSettingsInput

    if billing.get_settings(session, tenant_id=tenant.id) is not None:
        return
    billing.save_settings(
        session,
        tenant_id=tenant.id,
        document=BillingSettingsInput.model_validate(
            {
                "boleto": {
                    "bank": "341",
                    "agencia": "1234",
                    "conta": "12345",
                    "conta_dv": "6",
                    "carteira": "109",
                },
                "pix": {
                    "key": "cobranca@lojaexemplo.example",
                    "merchant_name": "Loja Exemplo",
                    "merchant_city": "Sao Paulo",
                },
            }
        ),
        actor="demo",
    )


@dataclass(frozen=True)
class PortalAccess:
    """A demo debtor's way into the portal: the link of a message just sent, and what the
    identity confirmation asks for."""

    url: str
    name: str
    document: str
    birth_date: date


def portal_access(session: Session, tenant_id: uuid.UUID, rows: list[Any]) -> PortalAccess | None:
    """The first e-mail sent to a debtor with a birth date on file (CPF + birth date login)."""
    for row in rows:
        if row.status.value != "sent" or not row.body or "/portal/l/" not in row.body:
            continue
        customer = session.get(Customer, row.customer_id)
        if customer is None or customer.tenant_id != tenant_id or customer.birth_date is None:
            continue
        match = re.search(r"https?://\S+/portal/l/[A-Za-z0-9_\-.]+", row.body)
        if match:
            return PortalAccess(
                match.group(0).rstrip("."), customer.name, customer.document, customer.birth_date
            )
    return None


def build(
    session: Session, *, customers: int, seed: int, today: date, directory: Path, history_days: int
) -> tuple[Tenant, list[portfolio.ImportResult]]:
    tenant = demo_tenant(session)
    configure_billing(session, tenant)
    files = generate(
        directory, customers=customers, today=today, seed=seed, history_days=history_days
    )
    return tenant, load_portfolio(session, tenant.id, files)


def summarize(session: Session, tenant_id: uuid.UUID, today: date) -> Summary:
    is_open = Receivable.status == ReceivableStatus.OPEN
    overdue = is_open & (Receivable.due_date < today)
    row = session.execute(
        select(
            func.count(),
            func.sum(case((is_open, 1), else_=0)),
            func.sum(case((is_open, Receivable.balance), else_=None)),
            func.sum(case((overdue, 1), else_=0)),
            func.sum(case((overdue, Receivable.balance), else_=None)),
            func.count(func.distinct(case((overdue, Receivable.customer_id), else_=None))),
        ).where(Receivable.tenant_id == tenant_id)
    ).one()
    customers = session.scalar(
        select(func.count()).select_from(Customer).where(Customer.tenant_id == tenant_id)
    )
    aging: list[tuple[str, int, Decimal]] = []
    for label, low, high in AGING_BUCKETS:
        # days late = today − due date: due between today−high and today−low
        conditions = [
            Receivable.tenant_id == tenant_id,
            is_open,
            Receivable.due_date <= today - timedelta(days=low),
        ]
        if high is not None:
            conditions.append(Receivable.due_date >= today - timedelta(days=high))
        count, balance = session.execute(
            select(func.count(), func.sum(Receivable.balance)).where(*conditions)
        ).one()
        aging.append((label, int(count), balance or Decimal("0.00")))
    return Summary(
        customers=int(customers or 0),
        receivables=int(row[0]),
        open_count=int(row[1] or 0),
        open_balance=row[2] or Decimal("0.00"),
        overdue_count=int(row[3] or 0),
        overdue_balance=row[4] or Decimal("0.00"),
        overdue_customers=int(row[5] or 0),
        aging=aging,
    )
