"""CLI: ``adimple templates list|preview`` and ``adimple letters close`` (print batches)."""

from __future__ import annotations

from typing import Annotated

import typer

from adimple.kit.console import die, print_json
from adimple.kit.errors import DomainError

templates_app = typer.Typer(help="Message templates (pt-BR).", no_args_is_help=True)
letters_app = typer.Typer(help="Letters: print-house batches.", no_args_is_help=True)

TenantOpt = Annotated[
    str | None, typer.Option("--tenant", help="Tenant slug (optional when there is only one).")
]


def register(app: typer.Typer) -> None:
    app.add_typer(templates_app, name="templates")
    app.add_typer(letters_app, name="letters")


@templates_app.command("list")
def templates_list(tenant: TenantOpt = None) -> None:
    """Modelos em uso pelo credor (próprios ou padrão)."""
    from adimple.charges.service import find_tenant
    from adimple.cli import prepare_database
    from adimple.db.engine import unit_of_work
    from adimple.messaging.templates import list_templates

    prepare_database()
    try:
        with unit_of_work() as session:
            owner = find_tenant(session, slug=tenant)
            specs = list_templates(session, tenant_id=owner.id)
            print_json(
                [
                    {
                        "name": s.name,
                        "channel": s.channel.value,
                        "version": s.version,
                        "source": s.source,
                    }
                    for s in specs
                ]
            )
    except DomainError as exc:
        die(exc.detail)


@templates_app.command("preview")
def templates_preview(
    name: Annotated[str, typer.Argument(help="Template name, e.g. aviso_atraso.")],
    channel: Annotated[str, typer.Argument(help="email, sms, whatsapp or letter.")],
    customer: Annotated[str, typer.Option("--customer", help="The customer's external id.")],
    tenant: TenantOpt = None,
) -> None:
    """Mostra a mensagem para um devedor real (nada é enviado)."""
    from adimple.charges.service import find_tenant
    from adimple.cli import prepare_database
    from adimple.db.engine import unit_of_work
    from adimple.kit.money import money_str
    from adimple.messaging.render import preview
    from adimple.portfolio.models import Channel
    from adimple.portfolio.service import get_customer_by_external_id

    prepare_database()
    if channel not in {c.value for c in Channel}:
        die(f"unknown channel '{channel}'")
    try:
        with unit_of_work() as session:
            owner = find_tenant(session, slug=tenant)
            found = get_customer_by_external_id(session, tenant_id=owner.id, external_id=customer)
            rendered = preview(
                session,
                tenant_id=owner.id,
                template_name=name,
                channel=Channel(channel),
                customer_id=found.id,
            )
            print_json(
                {
                    "channel": rendered.channel.value,
                    "subject": rendered.subject,
                    "text": rendered.text,
                    "html": rendered.html,
                    "template_params": rendered.template_params,
                    "total": money_str(rendered.total),
                    "pending_update": rendered.pending_update,
                    "sms": None
                    if rendered.sms is None
                    else {
                        "encoding": rendered.sms.encoding.value,
                        "segments": rendered.sms.segments,
                        "units": rendered.sms.units,
                        "text_sent": rendered.sms_text,
                    },
                }
            )
    except DomainError as exc:
        die(exc.detail)


@letters_app.command("close")
def letters_close(tenant: TenantOpt = None) -> None:
    """Fecha o lote aberto: um PDF com todas as cartas e o manifest.csv para a gráfica."""
    from adimple.charges.service import find_tenant
    from adimple.cli import prepare_database
    from adimple.db.engine import unit_of_work
    from adimple.messaging.channels import adapters_for_tenant
    from adimple.messaging.channels.letter import LetterAdapter
    from adimple.portfolio.models import Channel

    prepare_database()
    try:
        with unit_of_work() as session:
            owner = find_tenant(session, slug=tenant)
            adapter = adapters_for_tenant(session, owner.id)[Channel.LETTER]
    except DomainError as exc:
        die(exc.detail)
    if not isinstance(adapter, LetterAdapter):
        die("the letter channel is not configured (provider 'letter')")
    bundle = adapter.close_batch()
    if bundle is None:
        print_json({"batch_id": None, "letters": 0, "pages": 0})
        return
    print_json(
        {
            "batch_id": bundle.batch_id,
            "letters": bundle.letters,
            "pages": bundle.pages,
            "pdf": str(bundle.pdf_path),
            "manifest": str(bundle.manifest_path),
        }
    )
