"""Concurrent nosso número allocation on both databases: separate transactions in parallel
threads never get the same number (row-locked UPDATE … RETURNING + unique reference index)."""

from __future__ import annotations

import threading
import uuid
from datetime import date

from billing_helpers import configure, customer, receivable
from sqlalchemy import select

from adimple.db.engine import make_engine, unit_of_work
from adimple.db.migrate import upgrade
from adimple.payments.billing import service
from adimple.payments.billing.models import BillingSettings
from adimple.tenancy.service import create_tenant


def test_parallel_allocations_never_collide(cli_database: str) -> None:
    engine = make_engine(cli_database)
    upgrade(engine)
    with unit_of_work(engine) as session:
        tenant = create_tenant(
            session,
            slug=f"conc-{uuid.uuid4().hex[:8]}",
            legal_name="Credor Concorrente Ltda",
            document="11.222.333/0001-81",
            address="Rua A, 1",
            city="São Paulo",
            uf="SP",
        )
        configure(session, tenant, pix=None)
        owner = customer(session, tenant)
        ids = [receivable(session, tenant, owner, due=date(2026, 12, 10)).id for _ in range(16)]
        tenant_id = tenant.id

    numbers: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def work(chunk: list[uuid.UUID]) -> None:
        barrier.wait()
        for rid in chunk:
            try:
                with unit_of_work(engine) as session:
                    found = service.payment_instructions(
                        session, tenant_id=tenant_id, receivable_id=rid, as_of=date(2026, 11, 23)
                    )
                    assert found.boleto is not None and found.boleto.nosso_numero
                    numbers.append(found.boleto.nosso_numero)
            except BaseException as exc:  # collected and re-raised below
                errors.append(exc)

    threads = [threading.Thread(target=work, args=(ids[i::4],)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(numbers) == [f"{n:08d}" for n in range(1, 17)]
    with unit_of_work(engine) as session:
        settings = session.scalars(
            select(BillingSettings).where(BillingSettings.tenant_id == tenant_id)
        ).one()
        assert settings.nosso_numero_next == 17
    engine.dispose()
