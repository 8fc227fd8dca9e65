"""Credentials are stored encrypted: a database dump shows Fernet tokens, the application reads
the values; the migration encrypts what was stored before it, and `adimple secrets rotate`
re-encrypts everything with a new key."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import Connection, Engine, Uuid, bindparam, text
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from adimple.cli import app
from adimple.db.migrate import downgrade, upgrade
from adimple.db.secrets import encrypted_columns, rotate_secrets
from adimple.kit.crypto import TOKEN_PREFIX, SecretUnreadable, generate_key, key_from_secret
from adimple.messaging.channels import MisconfiguredAdapter, adapters_for_tenant
from adimple.messaging.channels.base import OutgoingMessage, TransientSendError
from adimple.messaging.channels.config import save_channel
from adimple.messaging.channels.models import ChannelConfig, ProviderKind
from adimple.payments.billing.models import BillingSettings
from adimple.portfolio.models import Channel
from adimple.settings import get_settings
from adimple.tenancy.models import Tenant

WEBHOOK = "https://adimple.example.com/webhooks/pix/adk_1a2b3c4d5e6f_segredo"
PSP_SECRET = "s3nha-do-psp"
CHANNEL_SECRETS = {"password": "senha-smtp", "webhook_secret": "assinatura"}
# What _store writes and what reading it back through the models must give.
STORED = (PSP_SECRET, WEBHOOK, CHANNEL_SECRETS)


def _store(session: Session, tenant: Tenant) -> None:
    session.add(
        BillingSettings(
            tenant_id=tenant.id,
            pix_key="pix@loja.com.br",
            psp_base_url="https://psp.example.com",
            psp_client_id="cliente",
            psp_client_secret=PSP_SECRET,
            psp_webhook_url=WEBHOOK,
        )
    )
    save_channel(
        session,
        tenant_id=tenant.id,
        channel=Channel.EMAIL,
        provider=ProviderKind.SMTP,
        settings={"host": "smtp.example.com", "from_address": "cobranca@loja.com.br"},
        secrets=CHANNEL_SECRETS,
        actor="test",
    )
    session.flush()


def _raw(conn: Connection, tenant: Tenant) -> tuple[str, str, dict[str, Any]]:
    """The columns as a dump shows them (no model types applied)."""
    t = bindparam("t", tenant.id, type_=Uuid())
    secret, url = conn.execute(
        text(
            "SELECT psp_client_secret, psp_webhook_url FROM billing_settings WHERE tenant_id = :t"
        ).bindparams(t)
    ).one()
    stored = conn.execute(
        text("SELECT secrets FROM channel_config WHERE tenant_id = :t").bindparams(t)
    ).scalar_one()
    return secret, url, stored if isinstance(stored, dict) else json.loads(stored)


def _read(session: Session, tenant: Tenant) -> tuple[str | None, str | None, dict[str, Any]]:
    session.expire_all()
    billing = session.query(BillingSettings).filter_by(tenant_id=tenant.id).one()
    channel = session.query(ChannelConfig).filter_by(tenant_id=tenant.id).one()
    return billing.psp_client_secret, billing.psp_webhook_url, channel.secrets


def test_the_database_holds_tokens_and_the_application_reads_values(
    session: Session, tenant: Tenant, use_keys: Callable[[str], None]
) -> None:
    key = generate_key()
    use_keys(key)
    _store(session, tenant)
    secret, url, stored = _raw(session.connection(), tenant)
    assert secret.startswith(TOKEN_PREFIX) and "s3nha" not in secret
    assert url.startswith(TOKEN_PREFIX) and "segredo" not in url
    assert sorted(stored) == ["password", "webhook_secret"]  # names stay readable
    assert all(v.startswith(TOKEN_PREFIX) for v in stored.values())
    assert Fernet(key.encode()).decrypt(stored["password"].encode()) == b"senha-smtp"
    assert _read(session, tenant) == STORED


def test_rotation_rewrites_every_secret_with_the_new_key(
    session: Session, tenant: Tenant, use_keys: Callable[[str], None]
) -> None:
    assert {f"{t.name}.{c.name}" for t, c in encrypted_columns()} == {
        "billing_settings.psp_client_secret",
        "billing_settings.psp_webhook_url",
        "channel_config.secrets",
    }
    old, new = generate_key(), generate_key()
    use_keys(old)
    _store(session, tenant)
    # Other tests' committed rows (PostgreSQL's database is shared) were stored under the
    # default key: listed last so that they rotate too, inside this rolled-back transaction.
    use_keys(f"{new},{old},{key_from_secret(get_settings().secret_key)}")
    counts = rotate_secrets(session.connection())
    assert counts["channel_config.secrets"] >= 1 and counts["billing_settings.psp_client_secret"]
    use_keys(new)  # the old key is gone: everything must read with the new one alone
    assert _read(session, tenant) == STORED


def test_a_secret_no_key_reads_says_so(
    session: Session, tenant: Tenant, use_keys: Callable[[str], None]
) -> None:
    use_keys(generate_key())
    _store(session, tenant)
    use_keys(generate_key())
    with pytest.raises(SecretUnreadable, match="ADIMPLE_ENCRYPTION_KEYS"):
        _read(session, tenant)
    with pytest.raises(SecretUnreadable, match=r"billing_settings\.psp_client_secret of row"):
        rotate_secrets(session.connection())


def test_the_migration_encrypts_what_was_stored_before_it(
    fresh_engine: Engine, use_keys: Callable[[str], None]
) -> None:
    key = generate_key()
    use_keys(key)
    upgrade(fresh_engine, "0017_contact_point_covering")
    billing_id, channel_id = uuid.uuid4(), uuid.uuid4()
    raw = (lambda u: str(u)) if fresh_engine.dialect.name == "postgresql" else (lambda u: u.hex)
    ids = {"t": raw(uuid.uuid4()), "b": raw(billing_id), "c": raw(channel_id)}
    with fresh_engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO tenant (id, slug, legal_name, document, address, city, uf, timezone, "
                "created_at, updated_at) VALUES (:t, 'm', 'M Ltda', '11222333000181', 'Rua A', "
                "'São Paulo', 'SP', 'America/Sao_Paulo', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            ),
            ids,
        )
        conn.execute(
            text(
                "INSERT INTO billing_settings (id, tenant_id, bank_options, nosso_numero_next, "
                "boleto_days_to_pay, cobv_validity_days, psp_client_secret, psp_webhook_url, "
                "created_at, updated_at) VALUES (:b, :t, '{}', 1, 3, 30, 's3nha', :w, "
                "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            ),
            {**ids, "w": WEBHOOK},
        )
        conn.execute(
            text(
                "INSERT INTO channel_config (id, tenant_id, channel, provider, settings, secrets, "
                "updated_by, created_at, updated_at) VALUES (:c, :t, 'sms', 'zenvia', '{}', "
                ":s, 'test', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            ),
            {**ids, "s": json.dumps({"token": "tok-zenvia"})},
        )
    upgrade(fresh_engine)
    fernet = Fernet(key.encode())
    with fresh_engine.connect() as conn:
        secret, url = conn.execute(
            text("SELECT psp_client_secret, psp_webhook_url FROM billing_settings")
        ).one()
        stored = conn.execute(text("SELECT secrets FROM channel_config")).scalar_one()
    stored = stored if isinstance(stored, dict) else json.loads(stored)
    assert fernet.decrypt(secret.encode()) == b"s3nha"
    assert fernet.decrypt(url.encode()) == WEBHOOK.encode()
    assert fernet.decrypt(stored["token"].encode()) == b"tok-zenvia"
    with Session(fresh_engine) as session:  # and the models read them
        assert session.get(BillingSettings, billing_id).psp_client_secret == "s3nha"  # type: ignore[union-attr]
        assert session.get(ChannelConfig, channel_id).secrets == {"token": "tok-zenvia"}  # type: ignore[union-attr]
    downgrade(fresh_engine, "0017_contact_point_covering")  # which decrypts them back
    with fresh_engine.connect() as conn:
        assert conn.execute(text("SELECT psp_client_secret FROM billing_settings")).scalar() == (
            "s3nha"
        )


def test_cli_new_key_and_rotate(cli_database: str) -> None:
    runner = CliRunner()
    made = runner.invoke(app, ["secrets", "new-key"])
    assert made.exit_code == 0, made.output
    Fernet(json.loads(made.stdout)["key"].encode())  # a valid key
    derived = runner.invoke(app, ["secrets", "new-key", "--derived"])
    assert json.loads(derived.stdout)["key"] == key_from_secret(get_settings().secret_key)
    # Under the keys every test uses: the database may be shared with other tests (PostgreSQL).
    rotated = runner.invoke(app, ["secrets", "rotate"])
    assert rotated.exit_code == 0, rotated.output
    assert set(json.loads(rotated.stdout)["rotated"]) == {
        "billing_settings.psp_client_secret",
        "billing_settings.psp_webhook_url",
        "channel_config.secrets",
    }


def test_a_channel_whose_secrets_no_key_reads_is_misconfigured_not_fatal(
    session: Session, tenant: Tenant, use_keys: Callable[[str], None]
) -> None:
    """The dispatcher builds a tenant's adapters together: one unreadable channel must not take
    the others down, and its messages wait (transient failure) naming the cause."""
    use_keys(generate_key())
    _store(session, tenant)  # e-mail configured, with secrets
    session.commit()
    use_keys(generate_key())
    session.expire_all()
    adapters = adapters_for_tenant(session, tenant.id)
    assert isinstance(adapters[Channel.EMAIL], MisconfiguredAdapter)
    assert not isinstance(adapters[Channel.SMS], MisconfiguredAdapter)
    with pytest.raises(TransientSendError, match="ADIMPLE_ENCRYPTION_KEYS"):
        adapters[Channel.EMAIL].send(
            OutgoingMessage(
                idempotency_key="k",
                channel=Channel.EMAIL,
                to="maria@example.com",
                subject="s",
                text="t",
                html=None,
                template="x",
                metadata={},
            )
        )


def test_billing_with_an_unreadable_psp_secret_fails_only_where_the_psp_is_used(
    session: Session, tenant: Tenant, use_keys: Callable[[str], None]
) -> None:
    use_keys(generate_key())
    _store(session, tenant)
    session.commit()
    use_keys(generate_key())
    session.expire_all()
    billing = session.query(BillingSettings).filter_by(tenant_id=tenant.id).one()  # loads
    assert billing.pix_key == "pix@loja.com.br"  # boletos and static PIX read on
    with pytest.raises(SecretUnreadable) as raised:
        _ = billing.psp_enabled
    assert raised.value.status_code == 500  # the API's problem details say why
    assert "ADIMPLE_ENCRYPTION_KEYS" in raised.value.detail
