"""Charges service: the tenant's policy versions, index values and offers over open receivables.

Functions take the session first and keyword-only arguments; they flush, never commit (the
request, job or command that opened the unit of work commits).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, func, select
from sqlalchemy.orm import QueryableAttribute, Session

from adimple.audit import service as audit
from adimple.charges.calculator import Quote, quote_or_explain
from adimple.charges.indices import (
    IndexBook,
    IndexPoint,
    IndexSeries,
    SeriesName,
    packaged_series,
    parse_series_name,
    read_index_text,
)
from adimple.charges.models import CollectionPolicy, IndexValue
from adimple.charges.offers import DebtBase, Offer, build_offers, first_due_date
from adimple.charges.policy import (
    DEFAULT_POLICY,
    Policy,
    policy_from_data,
    policy_to_data,
    validate_for_tenant,
)
from adimple.db.base import utcnow
from adimple.kit.errors import DomainError, NotFound
from adimple.kit.money import ZERO
from adimple.portfolio.models import Customer, Receivable, ReceivableStatus
from adimple.tenancy.models import Tenant

# --- policy -----------------------------------------------------------------------------------

# Per-process caches that can never serve stale data: a policy version is an immutable row
# (saving makes a new one, with a new id), so its parsed document is keyed by the row's id; the
# index book is keyed by a stamp of the index rows (count and latest ``imported_at``, which every
# import that inserts or changes a month moves). Each read still asks the database which version
# is current — one small query instead of the document and four series — so a change is seen at
# once, in every process (the portal's offers page read them on every request: issue 7).
_cache_lock = threading.Lock()
_policies: dict[uuid.UUID, Policy] = {}
_books: dict[tuple[Any, ...], IndexBook] = {}


def get_active_policy_record(session: Session, *, tenant_id: uuid.UUID) -> CollectionPolicy | None:
    """The tenant's highest policy version, or None when it never saved one."""
    return session.scalars(
        select(CollectionPolicy)
        .where(CollectionPolicy.tenant_id == tenant_id)
        .order_by(CollectionPolicy.version.desc())
        .limit(1)
    ).first()


def get_active_policy(session: Session, *, tenant_id: uuid.UUID) -> Policy:
    """The tenant's active policy; the default policy when it has none (docs/policy.md)."""
    return _policy_version(session, session.scalar(_active_policy_id(tenant_id)))


def _active_policy_id(
    tenant_id: uuid.UUID | ColumnElement[Any] | QueryableAttribute[Any],
) -> Select[Any]:
    return (
        select(CollectionPolicy.id)
        .where(CollectionPolicy.tenant_id == tenant_id)
        .order_by(CollectionPolicy.version.desc())
        .limit(1)
    )


def _policy_version(session: Session, record_id: uuid.UUID | None) -> Policy:
    if record_id is None:
        return DEFAULT_POLICY
    with _cache_lock:
        policy = _policies.get(record_id)
    if policy is None:
        record = session.get(CollectionPolicy, record_id)
        assert record is not None
        policy = policy_from_data(record.document)
        with _cache_lock:
            if len(_policies) > 10_000:
                _policies.clear()
            _policies[record_id] = policy
    return policy


@dataclass(frozen=True)
class PricingVersion:
    """Which policy version and index values are current: the keys of the per-process caches
    (the policy row's id, None for the default policy; the index rows' count and latest
    ``imported_at``)."""

    policy_id: uuid.UUID | None
    index_stamp: tuple[Any, ...]


def pricing_version_columns(
    tenant_id: uuid.UUID | ColumnElement[Any] | QueryableAttribute[Any],
) -> tuple[ColumnElement[Any], ...]:
    """The columns :class:`PricingVersion` is read from, as scalar subqueries, so that a caller
    can fetch them in the same round trip as its own data (see :func:`pricing`); ``tenant_id``
    may be a column of the enclosing statement (the portal's session lookup)."""
    return (
        _active_policy_id(tenant_id).scalar_subquery(),
        select(func.count()).select_from(IndexValue).scalar_subquery(),
        select(func.max(IndexValue.imported_at)).scalar_subquery(),
    )


def pricing_version_of(row: Sequence[Any]) -> PricingVersion:
    """The version from the three values of :func:`pricing_version_columns`, in order."""
    return PricingVersion(row[0], (row[1], row[2]))


def current_pricing_version(session: Session, *, tenant_id: uuid.UUID) -> PricingVersion:
    return pricing_version_of(session.execute(select(*pricing_version_columns(tenant_id))).one())


def pricing(
    session: Session, *, tenant_id: uuid.UUID, version: PricingVersion | None = None
) -> tuple[Policy, IndexBook]:
    """The tenant's active policy and the index book: one small query (none with ``version``
    already read), the parsed documents from the per-process caches."""
    if version is None:
        version = current_pricing_version(session, tenant_id=tenant_id)
    return _policy_version(session, version.policy_id), _index_book(session, version.index_stamp)


def list_policy_versions(session: Session, *, tenant_id: uuid.UUID) -> list[CollectionPolicy]:
    return list(
        session.scalars(
            select(CollectionPolicy)
            .where(CollectionPolicy.tenant_id == tenant_id)
            .order_by(CollectionPolicy.version.desc())
        )
    )


def save_policy(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    document: Policy | dict[str, Any],
    actor: str,
) -> CollectionPolicy:
    """Validates ``document`` and stores it as the tenant's next version (audited).

    Raises :class:`PolicyError` (422) with a pt-BR message, including the CDC art. 52 §1 cap
    unless the policy is marked ``business_only``. Two concurrent saves of the same version
    collide on the (tenant_id, version) unique constraint, so one of them fails rather than
    silently overwriting the other.
    """
    policy = document if isinstance(document, Policy) else policy_from_data(document)
    validate_for_tenant(policy)
    current = session.scalar(
        select(func.max(CollectionPolicy.version)).where(CollectionPolicy.tenant_id == tenant_id)
    )
    record = CollectionPolicy(
        tenant_id=tenant_id,
        version=(current or 0) + 1,
        document=policy_to_data(policy),
        created_at=utcnow(),
        created_by=actor,
    )
    session.add(record)
    session.flush()
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action="policy.saved",
        entity_type="collection_policy",
        entity_id=record.id,
        data={"version": record.version, "document": record.document},
    )
    return record


def find_tenant(session: Session, *, slug: str | None) -> Tenant:
    """The tenant with ``slug``; without a slug, the only tenant (else an error)."""
    if slug is not None:
        tenant = session.scalars(select(Tenant).where(Tenant.slug == slug)).first()
        if tenant is None:
            raise NotFound(f"credor '{slug}' não encontrado")
        return tenant
    tenants = list(session.scalars(select(Tenant).limit(2)))
    if len(tenants) != 1:
        raise DomainError("informe o credor com --tenant SLUG")
    return tenants[0]


# --- index series -----------------------------------------------------------------------------


def load_index_series(session: Session, series: SeriesName | str) -> IndexSeries:
    """Packaged values overlaid with the database's (imported values win)."""
    name = series if isinstance(series, SeriesName) else parse_series_name(series)
    rows = session.scalars(select(IndexValue).where(IndexValue.series == name))
    return packaged_series(name).overlay(
        IndexPoint(row.month, Decimal(row.percent), row.source) for row in rows
    )


def load_index_book(session: Session) -> IndexBook:
    """Every series (packaged values overlaid with the database's), cached per index stamp."""
    stamp = tuple(session.execute(select(func.count(), func.max(IndexValue.imported_at))).one())
    return _index_book(session, stamp)


def _index_book(session: Session, stamp: tuple[Any, ...]) -> IndexBook:
    with _cache_lock:
        book = _books.get(stamp)
    if book is None:
        book = IndexBook({name: load_index_series(session, name) for name in SeriesName})
        with _cache_lock:
            _books.clear()  # only the current stamp is worth keeping
            _books[stamp] = book
    return book


def import_index_file(
    session: Session, path: Path | str, *, series: SeriesName | str
) -> dict[str, Any]:
    """Upserts the months of an index file (CSV or SGS JSON); returns what changed.

    A month already stored with the same percent is left alone, so re-importing a file is a
    no-op; a different percent replaces the stored one (a corrected release).
    """
    name = series if isinstance(series, SeriesName) else parse_series_name(series)
    file = Path(path)
    points = read_index_text(file.read_text(encoding="utf-8"), source_name=file.name)
    existing = {
        row.month: row
        for row in session.scalars(select(IndexValue).where(IndexValue.series == name))
    }
    packaged = packaged_series(name)
    inserted = updated = unchanged = 0
    now = utcnow()
    for point in points:
        text = str(point.percent)
        row = existing.get(point.month)
        if row is None:
            session.add(
                IndexValue(
                    series=name,
                    month=point.month,
                    percent=text,
                    source=point.source,
                    imported_at=now,
                )
            )
            inserted += 1
        elif row.percent != text:
            row.percent, row.source, row.imported_at = text, point.source, now
            updated += 1
        else:
            unchanged += 1
    session.flush()
    merged = packaged.overlay(points)
    return {
        "series": name.value,
        "file": file.name,
        "months": len(points),
        "inserted": inserted,
        "updated": updated,
        "unchanged": unchanged,
        "differs_from_package": sorted(
            p.month
            for p in points
            if p.month in packaged and packaged.percent(p.month) != p.percent
        ),
        "first": merged.first_month,
        "last": merged.last_month,
    }


# --- offers over a customer's open receivables ------------------------------------------------


def offers_for_customer(
    session: Session,
    *,
    tenant_id: uuid.UUID,
    customer_id: uuid.UUID,
    as_of: date,
    include_future: bool = False,
    version: PricingVersion | None = None,
) -> list[Offer]:
    """Offers for all of a customer's open receivables, updated to the first payment date.

    Overdue receivables are updated (correção, multa, juros); with ``include_future`` the ones
    not yet due enter at present value when the policy knows the contract rate (CDC art. 52 §2).
    ``version``: the pricing version when the caller already read it (the portal does, in the
    same round trip as its page data).
    """
    customer = session.get(Customer, customer_id)  # usually already in the identity map
    if customer is None or customer.tenant_id != tenant_id:
        raise NotFound("devedor não encontrado")
    if version is None:
        version = current_pricing_version(session, tenant_id=tenant_id)
    # Core, not ORM, execution: plain columns, and the ORM layer costs as much as the query.
    balances: tuple[tuple[Decimal, date], ...] = tuple(
        (balance, due_date)
        for balance, due_date in session.connection().execute(
            _OPEN_BALANCES, {"tenant_id": tenant_id, "customer_id": customer_id}
        )
    )
    key = (version, as_of, customer.is_consumer, include_future, balances)
    with _cache_lock:
        offers = _offers.get(key)
    if offers is None:
        policy, book = pricing(session, tenant_id=tenant_id, version=version)
        offers = offers_for_balances(
            balances,
            consumer=customer.is_consumer,
            as_of=as_of,
            policy=policy,
            book=book,
            include_future=include_future,
        )
        with _cache_lock:
            if len(_offers) >= _OFFERS_KEPT:
                _offers.pop(next(iter(_offers)))  # the oldest entry (dicts keep insertion order)
            _offers[key] = offers
    return list(offers)


_OPEN_BALANCES = (
    select(Receivable.balance, Receivable.due_date)
    .where(
        Receivable.tenant_id == bindparam("tenant_id"),
        Receivable.customer_id == bindparam("customer_id"),
        Receivable.status == ReceivableStatus.OPEN,
        Receivable.balance > ZERO,
    )
    .order_by(Receivable.due_date, Receivable.balance)
)

# The offers of a debt are a pure function of its balances and due dates, the day, the kind of
# debtor and the pricing version — every input is in the key, so an entry can never be stale. A
# debtor moving between the offers, confirmation and agreement pages computes them once. Kept
# small (the last few minutes of debtors): a few dozen objects an entry, and the collector
# scans them all.
_OFFERS_KEPT = 2_000
_offers: dict[tuple[Any, ...], tuple[Offer, ...]] = {}


def offers_for_balances(
    balances: Sequence[tuple[Decimal, date]],
    *,
    consumer: bool,
    as_of: date,
    policy: Policy,
    book: IndexBook,
    include_future: bool = False,
) -> tuple[Offer, ...]:
    """The offers over open títulos given as ``(balance, due date)`` pairs (pure code)."""
    first = first_due_date(as_of, policy)
    quotes: list[Quote] = []
    for balance, due_date in balances:
        if not (include_future or due_date < first):
            continue
        # A month whose index is not published yet is left out of the correção (in the
        # debtor's favour) rather than refusing to negotiate: the same rule messages follow.
        quote, _ = quote_or_explain(balance, due_date, first, consumer, policy, book)
        quotes.append(quote)
    if not quotes:
        return ()
    return tuple(build_offers(DebtBase.from_quotes(quotes), policy=policy, as_of=as_of))
