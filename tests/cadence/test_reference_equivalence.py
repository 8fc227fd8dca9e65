"""Property: the set-based engine and the per-customer reference plan the same day.

Random portfolios (flags, contact points of every kind and owner, opt-outs, open/paid/
agreement títulos from years ago to months ahead, late and on-time payments) and random
cadences and segments are generated; over a few consecutive cycle dates the reference's plan
must equal the engine's, and the engine then runs the day so the next date starts from the
state the engine wrote (cases opened, advanced, paused, cured, closed).
"""

from __future__ import annotations

import uuid
from datetime import date, time, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine
from sqlalchemy.orm import sessionmaker

from adimple.cadence.cycle import plan_day, run_day
from adimple.cadence.reference import reference_plan
from adimple.portfolio.models import (
    Channel,
    ChannelOptOut,
    ContactOwner,
    DocumentKind,
    Payment,
    PaymentSource,
    ReceivableStatus,
)
from adimple.tenancy.models import Tenant
from adimple.tenancy.service import create_tenant
from builders import add_contact, install_cadence, install_segments, make_customer, make_receivable

START = date(2026, 11, 20)  # a Friday and a holiday: business-day rules are exercised

channels = st.lists(
    st.sampled_from(["email", "sms", "whatsapp", "letter"]), min_size=1, max_size=3, unique=True
)


@st.composite
def cadence_steps(draw: st.DrawFn) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = []
    for n in range(draw(st.integers(min_value=1, max_value=7))):
        step: dict[str, Any] = {
            "id": f"s{n}",
            "offset_days": draw(
                st.one_of(
                    st.integers(min_value=-6, max_value=6), st.integers(min_value=7, max_value=70)
                )
            ),
            "only_business_days": draw(st.booleans()),
        }
        action = draw(
            st.sampled_from(
                [None, None, "task_call", "bureau_notice", "bureau_activate", "legal_review"]
            )
        )
        if action is None or step["offset_days"] <= 0:
            step["channels"] = draw(channels)
            step["template"] = "aviso_atraso"
        else:
            step["action"] = action
            if action == "bureau_notice":
                step["template"] = "aviso_negativacao"
        if draw(st.integers(min_value=0, max_value=4)) == 0:
            step["min_balance"] = draw(st.sampled_from(["50.00", "300.00"]))
        if draw(st.integers(min_value=0, max_value=5)) == 0:
            step["segments"] = draw(
                st.lists(st.sampled_from(["std", "big", "pj", "new", "late", "loyal"]), max_size=2)
            )
        steps.append(step)
    return steps


contact_specs = st.lists(
    st.tuples(
        st.sampled_from(["email", "email", "mobile", "mobile", "landline", "address"]),
        st.sampled_from([ContactOwner.DEBTOR, ContactOwner.DEBTOR, ContactOwner.THIRD_PARTY]),
        st.sampled_from([False, False, False, True]),  # invalid
        st.one_of(st.none(), st.integers(min_value=6, max_value=21)),  # best hour
    ),
    min_size=1,
    max_size=4,
)

receivable_specs = st.lists(
    st.tuples(
        st.one_of(  # due date relative to START: mostly near, sometimes years ago
            st.integers(min_value=-40, max_value=20),
            st.integers(min_value=-40, max_value=20),
            st.integers(min_value=-2000, max_value=-60),
        ),
        st.sampled_from(["10.00", "120.00", "800.00"]),
        st.sampled_from(["open"] * 6 + ["paid_on_time", "paid_late"] * 2 + ["agreement"]),
    ),
    min_size=1,
    max_size=5,
)

customer_specs = st.lists(
    st.fixed_dictionaries(
        {
            "uf": st.sampled_from(["SP", "RJ", "AC", "AM", "BA", None]),
            "cnpj": st.booleans(),
            "flag": st.sampled_from(
                [None] * 12 + ["disputed", "deceased", "superendividamento", "do_not_contact"]
            ),
            "opt_out": st.one_of(
                st.just([]), st.just([]), st.lists(st.sampled_from(list(Channel)), max_size=2)
            ).map(lambda xs: sorted(set(xs))),
            "contacts": contact_specs,
            "receivables": receivable_specs,
        }
    ),
    min_size=2,
    max_size=8,
)

segment_kinds = st.lists(
    st.sampled_from(["high_balance", "business", "never_paid", "chronic_late", "loyal_first_late"]),
    max_size=3,
    unique=True,
)
CODES = {
    "high_balance": "big",
    "business": "pj",
    "never_paid": "new",
    "chronic_late": "late",
    "loyal_first_late": "loyal",
}


def build(engine: Engine, data: dict[str, Any]) -> uuid.UUID:
    session = sessionmaker(bind=engine, expire_on_commit=False)()
    tenant = create_tenant(
        session,
        slug=f"prop-{uuid.uuid4().hex[:10]}",
        legal_name="Credora Teste Ltda",
        document="11.222.333/0001-81",
        address="Rua A, 1",
        city="São Paulo",
        uf="SP",
    )
    install_cadence(session, tenant, "a", data["cadence_a"])
    install_cadence(session, tenant, "b", data["cadence_b"])
    rows: list[tuple[Any, ...]] = [
        ("preventive", "preventive", 0, data["preventive"]),
        ("std", "always", 100, "a"),
    ]
    for priority, kind in enumerate(data["segments"], start=10):
        rows.append((CODES[kind], kind, priority, "b", {"min_balance": "500.00"}))
    install_segments(session, tenant, rows)
    for spec in data["customers"]:
        customer = make_customer(
            session,
            tenant,
            uf=spec["uf"],
            document="11444777000161" if spec["cnpj"] else "52998224725",
            document_kind=DocumentKind.CNPJ if spec["cnpj"] else DocumentKind.CPF,
            **({spec["flag"]: True} if spec["flag"] else {}),
        )
        for n, (kind, owner, invalid, hour) in enumerate(spec["contacts"]):
            value = {
                "email": f"c{n}@example.com",
                "mobile": f"+551198765432{n}",
                "landline": f"+55113333444{n}",
                "address": f"Rua {n}, 1",
            }[kind]
            point = add_contact(
                session,
                customer,
                "phone" if kind in ("mobile", "landline") else kind,
                value,
                owner=owner,
                best_hour_start=time(hour) if hour is not None else None,
                best_hour_end=time(hour + 2) if hour is not None else None,
            )
            if invalid:
                point.invalid_at = point.created_at
        for channel in spec["opt_out"]:
            session.add(
                ChannelOptOut(
                    tenant_id=tenant.id,
                    customer_id=customer.id,
                    channel=channel,
                    source="test",
                    created_at=point_time(),
                )
            )
        for offset, amount, kind in spec["receivables"]:
            due = START + timedelta(days=offset)
            status = {
                "paid_on_time": ReceivableStatus.PAID,
                "paid_late": ReceivableStatus.PAID,
                "agreement": ReceivableStatus.AGREEMENT,
            }.get(kind, ReceivableStatus.OPEN)
            receivable = make_receivable(
                session, customer, due, amount, status=status, issue=due - timedelta(days=30)
            )
            if kind.startswith("paid"):
                paid_on = due + timedelta(days=9 if kind == "paid_late" else 0)
                session.add(
                    Payment(
                        tenant_id=tenant.id,
                        external_id=f"P-{receivable.external_id}",
                        receivable_id=receivable.id,
                        customer_id=customer.id,
                        source=PaymentSource.IMPORT,
                        gross=Decimal(amount),
                        fees=Decimal("0.00"),
                        net=Decimal(amount),
                        paid_on=paid_on,
                        details={},
                    )
                )
    session.commit()
    session.close()
    return tenant.id


def point_time():  # type: ignore[no-untyped-def]
    from adimple.db.base import utcnow

    return utcnow()


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    data=st.fixed_dictionaries(
        {
            "cadence_a": cadence_steps(),
            "cadence_b": cadence_steps(),
            "preventive": st.sampled_from(["a", "b"]),
            "segments": segment_kinds,
            "customers": customer_specs,
        }
    ),
    gaps=st.lists(st.integers(min_value=1, max_value=12), min_size=1, max_size=4),
)
def test_engine_and_reference_agree(engine: Engine, data: dict[str, Any], gaps: list[int]) -> None:
    tenant_id = build(engine, data)
    day = START
    for gap in [0, *gaps]:
        day += timedelta(days=gap)
        with sessionmaker(bind=engine, expire_on_commit=False)() as session:
            tenant = session.get_one(Tenant, tenant_id)
            expected = reference_plan(session, tenant, day).as_json()
            session.expunge(tenant)
            session.rollback()
        assert plan_day(engine, tenant, day).plan.as_json() == expected, day
        assert plan_day(engine, tenant, day, partitions=3).plan.as_json() == expected, day
        run_day(engine, tenant, day)
