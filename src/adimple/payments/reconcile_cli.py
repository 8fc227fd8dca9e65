"""``adimple reconcile FILE [--tenant SLUG]``: imports a CNAB return file (docs/payments.md).

Prints the report as JSON and exits 0 (also when the file was imported before: nothing changes
and ``already_imported`` is true); an unreadable or unrecognised file, or an unknown tenant,
prints one line on stderr and exits 2 — nothing is written.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from adimple.kit.console import die, print_json
from adimple.kit.errors import DomainError


def register(app: typer.Typer) -> None:
    app.command("reconcile", help="Concilia um arquivo de retorno CNAB 240/400.")(reconcile_command)


def reconcile_command(
    file: Annotated[Path, typer.Argument(help="Arquivo de retorno (.ret) como veio do banco.")],
    tenant: Annotated[
        str | None, typer.Option("--tenant", help="Tenant slug (optional when there is only one).")
    ] = None,
) -> None:
    """Imports a return file: payments applied, unmatched movements to the review queue."""
    from adimple.cli import prepare_database
    from adimple.db.engine import unit_of_work
    from adimple.payments.reconcile import reconcile_cnab
    from adimple.tenancy import service as tenancy

    try:
        content = file.read_bytes()
    except OSError as exc:
        die(f"{file}: cannot read: {exc.strerror or exc}")
    prepare_database()
    try:
        with unit_of_work() as session:
            row = (
                tenancy.get_tenant_by_slug(session, tenant)
                if tenant
                else tenancy.default_tenant(session)
            )
            report = reconcile_cnab(
                session, tenant_id=row.id, filename=str(file), content=content, actor="cli"
            )
            result = report.as_dict()
    except DomainError as exc:
        die(exc.detail)
    print_json(result)
