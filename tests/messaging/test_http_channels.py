"""SMS and WhatsApp adapters against a real local HTTP server speaking the providers' APIs:
request shapes, idempotency, and how failures are classified."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator

import pytest

from adimple.messaging.channels.base import (
    OutgoingMessage,
    PermanentSendError,
    TransientSendError,
)
from adimple.messaging.channels.http import (
    GenericHttpAdapter,
    WhatsAppCloudAdapter,
    ZenviaSmsAdapter,
)
from adimple.messaging.testing import (
    GENERIC,
    WHATSAPP,
    ZENVIA,
    HttpProvider,
    free_port,
    running_http_provider,
)
from adimple.portfolio.models import Channel

NUMBER = "+5511987654321"
SMS = OutgoingMessage(
    idempotency_key="2026-11-23:c42:d21:sms",
    channel=Channel.SMS,
    to=NUMBER,
    subject=None,
    text="Olá, Maria. Loja Exemplo Comércio Ltda: R$\xa0256,67 em aberto. Ação: responda SAIR.",
    html=None,
    template="aviso_atraso",
)
WHATSAPP_MESSAGE = dataclasses.replace(
    SMS,
    idempotency_key="2026-11-23:c42:d21:whatsapp",
    channel=Channel.WHATSAPP,
    text="(texto aprovado preenchido)",
    template_params=["Maria", "02/11/2026", "R$ 256,67", "http://x/portal/loja"],
    metadata={"whatsapp_template_name": "aviso_atraso", "whatsapp_language": "pt_BR"},
)


@pytest.fixture(scope="module")
def provider() -> Iterator[HttpProvider]:
    with running_http_provider(token="tok", hang_seconds=5) as server:
        yield server


@pytest.fixture(autouse=True)
def _reset(provider: HttpProvider) -> None:
    provider.reset()


def _whatsapp(provider: HttpProvider, **kwargs) -> WhatsAppCloudAdapter:  # type: ignore[no-untyped-def]
    options = {"phone_number_id": "109876543210", "access_token": "tok", "timeout": 2.0}
    options.update(kwargs)
    return WhatsAppCloudAdapter(base_url=provider.url, **options)


def _zenvia(provider: HttpProvider, **kwargs) -> ZenviaSmsAdapter:  # type: ignore[no-untyped-def]
    options = {"token": "tok", "sender": "lojaexemplo", "timeout": 2.0}
    options.update(kwargs)
    return ZenviaSmsAdapter(base_url=provider.url, **options)


def _generic(provider: HttpProvider, **kwargs) -> GenericHttpAdapter:  # type: ignore[no-untyped-def]
    options = {"token": "tok", "timeout": 2.0}
    options.update(kwargs)
    return GenericHttpAdapter(base_url=provider.url, **options)


class TestWhatsAppCloud:
    def test_request_is_an_approved_template_with_ordered_params(
        self, provider: HttpProvider
    ) -> None:
        result = _whatsapp(provider).send(WHATSAPP_MESSAGE)
        [request] = provider.requests_for(WHATSAPP)
        assert request.path == "/v21.0/109876543210/messages"
        assert request.headers["authorization"] == "Bearer tok"
        assert request.headers["idempotency-key"] == WHATSAPP_MESSAGE.idempotency_key
        assert request.body == {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": "5511987654321",
            "type": "template",
            "template": {
                "name": "aviso_atraso",
                "language": {"code": "pt_BR"},
                "components": [
                    {
                        "type": "body",
                        "parameters": [
                            {"type": "text", "text": "Maria"},
                            {"type": "text", "text": "02/11/2026"},
                            {"type": "text", "text": "R$ 256,67"},
                            {"type": "text", "text": "http://x/portal/loja"},
                        ],
                    }
                ],
            },
            "biz_opaque_callback_data": WHATSAPP_MESSAGE.idempotency_key,
        }
        assert result.provider == "whatsapp_cloud"
        assert result.provider_message_id.startswith("wamid.")

    def test_not_a_whatsapp_user_is_permanent_and_blames_the_number(
        self, provider: HttpProvider
    ) -> None:
        provider.behave(NUMBER, "invalid")
        with pytest.raises(PermanentSendError) as error:
            _whatsapp(provider).send(WHATSAPP_MESSAGE)
        assert error.value.address_invalid and error.value.code == "131026"

    def test_a_refused_template_is_permanent_but_the_number_is_fine(
        self, provider: HttpProvider
    ) -> None:
        provider.behave(NUMBER, "rejected")
        for adapter in (_whatsapp(provider), _zenvia(provider), _generic(provider)):
            message = WHATSAPP_MESSAGE if adapter.name == "whatsapp_cloud" else SMS
            with pytest.raises(PermanentSendError) as error:
                adapter.send(message)
            assert not error.value.address_invalid, adapter.name

    def test_rate_limit_and_server_errors_are_transient(self, provider: HttpProvider) -> None:
        provider.behave(NUMBER, "rate_limit")
        with pytest.raises(TransientSendError):
            _whatsapp(provider).send(WHATSAPP_MESSAGE)
        provider.behave(NUMBER, "ok")
        provider.fail_next(1, status=503)
        with pytest.raises(TransientSendError):
            _whatsapp(provider).send(WHATSAPP_MESSAGE)
        assert _whatsapp(provider).send(WHATSAPP_MESSAGE).provider_message_id

    def test_a_rejected_token_is_transient(self, provider: HttpProvider) -> None:
        with pytest.raises(TransientSendError):
            _whatsapp(provider, access_token="expired").send(WHATSAPP_MESSAGE)


class TestZenvia:
    def test_request_format_and_gsm7_by_default(self, provider: HttpProvider) -> None:
        result = _zenvia(provider).send(SMS)
        [request] = provider.requests_for(ZENVIA)
        assert request.path == "/v2/channels/sms/messages"
        assert request.headers["x-api-token"] == "tok"
        assert request.body == {
            "from": "lojaexemplo",
            "to": "5511987654321",
            "contents": [
                {
                    "type": "text",
                    "text": "Ola, Maria. Loja Exemplo Comércio Ltda: R$ 256,67 em aberto. "
                    "Acao: responda SAIR.",
                    "encodingStrategy": "MORE_CHARACTERS_PER_MESSAGE",
                }
            ],
        }
        assert result.provider == "zenvia" and result.provider_message_id

    def test_unicode_keeps_the_accents(self, provider: HttpProvider) -> None:
        _zenvia(provider, unicode=True).send(SMS)
        [request] = provider.requests_for(ZENVIA)
        content = request.body["contents"][0]
        assert content["text"] == SMS.text
        assert content["encodingStrategy"] == "MORE_CHARACTER_SUPPORT"

    def test_invalid_number_is_permanent(self, provider: HttpProvider) -> None:
        provider.behave(NUMBER, "invalid")
        with pytest.raises(PermanentSendError) as error:
            _zenvia(provider).send(SMS)
        assert error.value.address_invalid and error.value.code == "VALIDATION_ERROR"

    def test_a_hung_provider_times_out_as_transient(self, provider: HttpProvider) -> None:
        provider.behave(NUMBER, "hang")
        started = time.monotonic()
        with pytest.raises(TransientSendError, match="tempo esgotado"):
            _zenvia(provider, timeout=0.5).send(SMS)
        assert time.monotonic() - started < 3


class TestGeneric:
    def test_request_and_idempotent_resend(self, provider: HttpProvider) -> None:
        adapter = _generic(provider)
        first = adapter.send(SMS)
        second = adapter.send(SMS)  # a retry after a crash: the provider knows the key
        assert first.provider_message_id == second.provider_message_id
        requests = provider.requests_for(GENERIC)
        assert len(requests) == 2 and len(provider.accepted) == 1
        assert requests[0].body["idempotency_key"] == SMS.idempotency_key
        assert requests[0].body["to"] == NUMBER
        assert requests[0].body["text"].startswith("Ola, Maria.")
        assert requests[0].headers["authorization"] == "Bearer tok"

    def test_invalid_number_is_permanent(self, provider: HttpProvider) -> None:
        provider.behave(NUMBER, "invalid")
        with pytest.raises(PermanentSendError) as error:
            _generic(provider).send(SMS)
        assert error.value.address_invalid and error.value.code == "invalid_recipient"

    def test_500_is_transient(self, provider: HttpProvider) -> None:
        provider.behave(NUMBER, "error")
        with pytest.raises(TransientSendError):
            _generic(provider).send(SMS)

    def test_nothing_listening_is_transient(self) -> None:
        adapter = GenericHttpAdapter(base_url=f"http://127.0.0.1:{free_port()}", timeout=1)
        with pytest.raises(TransientSendError, match="conexão"):
            adapter.send(SMS)

    def test_one_adapter_serves_many_threads(self, provider: HttpProvider) -> None:
        from concurrent.futures import ThreadPoolExecutor

        adapter = _generic(provider)
        messages = [
            dataclasses.replace(SMS, idempotency_key=f"k{i}", to=f"+55119000000{i:02d}")
            for i in range(40)
        ]
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(adapter.send, messages))
        assert len({r.provider_message_id for r in results}) == 40
        assert len(provider.accepted) == 40
