"""billing: boleto/PIX settings per tenant, allocated references, charge documents

Revision ID: 0005_billing
Revises: 0004_reconciliation
Create Date: 2026-11-22 18:17:30.602559
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import adimple.db.base

revision: str = "0005_billing"
down_revision: str | None = "0004_reconciliation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "billing_settings",
        sa.Column("bank_code", sa.String(length=3), nullable=True),
        sa.Column("agencia", sa.String(length=10), nullable=True),
        sa.Column("conta", sa.String(length=20), nullable=True),
        sa.Column("conta_dv", sa.String(length=2), nullable=True),
        sa.Column("carteira", sa.String(length=5), nullable=True),
        sa.Column("convenio", sa.String(length=20), nullable=True),
        sa.Column("codigo_beneficiario", sa.String(length=20), nullable=True),
        sa.Column("bank_options", sa.JSON(), nullable=False),
        sa.Column("nosso_numero_next", sa.BigInteger(), nullable=False),
        sa.Column("boleto_days_to_pay", sa.Integer(), nullable=False),
        sa.Column("pix_key", sa.String(length=77), nullable=True),
        sa.Column("merchant_name", sa.String(length=25), nullable=True),
        sa.Column("merchant_city", sa.String(length=15), nullable=True),
        sa.Column("psp_base_url", sa.String(length=300), nullable=True),
        sa.Column("psp_client_id", sa.String(length=200), nullable=True),
        sa.Column("psp_client_secret", sa.String(length=500), nullable=True),
        sa.Column("psp_cert_path", sa.String(length=500), nullable=True),
        sa.Column("psp_key_path", sa.String(length=500), nullable=True),
        sa.Column("psp_webhook_url", sa.String(length=300), nullable=True),
        sa.Column("cobv_validity_days", sa.Integer(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column(
            "created_at",
            adimple.db.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            adimple.db.base.UTCDateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "boleto_days_to_pay BETWEEN 1 AND 30",
            name=op.f("ck_billing_settings_days_to_pay_range"),
        ),
        sa.CheckConstraint(
            "cobv_validity_days BETWEEN 0 AND 365", name=op.f("ck_billing_settings_validity_range")
        ),
        sa.CheckConstraint(
            "nosso_numero_next >= 1", name=op.f("ck_billing_settings_nosso_numero_next_positive")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_billing_settings_tenant_id_tenant"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_settings")),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_billing_settings_tenant_id")),
    )
    op.create_table(
        "billing_reference",
        sa.Column(
            "kind",
            sa.Enum(
                "nosso_numero",
                "txid",
                name="billing_reference_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("value", sa.String(length=35), nullable=False),
        sa.Column("receivable_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", adimple.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["receivable_id"],
            ["receivable.id"],
            name=op.f("fk_billing_reference_receivable_id_receivable"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_billing_reference_tenant_id_tenant"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_reference")),
        sa.UniqueConstraint(
            "tenant_id", "kind", "value", name=op.f("uq_billing_reference_tenant_id_kind_value")
        ),
    )
    with op.batch_alter_table("billing_reference", schema=None) as batch_op:
        batch_op.create_index(
            "ix_billing_reference_tenant_receivable", ["tenant_id", "receivable_id"], unique=False
        )

    op.create_table(
        "charge_document",
        sa.Column("receivable_id", sa.Uuid(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "boleto",
                "pix",
                name="charge_kind",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column(
            "pix_mode",
            sa.Enum(
                "static",
                "cobv",
                name="pix_mode",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=True,
        ),
        sa.Column("basis_balance_cents", adimple.db.base.Money(), nullable=False),
        sa.Column("basis_due_date", sa.Date(), nullable=False),
        sa.Column("terms_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("amount_cents", adimple.db.base.Money(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("expires_on", sa.Date(), nullable=False),
        sa.Column("bank_code", sa.String(length=3), nullable=True),
        sa.Column("nosso_numero", sa.String(length=30), nullable=True),
        sa.Column("nosso_numero_printed", sa.String(length=40), nullable=True),
        sa.Column("barcode", sa.String(length=44), nullable=True),
        sa.Column("linha_digitavel", sa.String(length=47), nullable=True),
        sa.Column("txid", sa.String(length=35), nullable=True),
        sa.Column("br_code", sa.Text(), nullable=True),
        sa.Column("psp_location", sa.String(length=300), nullable=True),
        sa.Column("psp_status", sa.String(length=40), nullable=True),
        sa.Column("psp_revision", sa.Integer(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("created_at", adimple.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("superseded_at", adimple.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("amount_cents > 0", name=op.f("ck_charge_document_amount_positive")),
        sa.ForeignKeyConstraint(
            ["receivable_id"],
            ["receivable.id"],
            name=op.f("fk_charge_document_receivable_id_receivable"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_charge_document_tenant_id_tenant"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_charge_document")),
    )
    with op.batch_alter_table("charge_document", schema=None) as batch_op:
        batch_op.create_index(
            "ix_charge_document_tenant_receivable", ["tenant_id", "receivable_id"], unique=False
        )
        batch_op.create_index("ix_charge_document_tenant_txid", ["tenant_id", "txid"], unique=False)
        batch_op.create_index(
            "uq_charge_document_current",
            ["tenant_id", "receivable_id", "kind"],
            unique=True,
            sqlite_where=sa.text("superseded_at IS NULL"),
            postgresql_where=sa.text("superseded_at IS NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("charge_document", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_charge_document_current",
            sqlite_where=sa.text("superseded_at IS NULL"),
            postgresql_where=sa.text("superseded_at IS NULL"),
        )
        batch_op.drop_index("ix_charge_document_tenant_txid")
        batch_op.drop_index("ix_charge_document_tenant_receivable")

    op.drop_table("charge_document")
    with op.batch_alter_table("billing_reference", schema=None) as batch_op:
        batch_op.drop_index("ix_billing_reference_tenant_receivable")

    op.drop_table("billing_reference")
    op.drop_table("billing_settings")
