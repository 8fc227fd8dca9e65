"""Cadence library on SQLite and PostgreSQL: versions, steps, segments, defaults, isolation."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from adimple.audit.models import AuditEvent
from adimple.cadence import library
from adimple.cadence.definitions import (
    DEFAULT_CADENCE_NAMES,
    DefinitionError,
    normalise_segments,
    parse_cadence,
    parse_segments,
    shipped_segments,
)
from adimple.cadence.models import Cadence, CadenceStep, CadenceVersion, Segment, StepAction
from adimple.kit.errors import NotFound
from adimple.tenancy.models import Tenant
from adimple.tenancy.service import create_tenant

PADRAO = """\
name: padrao
description: Régua de teste
steps:
  - {id: aviso_d1, offset_days: 1, channels: [email, sms], template: aviso_atraso}
  - {id: lembrete_d3, offset_days: -3, channels: [email, whatsapp], template: lembrete_vencimento}
  - {id: ligacao_d10, offset_days: 10, action: task_call, only_business_days: true}
  - {id: proposta_d10, offset_days: 10, channels: [whatsapp], template: proposta_acordo,
     segments: [standard], score_bands: [A, B]}
  - {id: aviso_bureau_d45, offset_days: 45, action: bureau_notice, min_balance: "100.00"}
  - {id: negativacao_d55, offset_days: 55, action: bureau_activate, min_balance: 100}
"""


def other_tenant(session: Session) -> Tenant:
    return create_tenant(
        session,
        slug=f"o-{uuid.uuid4().hex[:8]}",
        legal_name="Outro Credor Ltda",
        document="11.444.777/0001-61",
        address="Rua B, 2",
        city="Rio de Janeiro",
        uf="RJ",
    )


def steps_of(session: Session, version: CadenceVersion) -> list[CadenceStep]:
    return library.version_steps(
        session, tenant_id=version.tenant_id, cadence_version_id=version.id
    )


class TestImportCadence:
    def test_first_import_creates_version_one_with_ordered_steps(
        self, session: Session, tenant: Tenant
    ) -> None:
        version, created = library.import_cadence(
            session, tenant_id=tenant.id, doc=parse_cadence(PADRAO), actor="teste"
        )
        assert created and version.version == 1 and version.created_by == "teste"
        steps = steps_of(session, version)
        assert [(s.position, s.step_key) for s in steps] == [
            (1, "lembrete_d3"),
            (2, "aviso_d1"),
            (3, "ligacao_d10"),  # same offset as proposta_d10: file order breaks the tie
            (4, "proposta_d10"),
            (5, "aviso_bureau_d45"),
            (6, "negativacao_d55"),
        ]
        call, offer, notice, activation = steps[2], steps[3], steps[4], steps[5]
        assert call.action == StepAction.TASK_CALL and call.channels == []
        assert call.only_business_days and call.template is None
        assert offer.segments == ["standard"] and offer.score_bands == ["A", "B"]
        assert offer.channels == ["whatsapp"] and offer.action is None
        assert notice.template == "aviso_negativacao" and notice.min_balance == Decimal("100.00")
        assert activation.min_balance == Decimal("100.00")
        cadence = session.scalars(select(Cadence).where(Cadence.tenant_id == tenant.id)).one()
        assert cadence.current_version == 1 and cadence.description == "Régua de teste"
        event = session.scalars(
            select(AuditEvent).where(
                AuditEvent.tenant_id == tenant.id, AuditEvent.action == "cadence.version_created"
            )
        ).one()
        assert event.data["version"] == 1 and event.data["previous_version"] is None

    def test_same_document_creates_no_version(self, session: Session, tenant: Tenant) -> None:
        first, _ = library.import_cadence(
            session, tenant_id=tenant.id, doc=parse_cadence(PADRAO), actor="a"
        )
        again, created = library.import_cadence(
            session, tenant_id=tenant.id, doc=parse_cadence(PADRAO), actor="b"
        )
        assert not created and again.id == first.id
        assert (
            session.scalar(select(func.count()).where(CadenceVersion.tenant_id == tenant.id)) == 1
        )

    def test_export_then_import_is_not_a_new_version(
        self, session: Session, tenant: Tenant
    ) -> None:
        library.import_cadence(session, tenant_id=tenant.id, doc=parse_cadence(PADRAO), actor="a")
        text = library.export_cadence(session, tenant_id=tenant.id, name="padrao")
        _, created = library.import_cadence(
            session, tenant_id=tenant.id, doc=parse_cadence(text, "export.yaml"), actor="a"
        )
        assert not created

    def test_changed_step_makes_version_two_and_keeps_version_one(
        self, session: Session, tenant: Tenant
    ) -> None:
        v1, _ = library.import_cadence(
            session, tenant_id=tenant.id, doc=parse_cadence(PADRAO), actor="a"
        )
        v1_definition = dict(v1.definition)
        changed = PADRAO.replace(
            "offset_days: 10, action: task_call", "offset_days: 7, action: task_call"
        )
        v2, created = library.import_cadence(
            session, tenant_id=tenant.id, doc=parse_cadence(changed), actor="b"
        )
        assert created and v2.version == 2
        session.expire_all()
        old = library.get_version(session, tenant_id=tenant.id, name="padrao", version=1)
        assert old.definition == v1_definition
        assert [s.offset_days for s in steps_of(session, old)][2] == 10
        assert [s.offset_days for s in steps_of(session, v2)][2] == 7
        assert library.get_current_version(session, tenant_id=tenant.id, name="padrao").version == 2
        assert "offset_days: 10, action: task_call" in library.export_cadence(
            session, tenant_id=tenant.id, name="padrao", version=1
        )
        # going back to the old text is a change too: a third version equal to the first
        v3, created = library.import_cadence(
            session, tenant_id=tenant.id, doc=parse_cadence(PADRAO), actor="c"
        )
        assert created and v3.version == 3 and v3.definition == v1_definition

    def test_invalid_document_is_refused(self, session: Session, tenant: Tenant) -> None:
        doc = parse_cadence(PADRAO)
        bad = doc.model_copy(update={"steps": [*doc.steps, doc.steps[0]]})
        with pytest.raises(DefinitionError, match="duplicate step id"):
            library.import_cadence(session, tenant_id=tenant.id, doc=bad, actor="a")

    def test_unknown_cadence_or_version_is_not_found(
        self, session: Session, tenant: Tenant
    ) -> None:
        with pytest.raises(NotFound):
            library.get_current_version(session, tenant_id=tenant.id, name="nenhuma")
        library.import_cadence(session, tenant_id=tenant.id, doc=parse_cadence(PADRAO), actor="a")
        with pytest.raises(NotFound):
            library.export_cadence(session, tenant_id=tenant.id, name="padrao", version=9)

    def test_list_counts_versions_and_current_steps(self, session: Session, tenant: Tenant) -> None:
        library.import_cadence(session, tenant_id=tenant.id, doc=parse_cadence(PADRAO), actor="a")
        shorter = "name: padrao\nsteps:\n  - {id: a, offset_days: 1, action: task_call}\n"
        library.import_cadence(session, tenant_id=tenant.id, doc=parse_cadence(shorter), actor="a")
        (row,) = library.list_cadences(session, tenant_id=tenant.id)
        assert (row.name, row.current_version, row.versions, row.steps) == ("padrao", 2, 2, 1)
        assert row.description is None


class TestTenantIsolation:
    def test_each_tenant_has_its_own_cadences(self, session: Session, tenant: Tenant) -> None:
        other = other_tenant(session)
        library.import_cadence(session, tenant_id=tenant.id, doc=parse_cadence(PADRAO), actor="a")
        assert library.list_cadences(session, tenant_id=other.id) == []
        with pytest.raises(NotFound):
            library.export_cadence(session, tenant_id=other.id, name="padrao")
        # the same name in another tenant starts at version 1, independent of the first
        shorter = "name: padrao\nsteps:\n  - {id: a, offset_days: 1, action: task_call}\n"
        version, created = library.import_cadence(
            session, tenant_id=other.id, doc=parse_cadence(shorter), actor="a"
        )
        assert created and version.version == 1
        assert (
            len(
                steps_of(
                    session,
                    library.get_current_version(session, tenant_id=tenant.id, name="padrao"),
                )
            )
            == 6
        )

    def test_segments_need_the_tenants_own_cadences(self, session: Session, tenant: Tenant) -> None:
        other = other_tenant(session)
        library.install_defaults(session, tenant_id=tenant.id, actor="a")
        with pytest.raises(DefinitionError, match="does not exist in this tenant"):
            library.save_segments(session, tenant_id=other.id, doc=shipped_segments(), actor="a")
        assert library.list_segments(session, tenant_id=other.id) == []


SEGMENTS = """\
segments:
  - {code: preventive, name: Preventiva, priority: 10, kind: preventive, cadence: padrao}
  - {code: high_balance, name: "Saldo alto", priority: 20, kind: high_balance,
     params: {min_balance: 8000}, cadence: padrao}
  - {code: standard, name: Padrão, priority: 100, kind: always, cadence: padrao}
"""


class TestSegments:
    def test_missing_cadence_is_a_clear_error(self, session: Session, tenant: Tenant) -> None:
        with pytest.raises(DefinitionError) as info:
            library.save_segments(
                session,
                tenant_id=tenant.id,
                doc=parse_segments(SEGMENTS),
                actor="a",
                source="segments.yaml",
            )
        assert info.value.lines()[0] == (
            "segments.yaml: segments[0] (preventive): cadence: cadence 'padrao' does not exist "
            "in this tenant; import it first (adimple cadence import FILE)"
        )
        assert info.value.errors[0].field == "segments.0.cadence"

    def test_save_replaces_the_set_and_audits_before_and_after(
        self, session: Session, tenant: Tenant
    ) -> None:
        library.import_cadence(session, tenant_id=tenant.id, doc=parse_cadence(PADRAO), actor="a")
        rows, changed = library.save_segments(
            session, tenant_id=tenant.id, doc=parse_segments(SEGMENTS), actor="a"
        )
        assert changed and [r.code for r in rows] == ["preventive", "high_balance", "standard"]
        assert rows[1].params == {"min_balance": "8000.00"}
        _, changed = library.save_segments(
            session, tenant_id=tenant.id, doc=parse_segments(SEGMENTS), actor="a"
        )
        assert not changed
        smaller = "\n".join(SEGMENTS.splitlines()[:2] + SEGMENTS.splitlines()[4:]) + "\n"
        rows, changed = library.save_segments(
            session, tenant_id=tenant.id, doc=parse_segments(smaller), actor="b"
        )
        assert changed
        stored = library.list_segments(session, tenant_id=tenant.id)
        assert [s.code for s in stored] == ["preventive", "standard"]
        events = list(
            session.scalars(
                select(AuditEvent)
                .where(AuditEvent.tenant_id == tenant.id, AuditEvent.action == "segments.saved")
                .order_by(AuditEvent.actor)  # saved by 'a', then by 'b'
            )
        )
        assert len(events) == 2
        assert events[0].data["before"] == []
        assert [s["code"] for s in events[1].data["before"]] == [
            "preventive",
            "high_balance",
            "standard",
        ]
        assert [s["code"] for s in events[1].data["after"]] == ["preventive", "standard"]


class TestInstallDefaults:
    def test_installs_everything_once(self, session: Session, tenant: Tenant) -> None:
        result = library.install_defaults(session, tenant_id=tenant.id, actor="sistema")
        assert sorted(result.cadences) == sorted(DEFAULT_CADENCE_NAMES) and result.segments
        names = [c.name for c in library.list_cadences(session, tenant_id=tenant.id)]
        assert sorted(names) == sorted(DEFAULT_CADENCE_NAMES)
        stored = library.segment_rows_as_document(
            library.list_segments(session, tenant_id=tenant.id)
        )
        assert stored == normalise_segments(shipped_segments())
        again = library.install_defaults(session, tenant_id=tenant.id, actor="sistema")
        assert again.cadences == [] and not again.segments
        assert session.scalar(
            select(func.count()).where(CadenceVersion.tenant_id == tenant.id)
        ) == len(DEFAULT_CADENCE_NAMES)

    def test_keeps_a_tenants_own_cadence(self, session: Session, tenant: Tenant) -> None:
        own, _ = library.import_cadence(
            session, tenant_id=tenant.id, doc=parse_cadence(PADRAO), actor="cliente"
        )
        result = library.install_defaults(session, tenant_id=tenant.id, actor="sistema")
        assert "padrao" not in result.cadences and result.segments
        current = library.get_current_version(session, tenant_id=tenant.id, name="padrao")
        assert current.id == own.id

    def test_leaves_a_configured_tenant_alone(self, session: Session, tenant: Tenant) -> None:
        library.import_cadence(session, tenant_id=tenant.id, doc=parse_cadence(PADRAO), actor="a")
        library.save_segments(session, tenant_id=tenant.id, doc=parse_segments(SEGMENTS), actor="a")
        result = library.install_defaults(session, tenant_id=tenant.id, actor="sistema")
        assert result.cadences == [] and not result.segments
        assert session.scalar(select(func.count()).where(Segment.tenant_id == tenant.id)) == 3


class TestConcurrentSave:
    def test_a_unique_collision_is_a_conflict_not_a_crash(
        self, session: Session, tenant: Tenant
    ) -> None:
        from adimple.kit.errors import Conflict

        library.import_cadence(session, tenant_id=tenant.id, doc=parse_cadence(PADRAO), actor="a")
        # what a concurrent import of the same new cadence leaves behind: a second row
        session.add(Cadence(tenant_id=tenant.id, name="padrao", current_version=1))
        with pytest.raises(Conflict, match="tente de novo"):
            library._flush_or_conflict(session, "régua 'padrao'")
        session.rollback()
