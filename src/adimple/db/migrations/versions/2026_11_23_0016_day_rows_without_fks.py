"""The rows the daily cycle writes by the thousand carry no foreign keys (issue 4).

Drops eleven foreign keys: outbox_message → tenant, → collection_case and → cadence_version;
outbox_receivable → tenant and → outbox_message; case_event → tenant and → collection_case;
contact_suppression → tenant and → collection_case; collection_case → customer and →
receivable (its anchor).

Why: PostgreSQL checks a foreign key per inserted row, with a trigger that runs a locking
``SELECT … FOR KEY SHARE`` on the referenced row. A 10M-título day inserts about 27,000 outbox
rows, 28,000 links, 10,000 case events and 7,000 suppressions, each with two or three keys:
about 150,000 such queries. Under ``auto_explain`` they were about a fifth of the day's server
time (docs/benchmarks.md, "Daily cycle", session 11). A new case's keys to the customer and the
título also locked (and wrote) a random page of those big tables, as migration 0014 found for
the outbox rows.

What keeps the references valid, as for migration 0014: the cycle writes these rows from the
tenant, cases, cadence versions and outbox rows it read or wrote in the same transaction, and
``tests/cadence/test_cycle.py`` checks every reference a run writes. Tenants, cadence versions,
collection cases and títulos have no delete path; a customer can be deleted only without
títulos (so without cases), and ``portfolio.service.delete_customer`` deletes whatever rows of
these tables name it, as the cascades did. The keys of the rows written by the hundred (tasks,
credit-bureau records) and of a case to its tenant and cadence version stay.

Revision ID: 0016_day_rows_without_fks
Revises: 0015_case_event_by_case
Create Date: 2026-11-23 20:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0016_day_rows_without_fks"
down_revision: str | None = "0015_case_event_by_case"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, column, referenced table, on delete)
KEYS = [
    ("outbox_message", "tenant_id", "tenant", "CASCADE"),
    ("outbox_message", "case_id", "collection_case", "SET NULL"),
    ("outbox_message", "cadence_version_id", "cadence_version", "SET NULL"),
    ("outbox_receivable", "tenant_id", "tenant", "CASCADE"),
    ("outbox_receivable", "outbox_id", "outbox_message", "CASCADE"),
    ("case_event", "tenant_id", "tenant", "CASCADE"),
    ("case_event", "case_id", "collection_case", "CASCADE"),
    ("contact_suppression", "tenant_id", "tenant", "CASCADE"),
    ("contact_suppression", "case_id", "collection_case", "CASCADE"),
    ("collection_case", "customer_id", "customer", "CASCADE"),
    ("collection_case", "anchor_receivable_id", "receivable", "SET NULL"),
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
