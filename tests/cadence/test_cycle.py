"""The daily cycle end to end on real databases: cases, steps, catch-up, consolidation,
idempotency, every suppression reason, windows, and the concurrency lock."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, sessionmaker

from adimple.cadence.cycle import CycleBusy, cycle_lock, plan_day, run_day
from adimple.cadence.events import receivables_settled
from adimple.cadence.models import (
    BureauStatus,
    Cadence,
    CadenceVersion,
    CaseEvent,
    CollectionCase,
    ContactSuppression,
    CreditBureauRecord,
    CycleRun,
)
from adimple.cadence.planner import CycleError
from adimple.compliance.rules import CompliancePolicy
from adimple.kit.calendar import ContactWindowPolicy
from adimple.messaging.models import OutboxMessage, OutboxReceivable, Task
from adimple.portfolio.models import (
    Channel,
    ChannelOptOut,
    ContactOwner,
    ContactPoint,
    Customer,
    Receivable,
    ReceivableStatus,
)
from adimple.portfolio.service import delete_customer
from adimple.tenancy.models import Tenant
from adimple.tenancy.service import create_tenant
from builders import (
    add_contact,
    install_cadence,
    install_segments,
    install_standard_regua,
    make_customer,
    make_receivable,
    pay,
    sent_message,
)

TUESDAY = date(2026, 11, 24)  # the cycle date of most tests
MONDAY = date(2026, 11, 23)


@dataclass
class World:
    engine: Engine
    session: Session
    tenant_id: uuid.UUID

    @property
    def tenant(self) -> Tenant:
        return self.session.get_one(Tenant, self.tenant_id)

    def detached_tenant(self) -> Tenant:
        """The cycle opens its own connections: hand it a copy no session will refresh."""
        self.session.commit()
        tenant = self.session.get_one(Tenant, self.tenant_id)
        self.session.refresh(tenant)
        self.session.expunge(tenant)
        self.session.commit()
        return tenant

    def customer(self, *, email: bool = True, mobile: bool = True, **fields: Any) -> Customer:
        customer = make_customer(self.session, self.tenant, **fields)
        if email:
            add_contact(self.session, customer, "email", f"{customer.external_id}@example.com")
        if mobile:
            add_contact(self.session, customer, "phone", "+5511987654321")
        add_contact(self.session, customer, "address", "Rua das Flores, 10, São Paulo/SP")
        return customer

    def plan(self, day: date = TUESDAY, **kw: Any) -> dict[str, Any]:
        return plan_day(self.engine, self.detached_tenant(), day, **kw).plan.as_json()

    def run(self, day: date = TUESDAY, **kw: Any) -> dict[str, Any]:
        return run_day(self.engine, self.detached_tenant(), day, **kw).stats

    def count(self, model: Any) -> int:
        self.session.expire_all()
        return int(
            self.session.scalar(
                select(func.count()).select_from(model).where(model.tenant_id == self.tenant.id)
            )
            or 0
        )

    def case(self, customer: Customer) -> CollectionCase:
        self.session.expire_all()
        return self.session.scalars(
            select(CollectionCase)
            .where(CollectionCase.customer_id == customer.id)
            .order_by(CollectionCase.created_at.desc())
        ).first()  # type: ignore[return-value]


@pytest.fixture
def world(engine: Engine) -> Iterator[World]:
    session = sessionmaker(bind=engine, expire_on_commit=False)()
    tenant = create_tenant(
        session,
        slug=f"cycle-{uuid.uuid4().hex[:8]}",
        legal_name="Loja Exemplo Comércio Ltda",
        document="11.222.333/0001-81",
        address="Rua Augusta, 100",
        city="São Paulo",
        uf="SP",
    )
    install_standard_regua(session, tenant)
    session.commit()
    yield World(engine, session, tenant.id)
    session.close()


def contacts_of(plan: dict[str, Any], customer: Customer) -> list[tuple[str, str]]:
    return [
        (c["step"], c["channel"])
        for c in plan["contacts"]
        if c["customer_external_id"] == customer.external_id
    ]


def reasons_of(plan: dict[str, Any], customer: Customer) -> set[tuple[str, str | None, str]]:
    return {
        (s["step"], s["channel"], s["reason"])
        for s in plan["suppressed"]
        if s["customer_external_id"] == customer.external_id
    }


# --- steps, cases and the plan contract -------------------------------------------------------


def test_pre_due_reminder_is_consolidated_per_channel(world: World) -> None:
    customer = world.customer()
    a = make_receivable(world.session, customer, TUESDAY + timedelta(days=3))
    b = make_receivable(world.session, customer, TUESDAY + timedelta(days=3), "50.00")
    make_receivable(world.session, customer, TUESDAY + timedelta(days=4))  # not today's
    plan = world.plan()
    assert set(plan) == {"date", "contacts", "tasks", "suppressed"}
    mine = [c for c in plan["contacts"] if c["customer_external_id"] == customer.external_id]
    assert [(c["step"], c["channel"]) for c in mine] == [
        ("lembrete_d3", "email"),
        ("lembrete_d3", "whatsapp"),
    ]
    for contact in mine:
        assert contact["receivable_external_ids"] == sorted([a.external_id, b.external_id])
        moment = datetime.fromisoformat(contact["scheduled_for"])
        assert moment.astimezone(UTC) == datetime(2026, 11, 24, 11, 0, tzinfo=UTC)  # 08:00 SP
    assert {c["contact_point"] for c in mine} == {
        f"{customer.external_id}@example.com",
        "+5511987654321",
    }


def test_earlier_reminders_only_for_chronic_late_payers(world: World) -> None:
    """D-5 and D-1 belong to the chronic late payer's cadence alone, so a customer whose
    títulos fall only on those dates is reminded only with that many late months (the cycle
    drops the others in SQL); a customer with a D-3 título still gets the usual reminder."""
    install_cadence(
        world.session,
        world.tenant,
        "cronico",
        [
            {"id": "lembrete_d5", "offset_days": -5, "channels": ["email"], "template": "x"},
            {"id": "lembrete_d1", "offset_days": -1, "channels": ["sms"], "template": "x"},
            {"id": "aviso_d1", "offset_days": 1, "channels": ["email"], "template": "x"},
        ],
    )
    install_segments(
        world.session, world.tenant, [("late", "chronic_late", 50, "cronico", {"min_months": 3})]
    )

    def history(customer: Customer, *, days_late: int) -> None:
        for months in (1, 2, 3):  # three of the last six months
            due = date(2026, 11 - months, 10)
            pay(
                world.session,
                make_receivable(world.session, customer, due),
                due + timedelta(days=days_late),
            )

    chronic, almost, punctual, mixed = (world.customer() for _ in range(4))
    history(chronic, days_late=10)
    history(punctual, days_late=0)
    history(mixed, days_late=0)
    for months in (1, 2):  # late in two months only
        due = date(2026, 11 - months, 10)
        pay(world.session, make_receivable(world.session, almost, due), due + timedelta(days=10))
    for customer in (chronic, almost, punctual, mixed):
        make_receivable(world.session, customer, TUESDAY + timedelta(days=1))
        make_receivable(world.session, customer, TUESDAY + timedelta(days=5))
    make_receivable(world.session, mixed, TUESDAY + timedelta(days=3))
    plan = world.plan()
    assert sorted(contacts_of(plan, chronic)) == [("lembrete_d1", "sms"), ("lembrete_d5", "email")]
    assert contacts_of(plan, almost) == []
    assert contacts_of(plan, punctual) == []
    assert contacts_of(plan, mixed) == [("lembrete_d3", "email"), ("lembrete_d3", "whatsapp")]


def test_late_months_are_the_windows_calendar_months(world: World) -> None:
    """ "Late in 3 of the last 6 months": June to November 2026 on 24/11 — a título due on
    31/05 is outside, one due on 01/06 inside, and two late títulos of one month count once."""
    install_cadence(
        world.session,
        world.tenant,
        "cronico",
        [{"id": "lembrete_d5", "offset_days": -5, "channels": ["email"], "template": "x"}],
    )
    install_segments(
        world.session,
        world.tenant,
        [("late", "chronic_late", 50, "cronico", {"min_months": 3, "window_months": 6})],
    )
    two_months, three_months = world.customer(), world.customer()
    for customer in (two_months, three_months):
        for due in (date(2026, 5, 31), date(2026, 6, 1), date(2026, 7, 5), date(2026, 7, 20)):
            paid_on = due + timedelta(days=10)
            pay(world.session, make_receivable(world.session, customer, due), paid_on)
        make_receivable(world.session, customer, TUESDAY + timedelta(days=5))
    due = date(2026, 11, 2)  # the window's last month is the current one
    pay(world.session, make_receivable(world.session, three_months, due), date(2026, 11, 15))
    plan = world.plan()
    assert contacts_of(plan, two_months) == []
    assert contacts_of(plan, three_months) == [("lembrete_d5", "email")]


def test_overdue_customer_gets_a_case_and_the_first_step(world: World) -> None:
    customer = world.customer()
    receivable = make_receivable(world.session, customer, MONDAY)
    plan = world.plan()
    assert contacts_of(plan, customer) == [("aviso_d1", "email"), ("aviso_d1", "sms")]
    stats = world.run()
    assert stats["cases"]["opened"] == 1 and stats["contacts"] == 2
    case = world.case(customer)
    assert (case.status, case.segment, case.last_step_key) == ("open", "standard", "aviso_d1")
    assert case.anchor_receivable_id == receivable.id
    assert case.next_step_on == MONDAY + timedelta(days=10)
    assert case.segment_reason
    links = world.session.scalars(
        select(OutboxReceivable.receivable_id).where(OutboxReceivable.tenant_id == world.tenant_id)
    ).all()
    assert links == [receivable.id, receivable.id]


def test_a_case_keeps_its_last_step_until_it_takes_the_next(world: World) -> None:
    """Cases that took a step today and cases that only changed are written by one update:
    a paused case keeps the step it last took; the next step replaces it."""
    customer = world.customer()
    make_receivable(world.session, customer, MONDAY)
    world.run()
    case = world.case(customer)
    assert (case.last_step_key, case.last_step_on) == ("aviso_d1", TUESDAY)

    def run_the_next_step_day(*, disputed: bool) -> tuple[CollectionCase, date]:
        customer.disputed = disputed
        world.session.commit()
        day = world.case(customer).next_step_on
        world.run(day)
        return world.case(customer), day

    case, _ = run_the_next_step_day(disputed=True)
    assert (case.status, case.pause_reason) == ("paused", "disputed")
    assert (case.last_step_key, case.last_step_on) == ("aviso_d1", TUESDAY)
    case, letter_day = run_the_next_step_day(disputed=False)
    assert (case.status, case.last_step_key, case.last_step_on) == (
        "open",
        "carta_d30",
        letter_day,
    )


def test_weekend_due_date_is_not_overdue_until_after_the_next_business_day(
    world: World,
) -> None:
    customer = world.customer()
    make_receivable(world.session, customer, date(2026, 11, 21))  # Saturday
    # Monday 23/11: payable without charges today (DESIGN §5), so no case yet.
    assert contacts_of(world.plan(MONDAY), customer) == []
    world.run(MONDAY)
    assert world.case(customer) is None


def test_running_a_date_twice_creates_nothing(world: World) -> None:
    for _ in range(3):
        customer = world.customer()
        make_receivable(world.session, customer, MONDAY)
        make_receivable(world.session, customer, TUESDAY + timedelta(days=3))
    first = world.run()
    counts = [world.count(m) for m in (OutboxMessage, CollectionCase, CaseEvent, Task)]
    suppressions = world.count(ContactSuppression)
    again = world.run()
    assert first["contacts"] == 6
    assert again["contacts"] == 0 and again["cases"] == {}
    assert [world.count(m) for m in (OutboxMessage, CollectionCase, CaseEvent, Task)] == counts
    assert world.count(ContactSuppression) == suppressions


def test_every_row_a_run_writes_names_the_debtors_own_rows(world: World) -> None:
    """Cases, their events, outbox rows, their links and suppressions carry no foreign keys
    to customers, contact points, títulos, cases or cadence versions (migrations 0014 and
    0016): what the keys checked, and more, is checked here — each one names a row of the same
    tenant and of the same debtor."""
    for n in range(4):
        customer = world.customer(mobile=n % 2 == 0)
        make_receivable(world.session, customer, MONDAY - timedelta(days=n))
        make_receivable(world.session, customer, TUESDAY + timedelta(days=3))
    world.customer(do_not_contact=True)
    blocked = world.customer(do_not_contact=True)
    make_receivable(world.session, blocked, MONDAY)
    stats = world.run(partitions=3)
    assert stats["contacts"] > 0 and stats["suppressed"] > 0
    world.session.expire_all()
    messages = world.session.scalars(
        select(OutboxMessage).where(OutboxMessage.tenant_id == world.tenant_id)
    ).all()
    cases = {
        c.id: c
        for c in world.session.scalars(
            select(CollectionCase).where(CollectionCase.tenant_id == world.tenant_id)
        )
    }
    assert cases
    for case in cases.values():
        assert world.session.get_one(Customer, case.customer_id).tenant_id == world.tenant_id
        assert case.anchor_receivable_id is not None
        anchor = world.session.get_one(Receivable, case.anchor_receivable_id)
        assert anchor.customer_id == case.customer_id
    events = world.session.scalars(
        select(CaseEvent).where(CaseEvent.tenant_id == world.tenant_id)
    ).all()
    assert events and {e.case_id for e in events} <= set(cases)
    links = world.session.scalars(
        select(OutboxReceivable).where(OutboxReceivable.tenant_id == world.tenant_id)
    ).all()
    assert {link.outbox_id for link in links} == {m.id for m in messages}
    for message in messages:
        customer = world.session.get_one(Customer, message.customer_id)
        assert customer.tenant_id == world.tenant_id
        if message.case_id is not None:  # pre-due reminders have no case
            assert cases[message.case_id].customer_id == customer.id
        version = world.session.get_one(CadenceVersion, message.cadence_version_id)
        assert world.session.get_one(Cadence, version.cadence_id).tenant_id == world.tenant_id
        point = world.session.get_one(ContactPoint, message.contact_point_id)
        assert point.customer_id == customer.id and point.value == message.address
        links = world.session.scalars(
            select(OutboxReceivable.receivable_id).where(OutboxReceivable.outbox_id == message.id)
        ).all()
        assert links
        for receivable_id in links:
            assert world.session.get_one(Receivable, receivable_id).customer_id == customer.id
    suppressions = world.session.scalars(
        select(ContactSuppression).where(ContactSuppression.tenant_id == world.tenant_id)
    ).all()
    assert {s.customer_id for s in suppressions} >= {blocked.id}
    for suppression in suppressions:
        assert world.session.get_one(Customer, suppression.customer_id).tenant_id == world.tenant_id
        if suppression.case_id is not None:
            assert cases[suppression.case_id].customer_id == suppression.customer_id


def test_deleting_a_customer_deletes_its_cycle_rows(world: World) -> None:
    """What the dropped cascades did (migrations 0014 and 0016), done by delete_customer:
    outbox rows with their links, suppressions, cases with their events."""
    customer = world.customer()
    receivable = make_receivable(world.session, customer, MONDAY)
    other = world.customer()
    make_receivable(world.session, other, MONDAY)
    world.run()
    assert world.count(OutboxMessage) == 4 and world.count(CollectionCase) == 2
    kept = {m: world.count(m) // 2 for m in (OutboxReceivable, CaseEvent)}
    # A customer with títulos cannot be deleted; once they are gone (a test-only shortcut:
    # the product never deletes títulos), the customer and its day's rows can be.
    world.session.add(
        ContactSuppression(
            tenant_id=world.tenant_id,
            customer_id=customer.id,
            plan_date=TUESDAY,
            step_key="aviso_d1",
            channel=Channel.SMS,
            reason="window",
            idempotency_key=f"test:{customer.id}",
            created_at=datetime.now(UTC),
        )
    )
    world.session.delete(receivable)
    world.session.flush()
    delete_customer(world.session, tenant_id=world.tenant_id, customer_id=customer.id, actor="t")
    world.session.commit()
    assert world.count(ContactSuppression) == 0
    assert world.count(OutboxMessage) == 2 and world.count(CollectionCase) == 1  # the other's
    assert {m: world.count(m) for m in kept} == kept
    assert world.session.get(Customer, customer.id) is None
    world.session.expire_all()
    (case,) = world.session.scalars(
        select(CollectionCase).where(CollectionCase.tenant_id == world.tenant_id)
    ).all()
    assert case.customer_id == other.id


def test_catch_up_plans_only_the_most_advanced_step(world: World) -> None:
    customer = world.customer()
    make_receivable(world.session, customer, date(2026, 10, 1))  # 54 days overdue
    plan = world.plan()
    assert contacts_of(plan, customer) == [("aviso_bureau_d45", "letter")]
    assert plan["tasks"] == []
    world.run()
    rows = world.session.execute(
        select(CaseEvent.kind, CaseEvent.step_key).where(CaseEvent.tenant_id == world.tenant_id)
    )
    kinds = sorted((kind.value, step or "") for kind, step in rows)
    assert kinds == [
        ("opened", ""),
        ("skipped", "aviso_d1"),
        ("skipped", "carta_d30"),
        ("skipped", "ligacao_d10"),
        ("step", "aviso_bureau_d45"),
    ]
    record = world.session.scalars(select(CreditBureauRecord)).all()
    mine = [r for r in record if r.customer_id == customer.id]
    assert [(r.status, r.eligible_on) for r in mine] == [
        (BureauStatus.NOTICE_SENT, TUESDAY + timedelta(days=10))
    ]
    # Days later, without a run in between, activation happens only after the waiting period.
    plan = world.plan(date(2026, 12, 1))  # D+61 > negativar_d60, notice + 7 days
    assert plan["tasks"] == []
    world.run(date(2026, 12, 1))
    plan = world.plan(date(2026, 12, 4))
    assert plan["tasks"] == [] and contacts_of(plan, customer) == []


def test_bureau_activation_after_the_notice_period(world: World) -> None:
    customer = world.customer()
    make_receivable(world.session, customer, date(2026, 10, 10))  # d45 = 24/11
    world.run()
    world.run(date(2026, 12, 9))  # d60 = 09/12: notice sent 24/11, eligible 04/12
    tasks = world.session.scalars(select(Task).where(Task.customer_id == customer.id)).all()
    assert [(t.kind.value, t.step_key) for t in tasks] == [("bureau_activate", "negativar_d60")]
    world.session.expire_all()
    (record,) = world.session.scalars(
        select(CreditBureauRecord).where(CreditBureauRecord.customer_id == customer.id)
    ).all()
    assert (record.status, record.activated_on) == (BureauStatus.ACTIVE, date(2026, 12, 9))


def test_consolidation_lists_every_overdue_receivable(world: World) -> None:
    customer = world.customer()
    titles = [make_receivable(world.session, customer, d) for d in (date(2026, 11, 16), MONDAY)]
    world.run(date(2026, 11, 17))  # the first one's aviso_d1
    plan = world.plan(date(2026, 11, 26))  # ligacao_d10 of the anchor (16/11 + 10)
    assert plan["tasks"] == [
        {"customer_external_id": customer.external_id, "step": "ligacao_d10", "action": "task_call"}
    ]
    world.run(date(2026, 11, 26))
    (task,) = world.session.scalars(select(Task).where(Task.customer_id == customer.id)).all()
    assert sorted(task.data["receivable_ids"]) == sorted(str(t.id) for t in titles)
    assert task.data["phone"] == "+5511987654321"


def test_call_tasks_carry_the_segment(world: World) -> None:
    customer = world.customer()
    make_receivable(world.session, customer, date(2026, 11, 13))
    world.run(date(2026, 11, 23))
    (task,) = world.session.scalars(select(Task).where(Task.customer_id == customer.id)).all()
    assert task.data["segment"] == "standard" and task.kind.value == "call"


# --- payments and agreements stop contacts ----------------------------------------------------


def test_payment_cancels_queued_contacts_and_cures_the_case(world: World) -> None:
    customer = world.customer()
    receivable = make_receivable(world.session, customer, MONDAY)
    world.run()
    pay(world.session, receivable, TUESDAY)
    effects = receivables_settled(
        world.session,
        tenant_id=world.tenant_id,
        receivable_ids=[receivable.id],
        on=TUESDAY,
        actor="test",
    )
    world.session.commit()
    assert effects.cancelled_messages == 2 and effects.cured_cases == 1
    statuses = world.session.scalars(
        select(OutboxMessage.status).where(OutboxMessage.customer_id == customer.id)
    ).all()
    assert {s.value for s in statuses} == {"cancelled"}
    assert world.case(customer).status.value == "cured"


def test_paid_without_event_is_caught_when_the_next_step_falls_due(world: World) -> None:
    customer, other = world.customer(), world.customer()
    receivable = make_receivable(world.session, customer, MONDAY)
    make_receivable(world.session, other, MONDAY)
    world.run()
    pay(world.session, receivable, date(2026, 11, 25))  # e.g. a CSV import of payments
    plan = world.plan(date(2026, 12, 3))  # ligacao_d10
    assert reasons_of(plan, customer) == {("ligacao_d10", None, "paid")}
    world.run(date(2026, 12, 3))
    assert world.case(customer).status.value == "cured"
    # The run that finds the case cured cancels what was still queued for it, and only that.
    world.session.expire_all()
    messages = world.session.execute(
        select(OutboxMessage.customer_id, OutboxMessage.status, OutboxMessage.cancel_reason)
    ).all()
    assert {
        (m.status.value, m.cancel_reason) for m in messages if m.customer_id == customer.id
    } == {("cancelled", "paid")}
    assert {m.status.value for m in messages if m.customer_id == other.id} == {"queued"}


def test_agreement_pauses_the_case(world: World) -> None:
    customer = world.customer()
    make_receivable(world.session, customer, MONDAY)
    make_receivable(world.session, customer, date(2026, 11, 2), status=ReceivableStatus.AGREEMENT)
    plan = world.plan()
    assert reasons_of(plan, customer) == {
        ("aviso_d1", "email", "agreement"),
        ("aviso_d1", "sms", "agreement"),
    }
    world.run()
    case = world.case(customer)
    assert (case.status.value, case.pause_reason) == ("paused", "agreement")


# --- every suppression reason ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("flag", "reason"),
    [
        ("disputed", "disputed"),
        ("deceased", "deceased"),
        ("superendividamento", "superendividamento"),
        ("do_not_contact", "do_not_contact"),
    ],
)
def test_customer_flags_suppress(world: World, flag: str, reason: str) -> None:
    customer = world.customer(**{flag: True})
    make_receivable(world.session, customer, MONDAY)
    plan = world.plan()
    assert contacts_of(plan, customer) == []
    assert reasons_of(plan, customer) == {
        ("aviso_d1", "email", reason),
        ("aviso_d1", "sms", reason),
    }
    world.run()
    rows = world.session.scalars(
        select(ContactSuppression.reason).where(ContactSuppression.customer_id == customer.id)
    ).all()
    assert {r.value for r in rows} == {reason}


@pytest.mark.parametrize(
    "reason", ["disputed", "deceased", "superendividamento", "do_not_contact", "agreement"]
)
def test_customer_flags_and_agreements_suppress_pre_due_reminders(
    world: World, reason: str
) -> None:
    """A reminder's customer row and agreement títulos are read with its segment features,
    not with the contact points (cadence.repository.features): both must still stop it."""
    flagged = world.customer(**({} if reason == "agreement" else {reason: True}))
    if reason == "agreement":
        make_receivable(
            world.session, flagged, date(2026, 10, 2), status=ReceivableStatus.AGREEMENT
        )
    make_receivable(world.session, flagged, TUESDAY + timedelta(days=3))
    plain = world.customer()
    make_receivable(world.session, plain, TUESDAY + timedelta(days=3))
    plan = world.plan()
    assert contacts_of(plan, flagged) == []
    assert reasons_of(plan, flagged) == {
        ("lembrete_d3", "email", reason),
        ("lembrete_d3", "whatsapp", reason),
    }
    assert contacts_of(plan, plain) == [("lembrete_d3", "email"), ("lembrete_d3", "whatsapp")]
    assert reasons_of(plan, plain) == set()


def test_opt_out_third_party_and_missing_contact_point(world: World) -> None:
    opted = world.customer()
    world.session.add(
        ChannelOptOut(
            tenant_id=world.tenant_id,
            customer_id=opted.id,
            channel=Channel.EMAIL,
            source="portal",
            created_at=datetime.now(UTC),
        )
    )
    neighbour = world.customer(mobile=False)
    add_contact(world.session, neighbour, "phone", "+5511912345678", owner=ContactOwner.THIRD_PARTY)
    no_email = world.customer(email=False)
    for customer in (opted, neighbour, no_email):
        make_receivable(world.session, customer, MONDAY)
    plan = world.plan()
    assert reasons_of(plan, opted) == {("aviso_d1", "email", "opt_out")}
    assert contacts_of(plan, opted) == [("aviso_d1", "sms")]
    assert reasons_of(plan, neighbour) == {("aviso_d1", "sms", "third_party")}
    assert reasons_of(plan, no_email) == {("aviso_d1", "email", "no_contact_point")}


def test_missing_creditor_identification_blocks_every_message(world: World) -> None:
    customer = world.customer()
    make_receivable(world.session, customer, MONDAY)
    world.tenant.address = ""
    plan = world.plan()
    assert plan["contacts"] == []
    assert reasons_of(plan, customer) == {
        ("aviso_d1", "email", "missing_creditor_id"),
        ("aviso_d1", "sms", "missing_creditor_id"),
    }


def test_frequency_cap_counts_recent_attempts(world: World) -> None:
    customer = world.customer()
    make_receivable(world.session, customer, MONDAY)
    for n in range(7):
        moment = datetime.combine(TUESDAY - timedelta(days=n), time(12), UTC)
        sent_message(
            world.session,
            world.tenant_id,
            customer.id,
            moment,
            channel=Channel.WHATSAPP,
            address="+5511987654321",
            key=f"old:{n}:{customer.id}",
            template="lembrete_atraso",
        )
    plan = world.plan()
    assert reasons_of(plan, customer) == {
        ("aviso_d1", "email", "frequency_cap"),
        ("aviso_d1", "sms", "frequency_cap"),
    }


def test_one_message_per_channel_per_day(world: World) -> None:
    customer = world.customer()
    make_receivable(world.session, customer, MONDAY)
    world.run()
    # Cured and overdue again the same week: a new episode, but e-mail already went today.
    plan = world.plan()
    assert plan["contacts"] == []


def test_window_suppression_when_no_opening_is_near(world: World) -> None:
    customer = world.customer()
    make_receivable(world.session, customer, MONDAY)
    closed = CompliancePolicy(window=ContactWindowPolicy(weekdays={}))
    plan = world.plan(policy=closed)
    assert reasons_of(plan, customer) == {
        ("aviso_d1", "email", "window"),
        ("aviso_d1", "sms", "window"),
    }


def test_prescription_closes_the_case(world: World) -> None:
    customer = world.customer()
    make_receivable(world.session, customer, MONDAY)
    world.run()
    later = date(2031, 12, 1)  # more than five years after the due date
    plan = world.plan(later)
    assert reasons_of(plan, customer) == {("negativar_d60", None, "prescribed")}
    world.run(later)
    case = world.case(customer)
    assert (case.status.value, case.close_reason) == ("closed", "prescribed")
    # A prescribed título never opens a case again.
    assert world.plan(later + timedelta(days=1))["suppressed"] == []


def test_contacts_follow_the_debtors_time_zone_and_holidays(world: World) -> None:
    acre = world.customer(uf="AC")
    make_receivable(world.session, acre, date(2026, 11, 27) + timedelta(days=3))
    plan = world.plan(date(2026, 11, 27))  # Friday
    moments = {
        datetime.fromisoformat(c["scheduled_for"])
        for c in plan["contacts"]
        if c["customer_external_id"] == acre.external_id
    }
    assert moments == {datetime(2026, 11, 27, 13, 0, tzinfo=UTC)}  # 08:00 in Rio Branco
    # Christmas (Friday): the reminder goes out on Saturday morning.
    xmas = world.customer()
    make_receivable(world.session, xmas, date(2026, 12, 28))
    plan = world.plan(date(2026, 12, 25))
    moments = {
        datetime.fromisoformat(c["scheduled_for"])
        for c in plan["contacts"]
        if c["customer_external_id"] == xmas.external_id
    }
    assert moments == {datetime(2026, 12, 26, 11, 0, tzinfo=UTC)}


def test_segment_picks_the_cadence(world: World) -> None:
    install_cadence(
        world.session,
        world.tenant,
        "alto_saldo",
        [{"id": "ligacao_d1", "offset_days": 1, "action": "task_call"}],
    )
    install_segments(
        world.session,
        world.tenant,
        [("high_balance", "high_balance", 10, "alto_saldo", {"min_balance": "5000.00"})],
    )
    rich = world.customer()
    make_receivable(world.session, rich, MONDAY, "7000.00")
    plan = world.plan()
    assert plan["tasks"] == [
        {"customer_external_id": rich.external_id, "step": "ligacao_d1", "action": "task_call"}
    ]
    world.run()
    case = world.case(rich)
    assert case.segment == "high_balance" and "5.000,00" in case.segment_reason


# --- concurrency ------------------------------------------------------------------------------


def test_a_second_run_for_the_same_tenant_is_refused(world: World) -> None:
    customer = world.customer()
    make_receivable(world.session, customer, MONDAY)
    tenant = world.detached_tenant()
    with cycle_lock(world.engine, tenant, TUESDAY), pytest.raises(CycleBusy) as error:
        run_day(world.engine, tenant, TUESDAY)
    assert "is running" in str(error.value)
    assert world.run()["contacts"] == 2  # free again afterwards


def test_partitions_give_the_same_plan(world: World) -> None:
    for n in range(12):
        customer = world.customer()
        make_receivable(world.session, customer, MONDAY - timedelta(days=n * 5))
        make_receivable(world.session, customer, TUESDAY + timedelta(days=3))
    assert world.plan(partitions=1) == world.plan(partitions=7)


def test_partitions_in_parallel_processes_write_what_one_process_writes(world: World) -> None:
    """On PostgreSQL the partitions of a run go to worker processes (SQLite: one process)."""
    for n in range(12):
        customer = world.customer()
        make_receivable(world.session, customer, MONDAY - timedelta(days=n * 5))
        make_receivable(world.session, customer, TUESDAY + timedelta(days=3))
    expected = world.plan(partitions=1)
    seen: list[tuple[int, int]] = []
    stats = run_day(
        world.engine,
        world.detached_tenant(),
        TUESDAY,
        partitions=5,
        workers=2,
        on_partition=lambda done, total: seen.append((done, total)),
    ).stats
    assert seen == [(n, 5) for n in range(1, 6)]
    assert stats["contacts"] == len(expected["contacts"]) == world.count(OutboxMessage)
    assert stats["tasks"] == len(expected["tasks"]) == world.count(Task)
    assert world.count(CollectionCase) == 12
    # Idempotent across processes too: the same date again adds nothing.
    assert world.run(partitions=5, workers=2)["contacts"] == 0
    assert world.count(OutboxMessage) == len(expected["contacts"])


def test_a_failing_worker_fails_the_run_and_frees_the_lock(world: World) -> None:
    for n in range(6):
        make_receivable(world.session, world.customer(), MONDAY - timedelta(days=n))
    cadence = world.session.scalars(
        select(Cadence).where(Cadence.tenant_id == world.tenant_id, Cadence.name == "padrao")
    ).one()
    cadence.name = "renomeada"  # the segments now name a cadence that does not exist
    tenant = world.detached_tenant()
    with pytest.raises(CycleError, match="does not exist"):
        run_day(world.engine, tenant, TUESDAY, partitions=4, workers=2)
    assert world.count(CollectionCase) == 0
    runs = world.session.scalars(select(CycleRun).where(CycleRun.tenant_id == tenant.id)).all()
    assert [(r.status.value, r.error is not None) for r in runs] == [("failed", True)]
    cadence.name = "padrao"
    world.session.commit()
    assert world.run(partitions=4, workers=2)["cases"]["opened"] == 6


@pytest.mark.parametrize("partitions", [1, 4])
def test_late_loaded_overdue_titles_are_picked_up_after_a_run(
    world: World, partitions: int
) -> None:
    first = world.customer()
    make_receivable(world.session, first, MONDAY)
    reopened = world.customer()
    title = make_receivable(
        world.session, reopened, date(2026, 10, 20), status=ReceivableStatus.PAID
    )
    # Títulos that were there at the first run and fall due after it (unchanged since).
    newly = [world.customer() for _ in range(6)]
    for customer in newly:
        make_receivable(world.session, customer, TUESDAY)
    world.run()
    assert world.case(reopened) is None
    # Loaded after the run, already 40 days overdue: not "newly overdue", but new to the cycle.
    late = world.customer()
    make_receivable(world.session, late, date(2026, 10, 15))
    # And a título reopened after the run (an estorno, a broken agreement).
    title.status = ReceivableStatus.OPEN
    title.balance = title.original_amount
    # incremental: only what changed since the last run, each customer in its own partition
    stats = world.run(date(2026, 11, 25), partitions=partitions)
    assert stats["cases"]["opened"] == 8
    for customer in [late, reopened, *newly]:
        assert world.case(customer) is not None


def test_a_payment_recorded_late_does_not_cure_a_case_still_overdue_today(world: World) -> None:
    customer = world.customer()
    first = make_receivable(world.session, customer, date(2026, 9, 10))
    make_receivable(world.session, customer, date(2026, 10, 10))
    world.run()
    # The September título was paid on 15/09, but the payment is only recorded now (a
    # re-imported file): on 15/09 nothing else was overdue, today October's título is.
    pay(world.session, first, date(2026, 9, 15))
    effects = receivables_settled(
        world.session,
        tenant_id=world.tenant_id,
        receivable_ids=[first.id],
        on=date(2026, 9, 15),
        actor="test",
    )
    world.session.commit()
    assert effects.cured_cases == 0
    assert world.case(customer).status.value == "open"
