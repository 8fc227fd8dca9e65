"""The ``adimple`` command line (Typer). Contracts in DESIGN §6 are kept stable."""

from __future__ import annotations

import gc
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from adimple.cadence import cli as cadence_cli
from adimple.cadence import cycle_cli
from adimple.charges import cli as charges_cli
from adimple.kit.console import die, print_json
from adimple.kit.errors import DomainError, ValidationFailed
from adimple.messaging import cli as messaging_cli
from adimple.messaging import templates_cli
from adimple.negotiation import cli as negotiation_cli
from adimple.payments import cli as payments_cli
from adimple.payments import reconcile_cli
from adimple.payments.billing import cli as billing_cli
from adimple.web.portal import cli as portal_cli

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress, TaskID
    from rich.table import Table

app = typer.Typer(
    name="adimple",
    help="Adimple: cobrança de inadimplentes com respeito e dentro da lei.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
tenant_app = typer.Typer(help="Creditors (tenants).", no_args_is_help=True)
apikey_app = typer.Typer(help="API keys for integrators.", no_args_is_help=True)
secrets_app = typer.Typer(
    help="Keys for the credentials stored encrypted (ADIMPLE_ENCRYPTION_KEYS).",
    no_args_is_help=True,
)
app.add_typer(db_app, name="db")
app.add_typer(tenant_app, name="tenant")
app.add_typer(apikey_app, name="apikey")
app.add_typer(secrets_app, name="secrets")
payments_cli.register(app)
charges_cli.register(app)
cadence_cli.register(app)
cycle_cli.register(app)
billing_cli.register(app)
reconcile_cli.register(app)
messaging_cli.register(app)
templates_cli.register(app)
negotiation_cli.register(app)
portal_cli.register(app)


class _LazyConsole:
    """A rich ``Console`` made on first use. ``adimple run`` and the other JSON commands never
    print through rich, and importing it is about a tenth of their start-up (the daily cycle's
    benchmark times the whole command: docs/benchmarks.md, session 15)."""

    def __init__(self, *, stderr: bool = False) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    def console(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(stderr=self._stderr)
        return self._console

    def __getattr__(self, name: str) -> Any:
        return getattr(self.console(), name)


err = _LazyConsole(stderr=True)
out = _LazyConsole()


def _table(title: str) -> Table:
    from rich.table import Table

    return Table(title=title)


TenantOption = Annotated[
    str | None, typer.Option("--tenant", help="Tenant slug (optional when there is only one).")
]


def prepare_database() -> None:
    """Applies migrations to the embedded SQLite default; PostgreSQL needs `adimple db upgrade`."""
    from adimple.db.engine import get_engine
    from adimple.db.migrate import is_current, upgrade

    engine = get_engine()
    if is_current(engine):
        return
    if engine.dialect.name == "sqlite":
        upgrade(engine)
        return
    die("the database schema is not up to date: run `adimple db upgrade`")


@db_app.command("upgrade")
def db_upgrade(revision: str = "head") -> None:
    """Applies the migrations (SQLite or PostgreSQL, same history)."""
    from adimple.db.migrate import current_revision, upgrade

    upgrade(revision=revision)
    out.print(f"database at revision {current_revision()}")


@tenant_app.command("create")
def tenant_create(
    slug: Annotated[str, typer.Option(help="Short name used in URLs and --tenant.")],
    legal_name: Annotated[str, typer.Option(help="Razão social (shown on every document).")],
    document: Annotated[str, typer.Option(help="CNPJ or CPF of the creditor.")],
    address: Annotated[str, typer.Option(help="Street address.")],
    city: Annotated[str, typer.Option()],
    uf: Annotated[str, typer.Option()],
    postal_code: Annotated[str | None, typer.Option()] = None,
    trade_name: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Registers a creditor."""
    from adimple.db.engine import unit_of_work
    from adimple.tenancy import service

    prepare_database()
    try:
        with unit_of_work() as session:
            tenant = service.create_tenant(
                session,
                slug=slug,
                legal_name=legal_name,
                document=document,
                address=address,
                city=city,
                uf=uf,
                postal_code=postal_code,
                trade_name=trade_name,
            )
            print_json({"id": str(tenant.id), "slug": tenant.slug})
    except DomainError as exc:
        _fail(exc)


@tenant_app.command("list")
def tenant_list() -> None:
    from sqlalchemy import select

    from adimple.db.engine import unit_of_work
    from adimple.tenancy.models import Tenant

    prepare_database()
    with unit_of_work() as session:
        rows = session.scalars(select(Tenant).order_by(Tenant.slug)).all()
        print_json(
            [{"slug": t.slug, "legal_name": t.legal_name, "document": t.document} for t in rows]
        )


@secrets_app.command("new-key")
def secrets_new_key(
    derived: Annotated[
        bool,
        typer.Option(
            "--derived",
            help="Print instead the key used while ADIMPLE_ENCRYPTION_KEYS is unset (derived "
            "from ADIMPLE_SECRET_KEY), to list after a new key when moving to keys of your own.",
        ),
    ] = False,
) -> None:
    """Prints a new random key: put it first in ADIMPLE_ENCRYPTION_KEYS, then run `rotate`."""
    from adimple.kit.crypto import generate_key, key_from_secret
    from adimple.settings import get_settings

    print_json({"key": key_from_secret(get_settings().secret_key) if derived else generate_key()})


@secrets_app.command("rotate")
def secrets_rotate() -> None:
    """Re-encrypts every stored secret with the first key of ADIMPLE_ENCRYPTION_KEYS.

    Run it after putting a new key first (the old ones after it); once it has run, the old keys
    can be dropped. One transaction: a secret no key decrypts stops it with nothing changed.
    """
    from adimple.db.engine import get_engine
    from adimple.db.secrets import rotate_secrets
    from adimple.kit.crypto import EncryptionKeysInvalid, SecretUnreadable

    prepare_database()
    try:
        with get_engine().begin() as conn:
            counts = rotate_secrets(conn)
    except (SecretUnreadable, EncryptionKeysInvalid) as exc:
        die(str(exc))
    print_json({"rotated": counts})


@apikey_app.command("create")
def apikey_create(
    tenant: TenantOption = None,
    name: Annotated[str, typer.Option(help="What the key is for.")] = "integration",
) -> None:
    """Creates an API key and prints it once."""
    from adimple.db.engine import unit_of_work
    from adimple.tenancy import service

    prepare_database()
    try:
        with unit_of_work() as session:
            row = _tenant(session, tenant)
            key, token = service.create_api_key(session, tenant_id=row.id, name=name)
            print_json({"prefix": key.prefix, "key": token, "tenant": row.slug})
    except DomainError as exc:
        _fail(exc)


def _tenant(session, slug: str | None):  # type: ignore[no-untyped-def]
    from adimple.tenancy import service

    return service.get_tenant_by_slug(session, slug) if slug else service.default_tenant(session)


def _fail(exc: DomainError) -> None:
    if isinstance(exc, ValidationFailed) and exc.errors:
        for error in exc.errors:
            sys.stderr.write(f"{error}\n")
        die(exc.detail)
    die(exc.detail)


@app.command("import")
def import_command(
    kind: Annotated[str, typer.Argument(help="customers | receivables | payments")],
    file: Annotated[Path, typer.Argument(help="CSV (UTF-8 or Latin-1, ',' or ';') or XLSX.")],
    tenant: TenantOption = None,
    partial: Annotated[
        bool, typer.Option("--partial", help="Write valid rows; rejects go to FILE.rejects.csv.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate and count, write nothing.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Imports a portfolio file: upsert by external id, all-or-nothing by default."""
    from adimple.db.engine import session_factory
    from adimple.portfolio import service
    from adimple.portfolio.import_file import ImportFileError, ImportKind, load

    try:
        import_kind = ImportKind(kind)
    except ValueError:
        die(f"unknown import kind '{kind}': use customers, receivables or payments")
    try:
        validated, detected = load(file, import_kind)
    except ImportFileError as exc:
        die(str(exc))
    err.print(f"{file}: {detected.describe()}", highlight=False, soft_wrap=True)
    header_errors = [e for e in validated.errors if e.line == 1 and e.field == "header"]
    if header_errors:
        for error in header_errors:
            sys.stderr.write(f"{error}\n")
        die(f"{file}: the header does not match the {kind} format (docs/import-format.md)")

    prepare_database()
    session = session_factory()()
    progress = _progress() if validated.frame.height > 10_000 and not as_json else None
    task: TaskID | None = None

    def report(stage: str, done: int, total: int) -> None:
        nonlocal task
        if progress is None:
            return
        if task is None:
            task = progress.add_task("importando", total=total)
        progress.update(task, completed=done, description=stage)

    try:
        if progress:
            progress.start()
        row = _tenant(session, tenant)
        result = service.import_validated(
            session,
            tenant_id=row.id,
            kind=import_kind,
            validated=validated,
            source=str(file),
            actor="cli",
            partial=partial,
            progress=report,
        )
        if progress:
            progress.stop()
        if dry_run:
            session.rollback()
        else:
            session.commit()
    except DomainError as exc:
        if progress:
            progress.stop()
        session.rollback()
        _fail(exc)
    finally:
        session.close()

    rejects_path = None
    if partial and result.errors:
        rejects_path = service.write_rejects(file, validated.raw, result.errors)
        for error in result.errors:
            sys.stderr.write(f"{error}\n")
    summary = result.summary() | {"dry_run": dry_run, "detected": detected.describe()}
    if rejects_path:
        summary["rejects_file"] = str(rejects_path)
    if as_json:
        print_json(summary)
        return
    table = _table(f"Importação de {kind}" + (" (simulação)" if dry_run else ""))
    for label, key in (
        ("linhas", "rows"),
        ("inseridas", "inserted"),
        ("atualizadas", "updated"),
        ("sem alteração", "unchanged"),
        ("rejeitadas", "rejected"),
    ):
        table.add_row(label, str(summary[key]))
    out.print(table)
    if rejects_path:
        out.print(f"rejeitadas gravadas em {rejects_path}")


@app.command("demo")
def demo_command(
    customers: Annotated[int, typer.Option(min=1, help="How many debtors to generate.")] = 500,
    days: Annotated[
        int, typer.Option(min=30, help="How many days of history the portfolio spans.")
    ] = 540,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same portfolio).")] = 42,
    serve: Annotated[
        bool, typer.Option("--serve", help="Start the web server at the end.")
    ] = False,
) -> None:
    """Builds a demo creditor and portfolio in the configured database and summarises it."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from adimple.cadence.cycle import run_day
    from adimple.cadence.library import install_defaults
    from adimple.db.engine import get_engine, unit_of_work
    from adimple.demo import service as demo
    from adimple.kit.i18n import brl, short_date
    from adimple.settings import get_settings
    from adimple.tenancy.service import create_api_key

    settings = get_settings()
    prepare_database()
    today = datetime.now(ZoneInfo(settings.timezone)).date()
    directory = Path("var/demo")
    with err.status("gerando e importando a carteira…"), unit_of_work() as session:
        tenant, results = demo.build(
            session,
            customers=customers,
            seed=seed,
            today=today,
            directory=directory,
            history_days=days,
        )
        _, token = create_api_key(session, tenant_id=tenant.id, name="demo")
        summary = demo.summarize(session, tenant.id, today)
        creditor = f"{tenant.legal_name} — CNPJ {tenant.document}"
        install_defaults(session, tenant_id=tenant.id, actor="demo")
    with err.status("rodando a régua do dia…"):
        cycle = run_day(get_engine(), tenant, today)
    with err.status("enviando pelo canal sandbox (nada sai da máquina)…"):
        sent = _demo_dispatch(tenant.id)
    with unit_of_work() as session:
        portal = demo.portal_access(session, tenant.id, sent)

    imports = _table("Importação (mesmo caminho de `adimple import`)")
    for col in ("arquivo", "linhas", "inseridas", "atualizadas", "sem alteração"):
        imports.add_column(col, justify="right" if col != "arquivo" else "left")
    for result in results:
        imports.add_row(
            result.source,
            f"{result.total:,}".replace(",", "."),
            str(result.inserted),
            str(result.updated),
            str(result.unchanged),
        )
    out.print(imports)
    table = _table(f"Carteira em {short_date(today)} — {creditor}")
    table.add_column("indicador")
    table.add_column("valor", justify="right")
    table.add_row("clientes", str(summary.customers))
    table.add_row("títulos", str(summary.receivables))
    table.add_row("em aberto", f"{summary.open_count} títulos — {brl(summary.open_balance)}")
    table.add_row(
        "vencidos",
        f"{summary.overdue_count} títulos de {summary.overdue_customers} clientes — "
        f"{brl(summary.overdue_balance)}",
    )
    out.print(table)
    aging = _table("Aging dos vencidos")
    aging.add_column("faixa de atraso")
    aging.add_column("títulos", justify="right")
    aging.add_column("saldo", justify="right")
    for label, count, balance in summary.aging:
        aging.add_row(label, str(count), brl(balance))
    out.print(aging)
    _print_cycle(today, cycle.summary, cycle.stats)
    _print_sent(sent)
    out.print(f"Arquivos gerados em {directory}/ (clientes.csv, titulos.csv, pagamentos.csv).")
    out.print(f"Chave de API da demonstração: [bold]{token}[/bold]")
    out.print("Próximos passos:")
    out.print("  adimple serve                      # API em http://127.0.0.1:8000/docs")
    out.print(
        "  adimple debt quote --principal 100.00 --due-date 2026-06-10 --as-of 2026-10-15"
        "   # IPCA shipped up to 2026-09; newer months: adimple indices import"
    )
    out.print("  adimple import receivables var/demo/titulos.csv   # reimportar não altera nada")
    out.print(f"  adimple plan --date {today.isoformat()}          # o plano do dia, em JSON")
    out.print("  adimple outbox list --status sent    # o que o sandbox 'enviou'; outbox show ID")
    if portal is not None:
        from adimple.messaging.render import format_document

        out.print("Portal do devedor (com `adimple serve` rodando), pelo link da mensagem enviada:")
        out.print(f"  {portal.url}", markup=False, highlight=False, soft_wrap=True)
        out.print(
            f"  {portal.name}: CPF/CNPJ {format_document(portal.document)}, "
            f"nascimento {short_date(portal.birth_date)} (o link vale uma vez)"
        )
    if serve:
        serve_command()


@app.command("serve")
def serve_command(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
) -> None:
    """Runs the web app (JSON API at /api/v1, docs at /docs)."""
    import uvicorn

    prepare_database()
    uvicorn.run(
        "adimple.web.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=True,
    )


def _demo_dispatch(tenant_id: Any) -> list[Any]:
    """Runs the dispatcher once over the demo's queue through the sandbox channel.

    Contacts are scheduled inside the debtors' contact windows (a Sunday's go out on Monday
    at 08:00), so the worker's clock is moved to the latest scheduled time of the queue —
    the demo shows what the day's messages look like without waiting for the window.
    """
    from sqlalchemy import func, select

    from adimple.db.engine import get_engine, unit_of_work
    from adimple.messaging.dispatcher import DispatchConfig
    from adimple.messaging.models import OutboxMessage, OutboxStatus
    from adimple.messaging.worker import run_worker, shifted_clock

    with unit_of_work() as session:
        latest = session.scalar(
            select(func.max(OutboxMessage.scheduled_for)).where(
                OutboxMessage.tenant_id == tenant_id,
                OutboxMessage.status == OutboxStatus.QUEUED,
            )
        )
    if latest is None:
        return []
    run_worker(
        get_engine(),
        config=DispatchConfig(tenant_id=tenant_id),
        once=True,
        clock=shifted_clock(latest),
    )
    with unit_of_work() as session:
        return list(
            session.execute(
                select(
                    OutboxMessage.id,
                    OutboxMessage.customer_id,
                    OutboxMessage.channel,
                    OutboxMessage.status,
                    OutboxMessage.address,
                    OutboxMessage.subject,
                    OutboxMessage.body,
                    OutboxMessage.cancel_reason,
                )
                .where(OutboxMessage.tenant_id == tenant_id)
                .order_by(OutboxMessage.scheduled_for, OutboxMessage.address)
            )
        )


def _print_sent(rows: list[Any]) -> None:
    from collections import Counter

    if not rows:
        return
    table = _table("Envio pelo sandbox (adimple worker --once)")
    table.add_column("canal")
    table.add_column("situação")
    table.add_column("mensagens", justify="right")
    counts = Counter((r.channel.value, r.status.value) for r in rows)
    for (channel, status), count in sorted(counts.items()):
        table.add_row(channel, status, str(count))
    out.print(table)
    sample = next((r for r in rows if r.status.value == "sent" and r.body), None)
    if sample is not None:
        text = sample.body if len(sample.body) < 900 else sample.body[:900] + "…"
        title = f"Exemplo ({sample.channel.value} para {sample.address})"
        if sample.subject:
            title += f" — {sample.subject}"
        out.print(f"[bold]{title}[/bold]")
        out.print(text, markup=False, highlight=False)


def _print_cycle(day: date, summary: Any, stats: dict[str, Any]) -> None:
    """What the day's régua decided, for people: contacts by step and channel, tasks, and
    every suppression with its reason."""
    from adimple.kit.i18n import short_date

    table = _table(f"Régua de {short_date(day)}: {stats['contacts']} contatos na fila")
    table.add_column("passo")
    table.add_column("canal")
    table.add_column("contatos", justify="right")
    for (step, channel), count in sorted(summary.contacts.items()):
        table.add_row(step, channel, str(count))
    for (step, action), count in sorted(summary.tasks.items()):
        table.add_row(step, f"tarefa: {action}", str(count))
    out.print(table)
    if stats["suppressed"]:
        reasons = _table("Contatos suprimidos (e por quê)")
        reasons.add_column("motivo")
        reasons.add_column("quantidade", justify="right")
        for reason, count in sorted(stats["suppressed_by_reason"].items()):
            reasons.add_row(reason, str(count))
        out.print(reasons)
    opened = stats["cases"].get("opened", 0)
    out.print(f"Casos de cobrança abertos hoje: {opened}; passos executados: {stats['steps']}.")


def _progress() -> Progress:
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,}"),
        TimeElapsedColumn(),
        console=err.console(),
    )


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:  # pragma: no cover
        sys.exit(130)
    finally:
        # The interpreter's last act is a full garbage collection over every object still
        # alive: SQLAlchemy's mappings and the command's own data, a quarter of a second
        # for `adimple run` (measured: docs/benchmarks.md). Nothing the process still holds
        # needs it: files, connections and pools are closed by reference counting when the
        # modules are torn down, which freezing does not stop.
        gc.freeze()


if __name__ == "__main__":  # pragma: no cover
    main()
