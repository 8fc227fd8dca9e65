"""Benchmark: payment instructions (boleto + PIX) per receivable, issued and then reused.

    python benchmarks/billing_instructions.py --receivables 500 --db sqlite|postgresql [--psp]

Builds a tenant with N open receivables (half overdue, half not yet due) and billing settings
(Itaú boleto + static PIX, or a cobv on the local test PSP with ``--psp``), then times
``payment_instructions`` for every receivable twice in one transaction each: the first pass
issues the documents (allocating nossos números and txids), the second reuses them. Also times a
few boleto PDFs. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import psycopg

from adimple.db.engine import make_engine, unit_of_work
from adimple.db.migrate import upgrade
from adimple.payments.billing import service
from adimple.payments.billing.schemas import BillingSettingsInput
from adimple.payments.psp.testserver import running_psp_server
from adimple.portfolio.models import Customer, DocumentKind, Receivable
from adimple.tenancy.service import create_tenant

PG_ADMIN = os.environ.get(
    "ADIMPLE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@contextlib.contextmanager
def database(kind: str) -> Iterator[str]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{folder}/bench.db"
        return
    name = f"bench_billing_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--receivables", type=int, default=500)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--psp", action="store_true", help="cobv on the local test PSP")
    parser.add_argument("--pdfs", type=int, default=5)
    args = parser.parse_args()
    with (
        database(args.db) as url,
        running_psp_server() if args.psp else contextlib.nullcontext() as psp,
    ):
        engine = make_engine(url)
        upgrade(engine)
        settings = {
            "boleto": {"bank": "341", "agencia": "1234", "conta": "12345", "carteira": "109"},
            "pix": {"key": "financeiro@bench.example"},
        }
        if psp is not None:
            settings["psp"] = {
                "base_url": psp.base_url,
                "client_id": psp.client_id,
                "client_secret": psp.client_secret,
            }
        with unit_of_work(engine) as session:
            tenant = create_tenant(
                session,
                slug="bench",
                legal_name="Credor Bench Ltda",
                document="11.222.333/0001-81",
                address="Rua A, 1",
                city="São Paulo",
                uf="SP",
            )
            service.save_settings(
                session,
                tenant_id=tenant.id,
                document=BillingSettingsInput.model_validate(settings),
                actor="bench",
            )
            owner = Customer(
                tenant_id=tenant.id,
                external_id="C1",
                document="52998224725",
                document_kind=DocumentKind.CPF,
                name="Maria da Silva",
                tags=[],
            )
            session.add(owner)
            session.flush()
            rows = [
                Receivable(
                    tenant_id=tenant.id,
                    customer_id=owner.id,
                    external_id=f"T{i}",
                    issue_date=date(2026, 1, 5),
                    due_date=date(2026, 6, 10) if i % 2 else date(2026, 12, 10),
                    original_amount=Decimal("1234.56"),
                    balance=Decimal("1234.56"),
                )
                for i in range(args.receivables)
            ]
            session.add_all(rows)
            session.flush()
            ids = [row.id for row in rows]
            tenant_id = tenant.id
        result: dict[str, object] = {
            "db": args.db,
            "pix": "cobv" if psp is not None else "static",
            "receivables": args.receivables,
            "python": platform.python_version(),
        }
        for label, as_of in (("issue", date(2026, 9, 15)), ("reuse", date(2026, 9, 16))):
            start = time.perf_counter()
            with unit_of_work(engine) as session:
                for rid in ids:
                    service.payment_instructions(
                        session, tenant_id=tenant_id, receivable_id=rid, as_of=as_of
                    )
            elapsed = time.perf_counter() - start
            result[f"{label}_seconds"] = round(elapsed, 3)
            result[f"{label}_ms_per_receivable"] = round(elapsed * 1000 / len(ids), 2)
        start = time.perf_counter()
        with unit_of_work(engine) as session:
            for rid in ids[: args.pdfs]:
                service.boleto_pdf(
                    session, tenant_id=tenant_id, receivable_id=rid, as_of=date(2026, 9, 16)
                )
        result["boleto_pdf_ms_each"] = round((time.perf_counter() - start) * 1000 / args.pdfs, 1)
        engine.dispose()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
