"""JSON API of the régua definitions: cadences (versioned) and the tenant's segments.

The request bodies are the same documents as the YAML files (``docs/cadence.md``), as JSON.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel, Field

from adimple.cadence import library
from adimple.cadence.definitions import (
    NAME_PATTERN,
    CadenceDocument,
    DefinitionError,
    DefinitionIssue,
    SegmentDefinition,
    SegmentsDocument,
)
from adimple.cadence.models import CadenceVersion
from adimple.web.deps import CurrentActor, CurrentTenant, DbSession

router = APIRouter(tags=["cadences"])

NameParam = Annotated[str, Path(min_length=1, max_length=64, pattern=NAME_PATTERN)]


class CadenceSummaryRead(BaseModel):
    name: str
    description: str | None
    current_version: int
    versions: int
    steps: int


class CadenceRead(BaseModel):
    """One version of a cadence; ``document`` is its normalised definition."""

    name: str
    version: int
    current_version: int
    created_at: datetime
    created_by: str
    document: CadenceDocument


class SegmentsRead(BaseModel):
    segments: list[SegmentDefinition] = Field(max_length=100)


def _read(row: CadenceVersion, *, name: str, current_version: int) -> CadenceRead:
    return CadenceRead(
        name=name,
        version=row.version,
        current_version=current_version,
        created_at=row.created_at,
        created_by=row.created_by,
        document=CadenceDocument.model_validate(row.definition),
    )


@router.get("/cadences", response_model=list[CadenceSummaryRead])
def list_cadences(session: DbSession, tenant: CurrentTenant) -> list[CadenceSummaryRead]:
    """Réguas do credor, com a versão atual e o número de passos."""
    return [
        CadenceSummaryRead(
            name=row.name,
            description=row.description,
            current_version=row.current_version,
            versions=row.versions,
            steps=row.steps,
        )
        for row in library.list_cadences(session, tenant_id=tenant.id)
    ]


@router.get("/cadences/{name}", response_model=CadenceRead)
def get_cadence(
    name: NameParam,
    session: DbSession,
    tenant: CurrentTenant,
    version: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
) -> CadenceRead:
    """A versão atual da régua (ou ``?version=N``)."""
    current = library.get_current_version(session, tenant_id=tenant.id, name=name)
    row = (
        current
        if version is None
        else library.get_version(session, tenant_id=tenant.id, name=name, version=version)
    )
    return _read(row, name=name, current_version=current.version)


@router.put(
    "/cadences/{name}",
    response_model=CadenceRead,
    responses={
        200: {"description": "Unchanged: the document equals the current version"},
        201: {"description": "A new version was created", "model": CadenceRead},
    },
)
def put_cadence(
    name: NameParam,
    body: CadenceDocument,
    response: Response,
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
) -> CadenceRead:
    """Grava a régua: 201 com uma nova versão, 200 se nada mudou, 422 com os campos inválidos."""
    if body.name != name:
        raise DefinitionError([DefinitionIssue("<body>", "name", f"must match the URL ('{name}')")])
    row, created = library.import_cadence(
        session, tenant_id=tenant.id, doc=body, actor=actor, source="<body>"
    )
    response.status_code = 201 if created else 200
    return _read(row, name=name, current_version=row.version)


def _segments(session: DbSession, tenant: CurrentTenant) -> SegmentsRead:
    rows = library.segment_rows_as_document(library.list_segments(session, tenant_id=tenant.id))
    return SegmentsRead(segments=[SegmentDefinition.model_validate(row) for row in rows])


@router.get("/segments", response_model=SegmentsRead, tags=["segments"])
def get_segments(session: DbSession, tenant: CurrentTenant) -> SegmentsRead:
    """Segmentos do credor, na ordem de avaliação (a primeira regra que se aplica vence)."""
    return _segments(session, tenant)


@router.put("/segments", response_model=SegmentsRead, tags=["segments"])
def put_segments(
    body: SegmentsDocument, session: DbSession, tenant: CurrentTenant, actor: CurrentActor
) -> SegmentsRead:
    """Substitui o conjunto de segmentos (as réguas citadas precisam existir; 422 se não)."""
    library.save_segments(session, tenant_id=tenant.id, doc=body, actor=actor, source="<body>")
    return _segments(session, tenant)
