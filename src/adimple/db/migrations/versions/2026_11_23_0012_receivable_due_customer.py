"""receivable (tenant_id, status, due_date) index gains customer_id

The daily cycle splits a day into customer-id ranges (partitions), and each partition selects
the títulos due on its reminder dates and the newly overdue ones through this index. Without
the customer id in the index every partition fetched every such título from the heap and
kept only its own: eight partitions read the day's títulos eight times. With it, the range
is checked inside the index and each partition reads only its own rows.

Revision ID: 0012_receivable_due_customer
Revises: 0011_receivable_last_paid
Create Date: 2026-11-23 03:20:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012_receivable_due_customer"
down_revision: str | None = "0011_receivable_last_paid"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("receivable", schema=None) as batch_op:
        batch_op.drop_index("ix_receivable_tenant_status_due")
        batch_op.create_index(
            "ix_receivable_tenant_status_due",
            ["tenant_id", "status", "due_date", "customer_id"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("receivable", schema=None) as batch_op:
        batch_op.drop_index("ix_receivable_tenant_status_due")
        batch_op.create_index(
            "ix_receivable_tenant_status_due", ["tenant_id", "status", "due_date"], unique=False
        )
