"""Who may see a debt: link → identity confirmation → a short session (issue 7, DESIGN §5).

The portal only ever shows a debt to the debtor. A message's signed link (links.py) names the
customer but proves nothing by itself — a forwarded e-mail or a shared phone would leak the
debt (CDC art. 42, exposure). So the holder must confirm something the creditor holds: the CPF
(or CNPJ) *and* the birth date on file. Failures never say which of the two was wrong, and the
same generic answer is given whatever is typed, so the form cannot be used to learn whether a
CPF has debts.

Limits (both recorded in ``portal_attempt``, so they hold across web processes):
- per customer: 5 failures in a row lock the customer's portal access for 30 minutes, with an
  audit event (a guessed birth date is 1 in ~25,000 per try for a known CPF);
- per IP: 20 failures in 15 minutes refuse further tries from that address for the window.

Debtors without a birth date on file (companies, mostly) — or who prefer it — ask instead for a
one-time code sent to one of their *verified* contact points (never a third party's): 6 digits,
10 minutes, 5 tries, at most 3 codes per link in 15 minutes; only its keyed hash is stored.
Wrong codes count toward the same lockout.

A link is single-use: it is exchanged for a session once (``portal_link_use`` has a unique link
id, so two tabs racing cannot both win). Sessions are server-side rows keyed by the SHA-256 of a
random cookie token, end after 20 idle minutes or 2 hours in all, and end on "sair".
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Select,
    Table,
    bindparam,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import QueryableAttribute, Session, load_only

from adimple.audit import service as audit
from adimple.audit.models import AuditEvent
from adimple.compliance.rules import is_mobile
from adimple.kit.errors import DomainError, NotFound
from adimple.portfolio.models import Channel, ContactKind, ContactOwner, ContactPoint, Customer
from adimple.settings import get_settings
from adimple.tenancy.models import Tenant
from adimple.web.portal.links import PortalLink, PortalLinkError, read_portal_token
from adimple.web.portal.models import (
    PortalAttempt,
    PortalLinkUse,
    PortalOneTimeCode,
    PortalSession,
)

CUSTOMER_MAX_FAILURES = 5
CUSTOMER_LOCKOUT = timedelta(minutes=30)
IP_MAX_FAILURES = 20
IP_WINDOW = timedelta(minutes=15)
SESSION_ABSOLUTE = timedelta(hours=2)
CODE_LIFETIME = timedelta(minutes=10)
CODE_MAX_TRIES = 5
CODES_PER_WINDOW = 3
CODE_WINDOW = timedelta(minutes=15)
TOUCH_EVERY = timedelta(seconds=60)  # last_seen is written at most once a minute per session


class PortalAccessError(DomainError):
    status_code = 403
    title = "Acesso negado"


class LinkUnusable(PortalAccessError):
    """The link is altered, expired, already used, or its customer no longer exists."""

    status_code = 410

    def __init__(self, detail: str, *, reason: str) -> None:
        super().__init__(detail)
        self.reason = reason  # invalid | expired | used


class LockedOut(PortalAccessError):
    status_code = 429

    def __init__(self, detail: str, *, until: datetime) -> None:
        super().__init__(detail)
        self.until = until


class IdentityNotConfirmed(PortalAccessError):
    status_code = 422

    def __init__(self, detail: str, *, remaining: int) -> None:
        super().__init__(detail)
        self.remaining = remaining


@dataclass(frozen=True)
class LinkHolder:
    """A valid, unused link and whose it is: enough to ask for identity, not to show a debt."""

    link: PortalLink
    tenant: Tenant
    customer_id: uuid.UUID


@dataclass(frozen=True)
class OpenSession:
    row: PortalSession
    token: str  # the cookie value (only its hash is stored)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def link_csrf(token: str) -> str:
    """The identity form's CSRF value: bound to the link cookie, so no state before login."""
    key = get_settings().secret_key.encode()
    return hmac.new(key, b"portal-csrf" + token.encode(), hashlib.sha256).hexdigest()


def digits(value: str) -> str:
    return re.sub(r"[^0-9A-Za-z]", "", value or "").upper()


def open_link(session: Session, token: str, *, now: datetime) -> LinkHolder:
    """Checks a message link without consuming it (:class:`LinkUnusable` says why not)."""
    try:
        link = read_portal_token(token, now=now)
    except PortalLinkError as exc:
        reason = "expired" if exc.expired else "invalid"
        raise LinkUnusable(str(exc), reason=reason) from None
    holder = _holder_of(session, link)
    used = session.scalar(
        select(PortalLinkUse.id).where(
            PortalLinkUse.tenant_id == holder.tenant.id, PortalLinkUse.link_id == link.link_id
        )
    )
    if used is not None:
        raise LinkUnusable("link já utilizado", reason="used")
    return holder


def _holder_of(session: Session, link: PortalLink) -> LinkHolder:
    row = session.execute(select(Customer.tenant_id).where(Customer.id == link.customer_id)).first()
    tenant = session.get(Tenant, row.tenant_id) if row is not None else None
    if tenant is None:
        raise LinkUnusable("link inválido", reason="invalid")
    return LinkHolder(link, tenant, link.customer_id)


def _recent_attempts(
    session: Session, *, tenant_id: uuid.UUID, customer_id: uuid.UUID, now: datetime
) -> list[tuple[bool, datetime]]:
    """The customer's last tries inside the lockout window, newest first (at most the limit)."""
    rows = session.execute(
        select(PortalAttempt.success, PortalAttempt.at)
        .where(
            PortalAttempt.tenant_id == tenant_id,
            PortalAttempt.customer_id == customer_id,
            PortalAttempt.at > now - CUSTOMER_LOCKOUT,
        )
        .order_by(PortalAttempt.at.desc())
        .limit(CUSTOMER_MAX_FAILURES)
    ).all()
    return [(row.success, row.at) for row in rows]


def locked_until(
    session: Session, *, tenant_id: uuid.UUID, customer_id: uuid.UUID, now: datetime
) -> datetime | None:
    """When the customer's lockout ends, if the last failures in a row reached the limit."""
    recent = _recent_attempts(session, tenant_id=tenant_id, customer_id=customer_id, now=now)
    if len(recent) < CUSTOMER_MAX_FAILURES or any(success for success, _ in recent):
        return None
    return recent[0][1] + CUSTOMER_LOCKOUT


def _ip_blocked(session: Session, *, tenant_id: uuid.UUID, ip: str, now: datetime) -> bool:
    failures = session.scalar(
        select(func.count())
        .select_from(PortalAttempt)
        .where(
            PortalAttempt.tenant_id == tenant_id,
            PortalAttempt.ip == ip,
            PortalAttempt.at > now - IP_WINDOW,
            PortalAttempt.success.is_(False),
        )
    )
    return (failures or 0) >= IP_MAX_FAILURES


def _failures_in_a_row(
    session: Session, *, tenant_id: uuid.UUID, customer_id: uuid.UUID, now: datetime
) -> int:
    count = 0
    for success, _ in _recent_attempts(
        session, tenant_id=tenant_id, customer_id=customer_id, now=now
    ):
        if success:
            break
        count += 1
    return count


def confirm_identity(
    session: Session,
    holder: LinkHolder,
    *,
    document: str,
    birth_date: date | None,
    ip: str,
    user_agent: str | None,
    now: datetime,
) -> OpenSession:
    """Exchanges the link for a session when the document and birth date match the file.

    Raises :class:`LockedOut` (per customer or per IP) or :class:`IdentityNotConfirmed`; every
    try is recorded. The caller commits — failures included, or the limits would not count.
    """
    _check_limits(session, holder, ip=ip, now=now)
    customer = session.get(Customer, holder.customer_id)
    assert customer is not None  # open_link checked it
    matches = (
        birth_date is not None
        and customer.birth_date is not None
        and hmac.compare_digest(digits(document), digits(customer.document))
        and birth_date == customer.birth_date
    )
    _record_attempt(session, holder, ip=ip, method="birth_date", success=matches, now=now)
    return _consume_link(
        session, holder, method="birth_date", ip=ip, user_agent=user_agent, now=now
    )


def _consume_link(
    session: Session,
    holder: LinkHolder,
    *,
    method: str,
    ip: str,
    user_agent: str | None,
    now: datetime,
) -> OpenSession:
    """Identity confirmed: the link is spent (once, even under a race) and a session opens."""
    tenant_id, customer_id = holder.tenant.id, holder.customer_id
    try:
        with session.begin_nested():
            session.add(
                PortalLinkUse(
                    tenant_id=tenant_id,
                    customer_id=customer_id,
                    link_id=holder.link.link_id,
                    used_at=now,
                )
            )
    except IntegrityError:
        raise LinkUnusable("link já utilizado", reason="used") from None
    opened = start_session(
        session,
        tenant_id=tenant_id,
        customer_id=customer_id,
        method=method,
        ip=ip,
        user_agent=user_agent,
        now=now,
    )
    audit.record(
        session,
        tenant_id=tenant_id,
        actor="portal",
        action="portal.login",
        entity_type="customer",
        entity_id=customer_id,
        data={"ip": ip, "method": method, "link_id": holder.link.link_id},
    )
    return opened


def _check_limits(session: Session, holder: LinkHolder, *, ip: str, now: datetime) -> None:
    tenant_id, customer_id = holder.tenant.id, holder.customer_id
    until = locked_until(session, tenant_id=tenant_id, customer_id=customer_id, now=now)
    if until is not None:
        raise LockedOut("acesso bloqueado temporariamente", until=until)
    if _ip_blocked(session, tenant_id=tenant_id, ip=ip, now=now):
        raise LockedOut("muitas tentativas a partir desta rede", until=now + IP_WINDOW)


def _record_attempt(
    session: Session, holder: LinkHolder, *, ip: str, method: str, success: bool, now: datetime
) -> None:
    """Records a try; a failure raises, and the 5th in a row locks the customer out (audited)."""
    tenant_id, customer_id = holder.tenant.id, holder.customer_id
    session.add(
        PortalAttempt(
            tenant_id=tenant_id,
            customer_id=customer_id,
            ip=ip[:45],
            at=now,
            method=method,
            success=success,
        )
    )
    session.flush()
    if success:
        return
    failures = _failures_in_a_row(session, tenant_id=tenant_id, customer_id=customer_id, now=now)
    if failures >= CUSTOMER_MAX_FAILURES:
        audit.record(
            session,
            tenant_id=tenant_id,
            actor="portal",
            action="portal.lockout",
            entity_type="customer",
            entity_id=customer_id,
            data={
                "ip": ip,
                "failures": failures,
                "method": method,
                "until": (now + CUSTOMER_LOCKOUT).isoformat(),
            },
        )
        raise LockedOut("acesso bloqueado temporariamente", until=now + CUSTOMER_LOCKOUT)
    raise IdentityNotConfirmed(
        "os dados informados não conferem", remaining=CUSTOMER_MAX_FAILURES - failures
    )


# --- one-time codes ------------------------------------------------------------------------------


def code_destinations(session: Session, holder: LinkHolder) -> list[ContactPoint]:
    """The debtor's own verified e-mails and mobiles (never a third party's contact point)."""
    rows = session.scalars(
        select(ContactPoint)
        .where(
            ContactPoint.tenant_id == holder.tenant.id,
            ContactPoint.customer_id == holder.customer_id,
            ContactPoint.owner == ContactOwner.DEBTOR,
            ContactPoint.verified.is_(True),
            ContactPoint.invalid_at.is_(None),
            or_(ContactPoint.kind == ContactKind.EMAIL, ContactPoint.kind == ContactKind.PHONE),
        )
        .order_by(ContactPoint.kind, ContactPoint.value)
    )
    return [c for c in rows if c.kind == ContactKind.EMAIL or is_mobile(c.value)]


def _code_hash(link_id: str, code: str) -> str:
    key = get_settings().secret_key.encode()
    return hmac.new(key, f"portal-otp:{link_id}:{code}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class CodeToSend:
    contact: ContactPoint
    channel: Channel
    code: str


def _destination(
    session: Session, holder: LinkHolder, *, contact_id: uuid.UUID, ip: str, now: datetime
) -> ContactPoint:
    """The chosen one of :func:`code_destinations`, once the IP and lockout limits allow."""
    _check_limits(session, holder, ip=ip, now=now)
    contact = next((c for c in code_destinations(session, holder) if c.id == contact_id), None)
    if contact is None:
        raise NotFound("contato não encontrado")
    return contact


def issue_code(
    session: Session, holder: LinkHolder, *, contact_id: uuid.UUID, ip: str, now: datetime
) -> CodeToSend:
    """A new code for this link, to one of :func:`code_destinations` (the caller sends it)."""
    contact = _destination(session, holder, contact_id=contact_id, ip=ip, now=now)
    recent = session.scalar(
        select(func.count())
        .select_from(PortalOneTimeCode)
        .where(
            PortalOneTimeCode.tenant_id == holder.tenant.id,
            PortalOneTimeCode.link_id == holder.link.link_id,
            PortalOneTimeCode.created_at > now - CODE_WINDOW,
        )
    )
    if (recent or 0) >= CODES_PER_WINDOW:
        raise LockedOut("muitos códigos pedidos", until=now + CODE_WINDOW)
    code = f"{secrets.randbelow(1_000_000):06d}"
    session.add(
        PortalOneTimeCode(
            tenant_id=holder.tenant.id,
            customer_id=holder.customer_id,
            link_id=holder.link.link_id,
            contact_point_id=contact.id,
            code_hash=_code_hash(holder.link.link_id, code),
            created_at=now,
            expires_at=now + CODE_LIFETIME,
            attempts=0,
        )
    )
    session.flush()
    channel = Channel.EMAIL if contact.kind == ContactKind.EMAIL else Channel.SMS
    return CodeToSend(contact, channel, code)


def confirm_code(
    session: Session,
    holder: LinkHolder,
    *,
    code: str,
    ip: str,
    user_agent: str | None,
    now: datetime,
) -> OpenSession:
    """Exchanges the link for a session when ``code`` is this link's latest live code."""
    _check_limits(session, holder, ip=ip, now=now)
    row = session.scalars(
        select(PortalOneTimeCode)
        .where(
            PortalOneTimeCode.tenant_id == holder.tenant.id,
            PortalOneTimeCode.link_id == holder.link.link_id,
            PortalOneTimeCode.used_at.is_(None),
            PortalOneTimeCode.expires_at > now,
        )
        .order_by(PortalOneTimeCode.created_at.desc())
        .limit(1)
    ).first()
    given = re.sub(r"\D", "", code or "")
    ok = (
        row is not None
        and row.attempts < CODE_MAX_TRIES
        and hmac.compare_digest(row.code_hash, _code_hash(holder.link.link_id, given))
    )
    if row is not None:
        row.attempts += 1
        if ok:
            row.used_at = now
    _record_attempt(session, holder, ip=ip, method="otp", success=ok, now=now)
    return _consume_link(session, holder, method="otp", ip=ip, user_agent=user_agent, now=now)


def send_code(session: Session, holder: LinkHolder, code: CodeToSend) -> None:
    """Sends the code now through the tenant's adapter for the channel (the person is waiting
    on the page: the outbox's contact windows and caps are for collection, not for this)."""
    _send_now(
        session,
        holder.tenant,
        code.contact,
        code.channel,
        subject="código de acesso",
        text=f"seu código de acesso ao portal é {code.code}. Vale por 10 minutos. "
        "Não compartilhe este código com ninguém.",
        template="portal_codigo",
        ignore_if="Se você não pediu este código, ignore esta mensagem.",
    )


def _send_now(
    session: Session,
    tenant: Tenant,
    contact: ContactPoint,
    channel: Channel,
    *,
    subject: str,
    text: str,
    template: str,
    ignore_if: str,
) -> None:
    from adimple.messaging.channels import adapters_for_tenant
    from adimple.messaging.channels.base import OutgoingMessage

    creditor = tenant.trade_name or tenant.legal_name
    email = channel is Channel.EMAIL
    footer = f"\n\n{tenant.legal_name}, CNPJ/CPF {tenant.document}. {ignore_if}" if email else ""
    adapter = adapters_for_tenant(session, tenant.id)[channel]
    adapter.send(
        OutgoingMessage(
            idempotency_key=f"{template}-{uuid.uuid4().hex}",
            channel=channel,
            to=contact.value,
            subject=f"{creditor}: {subject}" if email else None,
            text=f"{creditor}: {text}{footer}",
            html=None,
            template=template,
            metadata={"tenant_slug": tenant.slug},
        )
    )


# --- a fresh link for the owner of an expired or used one --------------------------------------

FRESH_LINKS_PER_WINDOW = 3


def stale_link_holder(session: Session, token: str, *, now: datetime) -> LinkHolder:
    """The owner of a genuine link that expired or was used: enough to offer a fresh one to the
    debtor's own verified contact points, never to open the portal (:class:`LinkUnusable`
    with reason ``invalid`` for anything else)."""
    try:
        link = read_portal_token(token, now=now, allow_expired=True)
    except PortalLinkError:
        raise LinkUnusable("link inválido", reason="invalid") from None
    return _holder_of(session, link)


def send_fresh_link(
    session: Session, holder: LinkHolder, *, contact_id: uuid.UUID, ip: str, now: datetime
) -> ContactPoint:
    """Sends a new portal link (new link id, full validity) to one of the debtor's
    :func:`code_destinations`, at most :data:`FRESH_LINKS_PER_WINDOW` per customer in 15
    minutes; audited. The old link stays unusable; the new one still needs identity."""
    from adimple.web.portal.links import portal_link_url

    contact = _destination(session, holder, contact_id=contact_id, ip=ip, now=now)
    recent = session.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(
            AuditEvent.tenant_id == holder.tenant.id,
            AuditEvent.entity_type == "customer",
            AuditEvent.entity_id == holder.customer_id,
            AuditEvent.action == "portal.link_resent",
            AuditEvent.occurred_at > now - CODE_WINDOW,
        )
    )
    if (recent or 0) >= FRESH_LINKS_PER_WINDOW:
        raise LockedOut("muitos links pedidos", until=now + CODE_WINDOW)
    channel = Channel.EMAIL if contact.kind == ContactKind.EMAIL else Channel.SMS
    url = portal_link_url(holder.customer_id, uuid.uuid4(), issued_at=now)
    _send_now(
        session,
        holder.tenant,
        contact,
        channel,
        subject="novo link de acesso ao portal",
        text=f"seu novo link de acesso ao portal de negociação: {url}",
        template="portal_novo_link",
        ignore_if="Se você não pediu um novo link, ignore esta mensagem.",
    )
    audit.record(
        session,
        tenant_id=holder.tenant.id,
        actor="portal",
        action="portal.link_resent",
        entity_type="customer",
        entity_id=holder.customer_id,
        data={"contact_point_id": str(contact.id), "channel": channel.value, "ip": ip[:45]},
    )
    return contact


def start_session(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    customer_id: uuid.UUID,
    method: str,
    ip: str | None,
    user_agent: str | None,
    now: datetime,
) -> OpenSession:
    token = secrets.token_urlsafe(32)
    row = PortalSession(
        tenant_id=tenant_id,
        customer_id=customer_id,
        token_hash=token_hash(token),
        csrf_token=secrets.token_urlsafe(32),
        method=method,
        created_at=now,
        last_seen_at=now,
        expires_at=now + SESSION_ABSOLUTE,
        ip=(ip or "")[:45] or None,
        user_agent=(user_agent or "")[:300] or None,
    )
    session.add(row)
    session.flush()
    return OpenSession(row, token)


def idle_limit() -> timedelta:
    return timedelta(minutes=get_settings().portal_session_minutes)


class LiveSession(NamedTuple):
    """A live portal session with its creditor and customer (every page needs all three), and
    whatever extra columns the page asked for in the same round trip."""

    row: PortalSession
    tenant: Tenant
    customer: Customer
    extra: tuple[Any, ...] = ()


_TIMESTAMPS = frozenset({"created_at", "updated_at"})


def _columns_but_timestamps(model: Any) -> list[QueryableAttribute[Any]]:
    return [
        getattr(model, a.key) for a in model.__mapper__.column_attrs if a.key not in _TIMESTAMPS
    ]


def session_lookup(
    *extra: ColumnElement[Any], customer_columns: Sequence[QueryableAttribute[Any]] = ()
) -> Select[Any]:
    """The statement :func:`current_session` runs: the session by its token's hash, joined with
    its tenant and customer, plus ``extra`` columns (scalar subqueries correlated to
    ``portal_session``: a page's own first facts, read in the same round trip).

    Only the columns pages use are read (each column of a row costs a description and a
    conversion, ~47 of them otherwise); ``customer_columns`` narrows the customer further for
    a page that needs only those. Any other attribute still loads if asked for, with a query.
    Build it once, at import: the lookup runs on every portal request, and building a statement
    costs more CPU than PostgreSQL spends answering it."""
    return (
        select(PortalSession, Tenant, Customer, *extra)
        .join(Tenant, Tenant.id == PortalSession.tenant_id)
        .join(
            Customer,
            (Customer.id == PortalSession.customer_id)
            & (Customer.tenant_id == PortalSession.tenant_id),
        )
        .where(PortalSession.token_hash == bindparam("token_hash"))
        .options(
            load_only(
                PortalSession.id,
                PortalSession.tenant_id,
                PortalSession.customer_id,
                PortalSession.csrf_token,
                PortalSession.last_seen_at,
                PortalSession.expires_at,
                PortalSession.ended_at,
            ),
            load_only(*_columns_but_timestamps(Tenant)),
            load_only(*(customer_columns or _columns_but_timestamps(Customer))),
        )
    )


SESSION_LOOKUP = session_lookup()
# On the table, not the ORM entity: no identity-map synchronisation for one column of a row
# this request does not write again (the ORM's bulk UPDATE machinery was half of this function).
_SESSION_TABLE: Table = PortalSession.__table__  # type: ignore[assignment]
_TOUCH_SESSION = (
    update(_SESSION_TABLE)
    .where(_SESSION_TABLE.c.id == bindparam("session_id"))
    .values(last_seen_at=bindparam("now"))
)


def current_session(
    session: Session,
    token: str | None,
    *,
    now: datetime,
    lookup: Select[Any] = SESSION_LOOKUP,
) -> LiveSession | None:
    """The live session behind a cookie, or None (unknown, ended, idle or past its limit).

    One round trip (``lookup``: :data:`SESSION_LOOKUP` or a :func:`session_lookup` with a
    page's extra columns), plus the once-a-minute touch."""
    if not token or len(token) > 100:
        return None
    found = session.execute(lookup, {"token_hash": token_hash(token)}).first()
    if found is None:
        return None
    row = found[0]
    if row.ended_at is not None or now >= row.expires_at or now - row.last_seen_at >= idle_limit():
        return None
    if now - row.last_seen_at >= TOUCH_EVERY:
        session.connection().execute(_TOUCH_SESSION, {"session_id": row.id, "now": now})
    return LiveSession(row, found[1], found[2], tuple(found[3:]))


def end_session(session: Session, row: PortalSession, *, now: datetime) -> None:
    session.execute(update(PortalSession).where(PortalSession.id == row.id).values(ended_at=now))
    audit.record(
        session,
        tenant_id=row.tenant_id,
        actor="portal",
        action="portal.logout",
        entity_type="customer",
        entity_id=row.customer_id,
        data={},
    )


# --- retention --------------------------------------------------------------------------------

ATTEMPTS_KEPT_DAYS = 30


def purge_expired(
    session: Session, *, now: datetime, attempts_days: int = ATTEMPTS_KEPT_DAYS
) -> dict[str, int]:
    """Deletes the portal state no one can use any more; returns how many rows of each.

    LGPD art. 15–16: personal data (IPs, user agents, contact choices) is kept no longer than
    its purpose needs. Sessions end within 2 hours and codes within 10 minutes, so both go a day
    after; a link can be used once and only until it expires, so its use record goes a day
    after the link itself would have expired; identity attempts feed limits of at most 30
    minutes, and are kept ``attempts_days`` as the security record of who tried what.
    """
    day = timedelta(days=1)
    link_days = timedelta(days=get_settings().portal_link_days)
    deleted = {
        "sessions": delete(PortalSession).where(
            or_(
                PortalSession.expires_at < now - day,
                PortalSession.ended_at < now - day,
                PortalSession.last_seen_at < now - day,
            )
        ),
        "codes": delete(PortalOneTimeCode).where(PortalOneTimeCode.expires_at < now - day),
        "link_uses": delete(PortalLinkUse).where(PortalLinkUse.used_at < now - link_days - day),
        "attempts": delete(PortalAttempt).where(
            PortalAttempt.at < now - timedelta(days=attempts_days)
        ),
    }
    return {
        name: int(session.execute(statement).rowcount or 0)  # type: ignore[attr-defined]
        for name, statement in deleted.items()
    }
