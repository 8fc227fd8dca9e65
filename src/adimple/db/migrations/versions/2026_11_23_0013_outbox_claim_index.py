"""outbox_message: partial claim and provider indexes (issue 5, dispatch throughput).

The claim index holds only claimable rows (``queued``, ``sending``) on PostgreSQL and the
provider index only rows with a provider id (both databases): recording a send, or claiming
a row, then writes one index entry less each (docs/benchmarks.md "Dispatch", session 5).

Revision ID: 0013_outbox_claim_index
Revises: 0012_receivable_due_customer
Create Date: 2026-11-23 02:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_outbox_claim_index"
down_revision: str | None = "0012_receivable_due_customer"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CLAIMABLE = sa.text("status IN ('queued', 'sending')")
WITH_ID = sa.text("provider_message_id IS NOT NULL")


def upgrade() -> None:
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_message_claim")
        batch_op.drop_index("ix_outbox_message_provider_message")
        batch_op.create_index(
            "ix_outbox_message_claim",
            ["status", "next_attempt_at"],
            unique=False,
            postgresql_where=CLAIMABLE,
        )
        batch_op.create_index(
            "ix_outbox_message_provider_message",
            ["provider", "provider_message_id"],
            unique=False,
            postgresql_where=WITH_ID,
            sqlite_where=WITH_ID,
        )


def downgrade() -> None:
    with op.batch_alter_table("outbox_message", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_message_provider_message")
        batch_op.drop_index("ix_outbox_message_claim")
        batch_op.create_index(
            "ix_outbox_message_provider_message", ["provider", "provider_message_id"], unique=False
        )
        batch_op.create_index(
            "ix_outbox_message_claim", ["status", "next_attempt_at"], unique=False
        )
