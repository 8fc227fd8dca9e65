"""collection_case: the daily selection's index ends with the customer (issue 4).

Each partition of the daily cycle asks for the live cases with a step due, in its range of
customers. With ``(tenant_id, status, next_step_on)`` the range could only be checked on the
case's row: each of the eight partitions fetched the row of every due case of the tenant (4,800
at 10M títulos) and kept an eighth of them. With the customer as the index's last column the
range is checked in the index, and only the partition's own cases are fetched: the day's page
reads of ``collection_case`` fell from 13,100–14,100 to 7,500 (docs/benchmarks.md, session 16).

On PostgreSQL it is built under a name of its own, then renamed (as 0017): the build holds a
``SHARE`` lock, reads go on and only the drop and the rename need the table to themselves.
SQLite, which cannot rename an index, drops and builds it in the migration's transaction.

Revision ID: 0019_due_case_customer
Revises: 0018_secrets_at_rest
Create Date: 2026-11-24 09:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0019_due_case_customer"
down_revision: str | None = "0018_secrets_at_rest"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "ix_collection_case_tenant_status_next"


def _replace(columns: list[str]) -> None:
    if op.get_bind().dialect.name != "postgresql":
        op.drop_index(NAME, table_name="collection_case")
        op.create_index(NAME, "collection_case", columns)
        return
    op.create_index(f"{NAME}_new", "collection_case", columns)
    op.drop_index(NAME, table_name="collection_case")
    op.execute(f"ALTER INDEX {NAME}_new RENAME TO {NAME}")


def upgrade() -> None:
    _replace(["tenant_id", "status", "next_step_on", "customer_id"])


def downgrade() -> None:
    _replace(["tenant_id", "status", "next_step_on"])
