"""``adimple portal purge`` (JSON on stdout): the portal's retention, for a daily timer."""

from __future__ import annotations

from typing import Annotated

import typer

from adimple.kit.console import die, print_json

portal_app = typer.Typer(help="Portal do devedor: manutenção.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(portal_app, name="portal")


@portal_app.command("purge")
def purge_command(
    attempts_days: Annotated[
        int,
        typer.Option(
            help="Dias de guarda das tentativas de identificação (registro de segurança)."
        ),
    ] = 30,
) -> None:
    """Apaga sessões, códigos e usos de link vencidos e tentativas antigas (LGPD art. 15–16)."""
    from adimple.cli import prepare_database
    from adimple.db.base import utcnow
    from adimple.db.engine import unit_of_work
    from adimple.web.portal.access import purge_expired

    if attempts_days < 1:
        die("--attempts-days: informe ao menos 1 dia (os limites de tentativas usam 30 minutos)")
    prepare_database()
    with unit_of_work() as session:
        counts = purge_expired(session, now=utcnow(), attempts_days=attempts_days)
    print_json({"deleted": counts})
