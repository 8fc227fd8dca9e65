"""CLI: ``adimple billing settings|show|register-webhook``, ``adimple charge instructions|
boleto-pdf`` and ``adimple psp-testserver`` (JSON on stdout and exit 0, or one line on stderr
and exit 2 — DESIGN §6)."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from pydantic import ValidationError

from adimple.kit.console import die, print_json
from adimple.kit.errors import DomainError

billing_app = typer.Typer(help="Boleto/PIX settings of a tenant.", no_args_is_help=True)
charge_app = typer.Typer(help="Boleto and PIX of one receivable.", no_args_is_help=True)

TenantOpt = Annotated[
    str | None, typer.Option("--tenant", help="Tenant slug (optional when there is only one).")
]
AsOfOpt = Annotated[
    str | None, typer.Option("--as-of", help="Reading date YYYY-MM-DD (default: today).")
]


def register(app: typer.Typer) -> None:
    """Mounts ``billing``, ``charge`` and ``psp-testserver`` on the main ``adimple`` app."""
    app.add_typer(billing_app, name="billing")
    app.add_typer(charge_app, name="charge")
    app.command("psp-testserver", help="Local PSP (API Pix subset) for tests and the demo.")(
        psp_testserver
    )


def _prepare() -> None:
    from adimple.cli import prepare_database

    prepare_database()


def read_settings_file(path: Path) -> Any:
    """Parses and validates a settings file (YAML or JSON); DomainError with a clear reason."""
    import yaml

    from adimple.charges.policy import format_validation_error
    from adimple.payments.billing.schemas import BillingSettingsInput

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DomainError(f"{path}: {exc.strerror or exc}") from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise DomainError(f"{path}: documento ilegível: {' '.join(str(exc).split())}") from None
    if not isinstance(data, dict):
        raise DomainError(f"{path}: o documento deve ser um objeto (boleto, pix, psp)")
    try:
        return BillingSettingsInput.model_validate(data)
    except ValidationError as exc:
        raise DomainError(f"{path}: {format_validation_error(exc)}") from None


def _as_of(text: str | None, tz: str) -> date:
    if text is None:
        return datetime.now(ZoneInfo(tz)).date()
    try:
        return date.fromisoformat(text)
    except ValueError:
        die(f"--as-of must be a date YYYY-MM-DD, got {text!r}")


@billing_app.command("settings")
def billing_settings(
    file: Annotated[Path, typer.Option("--file", help="Settings document (YAML or JSON).")],
    tenant: TenantOpt = None,
) -> None:
    """Imports the tenant's boleto/PIX/PSP settings (validated; secrets are not printed)."""
    from adimple.charges.service import find_tenant
    from adimple.db.engine import unit_of_work
    from adimple.payments.billing import service

    try:
        document = read_settings_file(file)
        _prepare()
        with unit_of_work() as session:
            row = find_tenant(session, slug=tenant)
            saved = service.save_settings(session, tenant_id=row.id, document=document, actor="cli")
            print_json(service.settings_read(saved).model_dump(mode="json"))
    except DomainError as exc:
        die(exc.detail)


@billing_app.command("show")
def billing_show(tenant: TenantOpt = None) -> None:
    """Prints the tenant's settings (never the PSP client secret)."""
    from adimple.charges.service import find_tenant
    from adimple.db.engine import unit_of_work
    from adimple.payments.billing import service

    try:
        _prepare()
        with unit_of_work() as session:
            row = find_tenant(session, slug=tenant)
            found = service.get_settings(session, tenant_id=row.id)
            print_json(service.settings_read(found).model_dump(mode="json"))
    except DomainError as exc:
        die(exc.detail)


@billing_app.command("register-webhook")
def billing_register_webhook(tenant: TenantOpt = None) -> None:
    """Registers psp.webhook_url at the PSP for the tenant's Pix key (PUT /v2/webhook/{chave})."""
    from adimple.charges.service import find_tenant
    from adimple.db.engine import unit_of_work
    from adimple.payments.billing import service

    try:
        _prepare()
        with unit_of_work() as session:
            row = find_tenant(session, slug=tenant)
            print_json(service.register_webhook(session, tenant_id=row.id, actor="cli"))
    except DomainError as exc:
        die(exc.detail)


def _receivable_id(session: Any, tenant_id: Any, external_id: str) -> Any:
    from adimple.portfolio.service import get_receivable_by_external_id

    return get_receivable_by_external_id(session, tenant_id=tenant_id, external_id=external_id).id


@charge_app.command("instructions")
def charge_instructions(
    external_id: Annotated[str, typer.Argument(help="The receivable's external id.")],
    tenant: TenantOpt = None,
    as_of: AsOfOpt = None,
) -> None:
    """Boleto and PIX of a receivable as JSON (issued once, reused while valid)."""
    from adimple.charges.service import find_tenant
    from adimple.db.engine import unit_of_work
    from adimple.payments.billing import service

    try:
        _prepare()
        with unit_of_work() as session:
            row = find_tenant(session, slug=tenant)
            found = service.payment_instructions(
                session,
                tenant_id=row.id,
                receivable_id=_receivable_id(session, row.id, external_id),
                as_of=_as_of(as_of, row.timezone),
            )
            print_json(found.as_contract())
    except DomainError as exc:
        die(exc.detail)


@charge_app.command("boleto-pdf")
def charge_boleto_pdf(
    external_id: Annotated[str, typer.Argument(help="The receivable's external id.")],
    out: Annotated[Path, typer.Option("--out", help="PDF file to write.")],
    tenant: TenantOpt = None,
    as_of: AsOfOpt = None,
) -> None:
    """Writes the receivable's boleto as PDF (with the PIX QR when PIX is configured)."""
    from adimple.charges.service import find_tenant
    from adimple.db.engine import unit_of_work
    from adimple.payments.billing import service

    try:
        _prepare()
        with unit_of_work() as session:
            row = find_tenant(session, slug=tenant)
            rid = _receivable_id(session, row.id, external_id)
            pdf = service.boleto_pdf(
                session, tenant_id=row.id, receivable_id=rid, as_of=_as_of(as_of, row.timezone)
            )
    except DomainError as exc:
        die(exc.detail)
    try:
        out.write_bytes(pdf)
    except OSError as exc:
        die(f"{out}: {exc.strerror or exc}")
    print_json({"out": str(out), "bytes": len(pdf)})


def psp_testserver(
    port: Annotated[int, typer.Option(help="TCP port.")] = 8787,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    client_id: Annotated[str, typer.Option(help="OAuth client id it accepts.")] = "adimple-test",
    client_secret: Annotated[
        str, typer.Option(help="OAuth client secret it accepts.")
    ] = "adimple-test-secret",
) -> None:
    """Runs the local PSP in the foreground (API Pix cobv subset + /_test/cobv/{txid}/pay)."""
    from adimple.payments.psp.testserver import run_forever

    typer.echo(
        f"PSP de teste em http://{host}:{port} (client_id={client_id}); "
        f"pague com POST /_test/cobv/{{txid}}/pay",
        err=True,
    )
    run_forever(host=host, port=port, client_id=client_id, client_secret=client_secret)
