"""Inbound: signed webhooks move statuses forward only; STOP replies and opt-out links opt out
and cancel queued messages at once; everything audited. Both databases."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from dispatch_helpers import OPEN_HOURS, queue_message
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from adimple.audit.models import AuditEvent
from adimple.cadence.models import ContactSuppression, SuppressionReason
from adimple.messaging.channels.models import ChannelConfig, ProviderKind
from adimple.messaging.inbound import SIGNATURE_HEADER, is_stop_reply, sign, signature_matches
from adimple.messaging.models import OutboxMessage, OutboxStatus
from adimple.messaging.optout import make_optout_token
from adimple.portfolio.models import Channel, ChannelOptOut, ContactPoint
from adimple.tenancy.models import Tenant
from adimple.web.app import create_app

SECRET = "webhook-secret-for-tests"


@pytest.fixture
def client(
    session_maker: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    monkeypatch.setenv("ADIMPLE_WEBHOOK_SECRET", SECRET)
    app = create_app()
    app.state.session_factory = session_maker
    with TestClient(app) as test_client:
        yield test_client


def post_events(
    client: TestClient,
    events: list[dict[str, Any]],
    *,
    secret: str = SECRET,
    provider: str = "generic_http",
    tenant: str | None = None,
) -> Any:
    body = json.dumps({"events": events}).encode()
    url = f"/api/v1/webhooks/messaging/{provider}" + (f"?tenant={tenant}" if tenant else "")
    return client.post(
        url,
        content=body,
        headers={SIGNATURE_HEADER: sign(secret, body), "Content-Type": "application/json"},
    )


def mark_sent(
    session: Session, message: OutboxMessage, provider_id: str, provider: str = "generic_http"
) -> OutboxMessage:
    message.status = OutboxStatus.SENT
    message.provider = provider
    message.provider_message_id = provider_id
    message.sent_at = OPEN_HOURS
    message.attempts = 1
    session.commit()
    return message


def fresh(session: Session, message: OutboxMessage) -> OutboxMessage:
    session.expire_all()
    return session.get_one(OutboxMessage, message.id)


class TestStopWords:
    @pytest.mark.parametrize(
        "text", ["SAIR", "sair", "Sáir", " Stop! ", "PARAR.", "parar", "stop", "Sair 🙏"]
    )
    def test_whole_message_stop_words(self, text: str) -> None:
        assert is_stop_reply(text)

    @pytest.mark.parametrize(
        "text", ["não quero sair", "sair agora", "", "STOPP", "pare", "quero pagar", "sai r"]
    )
    def test_anything_else_is_not(self, text: str) -> None:
        assert not is_stop_reply(text)


class TestSignature:
    def test_round_trip_and_tampering(self) -> None:
        body = b'{"events": []}'
        header = sign("k", body)
        assert header.startswith("sha256=")
        assert signature_matches(["other", "k"], body, header)
        assert signature_matches(["k"], body, header.removeprefix("sha256="))
        assert not signature_matches(["k"], body + b" ", header)
        assert not signature_matches(["k"], body, None)
        assert not signature_matches([], body, header)


class TestWebhookAuthentication:
    def test_missing_or_wrong_signature_is_401(
        self, client: TestClient, session: Session, tenant: Tenant
    ) -> None:
        body = json.dumps({"events": []}).encode()
        url = "/api/v1/webhooks/messaging/generic_http"
        assert client.post(url, content=body).status_code == 401
        wrong = {SIGNATURE_HEADER: sign("not-the-secret", body)}
        response = client.post(url, content=body, headers=wrong)
        assert response.status_code == 401
        assert response.headers["content-type"].startswith("application/problem+json")
        assert post_events(client, [], tenant="no-such-tenant").status_code == 401

    def test_nothing_unsigned_when_no_secret_is_configured(
        self, client: TestClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.delenv("ADIMPLE_WEBHOOK_SECRET")
        assert post_events(client, [], secret="").status_code == 401

    def test_tenant_secret_from_channel_config(
        self,
        client: TestClient,
        session: Session,
        tenant: Tenant,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.delenv("ADIMPLE_WEBHOOK_SECRET")
        session.add(
            ChannelConfig(
                tenant_id=tenant.id,
                channel=Channel.SMS,
                provider=ProviderKind.ZENVIA,
                settings={},
                secrets={"webhook_secret": "tenant-secret"},
                updated_by="test",
            )
        )
        message = mark_sent(
            session, queue_message(session, tenant, channel=Channel.SMS), "z-1", "zenvia"
        )
        event = {"type": "delivered", "provider_message_id": "z-1"}
        ok = post_events(
            client, [event], secret="tenant-secret", provider="zenvia", tenant=tenant.slug
        )
        assert ok.status_code == 200, ok.text
        assert ok.json()["updated"] == 1
        assert fresh(session, message).status == OutboxStatus.DELIVERED
        # The same secret for another provider name, or without naming the tenant, is refused.
        assert (
            post_events(client, [event], secret="tenant-secret", provider="zenvia").status_code
            == 401
        )
        assert (
            post_events(
                client, [event], secret="tenant-secret", provider="smtp", tenant=tenant.slug
            ).status_code
            == 401
        )

    def test_malformed_body_with_a_good_signature_is_422(self, client: TestClient) -> None:
        body = b'{"events": [{"type": "exploded"}]}'
        response = client.post(
            "/api/v1/webhooks/messaging/generic_http",
            content=body,
            headers={SIGNATURE_HEADER: sign(SECRET, body)},
        )
        assert response.status_code == 422
        assert response.json()["errors"]


class TestStatusEvents:
    def test_forward_only(self, client: TestClient, session: Session, tenant: Tenant) -> None:
        message = mark_sent(session, queue_message(session, tenant), "p-1")
        assert (
            post_events(client, [{"type": "delivered", "provider_message_id": "p-1"}]).json()[
                "updated"
            ]
            == 1
        )
        assert fresh(session, message).status == OutboxStatus.DELIVERED
        post_events(client, [{"type": "read", "provider_message_id": "p-1"}])
        read = fresh(session, message)
        assert read.status == OutboxStatus.READ
        assert read.read_at is not None and read.delivered_at is not None
        # Late or replayed reports never move it back, and a bounce after a read is ignored.
        result = post_events(
            client,
            [
                {"type": "delivered", "provider_message_id": "p-1"},
                {"type": "bounced", "provider_message_id": "p-1", "reason": "late"},
                {"type": "failed", "provider_message_id": "p-1"},
            ],
        ).json()
        assert result == {"updated": 0, "ignored": 3, "unmatched": 0, "opted_out": 0}
        assert fresh(session, message).status == OutboxStatus.READ

    def test_read_first_implies_delivered(
        self, client: TestClient, session: Session, tenant: Tenant
    ) -> None:
        message = mark_sent(session, queue_message(session, tenant), "p-2")
        post_events(client, [{"type": "read", "provider_message_id": "p-2"}])
        post_events(client, [{"type": "delivered", "provider_message_id": "p-2"}])
        assert fresh(session, message).status == OutboxStatus.READ

    def test_bounce_invalidates_the_contact_point(
        self, client: TestClient, session: Session, tenant: Tenant
    ) -> None:
        message = mark_sent(session, queue_message(session, tenant), "p-3")
        events = [{"type": "bounced", "provider_message_id": "p-3", "reason": "5.1.1 no such user"}]
        assert post_events(client, events).json()["updated"] == 1
        bounced = fresh(session, message)
        assert bounced.status == OutboxStatus.BOUNCED
        assert bounced.last_error == "5.1.1 no such user"
        point = session.get_one(ContactPoint, message.contact_point_id)
        assert point.invalid_at is not None and "no such user" in (point.invalid_reason or "")
        assert session.scalar(
            select(AuditEvent).where(
                AuditEvent.tenant_id == tenant.id, AuditEvent.action == "contact_point.invalidated"
            )
        )

    def test_failure_report_keeps_the_contact_point(
        self, client: TestClient, session: Session, tenant: Tenant
    ) -> None:
        message = mark_sent(session, queue_message(session, tenant, channel=Channel.SMS), "p-4")
        post_events(client, [{"type": "failed", "provider_message_id": "p-4", "reason": "carrier"}])
        assert fresh(session, message).status == OutboxStatus.FAILED
        assert session.get_one(ContactPoint, message.contact_point_id).invalid_at is None

    def test_ids_are_per_provider(
        self, client: TestClient, session: Session, tenant: Tenant
    ) -> None:
        message = mark_sent(session, queue_message(session, tenant), "p-6")
        event = {"type": "delivered", "provider_message_id": "p-6"}
        assert post_events(client, [event], provider="zenvia").json()["unmatched"] == 1
        assert fresh(session, message).status == OutboxStatus.SENT

    def test_unknown_ids_are_counted_not_failed(self, client: TestClient) -> None:
        result = post_events(client, [{"type": "delivered", "provider_message_id": "nope"}])
        assert result.status_code == 200
        assert result.json()["unmatched"] == 1

    def test_report_before_the_dispatcher_committed_keeps_the_time_only(
        self, client: TestClient, session: Session, tenant: Tenant
    ) -> None:
        # The provider echoes our idempotency key; our row has no provider id yet.
        message = queue_message(session, tenant)
        message.status = OutboxStatus.SENDING
        session.commit()
        event = {"type": "delivered", "idempotency_key": message.idempotency_key}
        assert post_events(client, [event], tenant=tenant.slug).json()["updated"] == 1
        row = fresh(session, message)
        assert row.status == OutboxStatus.SENDING
        assert row.delivered_at is not None
        # Without the tenant an idempotency key alone matches nothing (keys are per tenant).
        assert post_events(client, [event]).json()["unmatched"] == 1


def _opt_outs(session: Session, tenant: Tenant) -> list[tuple[Channel, str]]:
    session.expire_all()
    return [
        (row.channel, row.source)
        for row in session.scalars(
            select(ChannelOptOut).where(ChannelOptOut.tenant_id == tenant.id)
        )
    ]


def _audits(session: Session, tenant: Tenant) -> list[dict[str, Any]]:
    return [
        event.data
        for event in session.scalars(
            select(AuditEvent)
            .where(AuditEvent.tenant_id == tenant.id, AuditEvent.action == "customer.opted_out")
            .order_by(AuditEvent.occurred_at)
        )
    ]


class TestStopReply:
    def test_stop_opts_out_of_that_channel_and_cancels_its_queue(
        self, client: TestClient, session: Session, tenant: Tenant
    ) -> None:
        sms = queue_message(session, tenant, channel=Channel.SMS, n=11112222)
        customer_id = sms.customer_id
        # A second queued SMS and a queued e-mail for the same customer.
        second = OutboxMessage(
            **{
                c: getattr(sms, c)
                for c in (
                    "tenant_id",
                    "customer_id",
                    "contact_point_id",
                    "channel",
                    "address",
                    "template",
                    "plan_date",
                    "scheduled_for",
                    "next_attempt_at",
                )
            },
            step_key="d3",
            idempotency_key="second-sms",
        )
        session.add(second)
        email = queue_message(session, tenant, channel=Channel.EMAIL)
        email.customer_id = customer_id
        session.commit()

        reply = {"type": "reply", "channel": "sms", "from": "(11) 91111-2222", "text": "Sair"}
        result = post_events(client, [reply], tenant=tenant.slug)
        assert result.json()["opted_out"] == 1
        assert _opt_outs(session, tenant) == [(Channel.SMS, "reply")]
        for row in (sms, second):
            cancelled = fresh(session, row)
            assert (cancelled.status, cancelled.cancel_reason) == (
                OutboxStatus.CANCELLED,
                "opt_out",
            )
        assert fresh(session, email).status == OutboxStatus.QUEUED
        reasons = session.scalars(
            select(ContactSuppression.reason).where(ContactSuppression.tenant_id == tenant.id)
        ).all()
        assert reasons == [SuppressionReason.OPT_OUT, SuppressionReason.OPT_OUT]

        # Again: nothing new, but the request is audited too.
        post_events(client, [reply], tenant=tenant.slug)
        assert _opt_outs(session, tenant) == [(Channel.SMS, "reply")]
        audits = _audits(session, tenant)
        assert [a["already_opted_out"] for a in audits] == [False, True]
        assert audits[0]["cancelled_messages"] == 2

    def test_reply_to_a_message_id(
        self, client: TestClient, session: Session, tenant: Tenant
    ) -> None:
        sent = mark_sent(
            session,
            queue_message(session, tenant, channel=Channel.WHATSAPP),
            "w-1",
            "whatsapp_cloud",
        )
        reply = {"type": "reply", "channel": "whatsapp", "text": "STOP", "in_reply_to": "w-1"}
        assert post_events(client, [reply], provider="whatsapp_cloud").json()["opted_out"] == 1
        assert (
            session.scalar(
                select(ChannelOptOut.channel).where(ChannelOptOut.customer_id == sent.customer_id)
            )
            == Channel.WHATSAPP
        )

    def test_other_replies_change_nothing(
        self, client: TestClient, session: Session, tenant: Tenant
    ) -> None:
        queue_message(session, tenant, channel=Channel.SMS, n=33334444)
        session.commit()
        reply = {"type": "reply", "channel": "sms", "from": "+5511933334444", "text": "vou pagar"}
        assert post_events(client, [reply], tenant=tenant.slug).json()["opted_out"] == 0
        assert _opt_outs(session, tenant) == []


class TestOptOutLink:
    def test_get_shows_a_confirmation_and_changes_nothing(
        self, client: TestClient, session: Session, tenant: Tenant
    ) -> None:
        message = queue_message(session, tenant)
        session.commit()
        token = make_optout_token(tenant.id, message.customer_id, Channel.EMAIL)
        page = client.get(f"/optout/{token}")
        assert page.status_code == 200
        assert "Descadastro de mensagens por e-mail" in page.text
        assert tenant.legal_name in page.text and '<form method="post">' in page.text
        assert _opt_outs(session, tenant) == []
        assert fresh(session, message).status == OutboxStatus.QUEUED

    def test_post_opts_out_and_is_idempotent(
        self, client: TestClient, session: Session, tenant: Tenant
    ) -> None:
        message = queue_message(session, tenant)
        session.commit()
        token = make_optout_token(tenant.id, message.customer_id, Channel.EMAIL)
        first = client.post(f"/optout/{token}")
        assert first.status_code == 200 and "Descadastro confirmado" in first.text
        assert _opt_outs(session, tenant) == [(Channel.EMAIL, "link")]
        cancelled = fresh(session, message)
        assert (cancelled.status, cancelled.cancel_reason) == (OutboxStatus.CANCELLED, "opt_out")
        again = client.post(f"/optout/{token}")
        assert again.status_code == 200 and "já estava registrado" in again.text
        assert _opt_outs(session, tenant) == [(Channel.EMAIL, "link")]
        assert len(_audits(session, tenant)) == 2

    def test_rfc8058_one_click(self, client: TestClient, session: Session, tenant: Tenant) -> None:
        message = queue_message(session, tenant)
        session.commit()
        token = make_optout_token(tenant.id, message.customer_id, Channel.EMAIL)
        response = client.post(
            f"/optout/{token}",
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert response.status_code == 200
        assert _opt_outs(session, tenant) == [(Channel.EMAIL, "link")]

    def test_a_tampered_link_is_refused(
        self, client: TestClient, session: Session, tenant: Tenant
    ) -> None:
        message = queue_message(session, tenant)
        session.commit()
        token = make_optout_token(tenant.id, message.customer_id, Channel.EMAIL)
        tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
        for response in (client.get(f"/optout/{tampered}"), client.post(f"/optout/{tampered}")):
            assert response.status_code == 404
            assert "Link inválido" in response.text
        assert _opt_outs(session, tenant) == []
