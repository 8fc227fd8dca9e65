"""CLI of the régua definitions: ``adimple cadence …`` and ``adimple segment …``.

Contracts (DESIGN §6): JSON on stdout and exit 0; one line on stderr and exit 2 on invalid
input (the first problem, with file, step, field and line, and how many more there are).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from adimple.charges.cli import _contract_errors
from adimple.kit.console import die, print_json

cadence_app = typer.Typer(
    help="Réguas de cobrança (versioned YAML definitions).", no_args_is_help=True
)
segment_app = typer.Typer(help="Segments: which cadence each debtor gets.", no_args_is_help=True)

TenantOpt = Annotated[
    str | None, typer.Option("--tenant", help="Slug do credor (opcional se houver só um).")
]
ActorOpt = Annotated[str, typer.Option("--actor", help="Quem fez a alteração.")]
FileArg = Annotated[Path, typer.Argument(help="Arquivo YAML (ou JSON).")]


def register(app: typer.Typer) -> None:
    """Adds ``cadence`` and ``segment`` to the main ``adimple`` app."""
    app.add_typer(cadence_app, name="cadence")
    app.add_typer(segment_app, name="segment")


def _prepare() -> None:
    """Migrates the embedded SQLite default; PostgreSQL must be at head (like `adimple import`)."""
    from adimple.cli import prepare_database

    prepare_database()


def _read(file: Path) -> str:
    try:
        return file.read_text(encoding="utf-8")
    except FileNotFoundError:
        die(f"{file}: arquivo não encontrado")


@cadence_app.command("import")
def cadence_import(file: FileArg, tenant: TenantOpt = None, actor: ActorOpt = "cli") -> None:
    """Grava a régua como nova versão (nada muda se for igual à versão atual)."""
    from adimple.cadence import library
    from adimple.cadence.definitions import parse_cadence
    from adimple.charges.service import find_tenant
    from adimple.db.engine import unit_of_work

    with _contract_errors():
        doc = parse_cadence(_read(file), file.name)
        _prepare()
        with unit_of_work() as session:
            found = find_tenant(session, slug=tenant)
            version, created = library.import_cadence(
                session, tenant_id=found.id, doc=doc, actor=actor, source=file.name
            )
            result = {"name": doc.name, "version": version.version, "created": created}
        print_json(result)


@cadence_app.command("export")
def cadence_export(
    name: Annotated[str, typer.Argument(help="Nome da régua.")],
    version: Annotated[
        int | None, typer.Option("--version", min=1, help="Versão (padrão: a atual).")
    ] = None,
    tenant: TenantOpt = None,
) -> None:
    """Escreve a régua em YAML na saída padrão (reimportá-la não cria versão)."""
    from adimple.cadence import library
    from adimple.charges.service import find_tenant
    from adimple.db.engine import unit_of_work

    with _contract_errors():
        _prepare()
        with unit_of_work() as session:
            found = find_tenant(session, slug=tenant)
            text = library.export_cadence(session, tenant_id=found.id, name=name, version=version)
        typer.echo(text, nl=False)


@cadence_app.command("list")
def cadence_list(tenant: TenantOpt = None) -> None:
    """Lista as réguas do credor com a versão atual."""
    from adimple.cadence import library
    from adimple.charges.service import find_tenant
    from adimple.db.engine import unit_of_work

    with _contract_errors():
        _prepare()
        with unit_of_work() as session:
            found = find_tenant(session, slug=tenant)
            rows = library.list_cadences(session, tenant_id=found.id)
        print_json(
            [
                {
                    "name": row.name,
                    "description": row.description,
                    "current_version": row.current_version,
                    "versions": row.versions,
                    "steps": row.steps,
                }
                for row in rows
            ]
        )


@cadence_app.command("install-defaults")
def cadence_install_defaults(tenant: TenantOpt = None, actor: ActorOpt = "cli") -> None:
    """Instala as réguas e os segmentos padrão se o credor ainda não tem segmentos."""
    from adimple.cadence import library
    from adimple.charges.service import find_tenant
    from adimple.db.engine import unit_of_work

    with _contract_errors():
        _prepare()
        with unit_of_work() as session:
            found = find_tenant(session, slug=tenant)
            result = library.install_defaults(session, tenant_id=found.id, actor=actor)
        print_json(result.as_dict())


@segment_app.command("import")
def segment_import(file: FileArg, tenant: TenantOpt = None, actor: ActorOpt = "cli") -> None:
    """Substitui os segmentos do credor (as réguas citadas precisam existir)."""
    from adimple.cadence import library
    from adimple.cadence.definitions import parse_segments
    from adimple.charges.service import find_tenant
    from adimple.db.engine import unit_of_work

    with _contract_errors():
        doc = parse_segments(_read(file), file.name)
        _prepare()
        with unit_of_work() as session:
            found = find_tenant(session, slug=tenant)
            rows, changed = library.save_segments(
                session, tenant_id=found.id, doc=doc, actor=actor, source=file.name
            )
            result = {"segments": len(rows), "changed": changed}
        print_json(result)


@segment_app.command("export")
def segment_export(tenant: TenantOpt = None) -> None:
    """Escreve os segmentos do credor em YAML na saída padrão."""
    from adimple.cadence import library
    from adimple.cadence.definitions import dump_segments
    from adimple.charges.service import find_tenant
    from adimple.db.engine import unit_of_work

    with _contract_errors():
        _prepare()
        with unit_of_work() as session:
            found = find_tenant(session, slug=tenant)
            rows = library.segment_rows_as_document(
                library.list_segments(session, tenant_id=found.id)
            )
        typer.echo(dump_segments(rows), nl=False)


@segment_app.command("list")
def segment_list(tenant: TenantOpt = None) -> None:
    """Lista os segmentos na ordem em que são avaliados."""
    from adimple.cadence import library
    from adimple.charges.service import find_tenant
    from adimple.db.engine import unit_of_work

    with _contract_errors():
        _prepare()
        with unit_of_work() as session:
            found = find_tenant(session, slug=tenant)
            rows = library.segment_rows_as_document(
                library.list_segments(session, tenant_id=found.id)
            )
        print_json(rows)
