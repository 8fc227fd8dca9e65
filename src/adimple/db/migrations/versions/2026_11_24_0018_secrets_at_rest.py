"""Secrets at rest: the PSP client secret, the PSP webhook URL (it carries an API key) and the
values of channel secrets (passwords, tokens) are stored as Fernet tokens (adimple.kit.crypto).

The two billing columns become TEXT (a token is about a third longer than what it encrypts, plus
~60 characters). Every value already stored is encrypted here with the first of
``ADIMPLE_ENCRYPTION_KEYS`` (or the key derived from ``ADIMPLE_SECRET_KEY``), so the migration
must run with the same settings as the application. Downgrading decrypts them back.

Revision ID: 0018_secrets_at_rest
Revises: 0017_contact_point_covering
Create Date: 2026-11-24 03:30:00
"""

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

from adimple.kit.crypto import decrypt, encrypt

revision: str = "0018_secrets_at_rest"
down_revision: str | None = "0017_contact_point_covering"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BILLING = sa.table(
    "billing_settings",
    sa.column("id", sa.Uuid()),
    sa.column("psp_client_secret", sa.Text()),
    sa.column("psp_webhook_url", sa.Text()),
)
_CHANNELS = sa.table("channel_config", sa.column("id", sa.Uuid()), sa.column("secrets", sa.JSON()))


def _convert(change: Callable[[str], str]) -> None:
    conn = op.get_bind()
    for row in conn.execute(
        sa.select(_BILLING.c.id, _BILLING.c.psp_client_secret, _BILLING.c.psp_webhook_url)
    ).all():
        values = {
            name: change(value)
            for name, value in (("psp_client_secret", row[1]), ("psp_webhook_url", row[2]))
            if value is not None
        }
        if values:
            conn.execute(_BILLING.update().where(_BILLING.c.id == row[0]).values(**values))
    for channel_id, stored in conn.execute(sa.select(_CHANNELS.c.id, _CHANNELS.c.secrets)).all():
        secrets: dict[str, Any] = stored or {}
        if secrets:
            converted = {k: None if v is None else change(str(v)) for k, v in secrets.items()}
            conn.execute(
                _CHANNELS.update().where(_CHANNELS.c.id == channel_id).values(secrets=converted)
            )


def upgrade() -> None:
    with op.batch_alter_table("billing_settings") as batch:
        batch.alter_column("psp_client_secret", type_=sa.Text(), existing_type=sa.String(500))
        batch.alter_column("psp_webhook_url", type_=sa.Text(), existing_type=sa.String(300))
    _convert(encrypt)


def downgrade() -> None:
    _convert(decrypt)
    with op.batch_alter_table("billing_settings") as batch:
        batch.alter_column("psp_client_secret", type_=sa.String(500), existing_type=sa.Text())
        batch.alter_column("psp_webhook_url", type_=sa.String(300), existing_type=sa.Text())
