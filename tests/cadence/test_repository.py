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
from adimple.portfolio.models import Customer, DocumentKind, ReceivableStatus
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


def test_reminder_segments_match_the_python_rule_at_every_edge(session: Session) -> None:
    """Pre-due reminders choose the segment in SQL (``reminder_segments``); the reference
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
    ids = [
        row[0]
        for row in repo.reminder_due_dates(conn, tenant.id, [upcoming], repo.Partition(None, None))
    ]
    window = {
        "cutoff": overdue_cutoff(DAY),
        "prescribed_on": prescription_limit(DAY),
        "late_month_starts": month_starts(DAY, chronic),
        "loyal_since": same_day_months_back(DAY, loyal),
    }
    features = repo.features(conn, tenant.id, ids, **window)
    choices = repo.reminder_segments(conn, tenant.id, ids, candidates, day=DAY, **window)
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
    views = repo.load_reminded(conn, tenant.id, choices, day=DAY, attempts_window_days=7)
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
        for choice in repo.reminder_segments(
            conn, tenant.id, [rich.id, poor.id], [big, prevent], day=DAY, **window
        )
    }
    assert by_balance == {"rich": "big", "poor": "preventive"}
    # With a floor of late months (chronic-only reminder dates), the rest stay in SQL.
    floored = repo.reminder_segments(
        conn, tenant.id, ids, candidates, day=DAY, min_late_months=3, **window
    )
    assert [(names[c.customer_id], candidates[c.segment].code) for c in floored] == [
        ("late-3", "late")
    ]


def test_reminder_due_dates_are_a_mask_per_customer_beyond_one_bigint(session: Session) -> None:
    """Bit k of a customer's mask is ``dates[k]``; more than 62 dates go in groups."""
    tenant = make_tenant(session)
    dates = [DAY + timedelta(days=k) for k in range(70)]
    one = make_customer(session, tenant)
    two = make_customer(session, tenant)
    for k in (0, 5, 65):
        make_receivable(session, one, dates[k])
    make_receivable(session, one, dates[5])  # two títulos on one date: one bit
    make_receivable(session, one, DAY - timedelta(days=1))  # not one of the dates
    make_receivable(session, two, dates[69], status=ReceivableStatus.PAID)  # not open
    make_receivable(session, two, dates[1])
    session.flush()

    masks = dict(
        repo.reminder_due_dates(session.connection(), tenant.id, dates, repo.Partition(None, None))
    )

    assert masks == {one.id: 1 | 1 << 5 | 1 << 65, two.id: 1 << 1}


def test_reminder_receivables_are_those_due_on_the_dates_with_a_balance(session: Session) -> None:
    """PostgreSQL is asked for the dates' span (one index descent per customer); a título
    due inside the span on another day, without a balance, or of a customer not being
    reminded is still left out."""
    tenant = make_tenant(session)
    dates = [DAY + timedelta(days=1), DAY + timedelta(days=5)]
    one = make_customer(session, tenant)
    other = make_customer(session, tenant)
    due_first = make_receivable(session, one, dates[0])
    due_last = make_receivable(session, one, dates[1], "250.10")
    make_receivable(session, one, DAY + timedelta(days=3))  # inside the span, not a date
    make_receivable(session, one, dates[1], status=ReceivableStatus.PAID)
    settled = make_receivable(session, one, dates[0])
    settled.balance = Decimal("0.00")  # open, nothing left to pay
    make_receivable(session, other, dates[0])  # not being reminded
    session.flush()

    found = repo.reminder_receivables(session.connection(), tenant.id, dates, [one.id])

    assert list(found) == [one.id]
    assert [(r.id, r.due_date, r.balance) for r in found[one.id]] == [
        (due_first.id, dates[0], Decimal("100.00")),
        (due_last.id, dates[1], Decimal("250.10")),
    ]


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

    choices = [
        repo.ReminderChoice(
            c, 0, False, (c, f"span-{ids.index(c)}", "SP", False, False, False, False)
        )
        for c in (ids[4], ids[0], ids[3])
    ]
    views = repo.load_reminded(conn, tenant.id, choices, day=DAY, attempts_window_days=7)
    assert {views[c].external_id: views[c].history for c in views} == {
        name: [(date(2026, 11, 23), Channel.EMAIL)] for name in ("span-0", "span-3", "span-4")
    }
