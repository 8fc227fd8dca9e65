"""Migration 0004 on a database that already has payments: they are allocated gross-to-principal
in payment order, capped by the receivable's amount; the excess becomes a pending refund."""

from __future__ import annotations

from recon_helpers import raw_id, raw_tenant_and_customer
from sqlalchemy import Engine, text

from adimple.db.migrate import upgrade


def test_existing_payments_are_allocated(fresh_engine: Engine) -> None:
    upgrade(fresh_engine, "0003_cadence")
    tenant, customer, receivable = raw_id(fresh_engine), raw_id(fresh_engine), raw_id(fresh_engine)
    with fresh_engine.begin() as conn:
        raw_tenant_and_customer(conn, tenant, customer)
        conn.execute(
            text(
                "INSERT INTO receivable (id, tenant_id, customer_id, external_id, issue_date, "
                "due_date, original_amount_cents, balance_cents, status, created_at, updated_at) "
                "VALUES (:id, :t, :c, 'T1', '2026-01-01', '2026-02-01', 10000, 0, 'paid', "
                "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            ),
            {"id": receivable, "t": tenant, "c": customer},
        )
        for external_id, paid_on, cents in (("P2", "2026-02-05", 5000), ("P1", "2026-02-01", 7000)):
            conn.execute(
                text(
                    "INSERT INTO payment (id, tenant_id, external_id, receivable_id, customer_id, "
                    "source, gross_cents, fees_cents, net_cents, paid_on, details, created_at, "
                    "updated_at) VALUES (:id, :t, :e, :r, :c, 'import', :g, 0, :g, :p, '{}', "
                    "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                ),
                {"id": raw_id(fresh_engine), "t": tenant, "e": external_id, "r": receivable,
                 "c": customer, "g": cents, "p": paid_on},
            )  # fmt: skip
    upgrade(fresh_engine)
    with fresh_engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT external_id, principal_cents, overpaid_cents, charges_cents, "
                "imputation, refund_status FROM payment ORDER BY external_id"
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        ("P1", 7000, 0, 0, "principal_only", "none"),
        ("P2", 3000, 2000, 0, "principal_only", "pending"),
    ]
