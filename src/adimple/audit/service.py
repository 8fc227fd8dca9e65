"""Recording audit events (the session's unit of work commits them with the change)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from adimple.audit.models import AuditEvent


def record(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    actor: str,
    action: str,
    entity_type: str,
    entity_id: uuid.UUID | None,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    event = AuditEvent(
        tenant_id=tenant_id,
        actor=actor,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        data=data or {},
    )
    session.add(event)
    return event
