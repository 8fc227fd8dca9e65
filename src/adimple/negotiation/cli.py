"""``adimple agreements list|show|check`` (JSON on stdout; one line on stderr and exit 2 on
invalid input — DESIGN §6)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Annotated

import typer
from sqlalchemy import select
from sqlalchemy.orm import Session

from adimple.kit.console import die, print_json
from adimple.kit.errors import DomainError

agreements_app = typer.Typer(
    help="Acordos: listar, consultar, verificar quebras.", no_args_is_help=True
)

TenantOpt = Annotated[
    str | None, typer.Option("--tenant", help="Tenant slug (optional when there is only one).")
]


def register(app: typer.Typer) -> None:
    app.add_typer(agreements_app, name="agreements")


def _date(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        die(f"--date: data inválida {text!r} (use AAAA-MM-DD)")


@agreements_app.command("list")
def list_command(
    customer: Annotated[str, typer.Option("--customer", help="Devedor: id ou código externo.")],
    tenant: TenantOpt = None,
) -> None:
    """Acordos de um devedor, do mais novo para o mais antigo."""
    from adimple.negotiation import service

    with _session(tenant) as (session, tenant_id):
        customer_id = _customer_id(session, tenant_id, customer)
        rows = service.list_agreements(session, tenant_id=tenant_id, customer_id=customer_id)
        result = [service.agreement_view(session, a).as_contract() for a in rows]
    print_json(result)


@agreements_app.command("show")
def show_command(
    agreement: Annotated[str, typer.Argument(help="Número (AC-000123) ou id do acordo.")],
    tenant: TenantOpt = None,
    as_of: Annotated[str | None, typer.Option("--date", help="Situação das parcelas em.")] = None,
) -> None:
    """Um acordo com as parcelas e os títulos que substituiu."""
    from adimple.negotiation import service

    day = _date(as_of)
    with _session(tenant) as (session, tenant_id):
        try:
            row = service.get_agreement(
                session, tenant_id=tenant_id, customer_id=None, agreement_id=uuid.UUID(agreement)
            )
        except ValueError:
            row = service.get_agreement_by_number(session, tenant_id=tenant_id, number=agreement)
        result = service.agreement_view(session, row, as_of=day).as_contract()
    print_json(result)


@agreements_app.command("check")
def check_command(
    on: Annotated[str, typer.Option("--date", help="Data da verificação (AAAA-MM-DD).")],
    tenant: TenantOpt = None,
) -> None:
    """Rompe acordos com parcela vencida além da tolerância e retoma a cobrança."""
    from adimple.negotiation import service

    day = _date(on)
    assert day is not None
    with _session(tenant) as (session, tenant_id):
        result = service.check_agreements(session, tenant_id=tenant_id, on=day)
    print_json(result)


@contextmanager
def _session(tenant: str | None) -> Iterator[tuple[Session, uuid.UUID]]:
    """A unit of work on the tenant; a domain error becomes one line on stderr and exit 2
    (nothing is written)."""
    from adimple.cli import prepare_database
    from adimple.db.engine import unit_of_work
    from adimple.tenancy import service as tenancy

    prepare_database()
    try:
        with unit_of_work() as session:
            row = (
                tenancy.get_tenant_by_slug(session, tenant)
                if tenant
                else tenancy.default_tenant(session)
            )
            yield session, row.id
    except DomainError as exc:
        die(exc.detail)


def _customer_id(session: Session, tenant_id: uuid.UUID, text: str) -> uuid.UUID:
    from adimple.portfolio.models import Customer

    try:
        return uuid.UUID(text)
    except ValueError:
        found = session.scalar(
            select(Customer.id).where(Customer.tenant_id == tenant_id, Customer.external_id == text)
        )
        if found is None:
            raise DomainError(f"devedor {text!r} não encontrado") from None
        return found
