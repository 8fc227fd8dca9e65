"""Channel configuration per tenant: sandbox by default, configured providers, environment
defaults for the demo, validation, and the sandbox storing what it would have sent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from render_helpers import TODAY
from sqlalchemy.orm import Session

from adimple.kit.errors import ValidationFailed
from adimple.messaging.channels import adapters_for_tenant
from adimple.messaging.channels.base import OutgoingMessage, TransientSendError
from adimple.messaging.channels.config import get_channel, save_channel
from adimple.messaging.channels.http import WhatsAppCloudAdapter, ZenviaSmsAdapter
from adimple.messaging.channels.models import ProviderKind
from adimple.messaging.channels.sandbox import SandboxAdapter, list_sandbox_messages
from adimple.messaging.channels.smtp import SmtpAdapter
from adimple.messaging.phone import SCRIPT_SEGMENTS, call_script, call_task
from adimple.portfolio.models import Channel
from adimple.tenancy.models import Tenant
from builders import make_customer

MESSAGE = OutgoingMessage(
    idempotency_key="2026-11-23:c1:d21:sms",
    channel=Channel.SMS,
    to="+5511987654321",
    subject=None,
    text="Olá!",
    html=None,
    template="aviso_atraso",
    metadata={"customer_name": "Maria"},
)


@pytest.fixture(autouse=True)
def _sandbox_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("ADIMPLE_SANDBOX_DIR", str(tmp_path / "sandbox"))
    for channel in Channel:
        monkeypatch.delenv(f"ADIMPLE_CHANNEL_{channel.value.upper()}", raising=False)
    return tmp_path / "sandbox"


class TestAdaptersForTenant:
    def test_every_channel_defaults_to_the_sandbox(self, session: Session, tenant: Tenant) -> None:
        adapters = adapters_for_tenant(session, tenant.id)
        assert set(adapters) == set(Channel)
        assert all(isinstance(a, SandboxAdapter) for a in adapters.values())

    def test_configured_channels_get_their_provider_and_are_reused(
        self, session: Session, tenant: Tenant
    ) -> None:
        save_channel(
            session,
            tenant_id=tenant.id,
            channel=Channel.EMAIL,
            provider=ProviderKind.SMTP,
            settings={"host": "smtp.example.com", "from_address": "cobranca@loja.com.br"},
            secrets={"password": "s3nha"},
            actor="test",
        )
        save_channel(
            session,
            tenant_id=tenant.id,
            channel=Channel.SMS,
            provider=ProviderKind.ZENVIA,
            settings={"sender": "loja", "timeout": 3},
            secrets={"token": "tok"},
            actor="test",
        )
        adapters = adapters_for_tenant(session, tenant.id)
        email, sms = adapters[Channel.EMAIL], adapters[Channel.SMS]
        assert isinstance(email, SmtpAdapter) and email.password == "s3nha"
        assert email.port == 587 and email.security == "starttls"
        assert isinstance(sms, ZenviaSmsAdapter)
        assert isinstance(adapters[Channel.WHATSAPP], SandboxAdapter)
        assert adapters_for_tenant(session, tenant.id)[Channel.SMS] is sms

    def test_environment_configures_the_demo(
        self, session: Session, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv(
            "ADIMPLE_CHANNEL_WHATSAPP",
            json.dumps(
                {
                    "provider": "whatsapp_cloud",
                    "settings": {"base_url": "http://127.0.0.1:9", "phone_number_id": "1"},
                    "secrets": {"access_token": "t"},
                }
            ),
        )
        assert isinstance(
            adapters_for_tenant(session, tenant.id)[Channel.WHATSAPP], WhatsAppCloudAdapter
        )
        view = get_channel(session, tenant_id=tenant.id, channel=Channel.WHATSAPP)
        assert view.source == "environment" and view.secrets_set == ["access_token"]

    def test_a_broken_configuration_fails_transiently_instead_of_using_the_sandbox(
        self, session: Session, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("ADIMPLE_CHANNEL_SMS", "{not json")
        monkeypatch.setenv(
            "ADIMPLE_CHANNEL_EMAIL", json.dumps({"provider": "smtp", "settings": {"oops": 1}})
        )
        adapters = adapters_for_tenant(session, tenant.id)
        for channel in (Channel.SMS, Channel.EMAIL):
            with pytest.raises(TransientSendError, match="mal configurado"):
                adapters[channel].send(MESSAGE)


class TestSaveChannel:
    def test_secrets_are_kept_merged_and_never_shown(
        self, session: Session, tenant: Tenant
    ) -> None:
        settings = {"base_url": "https://sms.example.com"}
        save_channel(
            session,
            tenant_id=tenant.id,
            channel=Channel.SMS,
            provider=ProviderKind.GENERIC_HTTP,
            settings=settings,
            secrets={"token": "s3cr3t-token", "webhook_secret": "w"},
            actor="test",
        )
        view = save_channel(
            session,
            tenant_id=tenant.id,
            channel=Channel.SMS,
            provider=ProviderKind.GENERIC_HTTP,
            settings={**settings, "unicode": True},
            secrets=None,
            actor="test",
        )
        assert view.secrets_set == ["token", "webhook_secret"]
        assert "s3cr3t-token" not in json.dumps(view.settings)
        view = save_channel(
            session,
            tenant_id=tenant.id,
            channel=Channel.SMS,
            provider=ProviderKind.GENERIC_HTTP,
            settings=settings,
            secrets={"webhook_secret": ""},
            actor="test",
        )
        assert view.secrets_set == ["token"] and view.settings["unicode"] is False

    @pytest.mark.parametrize(
        ("channel", "provider", "settings", "secrets", "field"),
        [
            (
                Channel.SMS,
                ProviderKind.SMTP,
                {"host": "h", "from_address": "a@b.c"},
                {},
                "provider",
            ),
            (Channel.EMAIL, ProviderKind.SMTP, {"from_address": "a@b.c"}, {}, "settings.host"),
            (Channel.SMS, ProviderKind.ZENVIA, {"sender": "x"}, {}, "secrets.token"),
            (
                Channel.SMS,
                ProviderKind.ZENVIA,
                {"sender": "x", "oops": 1},
                {"token": "t"},
                "settings.oops",
            ),
            (
                Channel.SMS,
                ProviderKind.ZENVIA,
                {"sender": "x"},
                {"token": "t", "pin": "1"},
                "secrets.pin",
            ),
        ],
    )
    def test_invalid_configurations_name_the_field(
        self,
        session: Session,
        tenant: Tenant,
        channel: Channel,
        provider: ProviderKind,
        settings: dict[str, object],
        secrets: dict[str, str],
        field: str,
    ) -> None:
        with pytest.raises(ValidationFailed) as error:
            save_channel(
                session,
                tenant_id=tenant.id,
                channel=channel,
                provider=provider,
                settings=settings,
                secrets=secrets,
                actor="test",
            )
        assert field in [e.field for e in error.value.errors]


class TestSandbox:
    def test_stores_the_message_once_and_shows_it(self, _sandbox_dir: Path) -> None:
        adapter = SandboxAdapter(tenant="loja")
        first = adapter.send(MESSAGE)
        assert adapter.send(MESSAGE) == first
        [stored] = list_sandbox_messages("loja")
        assert stored["text"] == "Olá!" and stored["to"] == "+5511987654321"
        assert stored["idempotency_key"] == MESSAGE.idempotency_key
        assert stored["provider_message_id"] == first.provider_message_id
        assert len(list(_sandbox_dir.joinpath("loja").glob("*.json"))) == 1
        assert list_sandbox_messages("other") == []


class TestCallScripts:
    @pytest.mark.parametrize("segment", SCRIPT_SEGMENTS)
    def test_every_segment_has_a_respectful_script(self, segment: str) -> None:
        script = call_script(segment)
        assert "credor.nome" in script and "credor.documento" in script
        confirm = script.index("Confirme que fala com o devedor")
        assert confirm < script.index("## 3. Conversa")
        assert "terceiro" in script and "Registre o resultado" in script

    def test_unknown_segment_gets_the_standard_script(self) -> None:
        assert call_script("whatever") == call_script("standard")

    def test_call_task_carries_the_script_once(self, session: Session, tenant: Tenant) -> None:
        customer = make_customer(session, tenant)
        task = call_task(
            session,
            tenant_id=tenant.id,
            customer_id=customer.id,
            segment="high_balance",
            due_on=TODAY,
            idempotency_key="call:1",
        )
        again = call_task(
            session,
            tenant_id=tenant.id,
            customer_id=customer.id,
            segment="high_balance",
            due_on=TODAY,
            idempotency_key="call:1",
        )
        assert again.id == task.id
        assert task.data["script"] == call_script("high_balance")
