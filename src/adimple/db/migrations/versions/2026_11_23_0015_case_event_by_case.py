"""case_event: one unique index (tenant, case, key) instead of two (issue 4, daily cycle).

Every event's idempotency key names its case ("step:<case>:<step>", "opened:<case>", …), so
unique per (tenant, case, key) is the same rule as unique per (tenant, key), and the one index
also answers "the events of a case", which had an index of its own. A day's cycle writes about
10,000 events, each into random leaves of these indexes (the case ids are random): after a
checkpoint PostgreSQL writes each leaf it first touches whole into the WAL, and the two indexes
were a third of a 10M day's full-page images (docs/benchmarks.md, "Daily cycle", session 7).

Revision ID: 0015_case_event_by_case
Revises: 0014_day_rows_without_big_fks
Create Date: 2026-11-23 09:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015_case_event_by_case"
down_revision: str | None = "0014_day_rows_without_big_fks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("case_event", schema=None) as batch_op:
        batch_op.create_unique_constraint(
            "uq_case_event_tenant_id_case_id_idempotency_key",
            ["tenant_id", "case_id", "idempotency_key"],
        )
        batch_op.drop_constraint("uq_case_event_tenant_id_idempotency_key", type_="unique")
        batch_op.drop_index("ix_case_event_tenant_case")


def downgrade() -> None:
    with op.batch_alter_table("case_event", schema=None) as batch_op:
        batch_op.create_index("ix_case_event_tenant_case", ["tenant_id", "case_id"], unique=False)
        batch_op.create_unique_constraint(
            "uq_case_event_tenant_id_idempotency_key", ["tenant_id", "idempotency_key"]
        )
        batch_op.drop_constraint("uq_case_event_tenant_id_case_id_idempotency_key", type_="unique")
