"""The dispatcher against real local servers (aiosmtpd, the HTTP provider) on both databases:
happy paths, retries with backoff, permanent failures, hangs, guards at send time, stops and
crash recovery. Each test runs in the rolled-back test transaction, claiming only its tenant."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from dispatch_helpers import AFTER_HOURS, OPEN_HOURS, queue_message
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from adimple.audit.models import AuditEvent
from adimple.cadence.models import ContactSuppression, SuppressionReason
from adimple.messaging.channels.models import ChannelConfig, ProviderKind
from adimple.messaging.dispatcher import DispatchConfig, Dispatcher
from adimple.messaging.models import OutboxMessage, OutboxReceivable, OutboxStatus
from adimple.messaging.testing import HttpProvider, running_http_provider, running_smtp_server
from adimple.portfolio.models import Channel, ChannelOptOut, ContactPoint, Receivable
from adimple.tenancy.models import Tenant
from builders import pay


class Clock:
    """Test time: starts at ``OPEN_HOURS``, moves only when told."""

    def __init__(self, now: datetime = OPEN_HOURS) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def http() -> Iterator[HttpProvider]:
    with running_http_provider(hang_seconds=5.0) as provider:
        yield provider


def configure(
    session: Session, tenant: Tenant, channel: Channel, provider: ProviderKind, **settings: Any
) -> None:
    secrets = settings.pop("secrets", {})
    session.add(
        ChannelConfig(
            tenant_id=tenant.id,
            channel=channel,
            provider=provider,
            settings=settings,
            secrets=secrets,
            updated_by="test",
        )
    )
    session.commit()


def http_sms(session: Session, tenant: Tenant, http: HttpProvider) -> None:
    configure(session, tenant, Channel.SMS, ProviderKind.GENERIC_HTTP, base_url=http.url)


def make_dispatcher(
    session_maker: sessionmaker[Session], tenant: Tenant, clock: Clock, **config: Any
) -> Dispatcher:
    config.setdefault("backoff_base_seconds", 60.0)
    return Dispatcher(
        session_maker,
        worker_id=config.pop("worker_id", "test-worker"),
        config=DispatchConfig(tenant_id=tenant.id, **config),
        clock=clock,
    )


def drain(dispatcher: Dispatcher) -> None:
    while dispatcher.run_batch():
        pass


def row(session: Session, message: OutboxMessage) -> OutboxMessage:
    session.expire_all()
    return session.get_one(OutboxMessage, message.id)


def claim_for_test(session: Session, tenant: Tenant, clock: Clock) -> Any:
    """What one worker claims now: up to 10 rows for 120 s, at most 8 attempts."""
    from adimple.messaging.dispatcher import claim_due

    return claim_due(
        session,
        worker_id="test-worker",
        now=clock(),
        limit=10,
        lease=timedelta(seconds=120),
        max_attempts=8,
        tenant_id=tenant.id,
    )


def digits(message: OutboxMessage) -> str:
    return "".join(c for c in message.address if c.isdigit())


class TestHappyPath:
    def test_email_through_smtp(
        self, session: Session, session_maker: sessionmaker[Session], tenant: Tenant, clock: Clock
    ) -> None:
        with running_smtp_server() as smtp:
            configure(
                session,
                tenant,
                Channel.EMAIL,
                ProviderKind.SMTP,
                host=smtp.host,
                port=smtp.port,
                security="none",
                from_address="cobranca@credor.example",
            )
            message = queue_message(session, tenant, channel=Channel.EMAIL)
            session.commit()
            dispatcher = make_dispatcher(session_maker, tenant, clock)
            drain(dispatcher)
            received = smtp.wait_for(1)
        assert len(received) == 1
        email = received[0].message
        assert received[0].rcpt_tos == [message.address]
        # The idempotency key travels as the Message-ID: a resend is recognisably the same.
        assert message.idempotency_key.replace(":", "%3A") in email["Message-ID"] or (
            message.idempotency_key in email["Message-ID"]
        )
        assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        sent = row(session, message)
        assert sent.status == OutboxStatus.SENT
        assert (sent.provider, sent.provider_message_id) == ("smtp", email["Message-ID"])
        assert sent.attempts == 1 and sent.sent_at == OPEN_HOURS
        assert sent.lease_until is None and sent.claimed_by == "test-worker"
        # What went out is kept on the row (`adimple outbox show`).
        assert sent.subject == email["Subject"]
        assert sent.body and "Loja Exemplo" in sent.body
        assert dispatcher.stats.sent == 1

    def test_sms_through_http(
        self,
        session: Session,
        session_maker: sessionmaker[Session],
        tenant: Tenant,
        clock: Clock,
        http: HttpProvider,
    ) -> None:
        http_sms(session, tenant, http)
        message = queue_message(session, tenant, channel=Channel.SMS)
        session.commit()
        drain(make_dispatcher(session_maker, tenant, clock))
        [request] = http.requests
        assert request.headers["idempotency-key"] == message.idempotency_key
        assert request.body["to"] == message.address
        sent = row(session, message)
        assert sent.status == OutboxStatus.SENT
        assert sent.provider == "generic_http"
        assert sent.provider_message_id and sent.provider_message_id != message.idempotency_key

    def test_a_delivery_report_that_beat_the_commit_is_kept(
        self,
        session: Session,
        session_maker: sessionmaker[Session],
        tenant: Tenant,
        clock: Clock,
        http: HttpProvider,
    ) -> None:
        http_sms(session, tenant, http)
        message = queue_message(session, tenant, channel=Channel.SMS)
        session.commit()
        dispatcher = make_dispatcher(session_maker, tenant, clock)
        with session_maker() as other:
            claim = claim_for_test(other, tenant, clock)
            other.get_one(OutboxMessage, message.id).delivered_at = clock()
            other.commit()
        assert claim.ids == [message.id]
        dispatcher.process(message.id)
        assert row(session, message).status == OutboxStatus.DELIVERED

    def test_the_claim_names_the_status_as_a_literal(
        self,
        session: Session,
        session_maker: sessionmaker[Session],
        tenant: Tenant,
        clock: Clock,
    ) -> None:
        """The claim index is partial on PostgreSQL (``status IN ('queued', 'sending')``): a
        generic plan can use it only if the status is in the SQL text, not a parameter
        (tests/db/test_migrations.py plans it)."""
        from sqlalchemy import event

        message = queue_message(session, tenant, channel=Channel.SMS)
        session.commit()
        seen: list[str] = []

        def remember(*args: Any) -> None:
            seen.append(args[2])

        with session_maker() as other:
            connection = other.connection()
            event.listen(connection, "before_cursor_execute", remember)
            try:
                claim = claim_for_test(other, tenant, clock)
            finally:
                event.remove(connection, "before_cursor_execute", remember)
            other.commit()
        assert claim.ids == [message.id]
        selects = [sql for sql in seen if sql.lstrip().upper().startswith("SELECT")]
        assert any("outbox_message.status = 'sending'" in sql for sql in selects)
        assert any("outbox_message.status = 'queued'" in sql for sql in selects)


class TestRetries:
    def test_transient_failures_back_off_then_send(
        self,
        session: Session,
        session_maker: sessionmaker[Session],
        tenant: Tenant,
        clock: Clock,
        http: HttpProvider,
    ) -> None:
        http_sms(session, tenant, http)
        message = queue_message(session, tenant, channel=Channel.SMS)
        session.commit()
        dispatcher = make_dispatcher(session_maker, tenant, clock, backoff_base_seconds=60.0)
        http.fail_next(2, status=503)

        drain(dispatcher)
        first = row(session, message)
        assert (first.status, first.attempts) == (OutboxStatus.QUEUED, 1)
        assert "503" in (first.last_error or "")
        # Equal jitter: between half and all of base·2^0.
        wait = first.next_attempt_at - clock()
        assert timedelta(seconds=30) <= wait <= timedelta(seconds=60)
        drain(dispatcher)  # not due yet: nothing happens
        assert len(http.requests) == 1

        clock.now = first.next_attempt_at
        drain(dispatcher)
        second = row(session, message)
        assert (second.status, second.attempts) == (OutboxStatus.QUEUED, 2)
        assert timedelta(seconds=60) <= second.next_attempt_at - clock() <= timedelta(seconds=120)

        clock.now = second.next_attempt_at
        drain(dispatcher)
        sent = row(session, message)
        assert (sent.status, sent.attempts, sent.last_error) == (OutboxStatus.SENT, 3, None)
        assert len(http.requests) == 3
        assert {r.headers["idempotency-key"] for r in http.requests} == {message.idempotency_key}

    def test_gives_up_after_max_attempts(
        self,
        session: Session,
        session_maker: sessionmaker[Session],
        tenant: Tenant,
        clock: Clock,
        http: HttpProvider,
    ) -> None:
        http_sms(session, tenant, http)
        message = queue_message(session, tenant, channel=Channel.SMS)
        session.commit()
        http.behave(message.address, "error")
        dispatcher = make_dispatcher(session_maker, tenant, clock, max_attempts=3)
        for _ in range(5):
            drain(dispatcher)
            clock.advance(hours=1)
        failed = row(session, message)
        assert (failed.status, failed.attempts) == (OutboxStatus.FAILED, 3)
        assert len(http.requests) == 3
        # A provider outage is not the address's fault.
        assert session.get_one(ContactPoint, message.contact_point_id).invalid_at is None


class TestPermanentFailures:
    def test_invalid_number_marks_the_contact_point_invalid(
        self,
        session: Session,
        session_maker: sessionmaker[Session],
        tenant: Tenant,
        clock: Clock,
        http: HttpProvider,
    ) -> None:
        http_sms(session, tenant, http)
        message = queue_message(session, tenant, channel=Channel.SMS)
        session.commit()
        http.behave(message.address, "invalid")
        drain(make_dispatcher(session_maker, tenant, clock))
        failed = row(session, message)
        assert (failed.status, failed.attempts) == (OutboxStatus.FAILED, 1)
        point = session.get_one(ContactPoint, message.contact_point_id)
        assert point.invalid_at == OPEN_HOURS and point.invalid_reason
        assert (
            session.scalar(
                select(AuditEvent.entity_id).where(
                    AuditEvent.tenant_id == tenant.id,
                    AuditEvent.action == "contact_point.invalidated",
                )
            )
            == point.id
        )
        # Not retried, and the next message to that number is stopped by the guards.
        clock.advance(hours=1)
        again = queue_message(session, tenant, channel=Channel.SMS, address=message.address)
        again.contact_point_id = message.contact_point_id
        session.commit()
        drain(make_dispatcher(session_maker, tenant, clock))
        assert len(http.requests) == 1
        assert row(session, again).cancel_reason == SuppressionReason.NO_CONTACT_POINT.value

    def test_smtp_550_at_rcpt(
        self, session: Session, session_maker: sessionmaker[Session], tenant: Tenant, clock: Clock
    ) -> None:
        message = queue_message(session, tenant, channel=Channel.EMAIL)
        with running_smtp_server(reject={message.address: "550 5.1.1 mailbox unavailable"}) as smtp:
            configure(
                session,
                tenant,
                Channel.EMAIL,
                ProviderKind.SMTP,
                host=smtp.host,
                port=smtp.port,
                security="none",
                from_address="cobranca@credor.example",
            )
            drain(make_dispatcher(session_maker, tenant, clock))
            assert smtp.messages == []
        failed = row(session, message)
        assert failed.status == OutboxStatus.FAILED and "550" in (failed.last_error or "")
        assert session.get_one(ContactPoint, message.contact_point_id).invalid_at is not None

    def test_a_render_error_fails_without_retry(
        self,
        session: Session,
        session_maker: sessionmaker[Session],
        tenant: Tenant,
        clock: Clock,
        http: HttpProvider,
    ) -> None:
        http_sms(session, tenant, http)
        message = queue_message(session, tenant, channel=Channel.SMS, template="no_such_template")
        session.commit()
        dispatcher = make_dispatcher(session_maker, tenant, clock)
        drain(dispatcher)
        clock.advance(days=1)
        drain(dispatcher)
        failed = row(session, message)
        assert (failed.status, failed.attempts) == (OutboxStatus.FAILED, 1)
        assert (failed.last_error or "").startswith("render:")
        assert http.requests == []


class TestRateLimit:
    def test_per_provider_token_bucket(
        self,
        session: Session,
        session_maker: sessionmaker[Session],
        tenant: Tenant,
        clock: Clock,
        http: HttpProvider,
    ) -> None:
        http_sms(session, tenant, http)
        for _ in range(8):
            queue_message(session, tenant, channel=Channel.SMS)
        session.commit()
        # 4 per second with a burst of 4: the last 4 sends wait about a second in all.
        dispatcher = make_dispatcher(
            session_maker, tenant, clock, rate_limits={"generic_http": 4.0, "smtp": 0.5}
        )
        started = time.monotonic()
        drain(dispatcher)
        assert time.monotonic() - started >= 0.9
        assert dispatcher.stats.sent == 8 and len(http.requests) == 8
        gaps = [b.at - a.at for a, b in zip(http.requests[4:], http.requests[5:], strict=False)]
        assert all(gap >= 0.2 for gap in gaps), gaps


class TestHangingProvider:
    def test_cut_by_the_timeout_and_retried_while_the_rest_goes_out(
        self,
        session: Session,
        session_maker: sessionmaker[Session],
        tenant: Tenant,
        clock: Clock,
        http: HttpProvider,
    ) -> None:
        http_sms(session, tenant, http)
        stuck = queue_message(session, tenant, channel=Channel.SMS)
        others = [queue_message(session, tenant, channel=Channel.SMS) for _ in range(3)]
        session.commit()
        http.behave(stuck.address, "hang")
        dispatcher = make_dispatcher(
            session_maker, tenant, clock, send_timeout_seconds=0.5, lease_seconds=30
        )
        started = time.monotonic()
        drain(dispatcher)
        assert time.monotonic() - started < 4.0  # hang_seconds is 5: it did not wait for it
        retry = row(session, stuck)
        assert (retry.status, retry.attempts) == (OutboxStatus.QUEUED, 1)
        assert "SendTimeout" in (retry.last_error or "")
        assert all(row(session, m).status == OutboxStatus.SENT for m in others)

        http.behave(stuck.address, "ok")
        clock.now = retry.next_attempt_at
        drain(dispatcher)
        assert row(session, stuck).status == OutboxStatus.SENT


class TestGuardsAtSendTime:
    def test_opt_out_after_planning_cancels(
        self,
        session: Session,
        session_maker: sessionmaker[Session],
        tenant: Tenant,
        clock: Clock,
        http: HttpProvider,
    ) -> None:
        http_sms(session, tenant, http)
        message = queue_message(session, tenant, channel=Channel.SMS)
        session.add(
            ChannelOptOut(
                tenant_id=tenant.id,
                customer_id=message.customer_id,
                channel=Channel.SMS,
                source="test",
                created_at=OPEN_HOURS,
            )
        )
        session.commit()
        drain(make_dispatcher(session_maker, tenant, clock))
        cancelled = row(session, message)
        assert (cancelled.status, cancelled.cancel_reason) == (OutboxStatus.CANCELLED, "opt_out")
        assert cancelled.attempts == 0
        assert (
            session.scalar(
                select(ContactSuppression.reason).where(ContactSuppression.tenant_id == tenant.id)
            )
            == SuppressionReason.OPT_OUT
        )
        assert http.requests == []

    def test_paid_after_planning_cancels(
        self,
        session: Session,
        session_maker: sessionmaker[Session],
        tenant: Tenant,
        clock: Clock,
        http: HttpProvider,
    ) -> None:
        http_sms(session, tenant, http)
        message = queue_message(session, tenant, channel=Channel.SMS)
        receivable = session.scalar(
            select(Receivable)
            .join(OutboxReceivable, OutboxReceivable.receivable_id == Receivable.id)
            .where(OutboxReceivable.outbox_id == message.id)
        )
        assert receivable is not None
        pay(session, receivable, OPEN_HOURS.date())
        session.commit()
        drain(make_dispatcher(session_maker, tenant, clock))
        assert row(session, message).cancel_reason == "paid"
        assert http.requests == []

    def test_outside_the_window_is_rescheduled_not_sent(
        self,
        session: Session,
        session_maker: sessionmaker[Session],
        tenant: Tenant,
        http: HttpProvider,
    ) -> None:
        http_sms(session, tenant, http)
        message = queue_message(session, tenant, channel=Channel.SMS, due=AFTER_HOURS)
        session.commit()
        clock = Clock(AFTER_HOURS)  # Monday 22:00 in São Paulo
        dispatcher = make_dispatcher(session_maker, tenant, clock)
        drain(dispatcher)
        later = row(session, message)
        assert later.status == OutboxStatus.QUEUED and later.attempts == 0
        # Tuesday 08:00 in São Paulo.
        assert later.next_attempt_at == datetime(2026, 11, 24, 11, 0, tzinfo=UTC)
        assert later.claimed_by is None and later.lease_until is None
        assert http.requests == []
        assert dispatcher.stats.rescheduled == 1

        clock.now = later.next_attempt_at
        drain(dispatcher)
        assert row(session, message).status == OutboxStatus.SENT


class TestClaims:
    def test_graceful_stop_releases_what_was_not_sent(
        self,
        session: Session,
        session_maker: sessionmaker[Session],
        tenant: Tenant,
        clock: Clock,
        http: HttpProvider,
    ) -> None:
        http_sms(session, tenant, http)
        messages = [queue_message(session, tenant, channel=Channel.SMS) for _ in range(3)]
        session.commit()
        dispatcher = make_dispatcher(session_maker, tenant, clock)
        dispatcher.stop.set()
        assert dispatcher.run_batch() == 3
        assert dispatcher.stats.released == 3
        for message in messages:
            released = row(session, message)
            assert (released.status, released.attempts) == (OutboxStatus.QUEUED, 0)
            assert released.claimed_by is None and released.lease_until is None
        assert http.requests == []

    def test_crash_recovery_takes_over_expired_leases_only(
        self,
        session: Session,
        session_maker: sessionmaker[Session],
        tenant: Tenant,
        clock: Clock,
        http: HttpProvider,
    ) -> None:
        http_sms(session, tenant, http)
        orphan, busy = (queue_message(session, tenant, channel=Channel.SMS) for _ in range(2))
        for message, lease_until in (
            (orphan, clock() - timedelta(seconds=1)),
            (busy, clock() + timedelta(seconds=60)),
        ):
            message.status = OutboxStatus.SENDING
            message.claimed_by = "dead-worker"
            message.lease_until = lease_until
        session.commit()
        dispatcher = make_dispatcher(session_maker, tenant, clock)
        drain(dispatcher)
        recovered = row(session, orphan)
        # The lost claim counts as an attempt (a message that crashes its worker every time
        # must end failed, not loop).
        assert (recovered.status, recovered.attempts) == (OutboxStatus.SENT, 2)
        assert row(session, busy).status == OutboxStatus.SENDING
        assert [r.headers["idempotency-key"] for r in http.requests] == [orphan.idempotency_key]

    def test_a_message_that_keeps_crashing_workers_ends_failed(
        self,
        session: Session,
        session_maker: sessionmaker[Session],
        tenant: Tenant,
        clock: Clock,
    ) -> None:
        message = queue_message(session, tenant, channel=Channel.SMS)
        message.status = OutboxStatus.SENDING
        message.claimed_by = "dead-worker"
        message.lease_until = clock() - timedelta(seconds=1)
        message.attempts = 7
        session.commit()
        dispatcher = make_dispatcher(session_maker, tenant, clock, max_attempts=8)
        drain(dispatcher)
        failed = row(session, message)
        assert (failed.status, failed.attempts) == (OutboxStatus.FAILED, 8)
        assert "lease expired" in (failed.last_error or "")

    def test_leases_are_renewed_during_a_slow_batch(
        self,
        session: Session,
        session_maker: sessionmaker[Session],
        tenant: Tenant,
        http: HttpProvider,
    ) -> None:
        http_sms(session, tenant, http)
        messages = [queue_message(session, tenant, channel=Channel.SMS) for _ in range(4)]
        session.commit()

        class SlowClock(Clock):
            def __call__(self) -> datetime:  # every look at the clock costs 10 s
                self.now += timedelta(seconds=10)
                return self.now

        dispatcher = make_dispatcher(
            session_maker, tenant, SlowClock(), lease_seconds=40, send_timeout_seconds=10
        )
        drain(dispatcher)
        assert all(row(session, m).status == OutboxStatus.SENT for m in messages)
        assert dispatcher.stats.lost == 0

    def test_stop_event_between_rows(
        self,
        session: Session,
        session_maker: sessionmaker[Session],
        tenant: Tenant,
        clock: Clock,
        http: HttpProvider,
    ) -> None:
        """A stop while sending: the row in flight finishes, the rest is given back."""
        http_sms(session, tenant, http)
        messages = [queue_message(session, tenant, channel=Channel.SMS) for _ in range(5)]
        session.commit()
        dispatcher = make_dispatcher(session_maker, tenant, clock)
        original = dispatcher.process

        def process_then_stop(message_id: Any) -> None:
            original(message_id)
            dispatcher.stop.set()

        dispatcher.process = process_then_stop  # type: ignore[method-assign]
        dispatcher.run_batch()
        statuses = sorted(str(row(session, m).status) for m in messages)
        assert statuses == ["queued"] * 4 + ["sent"]
        assert len(http.requests) == 1


def _three_sms_and_the_lasts_debt(
    session: Session, tenant: Tenant, http: HttpProvider
) -> tuple[list[Any], Any]:
    """Three queued SMS (committed) and the título the third one is about."""
    http_sms(session, tenant, http)
    messages = [queue_message(session, tenant, channel=Channel.SMS) for _ in range(3)]
    receivable = session.scalar(
        select(Receivable)
        .join(OutboxReceivable, OutboxReceivable.receivable_id == Receivable.id)
        .where(OutboxReceivable.outbox_id == messages[2].id)
    )
    assert receivable is not None
    session.commit()
    return messages, receivable


def _assert_only_the_last_was_stopped(
    session: Session, messages: list[Any], http: HttpProvider
) -> None:
    assert [row(session, m).status for m in messages] == [
        OutboxStatus.SENT,
        OutboxStatus.SENT,
        OutboxStatus.CANCELLED,
    ]
    assert row(session, messages[2]).cancel_reason == "paid"
    assert len(http.requests) == 2


class TestBatches:
    """Guards and rendering run per claimed batch; the decisions stay those of one row."""

    def test_a_payment_after_the_batch_was_checked_stops_its_message(
        self,
        session: Session,
        session_maker: sessionmaker[Session],
        tenant: Tenant,
        clock: Clock,
        http: HttpProvider,
    ) -> None:
        messages, receivable = _three_sms_and_the_lasts_debt(session, tenant, http)
        dispatcher = make_dispatcher(session_maker, tenant, clock)
        prepare_batch = dispatcher._prepare_batch

        def prepare_then_pay(ids: Any) -> Any:
            prepared = prepare_batch(ids)
            assert set(prepared) == {m.id for m in messages}  # all three were ready to go
            pay(session, receivable, OPEN_HOURS.date())  # lands before the sends
            session.commit()
            return prepared

        dispatcher._prepare_batch = prepare_then_pay  # type: ignore[method-assign]
        drain(dispatcher)
        _assert_only_the_last_was_stopped(session, messages, http)

    def test_a_payment_while_the_batch_is_prepared_stops_its_message(
        self,
        session: Session,
        session_maker: sessionmaker[Session],
        tenant: Tenant,
        clock: Clock,
        http: HttpProvider,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        """The batch's fingerprints are read before its facts (and no row is locked): a
        payment landing after the facts were read, in the middle of the preparation, still
        makes the send-time look differ, and the row is decided again alone."""
        from adimple.messaging import render

        messages, receivable = _three_sms_and_the_lasts_debt(session, tenant, http)
        load = render.open_receivables_for

        def load_then_pay(*args: Any, **kwargs: Any) -> Any:
            found = load(*args, **kwargs)  # the facts and the debts are read: then it is paid
            pay(session, receivable, OPEN_HOURS.date())
            session.commit()
            return found

        monkeypatch.setattr(render, "open_receivables_for", load_then_pay)
        dispatcher = make_dispatcher(session_maker, tenant, clock)
        drain(dispatcher)
        _assert_only_the_last_was_stopped(session, messages, http)

    def test_a_customers_second_message_sees_the_first_one_sent(
        self,
        session: Session,
        session_maker: sessionmaker[Session],
        tenant: Tenant,
        clock: Clock,
        http: HttpProvider,
    ) -> None:
        """One SMS a day per debtor (frequency cap): two rows of one customer in one batch
        must not both pass a check made before either was sent."""
        from adimple.messaging.models import OutboxReceivable

        http_sms(session, tenant, http)
        first = queue_message(session, tenant, channel=Channel.SMS)
        second = OutboxMessage(
            tenant_id=tenant.id,
            customer_id=first.customer_id,
            contact_point_id=first.contact_point_id,
            channel=Channel.SMS,
            address=first.address,
            step_key="d2",
            template="lembrete_atraso",
            plan_date=first.plan_date,
            idempotency_key=f"{first.idempotency_key}:2",
            scheduled_for=OPEN_HOURS,
            next_attempt_at=OPEN_HOURS,
        )
        session.add(second)
        session.flush()
        link = session.scalar(
            select(OutboxReceivable).where(OutboxReceivable.outbox_id == first.id)
        )
        assert link is not None
        session.add(
            OutboxReceivable(
                tenant_id=tenant.id, outbox_id=second.id, receivable_id=link.receivable_id
            )
        )
        session.commit()
        dispatcher = make_dispatcher(session_maker, tenant, clock)
        drain(dispatcher)
        statuses = sorted([row(session, first).status, row(session, second).status])
        assert statuses == [OutboxStatus.QUEUED, OutboxStatus.SENT]
        assert (dispatcher.stats.sent, dispatcher.stats.rescheduled) == (1, 1)
        assert len(http.requests) == 1
