"""``receivable.last_paid_on`` follows the payments whichever path writes them (triggers of
migration 0011): settlement, the import's upsert, estorno, a payment moved or re-dated by
hand — and the migration fills it for payments recorded before it. On SQLite and PostgreSQL.

The daily cycle's segment features read this column instead of the payments (the reference
engine still reads the payments, and the equivalence property compares the two).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from recon_helpers import (
    customer,
    no_charges_policy,
    pay,
    raw_id,
    raw_tenant_and_customer,
    receivable,
)
from sqlalchemy import Engine, select, text, update
from sqlalchemy.orm import Session

from adimple.db.migrate import upgrade
from adimple.portfolio import service as portfolio
from adimple.portfolio.import_file import ImportKind
from adimple.portfolio.models import Payment, Receivable
from adimple.portfolio.schemas import PaymentCreate
from adimple.tenancy.models import Tenant

DUE = date(2026, 10, 1)


def _last_paid(session: Session, item: Receivable) -> date | None:
    session.flush()
    return session.execute(
        select(Receivable.last_paid_on).where(Receivable.id == item.id)
    ).scalar_one()


def test_settlement_moves_it_forward_only(session: Session, tenant: Tenant) -> None:
    no_charges_policy(session, tenant.id)
    item = receivable(
        session, tenant.id, customer(session, tenant.id), external_id="T1", amount="300.00", due=DUE
    )
    assert _last_paid(session, item) is None
    pay(session, tenant, item, "100.00", date(2026, 10, 5))
    assert _last_paid(session, item) == date(2026, 10, 5)
    pay(session, tenant, item, "100.00", date(2026, 10, 20))
    assert _last_paid(session, item) == date(2026, 10, 20)
    # A payment recorded late but made earlier (a bank file arriving after a PIX) does not
    # move it back.
    pay(session, tenant, item, "100.00", date(2026, 10, 2))
    assert _last_paid(session, item) == date(2026, 10, 20)


def test_estorno_goes_back_to_the_payments_left(session: Session, tenant: Tenant) -> None:
    no_charges_policy(session, tenant.id)
    item = receivable(
        session, tenant.id, customer(session, tenant.id), external_id="T1", amount="300.00", due=DUE
    )
    first = pay(session, tenant, item, "100.00", date(2026, 10, 5)).payment
    latest = pay(session, tenant, item, "100.00", date(2026, 10, 20)).payment
    portfolio.delete_payment(session, tenant_id=tenant.id, payment_id=latest.id, actor="test")
    assert _last_paid(session, item) == date(2026, 10, 5)
    portfolio.delete_payment(session, tenant_id=tenant.id, payment_id=first.id, actor="test")
    assert _last_paid(session, item) is None


def test_import_upsert_sets_and_redates_it(session: Session, tenant: Tenant) -> None:
    item = receivable(
        session, tenant.id, customer(session, tenant.id), external_id="T1", amount="100.00", due=DUE
    )

    def load(paid_on: date) -> None:
        portfolio.bulk_upsert(
            session,
            tenant_id=tenant.id,
            kind=ImportKind.PAYMENTS,
            items=[
                PaymentCreate(
                    external_id="P1",
                    receivable_external_id="T1",
                    paid_on=paid_on,
                    amount=Decimal("100.00"),
                )
            ],
            actor="test",
        )

    load(date(2026, 10, 9))
    assert _last_paid(session, item) == date(2026, 10, 9)
    load(date(2026, 10, 3))  # the same payment, its date corrected: the date goes back too
    assert _last_paid(session, item) == date(2026, 10, 3)


def test_a_payment_moved_to_another_titulo(session: Session, tenant: Tenant) -> None:
    no_charges_policy(session, tenant.id)
    owner = customer(session, tenant.id)
    wrong = receivable(session, tenant.id, owner, external_id="T1", amount="100.00", due=DUE)
    right = receivable(session, tenant.id, owner, external_id="T2", amount="100.00", due=DUE)
    payment = pay(session, tenant, wrong, "50.00", date(2026, 10, 7)).payment
    session.execute(update(Payment).where(Payment.id == payment.id).values(receivable_id=right.id))
    assert _last_paid(session, wrong) is None
    assert _last_paid(session, right) == date(2026, 10, 7)


def test_the_migration_fills_it_from_existing_payments(fresh_engine: Engine) -> None:
    upgrade(fresh_engine, "0010_portal")

    def new_id() -> str:
        return raw_id(fresh_engine)

    tenant, owner, paid, unpaid = new_id(), new_id(), new_id(), new_id()
    with fresh_engine.begin() as conn:
        raw_tenant_and_customer(conn, tenant, owner)
        for rid, external_id in ((paid, "T1"), (unpaid, "T2")):
            conn.execute(
                text(
                    "INSERT INTO receivable (id, tenant_id, customer_id, external_id, issue_date, "
                    "due_date, original_amount_cents, balance_cents, status, created_at, "
                    "updated_at) VALUES (:id, :t, :c, :x, '2026-01-01', '2026-02-01', 10000, "
                    "10000, 'open', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                ),
                {"id": rid, "t": tenant, "c": owner, "x": external_id},
            )
        for external_id, paid_on in (("P1", "2026-02-09"), ("P2", "2026-02-03")):
            conn.execute(
                text(
                    "INSERT INTO payment (id, tenant_id, external_id, receivable_id, customer_id, "
                    "source, gross_cents, fees_cents, net_cents, paid_on, details, created_at, "
                    "updated_at) VALUES (:id, :t, :x, :r, :c, 'import', 1000, 0, 1000, :on, "
                    "'{}', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                ),
                {
                    "id": new_id(),
                    "t": tenant,
                    "x": external_id,
                    "r": paid,
                    "c": owner,
                    "on": paid_on,
                },
            )
    upgrade(fresh_engine)
    with fresh_engine.connect() as conn:
        found = dict(conn.execute(text("SELECT external_id, last_paid_on FROM receivable")).all())
    assert {k: str(v) if v is not None else None for k, v in found.items()} == {
        "T1": "2026-02-09",
        "T2": None,
    }
