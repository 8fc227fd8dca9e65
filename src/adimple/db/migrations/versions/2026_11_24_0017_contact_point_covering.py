"""contact_point: the customer index carries the columns the daily cycle reads (issue 4).

The cycle reads the contact points of every customer it contacts or decides about, tens of
thousands a day, by customer: with the plain (tenant, customer) index each point cost a random
read of the table's page. With the columns the cycle reads in the index (``INCLUDE``, PostgreSQL
11+) it is an index-only scan: at 10M títulos a partition's 8,200 points took 12.5 ms instead of
28 ms (docs/benchmarks.md, "Daily cycle", session 13). SQLite has no ``INCLUDE``, and there the
index stays what it was.

The new index is built under a name of its own and takes the old one's name at the end: the
build holds a ``SHARE`` lock (reads go on, writes to contact points wait; 7 s for 5.4 million
points on the benchmark machine), and only the drop and the rename, just before the commit, need
the table to themselves.

Revision ID: 0017_contact_point_covering
Revises: 0016_day_rows_without_fks
Create Date: 2026-11-24 01:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0017_contact_point_covering"
down_revision: str | None = "0016_day_rows_without_fks"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As in adimple.portfolio.models.CONTACT_POINT_READ_COLUMNS, written out: a migration must
# not change when the models do.
COLUMNS = [
    "id",
    "kind",
    "value",
    "owner",
    "verified",
    "preferred",
    "preferred_channel",
    "invalid_at",
    "best_hour_start",
    "best_hour_end",
]


NAME = "ix_contact_point_tenant_customer"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.create_index(
        f"{NAME}_new", "contact_point", ["tenant_id", "customer_id"], postgresql_include=COLUMNS
    )
    op.drop_index(NAME, table_name="contact_point")
    op.execute(f"ALTER INDEX {NAME}_new RENAME TO {NAME}")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.create_index(f"{NAME}_old", "contact_point", ["tenant_id", "customer_id"])
    op.drop_index(NAME, table_name="contact_point")
    op.execute(f"ALTER INDEX {NAME}_old RENAME TO {NAME}")
