"""Builders and fixtures for the dispatcher, worker and inbound tests (``import dispatch_helpers``).

Rows are built with the shared ``builders`` (real customers, contact points, receivables) and
queued the way the daily cycle queues them. ``OPEN_HOURS`` is a Monday afternoon in São Paulo,
inside the contact window, so the guards let messages through unless a test says otherwise.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from adimple.db.engine import make_engine
from adimple.db.migrate import upgrade
from adimple.messaging.models import OutboxMessage, OutboxReceivable
from adimple.portfolio.models import Channel, ContactKind
from adimple.tenancy.models import Tenant
from builders import add_contact, make_customer, make_receivable

# Monday 23/11/2026 14:00 in São Paulo (17:00 UTC).
OPEN_HOURS = datetime(2026, 11, 23, 17, 0, tzinfo=UTC)
# Monday 23/11/2026 22:00 in São Paulo: after the 20:00 close.
AFTER_HOURS = datetime(2026, 11, 24, 1, 0, tzinfo=UTC)

_ADDRESS = {
    Channel.EMAIL: (ContactKind.EMAIL, "devedor{n}@example.com"),
    Channel.SMS: (ContactKind.PHONE, "+55119{n:08d}"),
    Channel.WHATSAPP: (ContactKind.PHONE, "+55119{n:08d}"),
}


def queue_message(
    session: Session,
    tenant: Tenant,
    *,
    channel: Channel = Channel.EMAIL,
    n: int | None = None,
    template: str = "aviso_atraso",
    due: datetime = OPEN_HOURS,
    address: str | None = None,
    **customer_fields: Any,
) -> OutboxMessage:
    """A customer with one overdue receivable and a queued message about it."""
    n = n if n is not None else uuid.uuid4().int % 10**8
    customer = make_customer(session, tenant, **customer_fields)
    kind, pattern = _ADDRESS[channel]
    point = add_contact(session, customer, kind, address or pattern.format(n=n))
    receivable = make_receivable(session, customer, date(2026, 11, 2), "250.00")
    message = OutboxMessage(
        tenant_id=tenant.id,
        customer_id=customer.id,
        contact_point_id=point.id,
        channel=channel,
        address=point.value,
        step_key="d1",
        template=template,
        plan_date=date(2026, 11, 23),
        idempotency_key=f"test:{uuid.uuid4().hex}",
        scheduled_for=due,
        next_attempt_at=due,
    )
    session.add(message)
    session.flush()
    session.add(
        OutboxReceivable(tenant_id=tenant.id, outbox_id=message.id, receivable_id=receivable.id)
    )
    session.flush()
    return message


def _admin_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="module")
def own_database(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database of the module's own, for tests whose workers commit for real (threads,
    subprocesses): a worker claims every due row it can see, so no other test's rows may be
    there. A new SQLite file, or a new PostgreSQL database dropped afterwards."""
    if db_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path_factory.mktemp('own') / 'dispatch.db'}"
        upgrade(make_engine(url))
        yield url
        return
    name = f"adimple_dispatch_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(_admin_dsn(db_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(db_url).set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    yield url
    with psycopg.connect(_admin_dsn(db_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def own_engine(own_database: str) -> Iterator[Engine]:
    engine = make_engine(own_database)
    yield engine
    engine.dispose()
