"""The portal's retention: ``access.purge_expired`` and ``adimple portal purge``."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from adimple.cli import app
from adimple.db.base import utcnow
from adimple.portfolio.models import ContactKind
from adimple.web.portal.access import purge_expired
from adimple.web.portal.models import (
    PortalAttempt,
    PortalLinkUse,
    PortalOneTimeCode,
    PortalSession,
)
from builders import add_contact, make_customer


def _rows(session: Session, tenant: Any, customer: Any, *, age: timedelta) -> None:
    """One row of each kind, as it stands ``age`` after it was last useful."""
    now = utcnow() - age
    ids = {"tenant_id": tenant.id, "customer_id": customer.id}
    point = add_contact(
        session, customer, ContactKind.EMAIL, f"{uuid.uuid4().hex[:6]}@exemplo.com.br"
    )
    session.add_all(
        [
            PortalSession(
                **ids,
                token_hash=uuid.uuid4().hex * 2,
                csrf_token="x",
                method="birth_date",
                created_at=now - timedelta(hours=2),
                last_seen_at=now,
                expires_at=now,
                ip="127.0.0.1",
                user_agent="teste",
            ),
            PortalOneTimeCode(
                **ids,
                link_id=uuid.uuid4().hex[:16],
                contact_point_id=point.id,
                code_hash="0" * 64,
                created_at=now - timedelta(minutes=10),
                expires_at=now,
            ),
            # A link lives 30 days (portal_link_days): its single use matters until then.
            PortalLinkUse(**ids, link_id=uuid.uuid4().hex[:16], used_at=now - timedelta(days=30)),
            PortalAttempt(
                **ids,
                ip="127.0.0.1",
                at=now - timedelta(days=29),
                method="birth_date",
                success=False,
            ),
        ]
    )
    session.flush()


def _count(session: Session, model: Any, tenant: Any) -> int:
    return int(
        session.scalar(select(func.count()).select_from(model).where(model.tenant_id == tenant.id))
        or 0
    )


def test_purge_deletes_what_no_one_can_use_and_keeps_the_rest(
    session: Session, tenant: Any
) -> None:
    customer = make_customer(session, tenant)
    _rows(session, tenant, customer, age=timedelta(days=1, hours=1))  # past every limit
    _rows(session, tenant, customer, age=timedelta(hours=23))  # still within them
    counts = purge_expired(session, now=utcnow())
    assert counts == {"sessions": 1, "codes": 1, "link_uses": 1, "attempts": 1}
    for model in (PortalSession, PortalOneTimeCode, PortalLinkUse, PortalAttempt):
        assert _count(session, model, tenant) == 1, model.__name__
    # A second run finds nothing more.
    assert set(purge_expired(session, now=utcnow()).values()) == {0}


def test_attempts_are_kept_as_long_as_asked(session: Session, tenant: Any) -> None:
    customer = make_customer(session, tenant)
    _rows(session, tenant, customer, age=timedelta(hours=1))  # attempt 29 days + 1 h old
    assert purge_expired(session, now=utcnow(), attempts_days=60)["attempts"] == 0
    assert purge_expired(session, now=utcnow(), attempts_days=29)["attempts"] == 1


def test_cli_purge_prints_the_counts(cli_database: str) -> None:
    result = CliRunner().invoke(app, ["portal", "purge"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {
        "deleted": {"sessions": 0, "codes": 0, "link_uses": 0, "attempts": 0}
    }
    refused = CliRunner().invoke(app, ["portal", "purge", "--attempts-days", "0"])
    assert refused.exit_code == 2 and "attempts-days" in refused.output
