"""receivable.last_paid_on, kept by triggers on payment; the customer index covers the
daily cycle's segment features

The segment rules (chronic late payer, loyal customer, never paid) look at each título's
latest payment date. Reading it from ``payment`` cost the daily cycle one index probe and one
heap fetch per título of every customer it classified — the largest part of a day's SQL at
10M títulos. The date now lives on the título, kept right by the database itself (triggers
on every insert, update and delete of a payment, whichever code path writes it), and the
``(tenant_id, customer_id)`` index grows into one that holds every column the features
read, so they come from an index-only scan.

On SQLite, a later migration that rebuilds ``receivable`` in batch mode must drop these
triggers first and create them again after (SQLite re-checks triggers on a table rename).

Revision ID: 0011_receivable_last_paid
Revises: 0010_portal
Create Date: 2026-11-23 02:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_receivable_last_paid"
down_revision: str | None = "0010_portal"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

PROFILE_COLUMNS = [
    "tenant_id",
    "customer_id",
    "status",
    "due_date",
    "issue_date",
    "balance_cents",
    "last_paid_on",
]

# The latest payment date of one título, recomputed (a delete or a changed date can lower it).
_LATEST = (
    "(SELECT MAX(p.paid_on) FROM payment AS p "
    "WHERE p.tenant_id = {row}.tenant_id AND p.receivable_id = {row}.receivable_id)"
)

PG_FUNCTION = f"""
CREATE OR REPLACE FUNCTION receivable_last_paid() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        -- A new payment can only move the date forward: no need to look at the others.
        UPDATE receivable SET last_paid_on = NEW.paid_on
        WHERE id = NEW.receivable_id
          AND (last_paid_on IS NULL OR last_paid_on < NEW.paid_on);
        RETURN NULL;
    END IF;
    UPDATE receivable SET last_paid_on = {_LATEST.format(row="OLD")}
    WHERE id = OLD.receivable_id;
    IF TG_OP = 'UPDATE' AND NEW.receivable_id <> OLD.receivable_id THEN
        UPDATE receivable SET last_paid_on = {_LATEST.format(row="NEW")}
        WHERE id = NEW.receivable_id;
    END IF;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql
"""

PG_TRIGGERS = [
    "CREATE TRIGGER payment_last_paid_insert AFTER INSERT ON payment "
    "FOR EACH ROW EXECUTE FUNCTION receivable_last_paid()",
    "CREATE TRIGGER payment_last_paid_update AFTER UPDATE OF paid_on, receivable_id "
    "ON payment FOR EACH ROW EXECUTE FUNCTION receivable_last_paid()",
    "CREATE TRIGGER payment_last_paid_delete AFTER DELETE ON payment "
    "FOR EACH ROW EXECUTE FUNCTION receivable_last_paid()",
]

SQLITE_TRIGGERS = [
    "CREATE TRIGGER payment_last_paid_insert AFTER INSERT ON payment BEGIN "
    "UPDATE receivable SET last_paid_on = NEW.paid_on WHERE id = NEW.receivable_id "
    "AND (last_paid_on IS NULL OR last_paid_on < NEW.paid_on); END",
    "CREATE TRIGGER payment_last_paid_update AFTER UPDATE OF paid_on, receivable_id "
    "ON payment BEGIN "
    f"UPDATE receivable SET last_paid_on = {_LATEST.format(row='OLD')} "
    "WHERE id = OLD.receivable_id; "
    f"UPDATE receivable SET last_paid_on = {_LATEST.format(row='NEW')} "
    "WHERE id = NEW.receivable_id; END",
    "CREATE TRIGGER payment_last_paid_delete AFTER DELETE ON payment BEGIN "
    f"UPDATE receivable SET last_paid_on = {_LATEST.format(row='OLD')} "
    "WHERE id = OLD.receivable_id; END",
]

TRIGGER_NAMES = ["payment_last_paid_insert", "payment_last_paid_update", "payment_last_paid_delete"]


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    with op.batch_alter_table("receivable", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_paid_on", sa.Date(), nullable=True))
    if postgres:
        # One grouped pass over payment instead of a probe per título.
        op.execute(
            "UPDATE receivable AS r SET last_paid_on = x.paid_on FROM "
            "(SELECT receivable_id, MAX(paid_on) AS paid_on FROM payment "
            "GROUP BY receivable_id) AS x WHERE r.id = x.receivable_id"
        )
    else:
        op.execute(
            "UPDATE receivable SET last_paid_on = (SELECT MAX(p.paid_on) FROM payment AS p "
            "WHERE p.receivable_id = receivable.id) "
            "WHERE EXISTS (SELECT 1 FROM payment AS p WHERE p.receivable_id = receivable.id)"
        )
    with op.batch_alter_table("receivable", schema=None) as batch_op:
        batch_op.drop_index("ix_receivable_tenant_customer")
        batch_op.create_index("ix_receivable_customer_profile", PROFILE_COLUMNS, unique=False)
    if postgres:
        op.execute(PG_FUNCTION)
        for statement in PG_TRIGGERS:
            op.execute(statement)
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for name in TRIGGER_NAMES:
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (" ON payment" if postgres else ""))
    if postgres:
        op.execute("DROP FUNCTION IF EXISTS receivable_last_paid()")
    with op.batch_alter_table("receivable", schema=None) as batch_op:
        batch_op.drop_index("ix_receivable_customer_profile")
        batch_op.create_index(
            "ix_receivable_tenant_customer", ["tenant_id", "customer_id"], unique=False
        )
    # A plain DROP COLUMN (SQLite ≥ 3.35): a batch copy of the table would lose the
    # expression index on the nosso número, which SQLite cannot reflect.
    op.execute("ALTER TABLE receivable DROP COLUMN last_paid_on")
