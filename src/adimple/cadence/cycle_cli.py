"""``adimple plan`` (dry run) and ``adimple run`` (the daily cycle) — DESIGN §6, issue 4."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

import typer
from sqlalchemy import select

from adimple.kit.console import die, print_json
from adimple.kit.errors import DomainError

DateOption = Annotated[
    str | None,
    typer.Option("--date", help="Cycle date YYYY-MM-DD (default: today in ADIMPLE_TIMEZONE)."),
]
TenantOption = Annotated[
    str | None, typer.Option("--tenant", help="Tenant slug (plan: optional with one tenant).")
]
PartitionsOption = Annotated[
    int,
    typer.Option("--partitions", min=1, max=1024, help="Customer-id ranges, one transaction each."),
]

WorkersOption = Annotated[
    int | None,
    typer.Option(
        "--workers",
        min=1,
        max=64,
        help="PostgreSQL: processes running partitions at once (default: one per core). "
        "SQLite always runs them one at a time.",
    ),
]


def _day(value: str | None) -> date:
    from adimple.settings import get_settings

    if value is None:
        return datetime.now(ZoneInfo(get_settings().timezone)).date()
    try:
        return date.fromisoformat(value)
    except ValueError:
        die(f"--date: {value!r} is not a date (YYYY-MM-DD)")


def register(app: typer.Typer) -> None:
    @app.command("plan")
    def plan_command(
        day: DateOption = None, tenant: TenantOption = None, partitions: PartitionsOption = 1
    ) -> None:
        """Print what the daily cycle would do on DATE, as JSON; nothing is written."""
        from adimple.cadence.cycle import plan_day
        from adimple.cadence.planner import CycleError
        from adimple.cli import prepare_database
        from adimple.db.engine import get_engine, session_factory
        from adimple.tenancy import service

        when = _day(day)
        prepare_database()
        engine = get_engine()
        try:
            with session_factory()() as session:
                row = (
                    service.get_tenant_by_slug(session, tenant)
                    if tenant
                    else service.default_tenant(session)
                )
                session.expunge(row)
            outcome = plan_day(engine, row, when, partitions=partitions)
        except (DomainError, CycleError) as exc:
            die(getattr(exc, "detail", None) or str(exc))
        assert outcome.plan is not None  # a dry run keeps its whole plan
        print_json(outcome.plan.as_json())

    @app.command("run")
    def run_command(
        day: DateOption = None,
        tenant: TenantOption = None,
        partitions: PartitionsOption = 1,
        workers: WorkersOption = None,
    ) -> None:
        """Run the daily cycle for DATE: open/advance/cure cases, queue contacts and tasks.

        Idempotent: running a date again creates nothing new. Without --tenant, every tenant.
        """
        from adimple.cadence.cycle import CycleBusy, run_day
        from adimple.cadence.planner import CycleError
        from adimple.cli import prepare_database
        from adimple.db.engine import get_engine, session_factory
        from adimple.tenancy import service
        from adimple.tenancy.models import Tenant

        when = _day(day)
        prepare_database()
        engine = get_engine()
        try:
            with session_factory()() as session:
                if tenant:
                    tenants = [service.get_tenant_by_slug(session, tenant)]
                else:
                    tenants = list(session.scalars(select(Tenant).order_by(Tenant.slug)))
                for row in tenants:
                    session.expunge(row)
            results = []
            for row in tenants:
                outcome = run_day(engine, row, when, partitions=partitions, workers=workers)
                results.append({"tenant": row.slug, **outcome.stats})
        except CycleBusy as exc:
            die(str(exc), code=3)
        except (DomainError, CycleError) as exc:
            die(getattr(exc, "detail", None) or str(exc))
        print_json({"date": when.isoformat(), "tenants": results})
