"""The daily cycle's rows no longer lock customers, contact points and títulos (issue 4).

Drops four foreign keys: outbox_message → customer and → contact_point, outbox_receivable →
receivable, contact_suppression → customer.

Why: on PostgreSQL a foreign-key check locks the referenced row (``SELECT … FOR KEY SHARE``),
which writes the lock into that row's page. A 10M-título day writes about 27,000 outbox rows,
40,000 links and 7,000 suppressions, each pointing at a different customer, contact point or
título. So each check dirtied a random page of a multi-gigabyte table, and after a checkpoint
that page went into the WAL whole. One day wrote 840 MB of WAL, 110,000 full-page images, and
PostgreSQL's backends had to write out dirty buffers themselves. Without these four keys the
same day writes 270 MB, and the run takes 11–16 s instead of 18–23 s (docs/benchmarks.md,
"Daily cycle", session 7).

What keeps the references valid: the cycle writes these rows from the customers, contact
points and títulos it read in the same transaction; títulos and collection cases are never
deleted; a customer can be deleted only without títulos (portfolio.service.delete_customer),
which now also deletes that customer's outbox rows and suppressions explicitly, as the
cascades did. The keys to the tenant, the case, the cadence version and the outbox row stay:
those rows are few or were written by the same transaction, so checking them costs no page
writes.

Revision ID: 0014_day_rows_without_big_fks
Revises: 0013_outbox_claim_index
Create Date: 2026-11-23 08:45:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014_day_rows_without_big_fks"
down_revision: str | None = "0013_outbox_claim_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, column, referenced table, on delete)
KEYS = [
    ("outbox_message", "customer_id", "customer", "CASCADE"),
    ("outbox_message", "contact_point_id", "contact_point", "SET NULL"),
    ("outbox_receivable", "receivable_id", "receivable", "CASCADE"),
    ("contact_suppression", "customer_id", "customer", "CASCADE"),
]


def _name(table: str, column: str, referred: str) -> str:
    return f"fk_{table}_{column}_{referred}"


def upgrade() -> None:
    for table in dict.fromkeys(t for t, _, _, _ in KEYS):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for _, column, referred, _ in (k for k in KEYS if k[0] == table):
                batch_op.drop_constraint(_name(table, column, referred), type_="foreignkey")


def downgrade() -> None:
    for table in dict.fromkeys(t for t, _, _, _ in KEYS):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for _, column, referred, ondelete in (k for k in KEYS if k[0] == table):
                batch_op.create_foreign_key(
                    _name(table, column, referred), referred, [column], ["id"], ondelete=ondelete
                )
