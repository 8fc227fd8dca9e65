"""Phone contacts are tasks for an operator, with the call script for the customer's segment.

Scripts live in ``messaging/scripts/<segment code>.md`` (pt-BR). Every one starts the same way:
identify yourself and the creditor, and confirm you are speaking with the debtor before any
mention of a debt — a third party is never told (CDC art. 42, LGPD) — then offers the plans of
the policy and ends by recording the outcome.
"""

from __future__ import annotations

import uuid
from datetime import date
from functools import lru_cache
from importlib import resources

from sqlalchemy import select
from sqlalchemy.orm import Session

from adimple.messaging.models import Task, TaskKind

SCRIPT_SEGMENTS = (
    "preventive",
    "high_balance",
    "business",
    "never_paid",
    "chronic_late",
    "loyal_first_late",
    "standard",
)
DEFAULT_SEGMENT = "standard"


@lru_cache(maxsize=32)
def call_script(segment_code: str | None) -> str:
    """The Markdown call script for a segment; the standard one for an unknown segment."""
    code = segment_code if segment_code in SCRIPT_SEGMENTS else DEFAULT_SEGMENT
    folder = resources.files("adimple.messaging").joinpath("scripts")
    return folder.joinpath(f"{code}.md").read_text(encoding="utf-8")


def call_task(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    customer_id: uuid.UUID,
    segment: str | None,
    due_on: date,
    idempotency_key: str,
    case_id: uuid.UUID | None = None,
    step_key: str | None = None,
    priority: int = 0,
) -> Task:
    """The operator's call task (created once per idempotency key), script in ``data``."""
    existing = session.scalars(
        select(Task).where(Task.tenant_id == tenant_id, Task.idempotency_key == idempotency_key)
    ).first()
    if existing is not None:
        return existing
    code = segment if segment in SCRIPT_SEGMENTS else DEFAULT_SEGMENT
    task = Task(
        tenant_id=tenant_id,
        customer_id=customer_id,
        case_id=case_id,
        kind=TaskKind.CALL,
        step_key=step_key,
        idempotency_key=idempotency_key,
        due_on=due_on,
        priority=priority,
        title="Ligar para o devedor (roteiro: " + code.replace("_", " ") + ")",
        data={"segment": code, "script": call_script(code)},
    )
    session.add(task)
    session.flush()
    return task
