"""The daily cycle's SQL against the pure rules it stands in for."""

from __future__ import annotations

import uuid
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from adimple.cadence import repository as repo
from adimple.cadence.rules import (
    month_starts,
    reminder_candidates,
    reminder_segment,
    same_day_months_back,
    segment_window,
)
from adimple.compliance.rules import prescription_limit
from adimple.db.dialect import uuid_batch
from adimple.kit.calendar import overdue_cutoff
from adimple.portfolio.models import Customer, DocumentKind, Receivable, ReceivableStatus
from builders import (
    add_contact,
    install_cadence,
    install_segments,
    make_customer,
    make_receivable,
    make_tenant,
    pay,
    sent_message,
)

DAY = date(2026, 11, 24)


def test_reminder_segments_in_sql_match_the_python_rule_at_every_edge(session: Session) -> None:
    """Pre-due reminders choose the segment in SQL (``reminder_titulos``); the reference
    engine asks ``rules.reminder_segment``. Each customer here sits on one side of one edge
    of a rule, so a condition off by one day, month or flag picks a different segment."""
    tenant = make_tenant(session)
    install_segments(
        session,
        tenant,
        [
            ("preventive", "preventive", 10, "preventiva"),
            ("business", "business", 20, "empresa"),
            ("loyal", "loyal_first_late", 30, "fiel", {"months": 12}),
            ("big", "high_balance", 40, "alto", {"min_balance": "5000.00"}),
            ("new", "never_paid", 50, "nova", {"within_days": 120}),
            ("late", "chronic_late", 60, "cronico", {"min_months": 3, "window_months": 6}),
            ("standard", "always", 1000, "padrao"),
        ],
    )
    upcoming = DAY + timedelta(days=3)
    loyal_edge = same_day_months_back(DAY, 12)
    new_edge = DAY - timedelta(days=120)
    expected: dict[str, str] = {}

    def customer(name: str, segment: str, **fields: object):
        row = make_customer(session, tenant, external_id=name, **fields)
        make_receivable(session, row, upcoming, issue=upcoming - timedelta(days=30))
        expected[name] = segment
        return row

    cnpj = {"document": "11444777000161", "document_kind": DocumentKind.CNPJ}
    customer("pj", "business", **cnpj)
    # A CNPJ flagged as a consumer (CDC art. 2) is not a business debtor: new, never paid.
    pj_consumer = customer("pj-consumer", "new", consumer=True, **cnpj)
    pj_consumer_old = make_receivable(session, pj_consumer, DAY, issue=new_edge)
    assert pj_consumer_old.issue_date == new_edge

    def paid_history(row, first_due: date, late_days: int = 0, months: int = 1) -> None:
        for k in range(months):
            due = first_due + timedelta(days=31 * k)
            receivable = make_receivable(session, row, due, issue=due - timedelta(days=20))
            pay(session, receivable, due + timedelta(days=late_days))

    # Loyal: paid on time since exactly 12 months ago (same day) — and one day short of it.
    faithful = customer("loyal-edge", "loyal", uf="RJ", do_not_contact=True)
    add_contact(session, faithful, "email", "fiel@example.com")
    paid_history(faithful, loyal_edge)
    paid_history(customer("loyal-short", "preventive"), loyal_edge + timedelta(days=1))
    # Never paid: first issue exactly 120 days ago — and 121 days ago.
    make_receivable(session, customer("new-edge", "new"), DAY - timedelta(days=5), issue=new_edge)
    make_receivable(
        session,
        customer("new-old", "preventive"),
        DAY - timedelta(days=5),
        issue=new_edge - timedelta(days=1),
        status=ReceivableStatus.CANCELLED,
    )
    # Chronic: late (beyond the grace days) in exactly 3 of the last 6 months — and in 2;
    # paid 3 days late is within the grace and not late at all.
    window_start = month_starts(DAY, 6)[0]
    paid_history(customer("late-3", "late"), window_start + timedelta(days=40), 9, months=3)
    paid_history(customer("late-2", "preventive"), window_start + timedelta(days=40), 9, months=2)
    paid_history(customer("grace", "preventive"), window_start + timedelta(days=40), 3, months=3)
    # Late before the window opens does not count.
    paid_history(customer("late-early", "preventive"), window_start - timedelta(days=95), 9, 3)
    session.flush()

    conn = session.connection()
    segments = repo.load_segments(conn, tenant.id)
    candidates = reminder_candidates(segments)
    chronic, loyal = segment_window(segments)
    ids = list(
        session.scalars(
            select(Receivable.customer_id).where(
                Receivable.tenant_id == tenant.id, Receivable.due_date == upcoming
            )
        )
    )
    window = {
        "cutoff": overdue_cutoff(DAY),
        "prescribed_on": prescription_limit(DAY),
        "late_month_starts": month_starts(DAY, chronic),
        "loyal_since": same_day_months_back(DAY, loyal),
    }
    features = repo.features(conn, tenant.id, ids, **window)

    def choose(chosen_from: list, floor: int = 0) -> list[repo.ReminderTitulo]:
        """Every candidate reminds about ``upcoming`` today."""
        return repo.reminder_titulos(
            conn,
            tenant.id,
            repo.Partition(None, None),
            chosen_from,
            {k: [upcoming] for k in range(len(chosen_from))},
            {upcoming: floor},
            touched={},
            day=DAY,
            **window,
        )

    choices = choose(candidates)
    assert all(choice.titulo.due_date == upcoming for choice in choices)
    in_sql = {choice.customer_id: candidates[choice.segment].code for choice in choices}
    names = dict(
        session.execute(
            select(Customer.id, Customer.external_id).where(Customer.tenant_id == tenant.id)
        ).all()
    )
    in_python = {}
    for customer_id, customer_features in features.items():
        segment = reminder_segment(customer_features, segments, DAY)
        assert segment is not None
        in_python[customer_id] = segment.code
    assert {names[c]: code for c, code in in_python.items()} == expected
    assert in_sql == in_python
    # The customer rows come with the choice: the reminded customers' views are built from
    # them, with their contact points, and no second read of the customer.
    views = repo.load_reminded(
        conn,
        tenant.id,
        [(choice.customer, choice.in_agreement) for choice in choices],
        day=DAY,
        attempts_window_days=7,
    )
    assert {v.external_id for v in views.values()} == set(expected)
    assert all(names[customer_id] == v.external_id for customer_id, v in views.items())
    loyal_view = views[faithful.id]
    assert (loyal_view.uf, loyal_view.facts.do_not_contact, loyal_view.facts.disputed) == (
        "RJ",
        True,
        False,
    )
    assert [p.value for p in loyal_view.points] == ["fiel@example.com"]
    # A balance rule never picks reminders (nothing is overdue then), but its SQL agrees too,
    # at the threshold to the centavo.
    rich = customer("rich", "preventive")
    make_receivable(session, rich, DAY - timedelta(days=10), "5000.00")
    poor = customer("poor", "preventive")
    make_receivable(session, poor, DAY - timedelta(days=10), "4999.99")
    session.flush()
    big = next(s for s in segments if s.kind == "high_balance")
    prevent = next(s for s in segments if s.kind == "preventive")
    label = {rich.id: "rich", poor.id: "poor"}
    by_balance = {
        label[choice.customer_id]: [big, prevent][choice.segment].code
        for choice in choose([big, prevent])
        if choice.customer_id in label
    }
    assert by_balance == {"rich": "big", "poor": "preventive"}
    # With a floor of late months (chronic-only reminder dates), the rest stay in SQL.
    floored = choose(candidates, floor=3)
    assert [(names[c.customer_id], candidates[c.segment].code) for c in floored] == [
        ("late-3", "late")
    ]


def test_reminder_titulos_are_those_the_segment_reminds_about(session: Session) -> None:
    """A customer's rows are its open títulos with a balance, due on a date its segment's
    reminders are about today: not another of the dates, not one inside their span, not a
    paid or settled one; one row per título, oldest due date first."""
    tenant = make_tenant(session)
    install_segments(session, tenant, [("preventive", "preventive", 10, "preventiva")])
    dates = [DAY + timedelta(days=1), DAY + timedelta(days=3), DAY + timedelta(days=5)]
    one = make_customer(session, tenant)
    other = make_customer(session, tenant)  # only on a date no segment reminds about
    due_first = make_receivable(session, one, dates[0])
    due_last = make_receivable(session, one, dates[2], "250.10")
    twice = make_receivable(session, one, dates[2], "10.00")
    make_receivable(session, one, dates[1])  # inside the span, not reached
    make_receivable(session, one, dates[2], status=ReceivableStatus.PAID)
    settled = make_receivable(session, one, dates[0])
    settled.balance = Decimal("0.00")  # open, nothing left to pay
    make_receivable(session, other, dates[1])
    session.flush()
    candidates = reminder_candidates(repo.load_segments(session.connection(), tenant.id))

    found = _titulos(session, tenant, candidates, {0: [dates[0], dates[2]]}, dates)

    expected = sorted(
        [(dates[0], due_first), (dates[2], due_last), (dates[2], twice)],
        key=lambda pair: (pair[0], pair[1].external_id),
    )
    assert [(r.titulo.id, r.titulo.due_date, r.titulo.balance) for r in found] == [
        (titulo.id, due, titulo.balance) for due, titulo in expected
    ]
    assert {r.customer_id for r in found} == {one.id}
    assert {(r.segment, r.customer[1]) for r in found} == {(0, one.external_id)}


def test_reminder_titulos_leave_customers_in_collection_out(session: Session) -> None:
    """No reminder for a customer with a live case, unless today's planning closed it; none for
    one whose case today's planning opened or kept; and each partition finds only its own."""
    from adimple.cadence.models import CaseStatus, CollectionCase

    tenant = make_tenant(session)
    install_segments(session, tenant, [("preventive", "preventive", 10, "preventiva")])
    version = install_cadence(session, tenant, "padrao", [])
    upcoming = DAY + timedelta(days=3)
    ids = [
        uuid.UUID(text)
        for text in (
            "00000000-0000-4000-8000-000000000001",  # live case
            "3fffffff-ffff-4fff-bfff-ffffffffffff",  # live case, cured today
            "40000000-0000-4000-8000-000000000000",  # a case opened today
            "7fffffff-ffff-4fff-bfff-fffffffffffe",  # a cured case (not live)
            "80000000-0000-4000-8000-000000000000",  # no case
            "ffffffff-ffff-4fff-bfff-fffffffffffe",  # live case, still live today
        )
    ]
    statuses = [CaseStatus.OPEN, CaseStatus.PAUSED, None, CaseStatus.CURED, None, CaseStatus.OPEN]
    for n, (customer_id, status) in enumerate(zip(ids, statuses, strict=True)):
        customer = make_customer(session, tenant, id=customer_id, external_id=f"c{n}")
        make_receivable(session, customer, upcoming)
        if status is not None:
            session.add(
                CollectionCase(
                    tenant_id=tenant.id,
                    customer_id=customer_id,
                    status=status,
                    segment="standard",
                    segment_reason="test",
                    cadence_version_id=version,
                    anchor_due_date=DAY - timedelta(days=10),
                    opened_on=DAY - timedelta(days=9),
                )
            )
    session.flush()
    candidates = reminder_candidates(repo.load_segments(session.connection(), tenant.id))
    touched = {ids[1]: False, ids[2]: True, ids[5]: True}

    def reminded(part: repo.Partition) -> set[str]:
        rows = _titulos(session, tenant, candidates, {0: [upcoming]}, [upcoming], part, touched)
        return {row.customer[1] for row in rows}

    assert reminded(repo.Partition(None, None)) == {"c1", "c3", "c4"}
    halves = repo.partitions(2)
    assert reminded(halves[0]) == {"c1", "c3"}
    assert reminded(halves[1]) == {"c4"}
    # Without today's planning, the case cured today is still live.
    assert {
        row.customer[1]
        for row in _titulos(session, tenant, candidates, {0: [upcoming]}, [upcoming])
    } == {"c2", "c3", "c4"}


def _titulos(
    session: Session,
    tenant,
    candidates: list,
    reach: dict[int, list[date]],
    dates: list[date],
    part: repo.Partition | None = None,
    touched: dict[uuid.UUID, bool] | None = None,
) -> list[repo.ReminderTitulo]:
    return repo.reminder_titulos(
        session.connection(),
        tenant.id,
        part or repo.Partition(None, None),
        candidates,
        reach,
        dict.fromkeys(dates, 0),
        touched=touched or {},
        day=DAY,
        cutoff=overdue_cutoff(DAY),
        prescribed_on=prescription_limit(DAY),
        late_month_starts=month_starts(DAY, 6),
        loyal_since=same_day_months_back(DAY, 12),
    )


def test_contact_points_come_from_an_index_only_scan_on_postgresql(session: Session) -> None:
    """Migration 0017 put every column the cycle reads of a contact point into the customer
    index; with the other access paths disabled, the planner can still answer the cycle's
    query from that index alone — which it cannot if a column is read that the index lacks."""
    conn = session.connection()
    if conn.dialect.name != "postgresql":
        return  # SQLite has no INCLUDE: the plain index stays
    tenant = make_tenant(session)
    customer = make_customer(session, tenant)
    add_contact(session, customer, "email", "ana@example.com")
    for setting in ("enable_seqscan", "enable_bitmapscan", "enable_indexscan"):
        conn.exec_driver_sql(f"SET LOCAL {setting} = off")
    stmt = repo.contact_points_query(conn, tenant.id, uuid_batch(conn, [customer.id]))
    compiled = stmt.compile(dialect=conn.dialect)
    plan = "\n".join(
        row[0] for row in conn.exec_driver_sql(f"EXPLAIN {compiled}", compiled.params).all()
    )
    assert "Index Only Scan using ix_contact_point_tenant_customer" in plan, plan


def test_lookups_by_id_span_find_the_ids_at_both_ends(session: Session) -> None:
    """On PostgreSQL the live-case and recent-attempt lookups add the span of the ids
    (``id_span``) as an index condition. Ids at the two ends of the span, and on both sides of
    the byte that turns the first bit on, must still be found: a span built in another order
    than the database's would drop them. (SQLite gets no span; the same answers hold.)"""
    from datetime import UTC, datetime

    from adimple.cadence.models import CaseStatus, CollectionCase
    from adimple.portfolio.models import Channel

    tenant = make_tenant(session)
    version = install_cadence(session, tenant, "padrao", [])
    ids = [
        uuid.UUID(text)
        for text in (
            "00000000-0000-4000-8000-000000000001",
            "7fffffff-ffff-4fff-bfff-ffffffffffff",
            "80000000-0000-4000-8000-000000000000",
            "a0000000-0000-4000-8000-00000000000a",
            "ffffffff-ffff-4fff-bfff-fffffffffffe",
        )
    ]
    statuses = [CaseStatus.OPEN, CaseStatus.CURED, CaseStatus.PAUSED, None, CaseStatus.OPEN]
    moment = datetime(2026, 11, 23, 15, tzinfo=UTC)
    for n, (customer_id, status) in enumerate(zip(ids, statuses, strict=True)):
        make_customer(session, tenant, id=customer_id, external_id=f"span-{n}")
        if status is not None:
            session.add(
                CollectionCase(
                    tenant_id=tenant.id,
                    customer_id=customer_id,
                    status=status,
                    segment="standard",
                    segment_reason="test",
                    cadence_version_id=version,
                    anchor_due_date=DAY - timedelta(days=10),
                    opened_on=DAY - timedelta(days=9),
                )
            )
        sent_message(
            session,
            tenant.id,
            customer_id,
            moment,
            channel=Channel.EMAIL,
            address=f"span{n}@example.com",
            key=f"span:{n}",
        )
    session.flush()
    conn = session.connection()

    live = repo.live_case_customers(conn, tenant.id, [ids[4], ids[2], ids[0], ids[1]])
    assert live == {ids[0], ids[2], ids[4]}
    assert repo.live_case_customers(conn, tenant.id, [ids[3], ids[1]]) == set()

    reminded = [
        ((c, f"span-{ids.index(c)}", "SP", False, False, False, False), False)
        for c in (ids[4], ids[0], ids[3])
    ]
    views = repo.load_reminded(conn, tenant.id, reminded, day=DAY, attempts_window_days=7)
    assert {views[c].external_id: views[c].history for c in views} == {
        name: [(date(2026, 11, 23), Channel.EMAIL)] for name in ("span-0", "span-3", "span-4")
    }
