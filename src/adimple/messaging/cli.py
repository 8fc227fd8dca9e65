"""CLI: ``adimple worker`` (the dispatcher) and ``adimple outbox list|show`` (what was sent)."""

from __future__ import annotations

import logging
import signal
import sys
import threading
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from adimple.kit.console import die, print_json

outbox_app = typer.Typer(
    help="The outbox: messages planned, sent or suppressed.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.command("worker")(worker_command)
    app.add_typer(outbox_app, name="outbox")


def worker_command(
    once: Annotated[bool, typer.Option("--once", help="Send what is due now, then exit.")] = False,
    batch: Annotated[
        int | None, typer.Option(min=1, help="Rows claimed at a time [env ADIMPLE_WORKER_BATCH].")
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option(min=1, help="Sending threads in this process [ADIMPLE_WORKER_CONCURRENCY]."),
    ] = None,
    max_attempts: Annotated[
        int | None,
        typer.Option(min=1, help="Attempts before a message fails [ADIMPLE_WORKER_MAX_ATTEMPTS]."),
    ] = None,
    poll: Annotated[
        float | None,
        typer.Option(min=0.01, help="Seconds to wait when nothing is due [ADIMPLE_WORKER_POLL]."),
    ] = None,
    lease: Annotated[
        float | None,
        typer.Option(
            min=1.0,
            help="Seconds a claim is held before others take it [ADIMPLE_WORKER_LEASE].",
        ),
    ] = None,
    send_timeout: Annotated[
        float | None,
        typer.Option(min=0.01, help="Seconds to wait for a provider [..._SEND_TIMEOUT]."),
    ] = None,
    rate_limit: Annotated[
        str | None,
        typer.Option(
            help="Per-provider messages/s, e.g. 'smtp=20,http=100' [ADIMPLE_WORKER_RATE_LIMITS]."
        ),
    ] = None,
    as_of: Annotated[
        datetime | None,
        typer.Option(
            help="Pretend the worker process started at this moment (UTC unless an offset is "
            "given); time runs on from there. For simulations and the demo."
        ),
    ] = None,
    worker_id: Annotated[
        str | None, typer.Option(help="Name in claimed_by (default host:pid).")
    ] = None,
    tenant: Annotated[
        str | None, typer.Option("--tenant", help="Send only this tenant's messages (slug).")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log every batch.")] = False,
) -> None:
    """Dispatcher: sends due outbox messages through the channels (several may run at once)."""
    from adimple.cli import prepare_database
    from adimple.db.base import utcnow
    from adimple.db.engine import make_worker_engine
    from adimple.messaging.dispatcher import DispatchConfig, DispatchStats
    from adimple.messaging.worker import (
        WorkerSettings,
        parse_rate_limits,
        process_clock,
        run_worker,
        settle_process,
    )

    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    settings = WorkerSettings()
    try:
        rates = parse_rate_limits(rate_limit if rate_limit is not None else settings.rate_limits)
    except ValueError as exc:
        die(str(exc))
    prepare_database()
    tenant_id = None
    if tenant is not None:
        from adimple.db.engine import unit_of_work
        from adimple.kit.errors import DomainError
        from adimple.tenancy import service as tenancy

        try:
            with unit_of_work() as session:
                tenant_id = tenancy.get_tenant_by_slug(session, tenant).id
        except DomainError as exc:
            die(exc.detail)
    config = DispatchConfig(
        tenant_id=tenant_id,
        batch=batch or settings.batch,
        lease_seconds=lease or settings.lease,
        max_attempts=max_attempts or settings.max_attempts,
        backoff_base_seconds=settings.backoff_base,
        backoff_cap_seconds=settings.backoff_cap,
        send_timeout_seconds=send_timeout or settings.send_timeout,
        rate_limits=rates,
    )
    if config.lease_seconds <= config.send_timeout_seconds:
        die("--lease must be longer than --send-timeout (a claim must outlive one send)")
    clock = utcnow
    if as_of is not None:
        clock = process_clock(as_of if as_of.tzinfo else as_of.replace(tzinfo=UTC))
    stop = threading.Event()

    def on_signal(signum: int, _frame: Any) -> None:
        logging.getLogger(__name__).warning("signal %d: finishing the message in flight", signum)
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}

    def on_batch(stats: DispatchStats) -> None:
        if verbose:
            logging.getLogger(__name__).info("%s", stats.as_dict())

    engine = make_worker_engine()
    settle_process()
    try:
        result = run_worker(
            engine,
            config=config,
            concurrency=concurrency or settings.concurrency,
            once=once,
            poll=poll or settings.poll,
            worker_id=worker_id,
            clock=clock,
            stop=stop,
            on_batch=on_batch,
        )
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print_json(result.as_dict())
    if result.errors and once:
        raise typer.Exit(1)


@outbox_app.command("list")
def outbox_list(
    status: Annotated[str | None, typer.Option(help="queued, sending, sent, delivered, …")] = None,
    tenant: Annotated[str | None, typer.Option("--tenant", help="Tenant slug.")] = None,
    channel: Annotated[str | None, typer.Option(help="email, sms, whatsapp, letter.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
) -> None:
    """Lists outbox messages, newest planned first (JSON)."""
    from sqlalchemy import select

    from adimple.cli import prepare_database
    from adimple.db.engine import unit_of_work
    from adimple.kit.errors import DomainError
    from adimple.messaging.models import OutboxMessage, OutboxStatus
    from adimple.portfolio.models import Channel
    from adimple.tenancy import service as tenancy

    prepare_database()
    query = select(OutboxMessage).order_by(OutboxMessage.scheduled_for.desc(), OutboxMessage.id)
    try:
        if status is not None:
            query = query.where(OutboxMessage.status == OutboxStatus(status))
        if channel is not None:
            query = query.where(OutboxMessage.channel == Channel(channel))
    except ValueError as exc:
        die(str(exc))
    with unit_of_work() as session:
        if tenant is not None:
            try:
                row = tenancy.get_tenant_by_slug(session, tenant)
            except DomainError as exc:
                die(exc.detail)
            query = query.where(OutboxMessage.tenant_id == row.id)
        messages = session.scalars(query.limit(limit)).all()
        print_json([_summary(m) for m in messages])


@outbox_app.command("show")
def outbox_show(
    message_id: Annotated[str, typer.Argument(help="Outbox message id.")],
    preview: Annotated[
        bool,
        typer.Option(
            "--preview/--no-preview",
            help="Render a message not sent yet as it would go out now.",
        ),
    ] = True,
) -> None:
    """Shows one message as the debtor sees it: recipient, subject, text (JSON)."""
    from adimple.cli import prepare_database
    from adimple.db.base import utcnow
    from adimple.db.engine import session_factory
    from adimple.messaging.models import OutboxMessage

    try:
        ident = uuid.UUID(message_id)
    except ValueError:
        die(f"'{message_id}' is not a message id")
    prepare_database()
    session = session_factory()()
    try:
        message = session.get(OutboxMessage, ident)
        if message is None:
            die(f"no outbox message {message_id}")
        shown: dict[str, Any] = _summary(message) | {
            "idempotency_key": message.idempotency_key,
            "step_key": message.step_key,
            "template": message.template,
            "provider_message_id": message.provider_message_id,
            "last_error": message.last_error,
            "claimed_by": message.claimed_by,
            "delivered_at": _iso(message.delivered_at),
            "read_at": _iso(message.read_at),
            "subject": message.subject,
            "text": message.body,
            "rendered": "sent" if message.sent_at else None,
        }
        if message.sent_at is None and preview:
            from adimple.messaging.render import RenderError, render_outbox_message

            try:
                outgoing = render_outbox_message(session, message, now=utcnow())
                shown |= {
                    "subject": outgoing.subject,
                    "text": outgoing.text,
                    "rendered": "preview",
                }
            except RenderError as exc:
                shown["rendered"] = f"preview failed: {exc}"
    finally:
        session.rollback()  # a preview never writes
        session.close()
    print_json(shown)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _summary(message: Any) -> dict[str, Any]:
    return {
        "id": str(message.id),
        "tenant_id": str(message.tenant_id),
        "customer_id": str(message.customer_id),
        "channel": str(message.channel),
        "to": message.address,
        "status": str(message.status),
        "scheduled_for": _iso(message.scheduled_for),
        "next_attempt_at": _iso(message.next_attempt_at),
        "attempts": message.attempts,
        "provider": message.provider,
        "sent_at": _iso(message.sent_at),
        "cancel_reason": message.cancel_reason,
    }
