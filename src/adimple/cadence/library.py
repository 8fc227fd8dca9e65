"""The tenant's cadences and segments: import (versioned), export, list, defaults.

Services take the session first, flush and never commit. A cadence version is immutable:
changing a cadence writes a new version and moves ``Cadence.current_version``; cases keep the
version they started with (``CollectionCase.cadence_version_id``).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from adimple.audit import service as audit
from adimple.cadence.definitions import (
    CadenceDocument,
    DefinitionError,
    DefinitionIssue,
    SegmentsDocument,
    cadence_from_data,
    check_cadence,
    check_segments,
    dump_cadence,
    normalise_cadence,
    normalise_segments,
    shipped_cadences,
    shipped_segments,
)
from adimple.cadence.models import Cadence, CadenceStep, CadenceVersion, Segment, StepAction
from adimple.db.base import utcnow
from adimple.kit.errors import Conflict, NotFound


@dataclass(frozen=True)
class CadenceSummary:
    name: str
    description: str | None
    current_version: int
    versions: int
    steps: int


@dataclass(frozen=True)
class DefaultsInstalled:
    cadences: list[str]  # names installed now (a tenant's own cadence of that name is kept)
    segments: bool  # False when the tenant already had segments

    def as_dict(self) -> dict[str, Any]:
        return {"cadences": self.cadences, "segments": self.segments}


def _flush_or_conflict(session: Session, what: str) -> None:
    """Two saves of the same cadence at once collide on a unique constraint: the second gets a
    409 to retry instead of a server error (the caller's unit of work rolls back)."""
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(
            f"{what}: alterada por outra requisição ao mesmo tempo; tente de novo"
        ) from exc


# --- cadences ---------------------------------------------------------------------------------


def _find_cadence(session: Session, *, tenant_id: uuid.UUID, name: str) -> Cadence | None:
    return session.scalars(
        select(Cadence).where(Cadence.tenant_id == tenant_id, Cadence.name == name)
    ).first()


def _version_row(
    session: Session, *, tenant_id: uuid.UUID, cadence_id: uuid.UUID, version: int
) -> CadenceVersion | None:
    return session.scalars(
        select(CadenceVersion).where(
            CadenceVersion.tenant_id == tenant_id,
            CadenceVersion.cadence_id == cadence_id,
            CadenceVersion.version == version,
        )
    ).first()


def import_cadence(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    doc: CadenceDocument,
    actor: str,
    source: str = "<input>",
) -> tuple[CadenceVersion, bool]:
    """Stores ``doc`` as the cadence's next version, unless it equals the current one.

    Returns the current version and whether it was created now. Raises
    :class:`DefinitionError` (422) when the document breaks a rule.
    """
    check_cadence(doc, source)
    definition = normalise_cadence(doc)
    cadence = _find_cadence(session, tenant_id=tenant_id, name=doc.name)
    previous: int | None = None
    if cadence is not None:
        current = _version_row(
            session, tenant_id=tenant_id, cadence_id=cadence.id, version=cadence.current_version
        )
        # Compared as Python dicts: JSON columns have no `=` on PostgreSQL.
        if current is not None and current.definition == definition:
            return current, False
        previous = cadence.current_version
    else:
        cadence = Cadence(tenant_id=tenant_id, name=doc.name, current_version=1)
        session.add(cadence)
        _flush_or_conflict(session, f"régua '{doc.name}'")
    latest = session.scalar(
        select(func.max(CadenceVersion.version)).where(
            CadenceVersion.tenant_id == tenant_id, CadenceVersion.cadence_id == cadence.id
        )
    )
    version = CadenceVersion(
        tenant_id=tenant_id,
        cadence_id=cadence.id,
        version=(latest or 0) + 1,
        definition=definition,
        created_at=utcnow(),
        created_by=actor,
    )
    session.add(version)
    _flush_or_conflict(session, f"régua '{doc.name}'")
    # Positions follow the normalised order: offset_days, then file order (a stable sort).
    for position, step in enumerate(definition["steps"], start=1):
        session.add(
            CadenceStep(
                tenant_id=tenant_id,
                cadence_version_id=version.id,
                position=position,
                step_key=step["id"],
                offset_days=step["offset_days"],
                channels=list(step["channels"] or []),
                action=StepAction(step["action"]) if step["action"] else None,
                template=step["template"],
                min_balance=Decimal(step["min_balance"]) if step["min_balance"] else None,
                segments=step["segments"],
                score_bands=step["score_bands"],
                only_business_days=step["only_business_days"],
            )
        )
    cadence.current_version = version.version
    cadence.description = doc.description
    session.flush()
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action="cadence.version_created",
        entity_type="cadence",
        entity_id=cadence.id,
        data={
            "name": cadence.name,
            "version": version.version,
            "previous_version": previous,
            "source": source,
        },
    )
    return version, True


def import_cadence_data(
    session: Session, *, tenant_id: uuid.UUID, data: Any, actor: str, source: str = "<input>"
) -> tuple[CadenceVersion, bool]:
    """:func:`import_cadence` for a loaded mapping (a JSON body)."""
    return import_cadence(
        session,
        tenant_id=tenant_id,
        doc=cadence_from_data(data, source),
        actor=actor,
        source=source,
    )


def get_version(
    session: Session, *, tenant_id: uuid.UUID, name: str, version: int | None = None
) -> CadenceVersion:
    """A version of the cadence (the current one without ``version``); :class:`NotFound`."""
    cadence = _find_cadence(session, tenant_id=tenant_id, name=name)
    if cadence is None:
        raise NotFound(f"régua '{name}' não encontrada")
    row = _version_row(
        session,
        tenant_id=tenant_id,
        cadence_id=cadence.id,
        version=cadence.current_version if version is None else version,
    )
    if row is None:
        raise NotFound(f"versão {version} da régua '{name}' não encontrada")
    return row


def get_current_version(session: Session, *, tenant_id: uuid.UUID, name: str) -> CadenceVersion:
    return get_version(session, tenant_id=tenant_id, name=name)


def version_steps(
    session: Session, *, tenant_id: uuid.UUID, cadence_version_id: uuid.UUID
) -> list[CadenceStep]:
    """The steps of a version, by position (1..n)."""
    return list(
        session.scalars(
            select(CadenceStep)
            .where(
                CadenceStep.tenant_id == tenant_id,
                CadenceStep.cadence_version_id == cadence_version_id,
            )
            .order_by(CadenceStep.position)
        )
    )


def export_cadence(
    session: Session, *, tenant_id: uuid.UUID, name: str, version: int | None = None
) -> str:
    """YAML of a version (current by default); importing it back creates no version."""
    row = get_version(session, tenant_id=tenant_id, name=name, version=version)
    return dump_cadence(row.definition)


def list_cadences(session: Session, *, tenant_id: uuid.UUID) -> list[CadenceSummary]:
    """The tenant's cadences by name, with their version count and current step count."""
    cadences = list(
        session.scalars(
            select(Cadence).where(Cadence.tenant_id == tenant_id).order_by(Cadence.name)
        )
    )
    version_counts: dict[uuid.UUID, int] = {
        cadence_id: int(count)
        for cadence_id, count in session.execute(
            select(CadenceVersion.cadence_id, func.count())
            .where(CadenceVersion.tenant_id == tenant_id)
            .group_by(CadenceVersion.cadence_id)
        )
    }
    step_counts: dict[uuid.UUID, int] = {
        cadence_id: int(count)
        for cadence_id, count in session.execute(
            select(CadenceVersion.cadence_id, func.count(CadenceStep.id))
            .join(CadenceStep, CadenceStep.cadence_version_id == CadenceVersion.id)
            .join(Cadence, Cadence.id == CadenceVersion.cadence_id)
            .where(
                CadenceVersion.tenant_id == tenant_id,
                CadenceVersion.version == Cadence.current_version,
            )
            .group_by(CadenceVersion.cadence_id)
        )
    }
    return [
        CadenceSummary(
            name=cadence.name,
            description=cadence.description,
            current_version=cadence.current_version,
            versions=version_counts.get(cadence.id, 0),
            steps=step_counts.get(cadence.id, 0),
        )
        for cadence in cadences
    ]


# --- segments ---------------------------------------------------------------------------------


def list_segments(session: Session, *, tenant_id: uuid.UUID) -> list[Segment]:
    """The tenant's segment rules in evaluation order (ascending priority)."""
    return list(
        session.scalars(
            select(Segment)
            .where(Segment.tenant_id == tenant_id)
            .order_by(Segment.priority, Segment.code)
        )
    )


def segment_rows_as_document(rows: list[Segment]) -> list[dict[str, Any]]:
    """Stored segments in the normalised document form (see ``normalise_segments``)."""
    return [
        {
            "code": row.code,
            "name": row.name,
            "priority": row.priority,
            "kind": row.kind,
            "params": dict(row.params or {}),
            "cadence": row.cadence_name,
            "enabled": row.enabled,
        }
        for row in rows
    ]


def save_segments(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    doc: SegmentsDocument,
    actor: str,
    source: str = "<input>",
) -> tuple[list[Segment], bool]:
    """Replaces the tenant's segment set; returns the rows and whether anything changed.

    Every referenced cadence must already exist in the tenant. Cases already open keep the
    segment they were given (the reason is on the case); the new rules apply to new episodes.
    """
    check_segments(doc, source)
    known = set(session.scalars(select(Cadence.name).where(Cadence.tenant_id == tenant_id)).all())
    missing = [
        DefinitionIssue(
            source,
            "cadence",
            f"cadence '{seg.cadence}' does not exist in this tenant; import it first "
            "(adimple cadence import FILE)",
            "segments",
            index,
            seg.code,
        )
        for index, seg in enumerate(doc.segments)
        if seg.cadence not in known
    ]
    if missing:
        raise DefinitionError(missing)
    after = normalise_segments(doc)
    current = list_segments(session, tenant_id=tenant_id)
    before = segment_rows_as_document(current)
    if before == after:
        return current, False
    session.execute(delete(Segment).where(Segment.tenant_id == tenant_id))
    session.flush()
    rows = [
        Segment(
            tenant_id=tenant_id,
            code=item["code"],
            name=item["name"],
            priority=item["priority"],
            kind=item["kind"],
            params=item["params"],
            cadence_name=item["cadence"],
            enabled=item["enabled"],
        )
        for item in after
    ]
    session.add_all(rows)
    _flush_or_conflict(session, "segmentos")
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action="segments.saved",
        entity_type="segment",
        entity_id=None,
        data={"before": before, "after": after, "source": source},
    )
    return rows, True


# --- defaults ---------------------------------------------------------------------------------


def install_defaults(session: Session, *, tenant_id: uuid.UUID, actor: str) -> DefaultsInstalled:
    """Installs the shipped pt-BR cadences and segments for a tenant that has no segments yet.

    Idempotent, and never overwrites: a tenant with segments is left alone, and a cadence the
    tenant already has under a default name is kept as it is (the default segments then use
    the tenant's own version).
    """
    if session.scalar(select(func.count()).where(Segment.tenant_id == tenant_id)):
        return DefaultsInstalled(cadences=[], segments=False)
    installed = []
    for doc in shipped_cadences():
        if _find_cadence(session, tenant_id=tenant_id, name=doc.name) is None:
            import_cadence(
                session, tenant_id=tenant_id, doc=doc, actor=actor, source=f"{doc.name}.yaml"
            )
            installed.append(doc.name)
    save_segments(
        session, tenant_id=tenant_id, doc=shipped_segments(), actor=actor, source="segments.yaml"
    )
    return DefaultsInstalled(cadences=installed, segments=True)
