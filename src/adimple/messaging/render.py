"""Rendering an outbox row into the message a channel sends, with the legal content checks.

Every collection message must carry (and rendering fails with :class:`RenderError` naming the
missing element otherwise):

- the creditor identification — name, CPF/CNPJ, and address or a link to it (CDC art. 42-A);
- the amount, itemised per receivable by the charges service as of today (e-mail and letter
  list every receivable's updated total; SMS and WhatsApp the total);
- a portal link: each sent message carries its own signed, expiring, single-use
  ``{base_url}/portal/l/{token}`` (web/portal/links.py); previews show the creditor's landing page
  ``{base_url}/portal/{tenant slug}``. The portal pages show the creditor's full identification,
  so for SMS and WhatsApp the link doubles as "a link to the address";
- an opt-out instruction: a signed ``{base_url}/optout/{token}`` link for e-mail and letters,
  "responda SAIR" for SMS and WhatsApp.

Templates are tenant-editable, so they run in Jinja2's ``SandboxedEnvironment`` with
``StrictUndefined`` (a misspelt variable is an error, not an empty string); HTML is autoescaped.
Filters ``brl`` (R$ 1.234,56) and ``data`` (22/11/2026) come from :mod:`adimple.kit.i18n`.
The variables are documented in ``docs/messaging.md``.

When an index month the update needs is not published yet, the amount falls back to the update
without correção (and, failing that, to the open balance) and the message says "valor sujeito a
atualização" rather than failing the send.
"""

from __future__ import annotations

import html as html_lib
import re
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from functools import lru_cache
from importlib import resources
from types import SimpleNamespace
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from jinja2 import Environment, StrictUndefined, TemplateError, TemplateSyntaxError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session

from adimple.charges.calculator import Quote, quote_with_fallback
from adimple.charges.indices import IndexBook
from adimple.charges.offers import DebtBase, build_offers
from adimple.charges.policy import Policy
from adimple.db.dialect import one_of
from adimple.kit.errors import DomainError, NotFound
from adimple.kit.i18n import short_date
from adimple.kit.money import ZERO
from adimple.messaging.channels.base import OutgoingMessage
from adimple.messaging.models import OutboxMessage, OutboxReceivable
from adimple.messaging.optout import optout_url
from adimple.messaging.sms import SmsInfo, prepare
from adimple.messaging.templates import WHATSAPP_PLACEHOLDER, TemplateSpec, get_template
from adimple.portfolio.models import Channel, Customer, Receivable, ReceivableStatus
from adimple.settings import get_settings
from adimple.tenancy.models import Tenant
from adimple.web.portal.links import portal_link_url

PENDING_UPDATE_NOTICE = "valor sujeito a atualização"
BUREAU_WAITING_DAYS = 10  # DESIGN §5: negativação only after the notice's waiting period
OFFER_INSTALLMENTS = (1, 3, 6, 12)  # the plans a message shows; the portal shows them all
OPTOUT_SMS = "Para nao receber mais SMS, responda SAIR."
OPTOUT_WHATSAPP = "Para não receber mais mensagens por aqui, responda SAIR."


class RenderError(DomainError):
    """A message that cannot be rendered as the law asks (HTTP 422, the reason in pt-BR)."""

    status_code = 422
    title = "Mensagem incompleta"


class NothingToCollect(RenderError):
    """Every receivable the message was about is settled: cancel it, do not send it."""

    status_code = 409
    title = "Nada a cobrar"


# --- Jinja2 environments ---------------------------------------------------------------------


def _data(value: date | datetime) -> str:
    return short_date(value.date() if isinstance(value, datetime) else value)


def fast_brl(value: Decimal) -> str:
    """``R$ 1.234,56`` exactly as :func:`adimple.kit.i18n.brl` (Babel, pt_BR) writes it.

    Babel's currency formatting was a third of a render (~40 calls per e-mail); this is the
    same pt-BR pattern (``¤ #,##0.00``, no-break space, ``-`` before the symbol) done by hand,
    checked against Babel by a property test.
    """
    amount = Decimal(value).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
    sign = "-" if amount < 0 else ""
    units, _, cents = f"{abs(amount):.2f}".partition(".")
    grouped = f"{int(units):,}".replace(",", ".")
    return f"{sign}R$\xa0{grouped},{cents}"


def _brl(value: Decimal | int | str) -> str:
    return fast_brl(Decimal(value))


MAX_TEMPLATE_RANGE = 1_000  # loops over more items than this are not a message
MAX_REPEAT = 10_000  # "x" * n, [..] * n
MAX_EXPONENT = 100


class _TemplateSandbox(SandboxedEnvironment):
    """Jinja2's sandbox (no attribute escapes) plus limits on the cheap denials of service a
    tenant-written template could otherwise trigger: ``9 ** 9 ** 9``, ``"x" * 10 ** 9`` and
    loops over huge ranges."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        numeric = isinstance(right, int | float | Decimal)
        if operator == "**" and numeric and abs(right) > MAX_EXPONENT:
            raise SecurityError(f"expoente acima de {MAX_EXPONENT} num modelo")
        if operator == "*":
            for seq, count in ((left, right), (right, left)):
                repeated = isinstance(seq, str | list | tuple) and isinstance(count, int)
                if repeated and (count > MAX_REPEAT or len(seq) * count > 1_000_000):
                    raise SecurityError("repetição grande demais num modelo")
        return super().call_binop(context, operator, left, right)


def _safe_range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_TEMPLATE_RANGE:
        raise SecurityError(f"range() com mais de {MAX_TEMPLATE_RANGE} itens num modelo")
    return numbers


def _environment(*, autoescape: bool) -> SandboxedEnvironment:
    env = _TemplateSandbox(
        undefined=StrictUndefined, autoescape=autoescape, keep_trailing_newline=False
    )
    env.filters["brl"] = _brl
    env.filters["data"] = _data
    env.globals["range"] = _safe_range
    return env


TEXT_ENV = _environment(autoescape=False)
HTML_ENV = _environment(autoescape=True)
_LAYOUT_ENV = Environment(undefined=StrictUndefined, autoescape=True)
_LAYOUT_ENV.filters["brl"] = _brl
_LAYOUT_ENV.filters["data"] = _data


@lru_cache(maxsize=512)
def _compiled(source: str, autoescape: bool) -> Any:
    return (HTML_ENV if autoescape else TEXT_ENV).from_string(source)


@lru_cache(maxsize=512)
def _expression(source: str) -> Any:
    return TEXT_ENV.compile_expression(source, undefined_to_none=False)


@lru_cache(maxsize=1)
def _letter_layout() -> Any:
    folder = resources.files("adimple.messaging").joinpath("templates")
    source = folder.joinpath("letter_layout.html").read_text(encoding="utf-8")
    return _LAYOUT_ENV.from_string(source)


def syntax_error(text: str, *, expression: bool = False) -> tuple[int | None, str] | None:
    """``(line, reason)`` when ``text`` is not a valid template (or expression), else None."""
    try:
        if expression:
            TEXT_ENV.compile_expression(text)
        else:
            TEXT_ENV.parse(text)
    except TemplateSyntaxError as exc:
        return exc.lineno, f"erro de sintaxe no modelo: {exc.message}"
    return None


# --- per-process caches ----------------------------------------------------------------------

CACHE_SECONDS = 60.0
_cache: dict[tuple[Any, ...], tuple[float, Any]] = {}
_cache_lock = threading.Lock()


def clear_caches() -> None:
    """Drops the cached index series and templates (tests; after an index import)."""
    with _cache_lock:
        _cache.clear()


def _cached(key: tuple[Any, ...], load: Callable[[], Any]) -> Any:
    """``load()`` at most once per ``CACHE_SECONDS`` per key (per process)."""
    now = time.monotonic()
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
    value = load()
    with _cache_lock:
        _cache[key] = (now + CACHE_SECONDS, value)
    return value


@dataclass
class Pricing:
    """A tenant's policy and the index series, with the quotes computed under them.

    Index values change once a month (an import) and a policy rarely: re-reading them per
    message was waste, and so is recomputing the same installment's update (the calculator
    writes pt-BR explanations for every quote). A change is seen within CACHE_SECONDS.
    """

    policy: Policy
    book: IndexBook
    quotes: dict[tuple[Any, ...], tuple[Quote | None, bool]] = field(default_factory=dict)

    def quote(
        self, principal: Decimal, due: date, as_of: date, consumer: bool
    ) -> tuple[Quote | None, bool]:
        """The quote (None: not even the balance-only fallback worked) and whether it fell
        back to a simpler policy."""
        key = (principal, due, as_of, consumer)
        if key not in self.quotes:
            if len(self.quotes) > 100_000:
                self.quotes.clear()
            self.quotes[key] = quote_with_fallback(
                principal, due, as_of, consumer, self.policy, self.book
            )
        return self.quotes[key]


def _pricing(session: Session, tenant_id: uuid.UUID) -> Pricing:
    from adimple.charges.service import pricing

    def load() -> Pricing:
        return Pricing(*pricing(session, tenant_id=tenant_id))

    cached: Pricing = _cached(("pricing", id(session.get_bind()), tenant_id), load)
    return cached


def _template(
    session: Session, *, tenant_id: uuid.UUID, name: str, channel: Channel
) -> TemplateSpec:
    # A template saved in another process applies within CACHE_SECONDS; one saved in this
    # process drops its tenant's entries at once (templates.save_template).
    key = ("template", id(session.get_bind()), tenant_id, name, channel)
    return _cached(
        key, lambda: get_template(session, tenant_id=tenant_id, name=name, channel=channel)
    )


def forget_tenant_templates(tenant_id: uuid.UUID) -> None:
    with _cache_lock:
        for key in [k for k in _cache if k[0] == "template" and k[2] == tenant_id]:
            del _cache[key]


# --- context ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DebtLine:
    """One receivable, updated as of today (or its balance when the update fell back)."""

    receivable_id: uuid.UUID | None
    descricao: str
    vencimento: date
    dias_atraso: int
    valor_original: Decimal
    correcao: Decimal
    multa: Decimal
    juros: Decimal
    honorarios: Decimal
    total: Decimal
    pending_update: bool = False

    def as_context(self) -> dict[str, Any]:
        return {
            "descricao": self.descricao,
            "vencimento": self.vencimento,
            "dias_atraso": self.dias_atraso,
            "valor_original": self.valor_original,
            "correcao": self.correcao,
            "multa": self.multa,
            "juros": self.juros,
            "honorarios": self.honorarios,
            "encargos": self.multa + self.juros + self.honorarios,
            "total": self.total,
        }


@dataclass(frozen=True)
class Facts:
    """What the checks look for in the output, derived from the same data as the context."""

    legal_name: str
    document: str
    address: str
    creditor_link: str
    portal_url: str
    optout_url: str
    optout_instruction: str
    total: str
    item_totals: tuple[str, ...]


@dataclass
class Rendered:
    """A rendered template: what the channel sends and what a person previews."""

    channel: Channel
    subject: str | None
    text: str
    html: str | None
    template_params: list[str] = field(default_factory=list)
    whatsapp_template_name: str | None = None
    whatsapp_language: str | None = None
    sms: SmsInfo | None = None
    sms_text: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    pending_update: bool = False
    total: Decimal = ZERO
    optout_url: str = ""


def format_document(value: str) -> str:
    from adimple.payments.boleto.pdf import format_tax_id

    return format_tax_id(value)


def _format_postal_code(value: str | None) -> str:
    digits = re.sub(r"\D", "", value or "")
    return f"{digits[:5]}-{digits[5:]}" if len(digits) == 8 else (value or "")


def creditor_address(tenant: Any) -> str:
    parts = [tenant.address.strip()] if tenant.address and tenant.address.strip() else []
    city = ", ".join(p for p in [tenant.city, tenant.uf] if p)
    if tenant.city and tenant.uf:
        city = f"{tenant.city}/{tenant.uf}"
    if city:
        parts.append(city)
    if tenant.postal_code:
        parts.append(f"CEP {_format_postal_code(tenant.postal_code)}")
    return ", ".join(parts)


def check_creditor(tenant: Any) -> None:
    """CDC art. 42-A: the tenant must have a name, a CPF/CNPJ and an address on file."""
    for attr, label in (
        ("legal_name", "nome/razão social"),
        ("document", "CPF/CNPJ"),
        ("address", "endereço"),
        ("city", "cidade do endereço"),
    ):
        value = getattr(tenant, attr, None)
        if not value or not str(value).strip():
            raise RenderError(
                f"CDC art. 42-A: identificação do credor incompleta ({label} ausente)",
                element="creditor",
            )


@dataclass(frozen=True)
class _Creditor:
    """The creditor's part of every message's context, the same in each of its messages."""

    name: str
    trade_name: str
    document: str
    address: str
    identification: str
    landing: str  # the creditor's portal page (previews; a sent message has its own link)


@lru_cache(maxsize=256)
def _creditor(
    legal_name: str | None,
    document: str | None,
    address: str | None,
    city: str | None,
    uf: str | None,
    postal_code: str | None,
    trade_name: str | None,
    slug: str,
    base_url: str,
) -> _Creditor:
    """Built once per distinct set of the tenant's values (the key *is* those values, so an
    edited tenant simply gets a new entry; a tenant failing :func:`check_creditor` raises,
    which is not remembered). Formatting the document and the address and checking them was
    a tenth of a render in the dispatcher, identical for every message of a creditor."""
    tenant = SimpleNamespace(
        legal_name=legal_name,
        document=document,
        address=address,
        city=city,
        uf=uf,
        postal_code=postal_code,
        slug=slug,
    )
    check_creditor(tenant)
    assert legal_name is not None and document is not None  # check_creditor
    name = legal_name.strip()
    formatted = format_document(document)
    where = creditor_address(tenant)
    return _Creditor(
        name=name,
        trade_name=(trade_name or name).strip(),
        document=formatted,
        address=where,
        identification=f"{name}, CNPJ/CPF {formatted}, {where}",
        landing=portal_url_for(tenant, base_url),
    )


def creditor_of(tenant: Any, base_url: str | None = None) -> _Creditor:
    """The creditor's part of a message (memoised on the tenant's values); raises
    :class:`RenderError` as :func:`check_creditor` does."""
    return _creditor(
        tenant.legal_name,
        tenant.document,
        tenant.address,
        tenant.city,
        tenant.uf,
        tenant.postal_code,
        tenant.trade_name,
        tenant.slug,
        # Part of the key: a changed setting (tests) is not served from an old entry.
        base_url or get_settings().base_url,
    )


def portal_url_for(tenant: Any, base_url: str | None = None) -> str:
    base = (base_url or get_settings().base_url).rstrip("/")
    return f"{base}/portal/{tenant.slug}"


def build_context(
    tenant: Any,
    *,
    customer_id: uuid.UUID,
    customer_name: str,
    channel: Channel,
    lines: list[DebtLine],
    today: date,
    payments: list[dict[str, Any]] | None = None,
    offers: list[dict[str, Any]] | None = None,
    bureau_eligible_on: date | None = None,
    recipient_address: str | None = None,
    base_url: str | None = None,
    portal_link: str | None = None,
    creditor: _Creditor | None = None,
) -> tuple[dict[str, Any], Facts]:
    """The template variables (pt-BR names, documented in docs/messaging.md) and the facts.

    ``portal_link`` is the message's own signed, single-use link (web/portal/links.py); previews
    and samples get the creditor's portal landing page instead. ``creditor``: the tenant's
    :func:`creditor_of` when the caller has it already.
    """
    if creditor is None:
        creditor = creditor_of(tenant, base_url)
    portal = portal_link or creditor.landing
    opt_url = optout_url(tenant.id, customer_id, channel, base_url=base_url)
    if channel is Channel.SMS:
        instruction = OPTOUT_SMS
    elif channel is Channel.WHATSAPP:
        instruction = OPTOUT_WHATSAPP
    elif channel is Channel.LETTER:
        instruction = f"Para não receber mais cartas de cobrança, acesse {opt_url}"
    else:
        instruction = f"Para não receber mais e-mails de cobrança, acesse {opt_url}"
    document, address, name = creditor.document, creditor.address, creditor.name
    first_name = customer_name.strip().split(" ")[0].title() if customer_name.strip() else ""
    total = sum((line.total for line in lines), ZERO)
    pending = any(line.pending_update for line in lines)
    oldest = min((line.vencimento for line in lines), default=today)
    context: dict[str, Any] = {
        "cliente": {"nome": customer_name.strip(), "primeiro_nome": first_name},
        "credor": {
            "nome": name,
            "nome_fantasia": creditor.trade_name,
            "documento": document,
            "endereco": address,
            "cidade": tenant.city,
            "uf": tenant.uf,
            "link": portal,
            "email": tenant.contact_email or "",
            "telefone": tenant.contact_phone or "",
            "identificacao": creditor.identification,
        },
        "titulos": [line.as_context() for line in lines],
        "quantidade_titulos": len(lines),
        "total": total,
        "total_original": sum((line.valor_original for line in lines), ZERO),
        "total_encargos": sum(
            (line.correcao + line.multa + line.juros + line.honorarios for line in lines), ZERO
        ),
        "total_honorarios": sum((line.honorarios for line in lines), ZERO),
        "vencimento": oldest,
        "dias_atraso": max((line.dias_atraso for line in lines), default=0),
        "hoje": today,
        "portal_url": portal,
        "optout_url": opt_url,
        "optout_instrucao": instruction,
        "pagamentos": payments or [],
        "pagamento": payments[0] if payments and len(payments) == 1 else None,
        "ofertas": offers or [],
        "atualizacao_pendente": pending,
        "aviso_atualizacao": PENDING_UPDATE_NOTICE
        + " (índice do mês ainda não publicado; o valor exato aparece no portal)",
        "negativacao": {
            "prazo_dias": BUREAU_WAITING_DAYS,
            "data_limite": bureau_eligible_on or today + timedelta(days=BUREAU_WAITING_DAYS),
        },
        "endereco_destinatario": [
            part.strip() for part in re.split(r"[\n;]", recipient_address or "") if part.strip()
        ],
    }
    facts = Facts(
        legal_name=name,
        document=document,
        address=address,
        creditor_link=portal,
        portal_url=portal,
        optout_url=opt_url,
        optout_instruction=instruction,
        total=_brl(total),
        item_totals=tuple(_brl(line.total) for line in lines),
    )
    return context, facts


# --- rendering and checks --------------------------------------------------------------------


def _tidy_text(text: str) -> str:
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"


def _single_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


@lru_cache(maxsize=4096)  # the creditor's name, document, links: the same in every message
def _plain(text: str) -> str:
    """Comparable form: tags removed, entities decoded, any whitespace run → one space."""
    no_tags = re.sub(r"<[^>]+>", " ", text)
    return re.sub(r"\s+", " ", html_lib.unescape(no_tags).replace("\xa0", " ")).strip()


def _whatsapp_param(value: Any) -> str:
    # Cloud API text parameters may not hold newlines, tabs or more than 4 spaces in a row,
    # and may not be empty (an optional value such as the creditor's phone can be).
    return re.sub(r"\s+", " ", str(value)).strip() or "-"


def _render_source(source: str, context: dict[str, Any], *, autoescape: bool, part: str) -> str:
    try:
        return str(_compiled(source, autoescape).render(context))
    except TemplateSyntaxError as exc:
        raise RenderError(
            f"{part}, linha {exc.lineno}: erro de sintaxe: {exc.message}", field=part
        ) from None
    except TemplateError as exc:
        raise RenderError(f"{part}: {exc.message or exc}", field=part) from None
    except Exception as exc:  # tenant-written code: 1/0, int("x")… is the template's fault
        raise RenderError(f"{part}: erro ao montar a mensagem: {exc}", field=part) from None


def render_spec(spec: TemplateSpec, context: dict[str, Any], facts: Facts) -> Rendered:
    """Renders ``spec`` with ``context`` and checks the legal elements against ``facts``."""
    channel = spec.channel
    subject = None
    if spec.subject:
        subject = _single_line(
            _render_source(spec.subject, context, autoescape=False, part="subject")
        )
    params: list[str] = []
    html_out: str | None = None
    if channel is Channel.WHATSAPP:
        for index, expr in enumerate(spec.whatsapp_params):
            try:
                params.append(_whatsapp_param(_expression(expr)(**context)))
            except TemplateError as exc:
                raise RenderError(
                    f"whatsapp_params[{index}] ({expr}): {exc.message or exc}",
                    field=f"whatsapp_params[{index}]",
                ) from None
            except Exception as exc:
                raise RenderError(
                    f"whatsapp_params[{index}] ({expr}): {exc}",
                    field=f"whatsapp_params[{index}]",
                ) from None

        def fill(match: re.Match[str]) -> str:
            number = int(match.group(1))
            if not 1 <= number <= len(params):
                raise RenderError(
                    f"o texto usa {{{{{number}}}}} mas há {len(params)} parâmetros",
                    field="whatsapp_params",
                )
            return params[number - 1]

        text = _tidy_text(WHATSAPP_PLACEHOLDER.sub(fill, spec.body))
    else:
        text = _render_source(spec.body, context, autoescape=False, part="body")
        text = _single_line(text) if channel is Channel.SMS else _tidy_text(text)
    if spec.html and channel in (Channel.EMAIL, Channel.LETTER):
        html_out = _render_source(spec.html, context, autoescape=True, part="html")
        if channel is Channel.LETTER:
            layout_context = dict(context)
            layout_context["content"] = Markup(html_out)
            layout_context["subject"] = subject or ""
            layout_context["pagamentos"] = [
                {**p, "qr_svg": Markup(p["qr_svg"]) if p.get("qr_svg") else None}
                for p in context.get("pagamentos") or []
            ]
            html_out = str(_letter_layout().render(layout_context))
    rendered = Rendered(
        channel=channel,
        subject=subject,
        text=text,
        html=html_out,
        template_params=params,
        whatsapp_template_name=spec.whatsapp_template_name,
        whatsapp_language=spec.whatsapp_language,
        total=context["total"],
        pending_update=bool(context.get("atualizacao_pendente")),
        optout_url=facts.optout_url,
    )
    if channel is Channel.SMS:
        rendered.sms_text, rendered.sms = prepare(text)
    check_required(rendered, facts)
    return rendered


@lru_cache(maxsize=256)  # the creditor's document: the same in every message
def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _require(haystack: str, needles: tuple[str, ...]) -> bool:
    return any(_plain(n) and _plain(n) in haystack for n in needles)


def check_required(rendered: Rendered, facts: Facts) -> None:
    """Raises :class:`RenderError` naming the first legal element missing from the output."""
    channel = rendered.channel
    variants: list[tuple[str, str]] = []
    if channel is Channel.LETTER:
        variants.append(("html", _plain(rendered.html or rendered.text)))
    else:
        variants.append(("body", _plain(rendered.text)))
        if rendered.html is not None:
            variants.append(("html", _plain(rendered.html)))
    optout = (
        (facts.optout_url,)
        if channel in (Channel.EMAIL, Channel.LETTER)
        else (facts.optout_instruction,)
    )
    for part, text in variants:
        checks: list[tuple[tuple[str, ...], str]] = [
            (
                (facts.legal_name,),
                "CDC art. 42-A: identificação do credor incompleta (nome ausente: use "
                "{{ credor.nome }})",
            ),
            (
                (facts.document, _digits(facts.document)),
                "CDC art. 42-A: identificação do credor incompleta (CPF/CNPJ ausente: use "
                "{{ credor.documento }})",
            ),
            (
                (facts.address, facts.creditor_link),
                "CDC art. 42-A: identificação do credor incompleta (endereço ausente: use "
                "{{ credor.endereco }} ou o link {{ credor.link }})",
            ),
            ((facts.total,), "valor ausente: a mensagem deve trazer o total ({{ total|brl }})"),
            ((facts.portal_url,), "link do portal ausente ({{ portal_url }})"),
            (
                optout,
                "instrução de descadastro (opt-out) ausente ("
                + (
                    "{{ optout_url }})"
                    if channel in (Channel.EMAIL, Channel.LETTER)
                    else "{{ optout_instrucao }})"
                ),
            ),
        ]
        for needles, reason in checks:
            if not _require(text, needles):
                raise RenderError(f"{part}: {reason}", field=part, element=reason)
        if channel in (Channel.EMAIL, Channel.LETTER):
            for amount in facts.item_totals:
                if not _require(text, (amount,)):
                    raise RenderError(
                        f"{part}: valores discriminados ausentes: cada título deve aparecer "
                        f"com o seu total atualizado ({{{{ t.total|brl }}}}; faltou {amount})",
                        field=part,
                        element="itemised",
                    )


# --- sample data for checks at save time -----------------------------------------------------

SAMPLE_CUSTOMER_ID = uuid.UUID(int=0)


def sample_lines(today: date) -> list[DebtLine]:
    return [
        DebtLine(
            None,
            "Contrato 4471, parcela 2/10",
            today - timedelta(days=35),
            35,
            Decimal("250.00"),
            Decimal("1.13"),
            Decimal("5.02"),
            Decimal("2.93"),
            ZERO,
            Decimal("259.08"),
        ),
        DebtLine(
            None,
            "Contrato 4471, parcela 3/10",
            today - timedelta(days=5),
            5,
            Decimal("250.00"),
            ZERO,
            Decimal("5.00"),
            Decimal("0.42"),
            ZERO,
            Decimal("255.42"),
        ),
    ]


def check_with_sample(spec: TemplateSpec, *, tenant: Any) -> Rendered:
    """Renders ``spec`` for a made-up customer of ``tenant``; RenderError if it is refused."""
    today = datetime.now(UTC).date()
    context, facts = build_context(
        tenant,
        customer_id=SAMPLE_CUSTOMER_ID,
        customer_name="Maria da Silva",
        channel=spec.channel,
        lines=sample_lines(today),
        today=today,
        offers=[
            {
                "rotulo": "À vista",
                "parcelas": 1,
                "entrada": ZERO,
                "valor_parcela": Decimal("500.00"),
                "total": Decimal("500.00"),
                "desconto": Decimal("14.50"),
            }
        ],
        recipient_address="Rua das Flores, 10\n01000-000 São Paulo/SP",
        payments=[
            {
                "descricao": "Contrato 4471, parcela 2/10",
                "pix_copia_e_cola": "00020101021226830014br.gov.bcb.pix2561pix.example/cobv/x",
                "linha_digitavel": "00190.00009 01234.567004 00000.001230 1 10000000025908",
                "vencimento": today,
                "valor": Decimal("259.33"),  # due in a few days: not the same as today
                "qr_svg": None,
            },
            {
                "descricao": "Contrato 4471, parcela 3/10",
                "pix_copia_e_cola": "",
                "linha_digitavel": "00190.00009 01234.567004 00000.001231 8 10000000025542",
                "vencimento": today,
                "valor": Decimal("255.67"),
                "qr_svg": None,
            },
        ],
    )
    return render_spec(spec, context, facts)


def sample_tenant() -> Any:
    """A creditor with a complete identification (tests and the shipped-template check)."""
    return SimpleNamespace(
        id=uuid.UUID(int=1),
        slug="exemplo",
        legal_name="Loja Exemplo Comércio Ltda",
        trade_name="Loja Exemplo",
        document="11222333000181",
        address="Rua Augusta, 100",
        city="São Paulo",
        uf="SP",
        postal_code="01305000",
        contact_email="cobranca@lojaexemplo.com.br",
        contact_phone="(11) 4000-1234",
    )


# --- amounts from the charges service --------------------------------------------------------


class DebtItem(Protocol):
    """What a message says about one receivable: a :class:`Receivable`, or the row of
    :data:`DEBT_COLUMNS` the dispatcher reads for a whole batch (no ORM entity per title)."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def external_id(self) -> str: ...
    @property
    def contract(self) -> str | None: ...
    @property
    def installment_number(self) -> int | None: ...
    @property
    def installment_count(self) -> int | None: ...
    @property
    def description(self) -> str | None: ...
    @property
    def due_date(self) -> date: ...
    @property
    def balance(self) -> Decimal: ...


DEBT_COLUMNS = (
    Receivable.id,
    Receivable.tenant_id,
    Receivable.customer_id,
    Receivable.external_id,
    Receivable.contract,
    Receivable.installment_number,
    Receivable.installment_count,
    Receivable.description,
    Receivable.due_date,
    Receivable.balance,
)


def _description(receivable: DebtItem) -> str:
    head = receivable.description or f"Título {receivable.external_id}"
    extra = []
    if receivable.contract and receivable.contract not in head:
        extra.append(f"contrato {receivable.contract}")
    if receivable.installment_number:
        count = f"/{receivable.installment_count}" if receivable.installment_count else ""
        extra.append(f"parcela {receivable.installment_number}{count}")
    return ", ".join([head, *extra])


def debt_lines(
    receivables: Sequence[DebtItem],
    *,
    policy: Policy,
    book: IndexBook,
    consumer: bool,
    today: date,
    pricing: Pricing | None = None,
) -> tuple[list[DebtLine], list[Quote]]:
    """Each receivable updated to ``today``; on a missing index month, an explicit fallback."""
    pricing = pricing or Pricing(policy, book)
    lines: list[DebtLine] = []
    quotes: list[Quote] = []
    for receivable in receivables:
        quote, pending = pricing.quote(receivable.balance, receivable.due_date, today, consumer)
        if quote is None:
            lines.append(
                DebtLine(
                    receivable.id,
                    _description(receivable),
                    receivable.due_date,
                    max(0, (today - receivable.due_date).days),
                    receivable.balance,
                    ZERO,
                    ZERO,
                    ZERO,
                    ZERO,
                    receivable.balance,
                    True,
                )
            )
            continue
        quotes.append(quote)
        lines.append(
            DebtLine(
                receivable.id,
                _description(receivable),
                receivable.due_date,
                quote.days_late,
                quote.principal,
                quote.correction,
                quote.fine,
                quote.interest,
                quote.fees,
                quote.total,
                pending,
            )
        )
    return lines, quotes


def _offers(quotes: list[Quote], *, policy: Policy, today: date) -> list[dict[str, Any]]:
    if not quotes:
        return []
    try:
        offers = build_offers(DebtBase.from_quotes(quotes), policy=policy, as_of=today)
    except DomainError:
        return []
    chosen = [o for o in offers if o.installments in OFFER_INSTALLMENTS]
    return [
        {
            "rotulo": o.label,
            "parcelas": o.installments,
            "entrada": o.down_payment,
            "valor_parcela": max(o.installment_amounts) if o.installment_amounts else o.total,
            "total": o.total,
            "desconto": o.discount,
        }
        for o in chosen
    ]


def _uses(spec: TemplateSpec, variable: str) -> bool:
    """Whether the template mentions ``variable`` (costly context parts are built lazily)."""
    parts = (spec.subject, spec.body, spec.html, *spec.whatsapp_params)
    return any(variable in (part or "") for part in parts)


@lru_cache(maxsize=1)
def _billing_function() -> Callable[..., Any] | None:
    # Looked up once: a failing import is retried by Python on every call (~4 ms each).
    try:
        from adimple.payments.billing import service as billing
    except ImportError:
        return None
    function: Callable[..., Any] | None = getattr(billing, "payment_instructions", None)
    return function


def preload() -> None:
    """Imports now what the first message would (the billing service: ~0.4 s)."""
    _billing_function()


MAX_PAYMENT_BLOCKS = 6  # a letter or e-mail lists at most this many títulos' codes
UNBILLED_TENANTS = "adimple.unbilled_tenants"  # session.info key: a set, for one batch


def _payment_blocks(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    lines: list[DebtLine],
    today: date,
) -> list[dict[str, Any]]:
    """PIX/boleto for each título, from ``adimple.payments.billing.service`` when it exists.

    That service (branch ``pix``) issues one charge per título:
    ``payment_instructions(session, *, tenant_id, receivable_id, as_of) -> PaymentInstructions``
    (``amount``, ``due_date``, ``boleto.linha_digitavel``, ``pix.br_code``) and raises a
    DomainError (e.g. billing not configured, PSP unavailable): then there is no block and the
    message still goes out, pointing to the portal.
    """
    function = _billing_function()
    if function is None:
        return []
    blocks: list[dict[str, Any]] = []
    for line in lines[:MAX_PAYMENT_BLOCKS]:
        if line.receivable_id is None:
            continue
        # The dispatcher's batch session remembers the tenants without billing: one query
        # per batch instead of one per message.
        unbilled: set[uuid.UUID] | None = session.info.get(UNBILLED_TENANTS)
        if unbilled is not None and tenant_id in unbilled:
            return []
        try:
            result = function(
                session, tenant_id=tenant_id, receivable_id=line.receivable_id, as_of=today
            )
        except DomainError as exc:
            if unbilled is not None and type(exc).__name__ == "BillingNotConfigured":
                unbilled.add(tenant_id)
            return []  # not configured or the PSP is down: the same for every título
        boleto = getattr(result, "boleto", None)
        pix = getattr(result, "pix", None)
        br_code = getattr(pix, "br_code", None) or ""
        linha = getattr(boleto, "linha_digitavel", None) or ""
        if not br_code and not linha:
            continue
        qr_svg = None
        if br_code:
            from adimple.payments.pix.qr import qr_svg_inline

            qr_svg = qr_svg_inline(br_code, scale=3, border=1)
        if linha:
            from adimple.payments.boleto.codec import format_linha

            linha = format_linha(linha)
        blocks.append(
            {
                "descricao": line.descricao,
                "pix_copia_e_cola": br_code,
                "linha_digitavel": linha,
                "vencimento": getattr(result, "due_date", None),
                "valor": getattr(result, "amount", None),
                "qr_svg": qr_svg,
            }
        )
    return blocks


def _bureau_eligible_on(
    session: Session, *, tenant_id: uuid.UUID, receivable_ids: list[uuid.UUID]
) -> date | None:
    from adimple.cadence.models import BureauStatus, CreditBureauRecord

    if not receivable_ids:
        return None
    dates = session.scalars(
        select(CreditBureauRecord.eligible_on).where(
            CreditBureauRecord.tenant_id == tenant_id,
            CreditBureauRecord.receivable_id.in_(receivable_ids),
            CreditBureauRecord.status == BureauStatus.NOTICE_SENT,
        )
    ).all()
    return max(dates) if dates else None


def local_today(tenant: Tenant, now: datetime) -> date:
    return now.astimezone(ZoneInfo(tenant.timezone or "America/Sao_Paulo")).date()


def _open_receivables(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    customer_id: uuid.UUID,
    outbox_id: uuid.UUID | None,
) -> list[Receivable]:
    query = select(Receivable).where(
        Receivable.tenant_id == tenant_id,
        Receivable.customer_id == customer_id,
        Receivable.status == ReceivableStatus.OPEN,
        Receivable.balance > ZERO,
    )
    if outbox_id is not None:
        linked = session.scalars(
            select(OutboxReceivable.receivable_id).where(
                OutboxReceivable.tenant_id == tenant_id, OutboxReceivable.outbox_id == outbox_id
            )
        ).all()
        if linked:  # a row without links is about every open receivable of the customer
            query = query.where(Receivable.id.in_(linked))
    return list(session.scalars(query.order_by(Receivable.due_date, Receivable.external_id)))


def open_receivables_for(
    session: Session, messages: list[OutboxMessage]
) -> dict[uuid.UUID, list[DebtItem]]:
    """:func:`_open_receivables` for many outbox rows in three queries (the dispatcher's
    batches): the linked receivables still open, or, for a row without links, every open
    receivable of its customer; in due order. As rows of :data:`DEBT_COLUMNS`, not entities
    (building a hundred ORM objects per batch was a tenth of the preparation)."""
    if not messages:
        return {}
    tenant_ids = {m.tenant_id for m in messages}
    links: dict[uuid.UUID, list[uuid.UUID]] = {}
    for outbox_id, receivable_id in session.execute(
        select(OutboxReceivable.outbox_id, OutboxReceivable.receivable_id).where(
            one_of(session, OutboxReceivable.tenant_id, tenant_ids),
            one_of(session, OutboxReceivable.outbox_id, [m.id for m in messages]),
        )
    ):
        links.setdefault(outbox_id, []).append(receivable_id)
    open_ = (Receivable.status == ReceivableStatus.OPEN, Receivable.balance > ZERO)
    in_order = (Receivable.due_date, Receivable.external_id)  # as _open_receivables
    linked_ids = {r for ids in links.values() for r in ids}
    linked: list[DebtItem] = []
    if linked_ids:
        linked = list(
            session.execute(
                select(*DEBT_COLUMNS)
                .where(
                    one_of(session, Receivable.tenant_id, tenant_ids),
                    one_of(session, Receivable.id, linked_ids),
                    *open_,
                )
                .order_by(*in_order)
            )
        )
    unlinked = {m.customer_id for m in messages if m.id not in links}
    by_customer: dict[tuple[uuid.UUID, uuid.UUID], list[DebtItem]] = {}
    if unlinked:
        for r in session.execute(
            select(*DEBT_COLUMNS)
            .where(
                one_of(session, Receivable.tenant_id, tenant_ids),
                one_of(session, Receivable.customer_id, unlinked),
                *open_,
            )
            .order_by(*in_order)
        ):
            by_customer.setdefault((r.tenant_id, r.customer_id), []).append(r)
    result: dict[uuid.UUID, list[DebtItem]] = {}
    position = {r.id: n for n, r in enumerate(linked)}
    for m in messages:
        if m.id in links:
            found = sorted(position[r] for r in links[m.id] if r in position)
            result[m.id] = [linked[n] for n in found]
        else:
            result[m.id] = list(by_customer.get((m.tenant_id, m.customer_id), []))
    return result


def _render_for(
    session: Session,
    *,
    tenant: Tenant,
    customer: Customer,
    channel: Channel,
    template_name: str,
    receivables: Sequence[DebtItem],
    now: datetime,
    recipient_address: str | None,
    issue_payment: bool,
    link_seed: uuid.UUID | None = None,
) -> tuple[Rendered, TemplateSpec]:
    creditor = creditor_of(tenant)  # CDC art. 42-A before anything else
    try:
        spec = _template(session, tenant_id=tenant.id, name=template_name, channel=channel)
    except NotFound as exc:
        # A render failure for the dispatcher (the row fails, it is not retried), not a 404.
        raise RenderError(exc.detail, element="template") from None
    today = local_today(tenant, now)
    pricing = _pricing(session, tenant.id)
    policy = pricing.policy
    lines, quotes = debt_lines(
        receivables,
        policy=policy,
        book=pricing.book,
        consumer=customer.is_consumer,
        today=today,
        pricing=pricing,
    )
    ids = [r.id for r in receivables]
    context, facts = build_context(
        tenant,
        creditor=creditor,
        customer_id=customer.id,
        customer_name=customer.name,
        channel=channel,
        lines=lines,
        today=today,
        payments=_payment_blocks(session, tenant_id=tenant.id, lines=lines, today=today)
        if issue_payment
        else [],
        # Building every plan costs a quarter of a render: only when the template shows them.
        offers=_offers(quotes, policy=policy, today=today) if _uses(spec, "ofertas") else [],
        bureau_eligible_on=_bureau_eligible_on(session, tenant_id=tenant.id, receivable_ids=ids)
        if _uses(spec, "negativacao")
        else None,
        recipient_address=recipient_address,
        portal_link=portal_link_url(customer.id, link_seed, issued_at=now)
        if link_seed is not None
        else None,
    )
    return render_spec(spec, context, facts), spec


def _message_id_domain(tenant: Tenant) -> str:
    if tenant.contact_email and "@" in tenant.contact_email:
        return tenant.contact_email.rsplit("@", 1)[1]
    return f"{tenant.slug}.adimple.invalid"


def render_outbox_message(
    session: Session,
    message: OutboxMessage,
    *,
    now: datetime,
    receivables: Sequence[DebtItem] | None = None,
    tenant: Tenant | None = None,
    customer: Customer | None = None,
) -> OutgoingMessage:
    """The :class:`OutgoingMessage` for an outbox row, as of ``now``.

    ``receivables``: the row's open receivables when the caller loaded them for a whole batch
    (:func:`open_receivables_for`); read here otherwise. ``tenant`` and ``customer``: the row's,
    when the caller holds them already (the dispatcher's batch facts).

    Raises :class:`NothingToCollect` when every receivable it was about is settled (cancel the
    row), :class:`RenderError` when the template or the tenant lacks a legal element.
    """
    if tenant is None or tenant.id != message.tenant_id:
        tenant = session.get(Tenant, message.tenant_id)
    if tenant is None:
        raise NotFound("credor não encontrado")
    if customer is None or customer.id != message.customer_id:
        customer = session.get(Customer, message.customer_id)
    if customer is None or customer.tenant_id != message.tenant_id:
        raise NotFound("devedor não encontrado")
    channel = Channel(message.channel)
    if channel is Channel.PHONE:
        raise RenderError("o canal telefone não envia mensagens: use uma tarefa (roteiro)")
    if receivables is None:
        receivables = _open_receivables(
            session, tenant_id=tenant.id, customer_id=customer.id, outbox_id=message.id
        )
    if not receivables:
        raise NothingToCollect("nenhum título em aberto para esta mensagem (já pago?)")
    rendered, spec = _render_for(
        session,
        tenant=tenant,
        customer=customer,
        channel=channel,
        template_name=message.template,
        receivables=receivables,
        now=now,
        recipient_address=message.address,
        issue_payment=True,
        link_seed=message.id,
    )
    headers: dict[str, str] = {}
    if channel is Channel.EMAIL:
        # RFC 2369 + RFC 8058 one-click unsubscribe (the opt-out route accepts POST).
        headers["List-Unsubscribe"] = f"<{rendered.optout_url}>"
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    metadata = {
        "tenant_id": str(tenant.id),
        "tenant_slug": tenant.slug,
        "message_id_domain": _message_id_domain(tenant),
        "customer_id": str(customer.id),
        "customer_name": customer.name,
        "outbox_id": str(message.id),
        "template_version": str(spec.version),
        "template_source": spec.source,
        "total": str(rendered.total),
        "pending_update": "true" if rendered.pending_update else "false",
    }
    if rendered.sms is not None:
        metadata["sms_encoding"] = rendered.sms.encoding.value
        metadata["sms_segments"] = str(rendered.sms.segments)
    if rendered.whatsapp_template_name:
        metadata["whatsapp_template_name"] = rendered.whatsapp_template_name
        metadata["whatsapp_language"] = rendered.whatsapp_language or "pt_BR"
    return OutgoingMessage(
        idempotency_key=message.idempotency_key,
        channel=channel,
        to=message.address,
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        template=message.template,
        template_params=rendered.template_params,
        attachments=[],
        headers=headers,
        metadata=metadata,
    )


def preview(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    template_name: str,
    channel: Channel | str,
    customer_id: uuid.UUID,
    now: datetime | None = None,
) -> Rendered:
    """Renders a template for a real customer's open receivables (nothing is stored or sent)."""
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound("credor não encontrado")
    customer = session.scalars(
        select(Customer).where(Customer.tenant_id == tenant_id, Customer.id == customer_id)
    ).first()
    if customer is None:
        raise NotFound("devedor não encontrado")
    channel = Channel(channel)
    receivables = _open_receivables(
        session, tenant_id=tenant_id, customer_id=customer_id, outbox_id=None
    )
    if not receivables:
        raise NothingToCollect("o devedor não tem títulos em aberto para a pré-visualização")
    rendered, _spec = _render_for(
        session,
        tenant=tenant,
        customer=customer,
        channel=channel,
        template_name=template_name,
        receivables=receivables,
        now=now or datetime.now(UTC),
        recipient_address=None,
        issue_payment=False,  # a preview must not issue boletos or PIX charges
    )
    return rendered
