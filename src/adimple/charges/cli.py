"""CLI for debt updates and offers: ``adimple debt quote``, ``adimple offers``, ``adimple indices``,
``adimple policy`` (contracts in DESIGN §6: JSON on stdout and exit 0, or one line on stderr and
exit 2 on invalid input).

``debt quote`` and ``offers`` need no database: they use the packaged index series and the
``--policy`` file (or the default policy). ``--db`` lays the index values imported into the
database over the packaged ones.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal
from zoneinfo import ZoneInfo

import typer

from adimple.kit.console import die, print_json
from adimple.kit.errors import DomainError
from adimple.kit.money import AmountError, parse_amount

if TYPE_CHECKING:
    # The debt calculator and the policy models are imported by the commands that use them:
    # every `adimple` command loads this module, `adimple run` included.
    from adimple.charges.indices import IndexBook, IndexSeries, SeriesName
    from adimple.charges.policy import Policy

debt_app = typer.Typer(help="Debt update (multa, juros, correção).", no_args_is_help=True)
indices_app = typer.Typer(help="Index series (IPCA, SELIC, taxa legal).", no_args_is_help=True)
policy_app = typer.Typer(help="Collection policy of a tenant (YAML/JSON).", no_args_is_help=True)

DebtorKind = Literal["consumer", "business"]

PrincipalOpt = Annotated[str, typer.Option("--principal", help="Valor da parcela, ex. 1234.56.")]
DueDateOpt = Annotated[str, typer.Option("--due-date", help="Vencimento (AAAA-MM-DD).")]
AsOfOpt = Annotated[
    str | None, typer.Option("--as-of", help="Data do pagamento (AAAA-MM-DD); padrão: hoje.")
]
PolicyOpt = Annotated[
    Path | None, typer.Option("--policy", help="Arquivo da política (YAML ou JSON).")
]
DebtorOpt = Annotated[
    str,
    typer.Option("--debtor-kind", help="consumer (CPF ou consumidor) ou business."),
]
ExplainOpt = Annotated[bool, typer.Option("--explain", help="Inclui as explicações em português.")]
DbOpt = Annotated[
    bool,
    typer.Option("--db", help="Usa também os índices importados no banco de dados."),
]


def register(app: typer.Typer) -> None:
    """Adds ``debt``, ``offers``, ``indices`` and ``policy`` to the main ``adimple`` app."""
    app.add_typer(debt_app, name="debt")
    app.command("offers", help="Propostas de acordo: à vista e parcelado.")(offers_command)
    app.add_typer(indices_app, name="indices")
    app.add_typer(policy_app, name="policy")


# --- debt quote and offers (no database needed) -----------------------------------------------


@debt_app.command("quote")
def quote_command(
    principal: PrincipalOpt,
    due_date: DueDateOpt,
    as_of: AsOfOpt = None,
    policy_file: PolicyOpt = None,
    debtor_kind: DebtorOpt = "consumer",
    contract_rate: Annotated[
        str | None,
        typer.Option(
            "--contract-rate",
            help="Taxa mensal do contrato (%) para abater juros não decorridos (CDC art. 52 §2).",
        ),
    ] = None,
    explain: ExplainOpt = False,
    use_db: DbOpt = False,
) -> None:
    """Atualiza uma parcela: correção, multa, juros, taxas e total."""
    from adimple.charges.calculator import quote_installment

    with _contract_errors():
        rate = _decimal(contract_rate, "--contract-rate") if contract_rate else None
        quote = quote_installment(
            principal=_amount(principal),
            due_date=_date(due_date, "--due-date"),
            as_of=_date(as_of, "--as-of") if as_of else _today(),
            policy=_policy(policy_file),
            consumer=_consumer(debtor_kind),
            indices=_indices(use_db),
            early_payoff_monthly_percent=rate,
        )
        print_json(quote.as_contract(explain=explain))


def offers_command(
    principal: PrincipalOpt,
    due_date: DueDateOpt,
    as_of: AsOfOpt = None,
    policy_file: PolicyOpt = None,
    debtor_kind: DebtorOpt = "consumer",
    explain: ExplainOpt = False,
    use_db: DbOpt = False,
) -> None:
    """Propostas para uma parcela: à vista com desconto e parcelamentos pela política."""
    from adimple.charges.offers import offers_for_installment

    with _contract_errors():
        offers = offers_for_installment(
            principal=_amount(principal),
            due_date=_date(due_date, "--due-date"),
            as_of=_date(as_of, "--as-of") if as_of else _today(),
            policy=_policy(policy_file),
            consumer=_consumer(debtor_kind),
            indices=_indices(use_db),
        )
        print_json({"offers": [offer.as_contract(explain=explain) for offer in offers]})


# --- indices ----------------------------------------------------------------------------------


@indices_app.command("show")
def indices_show(
    series: Annotated[
        str | None, typer.Option("--series", help="IPCA, SELIC, IPCA15 ou TAXA_LEGAL.")
    ] = None,
    since: Annotated[str | None, typer.Option("--from", help="Primeiro mês (AAAA-MM).")] = None,
) -> None:
    """Mostra uma série (ou a cobertura de todas), com a fonte de cada valor."""
    from adimple.charges.indices import SeriesName, check_month, parse_series_name

    with _contract_errors():
        first = check_month(since) if since else None
        names = [parse_series_name(series)] if series else list(SeriesName)
        loaded = _load_series(names)
        if series:
            only = loaded[0]
            print_json(
                {
                    "series": only.name.value,
                    "first": only.first_month,
                    "last": only.last_month,
                    "values": [
                        {"month": p.month, "percent": str(p.percent), "source": p.source}
                        for p in only.sorted_points(first)
                    ],
                }
            )
            return
        print_json(
            {
                "series": [
                    {
                        "series": s.name.value,
                        "first": s.first_month,
                        "last": s.last_month,
                        "months": len(s),
                    }
                    for s in loaded
                ]
            }
        )


@indices_app.command("import")
def indices_import(
    file: Annotated[Path, typer.Argument(help="CSV (month,percent[,source]) ou JSON do SGS.")],
    series: Annotated[
        str | None,
        typer.Option(
            "--series",
            help="IPCA, SELIC, IPCA15 ou TAXA_LEGAL (padrão: deduzida do nome do arquivo).",
        ),
    ] = None,
) -> None:
    """Importa valores novos ou corrigidos de uma série para o banco de dados."""
    from adimple.charges import service
    from adimple.charges.indices import parse_series_name
    from adimple.db.engine import unit_of_work

    with _contract_errors():
        name = parse_series_name(series) if series else _series_from_file_name(file)
        with unit_of_work() as session:
            result = service.import_index_file(session, file, series=name)
        print_json(result)


def _series_from_file_name(file: Path) -> SeriesName:
    """``ipca_monthly.csv`` → IPCA, ``taxa_legal_2026.csv`` → TAXA_LEGAL, etc."""
    from adimple.charges.indices import SeriesName

    stem = file.name.lower().replace("-", "_")
    for prefix, name in (
        ("taxa_legal", SeriesName.TAXA_LEGAL),
        ("ipca15", SeriesName.IPCA15),
        ("ipca_15", SeriesName.IPCA15),
        ("selic", SeriesName.SELIC),
        ("ipca", SeriesName.IPCA),
    ):
        if stem.startswith(prefix):
            return name
    die(f"{file.name}: informe a série com --series (IPCA, SELIC, IPCA15 ou TAXA_LEGAL)")


# --- policy -----------------------------------------------------------------------------------


@policy_app.command("export")
def policy_export(
    tenant: Annotated[str | None, typer.Option("--tenant", help="Slug do credor.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="json ou yaml.")] = "json",
) -> None:
    """Exporta a política ativa do credor (ou a política padrão, sem --tenant)."""
    from adimple.charges.policy import DEFAULT_POLICY, dump_policy

    with _contract_errors():
        if fmt not in ("json", "yaml"):
            die("--format deve ser json ou yaml")
        policy = DEFAULT_POLICY
        if tenant is not None:
            from adimple.charges import service
            from adimple.db.engine import unit_of_work

            with unit_of_work() as session:
                found = service.find_tenant(session, slug=tenant)
                policy = service.get_active_policy(session, tenant_id=found.id)
        typer.echo(dump_policy(policy, "yaml" if fmt == "yaml" else "json"), nl=False)


@policy_app.command("import")
def policy_import(
    file: Annotated[Path, typer.Argument(help="Política em YAML ou JSON.")],
    tenant: Annotated[str | None, typer.Option("--tenant", help="Slug do credor.")] = None,
    actor: Annotated[str, typer.Option("--actor", help="Quem fez a alteração.")] = "cli",
) -> None:
    """Grava uma nova versão da política do credor."""
    from adimple.charges import service
    from adimple.db.engine import unit_of_work

    with _contract_errors():
        policy = _policy(file)
        with unit_of_work() as session:
            found = service.find_tenant(session, slug=tenant)
            record = service.save_policy(session, tenant_id=found.id, document=policy, actor=actor)
            result = {"tenant": found.slug, "version": record.version}
        print_json(result)


@policy_app.command("validate")
def policy_validate(
    file: Annotated[Path, typer.Argument(help="Política em YAML ou JSON.")],
) -> None:
    """Valida um arquivo de política sem gravá-lo (mesmas regras da importação)."""
    from adimple.charges.policy import policy_warnings, validate_for_tenant

    with _contract_errors():
        policy = _policy(file)
        validate_for_tenant(policy)
        print_json({"valid": True, "name": policy.name, "warnings": policy_warnings(policy)})


# --- helpers ----------------------------------------------------------------------------------


@contextmanager
def _contract_errors() -> Iterator[None]:
    """Domain and input errors → one stderr line, exit 2 (DESIGN §6)."""
    from sqlalchemy.exc import SQLAlchemyError

    try:
        yield
    except DomainError as exc:
        die(exc.detail)
    except (OSError, UnicodeDecodeError) as exc:
        die(f"arquivo ilegível: {exc}")
    except SQLAlchemyError as exc:
        die(
            "banco de dados indisponível ou desatualizado (rode 'adimple db upgrade'): "
            f"{type(exc).__name__}"
        )


def _amount(text: str) -> Decimal:
    try:
        return parse_amount(text)
    except AmountError:
        die(f"--principal: valor inválido '{text}'")


def _decimal(text: str, option: str) -> Decimal:
    try:
        return parse_amount(text)
    except AmountError:
        die(f"{option}: número inválido '{text}'")


def _date(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        die(f"{option}: data inválida '{text}' (use AAAA-MM-DD)")


def _today() -> date:
    return datetime.now(ZoneInfo("America/Sao_Paulo")).date()


def _consumer(kind: str) -> bool:
    if kind not in ("consumer", "business"):
        die(f"--debtor-kind deve ser consumer ou business, não '{kind}'")
    return kind == "consumer"


def _policy(path: Path | None) -> Policy:
    from adimple.charges.policy import DEFAULT_POLICY, load_policy_text

    if path is None:
        return DEFAULT_POLICY
    text = path.read_text(encoding="utf-8")
    return load_policy_text(text, fmt="json" if path.suffix.lower() == ".json" else "yaml")


def _indices(use_db: bool) -> IndexBook:
    from adimple.charges.indices import IndexBook

    if not use_db:
        return IndexBook.packaged()
    from adimple.charges import service
    from adimple.db.engine import unit_of_work

    with unit_of_work() as session:
        return service.load_index_book(session)


def _load_series(names: list[SeriesName]) -> list[IndexSeries]:
    """Packaged values overlaid with the database's when a database is there to read."""
    from sqlalchemy.exc import SQLAlchemyError

    from adimple.charges.indices import packaged_series

    if _database_present():
        from adimple.charges import service
        from adimple.db.engine import unit_of_work

        try:
            with unit_of_work() as session:
                return [service.load_index_series(session, name) for name in names]
        except SQLAlchemyError:
            pass  # no database or not migrated yet: the packaged series still answer
    return [packaged_series(name) for name in names]


def _database_present() -> bool:
    """False for a SQLite file that does not exist yet (never create one just to read)."""
    from sqlalchemy.engine import make_url

    from adimple.settings import get_settings

    url = make_url(get_settings().database_url)
    if url.get_backend_name() != "sqlite":
        return True
    database = url.database or ""
    return database not in ("", ":memory:") and Path(database).exists()
