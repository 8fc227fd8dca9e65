"""JSON API of the collection policy: read the active version, save a new one, list versions."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel

from adimple.charges import service
from adimple.charges.models import CollectionPolicy
from adimple.charges.policy import Policy, policy_from_data, policy_warnings
from adimple.kit.errors import NotFound
from adimple.web.deps import CurrentActor, CurrentTenant, DbSession

router = APIRouter(prefix="/policy", tags=["policy"])


class PolicyRead(BaseModel):
    """A policy version; ``version`` is null for the default policy (never saved)."""

    version: int | None
    created_at: datetime | None
    created_by: str | None
    document: Policy
    warnings: list[str]


class PolicyVersionRead(BaseModel):
    version: int
    created_at: datetime
    created_by: str


def _read(record: CollectionPolicy | None, policy: Policy) -> PolicyRead:
    return PolicyRead(
        version=record.version if record else None,
        created_at=record.created_at if record else None,
        created_by=record.created_by if record else None,
        document=policy,
        warnings=policy_warnings(policy),
    )


@router.get("", response_model=PolicyRead)
def get_policy(session: DbSession, tenant: CurrentTenant) -> PolicyRead:
    """Política ativa do credor (a padrão quando nenhuma foi gravada)."""
    record = service.get_active_policy_record(session, tenant_id=tenant.id)
    policy = service.get_active_policy(session, tenant_id=tenant.id)
    return _read(record, policy)


@router.put("", response_model=PolicyRead)
def put_policy(
    body: Policy, session: DbSession, tenant: CurrentTenant, actor: CurrentActor
) -> PolicyRead:
    """Grava uma nova versão (validada; 422 com a razão, p.ex. multa > 2% para consumidor)."""
    record = service.save_policy(session, tenant_id=tenant.id, document=body, actor=actor)
    return _read(record, body)


@router.get("/versions", response_model=list[PolicyVersionRead])
def list_versions(session: DbSession, tenant: CurrentTenant) -> list[PolicyVersionRead]:
    """Todas as versões gravadas, da mais nova para a mais antiga."""
    return [
        PolicyVersionRead(version=r.version, created_at=r.created_at, created_by=r.created_by)
        for r in service.list_policy_versions(session, tenant_id=tenant.id)
    ]


@router.get("/versions/{version}", response_model=PolicyRead)
def get_version(version: int, session: DbSession, tenant: CurrentTenant) -> PolicyRead:
    """Uma versão gravada, como foi usada na época."""
    for record in service.list_policy_versions(session, tenant_id=tenant.id):
        if record.version == version:
            return _read(record, policy_from_data(record.document))
    raise NotFound(f"versão {version} da política não encontrada")
