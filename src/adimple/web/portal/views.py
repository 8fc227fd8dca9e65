"""Portal do devedor: server-rendered pt-BR pages (Jinja2, HTMX only as an enhancement).

Routes (all HTML, outside the OpenAPI schema):

- ``GET /portal/l/{token}`` — a message's link: checked, kept in a short ``HttpOnly`` cookie and
  removed from the address bar by a redirect (so it does not leak through history or Referer);
- ``GET|POST /portal/entrar`` — identity confirmation (CPF/CNPJ + birth date), see access.py;
- ``/portal/dividas`` (my debts), ``/portal/ofertas`` and ``/portal/ofertas/{id}`` (plans and
  confirmation), ``POST /portal/acordos``, ``/portal/acordos/{id}``, ``/portal/pagar/{título}``
  (+ ``/situacao`` fragment and ``/boleto.pdf``), ``/portal/recibos[/{id}]``,
  ``/portal/quitacao.pdf``, ``/portal/preferencias``, ``/portal/lgpd``, ``POST /portal/sair``;
- ``GET /portal/{tenant slug}`` — the creditor's landing page (message previews link there).

Every POST carries a CSRF token (the session's, or before login one bound to the link cookie);
every id in a path is looked up within the session's tenant *and* customer, so another
customer's id is a 404 like an unknown one.
"""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Callable
from datetime import date, datetime, time
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from adimple.charges.service import PricingVersion
from adimple.db.base import utcnow
from adimple.db.engine import autocommit_reads
from adimple.kit.errors import DomainError, NotFound
from adimple.kit.i18n import short_datetime
from adimple.messaging.render import local_today
from adimple.negotiation.service import is_settled_in_full
from adimple.portfolio.models import Channel, Customer, Receivable, ReceivableStatus
from adimple.settings import get_settings
from adimple.tenancy.models import Tenant
from adimple.web.deps import DbSession, PageSession
from adimple.web.portal import access, pages
from adimple.web.portal.models import PortalSession
from adimple.web.portal.templating import HERE, render_text

router = APIRouter(prefix="/portal", include_in_schema=False)

LINK_COOKIE = "adimple_portal_link"
SESSION_COOKIE = "adimple_portal"


def _clock() -> datetime:
    return utcnow()


def static_files() -> StaticFiles:
    return StaticFiles(directory=HERE / "static")


def render(
    template: str, *, status_code: int = 200, headers: dict[str, str] | None = None, **ctx: Any
) -> HTMLResponse:
    body = render_text(template, **ctx)
    return HTMLResponse(body, status_code=status_code, headers=headers)


def _secure(request: Request) -> bool:
    forwarded = request.headers.get("x-forwarded-proto", "")
    return (
        request.url.scheme == "https"
        or forwarded == "https"
        or get_settings().base_url.startswith("https://")
    )


def _client_ip(request: Request) -> str:
    return request.client.host if request.client else "0.0.0.0"


def _set_cookie(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/portal",
        httponly=True,
        secure=_secure(request),
        samesite="lax",
    )


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# --- the session behind each logged-in page ------------------------------------------------------


class Visit:
    """The request's portal session, its creditor and customer, and "today" in its time zone."""

    def __init__(self, session: Session, live: access.LiveSession, now: datetime) -> None:
        self.db = session
        self.live = live
        self.now = now
        self.today = local_today(live.tenant, now)
        self.creditor = pages.creditor_of(live.tenant)

    @property
    def row(self) -> PortalSession:
        return self.live.row

    @property
    def tenant(self) -> Tenant:
        return self.live.tenant

    @property
    def customer(self) -> Customer:
        return self.live.customer

    @property
    def csrf(self) -> str:
        return self.row.csrf_token

    def page(self, template: str, *, status_code: int = 200, **ctx: Any) -> HTMLResponse:
        return render(
            template,
            status_code=status_code,
            creditor=self.creditor,
            customer=self.customer,
            csrf=self.csrf,
            today=self.today,
            logged_in=True,
            **ctx,
        )

    def check_csrf(self, token: str) -> None:
        if not hmac.compare_digest(token or "", self.row.csrf_token):
            raise CsrfFailed("formulário expirado: recarregue a página e tente de novo")


class CsrfFailed(DomainError):
    status_code = 403
    title = "Formulário expirado"


def _visit(
    request: Request, session: Session, lookup: Select[Any] = access.SESSION_LOOKUP
) -> Visit | None:
    now = _clock()
    live = access.current_session(
        session, request.cookies.get(SESSION_COOKIE), now=now, lookup=lookup
    )
    return Visit(session, live, now) if live is not None else None


def _logged_out(request: Request) -> HTMLResponse:
    response = render(
        "message.html",
        status_code=401,
        title="Sessão encerrada",
        lines=[
            "Sua sessão expirou ou foi encerrada.",
            "Para entrar de novo, use o link da mensagem mais recente que você recebeu.",
        ],
    )
    response.delete_cookie(SESSION_COOKIE, path="/portal")
    return response


def _not_found(visit: Visit) -> HTMLResponse:
    return visit.page(
        "message.html",
        status_code=404,
        title="Página não encontrada",
        lines=["O item procurado não existe ou não pertence à sua conta."],
    )


# --- link and identity ---------------------------------------------------------------------------


NEWEST_LINK = "Use o link da mensagem mais recente que você recebeu ou fale com o credor."


def _link_error(
    exc: access.LinkUnusable, session: Session | None = None, token: str = ""
) -> HTMLResponse:
    lines = {
        "expired": ["Este link expirou."],
        "used": [
            "Este link já foi usado para entrar no portal. Por segurança, cada link funciona "
            "uma só vez."
        ],
    }.get(exc.reason, ["Este link não é válido. Use o link completo da mensagem que recebeu."])
    status = 404 if exc.reason == "invalid" else 410
    if exc.reason != "invalid" and session is not None:
        # A genuine link: its owner may ask for a fresh one, sent only to their own verified
        # contacts (shown masked, as on the identity page); the new link still asks identity.
        try:
            holder = access.stale_link_holder(session, token, now=_clock())
            form = _fresh_link_form(session, holder, token, lines, status_code=status)
        except access.LinkUnusable:
            form = None
        if form is not None:
            return form
    return render(
        "message.html",
        status_code=status,
        title="Link indisponível",
        lines=[*lines, NEWEST_LINK],
    )


def _fresh_link_form(
    session: Session,
    holder: access.LinkHolder,
    token: str,
    lines: list[str],
    *,
    status_code: int,
    error: str | None = None,
) -> HTMLResponse | None:
    """The "send me a new link" form, or None when the debtor has no verified contact."""
    destinations = access.code_destinations(session, holder)
    if not destinations:
        return None
    return render(
        "novo_link.html",
        status_code=status_code,
        creditor=pages.creditor_of(holder.tenant),
        lines=lines,
        token=token,
        csrf=access.link_csrf(token),
        error=error,
        destinations=[(c.id, _destination_label(c)) for c in destinations],
    )


@router.get("/l/{token}", response_class=HTMLResponse)
def open_link(token: str, request: Request, session: DbSession) -> Response:
    if len(token) > 200:
        return _link_error(access.LinkUnusable("link inválido", reason="invalid"))
    try:
        access.open_link(session, token, now=_clock())
    except access.LinkUnusable as exc:
        return _link_error(exc, session, token)
    response = _redirect("/portal/entrar")
    _set_cookie(response, request, LINK_COOKIE, token, max_age=30 * 60)
    return response


@router.post("/novo-link", response_class=HTMLResponse)
def fresh_link(
    request: Request,
    session: DbSession,
    link: Annotated[str, Form(max_length=200)] = "",
    contato: Annotated[str, Form(max_length=40)] = "",
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Sends a fresh link to the chosen verified contact of an expired or used link's owner."""
    from adimple.messaging.channels.base import SendError

    try:
        holder = access.stale_link_holder(session, link, now=_clock())
    except access.LinkUnusable as exc:
        return _link_error(exc)
    if not hmac.compare_digest(csrf, access.link_csrf(link)):
        return render(
            "message.html",
            status_code=403,
            title="Formulário expirado",
            lines=["Abra de novo o link da mensagem e tente outra vez."],
        )

    def again(status_code: int, error: str) -> HTMLResponse:
        lines = ["Escolha para onde enviar um novo link de acesso."]
        form = _fresh_link_form(session, holder, link, lines, status_code=status_code, error=error)
        return form or _link_error(access.LinkUnusable("sem contato", reason="invalid"))

    try:
        contact = access.send_fresh_link(
            session, holder, contact_id=_uuid(contato), ip=_client_ip(request), now=_clock()
        )
    except access.LockedOut as exc:
        return _locked(holder, exc)
    except NotFound:
        return again(422, "Escolha um dos contatos.")
    except SendError:
        return again(503, "Não conseguimos enviar agora. Tente de novo em instantes.")
    return render(
        "message.html",
        creditor=pages.creditor_of(holder.tenant),
        title="Novo link enviado",
        lines=[
            f"Enviamos um novo link de acesso por {_destination_label(contact)}.",
            "Ele vale por uma entrada; o portal pedirá de novo a confirmação da sua identidade.",
        ],
    )


def _identity_form(
    session: Session,
    holder: access.LinkHolder,
    token: str,
    *,
    error: str | None = None,
    status_code: int = 200,
    document: str = "",
) -> HTMLResponse:
    return render(
        "entrar.html",
        status_code=status_code,
        creditor=pages.creditor_of(holder.tenant),
        csrf=access.link_csrf(token),
        error=error,
        document=document,
        destinations=[
            (c.id, _destination_label(c)) for c in access.code_destinations(session, holder)
        ],
        birth_date_on_file=_has_birth_date(session, holder),
    )


def _has_birth_date(session: Session, holder: access.LinkHolder) -> bool:
    customer = session.get(Customer, holder.customer_id)
    return customer is not None and customer.birth_date is not None


def _destination_label(contact: Any) -> str:
    kind = "e-mail" if contact.kind.value == "email" else "SMS para o celular"
    return f"{kind} {pages.mask_contact(contact)}"


def _holder(request: Request, session: Session) -> tuple[access.LinkHolder, str] | Response:
    token = request.cookies.get(LINK_COOKIE)
    if not token:
        return render(
            "message.html",
            status_code=401,
            title="Acesse pelo link recebido",
            lines=[
                "Para ver sua situação, use o link da mensagem que você recebeu do credor "
                "(e-mail, SMS, WhatsApp ou carta)."
            ],
        )
    try:
        return access.open_link(session, token, now=_clock()), token
    except access.LinkUnusable as exc:
        return _link_error(exc)


def _form_holder(
    request: Request, session: Session, csrf: str, form: Callable[..., HTMLResponse]
) -> tuple[access.LinkHolder, str] | Response:
    """The link holder of a pre-login form whose CSRF token matches, else the page to show."""
    found = _holder(request, session)
    if isinstance(found, Response):
        return found
    holder, token = found
    if not hmac.compare_digest(csrf, access.link_csrf(token)):
        return form(
            session, holder, token, error="Formulário expirado: tente de novo.", status_code=403
        )
    return holder, token


@router.get("/entrar", response_class=HTMLResponse)
def identity_page(request: Request, session: DbSession) -> Response:
    found = _holder(request, session)
    if isinstance(found, Response):
        return found
    holder, token = found
    return _identity_form(session, holder, token)


def parse_birth_date(value: str) -> date | None:
    """``dd/mm/aaaa`` (what people type) or ``aaaa-mm-dd`` (a date input); None if neither."""
    value = (value or "").strip()
    for fmt in ("%d/%m/%Y", "%Y-%m-%d", "%d%m%Y"):
        try:
            return datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    return None


@router.post("/entrar", response_class=HTMLResponse)
def identity_submit(
    request: Request,
    session: DbSession,
    documento: Annotated[str, Form(max_length=30)] = "",
    nascimento: Annotated[str, Form(max_length=20)] = "",
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    found = _form_holder(request, session, csrf, _identity_form)
    if isinstance(found, Response):
        return found
    holder, token = found
    birth = parse_birth_date(nascimento)
    try:
        opened = access.confirm_identity(
            session,
            holder,
            document=documento,
            birth_date=birth,
            ip=_client_ip(request),
            user_agent=request.headers.get("user-agent"),
            now=_clock(),
        )
    except access.LockedOut as exc:
        return _locked(holder, exc)
    except access.IdentityNotConfirmed as exc:
        left = exc.remaining
        return _identity_form(
            session,
            holder,
            token,
            error=f"Os dados informados não conferem com o cadastro. {_wrong(left)}",
            status_code=422,
            document=documento,
        )
    except access.LinkUnusable as exc:
        return _link_error(exc)
    return _logged_in(request, opened)


def _locked(holder: access.LinkHolder, exc: access.LockedOut) -> HTMLResponse:
    until = short_datetime(exc.until, holder.tenant.timezone)
    return render(
        "message.html",
        status_code=429,
        creditor=pages.creditor_of(holder.tenant),
        title="Acesso bloqueado temporariamente",
        lines=[
            "Houve muitas tentativas sem sucesso. Por segurança, o acesso ficará bloqueado "
            f"até {until}.",
            "Se precisar de ajuda, fale com o credor pelos contatos abaixo.",
        ],
    )


def _logged_in(request: Request, opened: access.OpenSession) -> Response:
    response = _redirect("/portal/dividas")
    _set_cookie(
        response,
        request,
        SESSION_COOKIE,
        opened.token,
        max_age=int(access.SESSION_ABSOLUTE.total_seconds()),
    )
    response.delete_cookie(LINK_COOKIE, path="/portal")
    return response


def _wrong(left: int) -> str:
    tries = "Resta 1 tentativa" if left == 1 else f"Restam {left} tentativas"
    return f"{tries} antes de um bloqueio temporário."


@router.post("/entrar/codigo", response_class=HTMLResponse)
def code_request(
    request: Request,
    session: DbSession,
    contato: Annotated[str, Form(max_length=40)] = "",
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    """Sends a one-time code to the chosen verified contact point of the debtor."""
    from adimple.messaging.channels.base import SendError

    found = _form_holder(request, session, csrf, _identity_form)
    if isinstance(found, Response):
        return found
    holder, token = found
    try:
        code = access.issue_code(
            session, holder, contact_id=_uuid(contato), ip=_client_ip(request), now=_clock()
        )
    except access.LockedOut as exc:
        return _locked(holder, exc)
    except NotFound:
        return _identity_form(
            session, holder, token, error="Escolha um dos contatos.", status_code=422
        )
    try:
        access.send_code(session, holder, code)
    except SendError:
        return _identity_form(
            session,
            holder,
            token,
            error="Não conseguimos enviar o código agora. Tente de novo em instantes.",
            status_code=503,
        )
    return _code_form(session, holder, token, sent_to=_destination_label(code.contact))


def _code_form(
    session: Session,
    holder: access.LinkHolder,
    token: str,
    *,
    sent_to: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    return render(
        "codigo.html",
        status_code=status_code,
        creditor=pages.creditor_of(holder.tenant),
        csrf=access.link_csrf(token),
        sent_to=sent_to,
        error=error,
    )


@router.post("/entrar/codigo/confirmar", response_class=HTMLResponse)
def code_submit(
    request: Request,
    session: DbSession,
    codigo: Annotated[str, Form(max_length=20)] = "",
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    found = _form_holder(request, session, csrf, _code_form)
    if isinstance(found, Response):
        return found
    holder, token = found
    try:
        opened = access.confirm_code(
            session,
            holder,
            code=codigo,
            ip=_client_ip(request),
            user_agent=request.headers.get("user-agent"),
            now=_clock(),
        )
    except access.LockedOut as exc:
        return _locked(holder, exc)
    except access.IdentityNotConfirmed as exc:
        return _code_form(
            session,
            holder,
            token,
            error=f"Código incorreto ou expirado. {_wrong(exc.remaining)}",
            status_code=422,
        )
    except access.LinkUnusable as exc:
        return _link_error(exc)
    return _logged_in(request, opened)


@router.post("/sair", response_class=HTMLResponse)
def logout(
    request: Request, session: DbSession, csrf: Annotated[str, Form(max_length=100)] = ""
) -> Response:
    visit = _visit(request, session)
    if visit is not None:
        if not hmac.compare_digest(csrf, visit.csrf):
            return visit.page(
                "message.html",
                status_code=403,
                title="Formulário expirado",
                lines=["Recarregue a página e tente sair de novo."],
            )
        access.end_session(session, visit.row, now=visit.now)
    response = render(
        "message.html",
        title="Você saiu do portal",
        lines=["Sessão encerrada com segurança. Obrigado!"],
    )
    response.delete_cookie(SESSION_COOKIE, path="/portal")
    return response


# --- pages ---------------------------------------------------------------------------------------


def _page(
    handler: Callable[[Visit], Response],
    *,
    reads: bool = False,
    lookup: Select[Any] = access.SESSION_LOOKUP,
) -> Callable[[Request, Session], Response]:
    """Runs ``handler`` for the request's live session (or the "session ended" page).

    ``reads``: the handler only reads, so its statements may each run on their own
    (:func:`~adimple.db.engine.autocommit_reads`; the session's touch is one statement too).
    ``lookup``: the session lookup, with the page's own first facts (``Visit.live.extra``).
    """

    def run(request: Request, session: Session) -> Response:
        # The unit of work ends here, in the handler's thread (deps.get_page_session).
        try:
            response = visit_and_handle(request, session)
            session.commit()
        except BaseException:
            session.rollback()
            raise
        return response

    def visit_and_handle(request: Request, session: Session) -> Response:
        if reads:
            autocommit_reads(session)
        visit = _visit(request, session, lookup)
        if visit is None:
            return _logged_out(request)
        try:
            return handler(visit)
        except NotFound:
            return _not_found(visit)
        except CsrfFailed as exc:
            return visit.page(
                "message.html", status_code=403, title="Formulário expirado", lines=[exc.detail]
            )
        except DomainError as exc:
            # A page, not the API's problem+json: e.g. a quote the calculator refuses.
            session.rollback()
            return visit.page(
                "message.html",
                status_code=exc.status_code,
                title="Não foi possível mostrar esta página",
                lines=[
                    exc.detail[:1].upper() + exc.detail[1:],
                    "Tente mais tarde ou fale com o credor pelos contatos abaixo.",
                ],
            )

    return run


@router.get("/dividas", response_class=HTMLResponse)
def debts_page(request: Request, session: PageSession) -> Response:
    def show(visit: Visit) -> Response:
        summary = pages.debts(
            session, tenant=visit.tenant, customer=visit.customer, today=visit.today
        )
        return visit.page(
            "dividas.html",
            summary=summary,
            agreements=_agreements(visit),
            quitacao=is_settled_in_full(
                session, tenant_id=visit.tenant.id, customer_id=visit.customer.id
            ),
        )

    return _page(show)(request, session)


def _agreements(visit: Visit) -> list[Any]:
    from adimple.negotiation import service as negotiation

    agreements = negotiation.list_agreements(
        visit.db, tenant_id=visit.tenant.id, customer_id=visit.customer.id
    )
    return [negotiation.agreement_view(visit.db, a) for a in agreements]


def _offers(visit: Visit, version: PricingVersion | None = None) -> list[Any]:
    from adimple.charges.service import offers_for_customer

    return offers_for_customer(
        visit.db,
        tenant_id=visit.tenant.id,
        customer_id=visit.customer.id,
        as_of=visit.today,
        version=version,
    )


@router.get("/ofertas", response_class=HTMLResponse)
def offers_page(request: Request, session: PageSession) -> Response:
    def show(visit: Visit) -> Response:
        from adimple.negotiation import service as negotiation

        live_id, version = pages.offers_context(visit.live)
        if live_id is not None:
            live = negotiation.agreement_view(
                session,
                negotiation.get_agreement(
                    session,
                    tenant_id=visit.tenant.id,
                    customer_id=visit.customer.id,
                    agreement_id=live_id,
                ),
            )
            return visit.page("ofertas.html", offers=[], live=live)
        return visit.page("ofertas.html", offers=_offers(visit, version), live=None)

    return _page(show, reads=True, lookup=pages.OFFERS_LOOKUP)(request, session)


@router.get("/ofertas/{offer_id}", response_class=HTMLResponse)
def offer_confirm_page(offer_id: str, request: Request, session: PageSession) -> Response:
    def show(visit: Visit) -> Response:
        offer = next((o for o in _offers(visit) if o.id == offer_id), None)
        if offer is None:
            raise NotFound("proposta não encontrada")
        from adimple.charges.service import get_active_policy

        policy = get_active_policy(session, tenant_id=visit.tenant.id)
        summary = pages.debts(
            session, tenant=visit.tenant, customer=visit.customer, today=visit.today
        )
        return visit.page(
            "confirmar.html",
            offer=offer,
            summary=summary,
            tolerance_days=_tolerance_days(policy),
            idempotency_key=uuid.uuid4().hex,
        )

    return _page(show)(request, session)


def _tolerance_days(policy: Any) -> int:
    rules = getattr(policy, "agreements", None)
    return int(getattr(rules, "tolerance_days", 5))


TERMS_VERSION = "2026-11-22"


@router.post("/acordos", response_class=HTMLResponse)
def create_agreement(
    request: Request,
    session: PageSession,
    oferta: Annotated[str, Form(max_length=64)] = "",
    aceite: Annotated[str, Form(max_length=10)] = "",
    chave: Annotated[str, Form(max_length=64)] = "",
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    def act(visit: Visit) -> Response:
        from adimple.negotiation import service as negotiation

        visit.check_csrf(csrf)
        if aceite != "sim":
            offer = next((o for o in _offers(visit) if o.id == oferta), None)
            if offer is None:
                raise NotFound("proposta não encontrada")
            from adimple.charges.service import get_active_policy

            policy = get_active_policy(session, tenant_id=visit.tenant.id)
            return visit.page(
                "confirmar.html",
                status_code=422,
                offer=offer,
                summary=pages.debts(
                    session, tenant=visit.tenant, customer=visit.customer, today=visit.today
                ),
                tolerance_days=_tolerance_days(policy),
                idempotency_key=chave or uuid.uuid4().hex,
                error="Para fechar o acordo, marque que leu e aceita as condições.",
            )
        try:
            agreement = negotiation.create_agreement(
                session,
                tenant_id=visit.tenant.id,
                customer_id=visit.customer.id,
                offer_id=oferta,
                as_of=visit.today,
                channel="portal",
                actor=f"portal:{visit.customer.id}",
                consent={
                    "ip": _client_ip(request),
                    "user_agent": (request.headers.get("user-agent") or "")[:300],
                    "terms_version": TERMS_VERSION,
                    "accepted_at": visit.now.isoformat(),
                    "session_id": str(visit.row.id),
                },
                idempotency_key=f"portal:{chave}" if chave else None,
            )
        except DomainError as exc:
            if isinstance(exc, NotFound):
                raise
            return visit.page(
                "message.html",
                status_code=409,
                title="Não foi possível fechar o acordo",
                lines=[
                    exc.detail[:1].upper() + exc.detail[1:],
                    "Os valores podem ter mudado: veja as propostas atualizadas.",
                ],
                back=("/portal/ofertas", "Ver propostas"),
            )
        return _redirect(f"/portal/acordos/{agreement.id}")

    return _page(act)(request, session)


@router.get("/acordos/{agreement_id}", response_class=HTMLResponse)
def agreement_page(agreement_id: str, request: Request, session: PageSession) -> Response:
    def show(visit: Visit) -> Response:
        from adimple.negotiation import service as negotiation

        agreement = negotiation.get_agreement(
            session,
            tenant_id=visit.tenant.id,
            customer_id=visit.customer.id,
            agreement_id=_uuid(agreement_id),
        )
        return visit.page("acordo.html", agreement=negotiation.agreement_view(session, agreement))

    return _page(show)(request, session)


def _uuid(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFound("não encontrado") from None


def _payable(visit: Visit, receivable_id: str) -> Receivable:
    receivable = pages.receivable_of(
        visit.db,
        tenant_id=visit.tenant.id,
        customer_id=visit.customer.id,
        receivable_id=_uuid(receivable_id),
    )
    return receivable


@router.get("/pagar/{receivable_id}", response_class=HTMLResponse)
def pay_page(receivable_id: str, request: Request, session: PageSession) -> Response:
    def show(visit: Visit) -> Response:
        from adimple.payments.billing import service as billing

        receivable = _payable(visit, receivable_id)
        if receivable.status != ReceivableStatus.OPEN or receivable.balance <= 0:
            return visit.page(
                "message.html",
                title="Nada a pagar neste título",
                lines=["Este título não está mais em aberto (pago ou incluído em acordo)."],
                back=("/portal/dividas", "Voltar às minhas dívidas"),
            )
        try:
            instructions = billing.payment_instructions(
                session, tenant_id=visit.tenant.id, receivable_id=receivable.id, as_of=visit.today
            )
        except DomainError as exc:
            return visit.page(
                "message.html",
                status_code=503,
                title="Pagamento on-line indisponível",
                lines=[
                    f"Não foi possível gerar o PIX ou o boleto agora ({exc.detail}).",
                    "Tente mais tarde ou fale com o credor pelos contatos abaixo.",
                ],
            )
        boleto = instructions.boleto
        return visit.page(
            "pagar.html",
            receivable=receivable,
            item=pages.DebtItem(receivable, instructions.terms.quote),
            instructions=instructions,
            qr_svg=instructions.pix_qr_svg(),
            linha=billing.format_linha(boleto.linha_digitavel or "") if boleto else None,
        )

    return _page(show)(request, session)


@router.get("/pagar/{receivable_id}/situacao", response_class=HTMLResponse)
def pay_status(receivable_id: str, request: Request, session: PageSession) -> Response:
    """The payment's status block; the pay page polls it with HTMX every few seconds."""

    def show(visit: Visit) -> Response:
        receivable = _payable(visit, receivable_id)
        paid = receivable.status == ReceivableStatus.PAID or receivable.balance <= 0
        return render("situacao.html", receivable=receivable, paid=paid)

    return _page(show)(request, session)


@router.get("/pagar/{receivable_id}/boleto.pdf")
def boleto_pdf(receivable_id: str, request: Request, session: PageSession) -> Response:
    def show(visit: Visit) -> Response:
        from adimple.payments.billing import service as billing

        receivable = _payable(visit, receivable_id)
        if receivable.status != ReceivableStatus.OPEN:
            raise NotFound("título sem boleto em aberto")
        pdf = billing.boleto_pdf(
            session, tenant_id=visit.tenant.id, receivable_id=receivable.id, as_of=visit.today
        )
        return Response(
            pdf,
            media_type="application/pdf",
            headers={
                "Content-Disposition": f'inline; filename="boleto-{receivable.external_id}.pdf"'
            },
        )

    return _page(show)(request, session)


@router.get("/recibos", response_class=HTMLResponse)
def receipts_page(request: Request, session: PageSession) -> Response:
    def show(visit: Visit) -> Response:
        rows = pages.payments_of(session, tenant_id=visit.tenant.id, customer_id=visit.customer.id)
        quitacao = is_settled_in_full(
            session, tenant_id=visit.tenant.id, customer_id=visit.customer.id
        )
        return visit.page("recibos.html", rows=rows, quitacao=quitacao)

    return _page(show)(request, session)


@router.get("/recibos/{payment_id}", response_class=HTMLResponse)
def receipt_page(payment_id: str, request: Request, session: PageSession) -> Response:
    def show(visit: Visit) -> Response:
        payment, receivable = pages.payment_of(
            session,
            tenant_id=visit.tenant.id,
            customer_id=visit.customer.id,
            payment_id=_uuid(payment_id),
        )
        return visit.page("recibo.html", payment=payment, receivable=receivable)

    return _page(show)(request, session)


@router.get("/quitacao.pdf")
def release_letter(request: Request, session: PageSession) -> Response:
    """Carta de quitação: only once nothing is owed (CC art. 319: who pays may demand it)."""

    def show(visit: Visit) -> Response:
        from adimple.web.portal.documents import release_letter_pdf

        if not is_settled_in_full(
            session, tenant_id=visit.tenant.id, customer_id=visit.customer.id
        ):
            raise NotFound("ainda há valores em aberto")
        rows = pages.payments_of(session, tenant_id=visit.tenant.id, customer_id=visit.customer.id)
        pdf = release_letter_pdf(
            creditor=visit.creditor, customer=visit.customer, rows=rows, today=visit.today
        )
        return Response(
            pdf,
            media_type="application/pdf",
            headers={"Content-Disposition": 'inline; filename="carta-de-quitacao.pdf"'},
        )

    return _page(show)(request, session)


@router.get("/preferencias", response_class=HTMLResponse)
def preferences_page(request: Request, session: PageSession) -> Response:
    def show(visit: Visit) -> Response:
        return _preferences(visit)

    return _page(show)(request, session)


def _preferences(visit: Visit, **extra: Any) -> HTMLResponse:
    prefs = pages.preferences(visit.db, tenant_id=visit.tenant.id, customer_id=visit.customer.id)
    return visit.page(
        "preferencias.html",
        prefs=prefs,
        channels=[(c, _CHANNEL_LABELS[c]) for c in pages.PREFERENCE_CHANNELS],
        mask=pages.mask_contact,
        hours=list(range(8, 21)),
        **extra,
    )


_CHANNEL_LABELS = {
    Channel.EMAIL: "E-mail",
    Channel.SMS: "SMS",
    Channel.WHATSAPP: "WhatsApp",
    Channel.LETTER: "Carta",
}


def _hour(value: str) -> time | None:
    if not value:
        return None
    try:
        hour = int(value)
    except ValueError:
        return None
    return time(hour, 0) if 0 <= hour <= 23 else None


@router.post("/preferencias", response_class=HTMLResponse)
async def preferences_submit(request: Request, session: PageSession) -> Response:
    form = await request.form()

    def act(visit: Visit) -> Response:
        visit.check_csrf(str(form.get("csrf", "")))
        preferred = str(form.get("preferido", "") or "")
        start, end = _hour(str(form.get("inicio", ""))), _hour(str(form.get("fim", "")))
        if (start is None) != (end is None) or (start and end and start >= end):
            return _preferences(
                visit,
                error="Escolha o horário de início antes do horário de fim.",
                status_code=422,
            )
        pages.save_preferences(
            visit.db,
            tenant_id=visit.tenant.id,
            customer_id=visit.customer.id,
            preferred_id=_uuid(preferred) if preferred else None,
            best_start=start,
            best_end=end,
            opt_out={
                Channel(str(v))
                for v in form.getlist("descadastro")
                if str(v) in Channel._value2member_map_
            },
            now=visit.now,
        )
        return _preferences(visit, saved=True)

    return _page(act)(request, session)


@router.get("/lgpd", response_class=HTMLResponse)
def lgpd_page(request: Request, session: PageSession) -> Response:
    def show(visit: Visit) -> Response:
        return visit.page("lgpd.html", kinds=pages.LGPD_KINDS)

    return _page(show)(request, session)


@router.post("/lgpd", response_class=HTMLResponse)
def lgpd_submit(
    request: Request,
    session: PageSession,
    tipo: Annotated[str, Form(max_length=20)] = "",
    mensagem: Annotated[str, Form(max_length=2000)] = "",
    csrf: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    def act(visit: Visit) -> Response:
        visit.check_csrf(csrf)
        if tipo not in pages.LGPD_KINDS or not mensagem.strip():
            return visit.page(
                "lgpd.html",
                status_code=422,
                kinds=pages.LGPD_KINDS,
                error="Escolha o tipo de pedido e descreva o que precisa.",
                message=mensagem,
            )
        task = pages.lgpd_request(
            visit.db,
            tenant_id=visit.tenant.id,
            customer_id=visit.customer.id,
            kind=tipo,
            message=mensagem.strip(),
            today=visit.today,
            now=visit.now,
        )
        return visit.page(
            "message.html",
            title="Pedido registrado",
            lines=[
                f"Seu pedido foi registrado com o protocolo {task.data['protocol']}.",
                "O credor responde em até 15 dias (LGPD, art. 19).",
            ],
            back=("/portal/dividas", "Voltar às minhas dívidas"),
        )

    return _page(act)(request, session)


@router.get("/{slug}", response_class=HTMLResponse)
def landing(slug: str, session: DbSession) -> Response:
    """The creditor's portal home: who they are, and that access is by the message's link."""
    tenant = session.scalars(select(Tenant).where(Tenant.slug == slug)).first()
    if tenant is None:
        return render(
            "message.html",
            status_code=404,
            title="Página não encontrada",
            lines=["Credor desconhecido."],
        )
    return render(
        "message.html",
        creditor=pages.creditor_of(tenant),
        title=f"Portal de negociação — {tenant.trade_name or tenant.legal_name}",
        lines=[
            "Aqui você consulta seus débitos, escolhe uma proposta de acordo e paga por PIX ou "
            "boleto, a qualquer hora.",
            "Para entrar, use o link da mensagem que você recebeu (e-mail, SMS, WhatsApp ou "
            "carta): ele é pessoal e vale uma vez.",
        ],
    )
