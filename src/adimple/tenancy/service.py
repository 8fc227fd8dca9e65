"""Tenants and API keys."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from adimple.audit import service as audit
from adimple.db.base import utcnow
from adimple.kit.calendar import UFS
from adimple.kit.errors import Conflict, FieldError, NotFound, Unauthorized, ValidationFailed
from adimple.tenancy.models import ApiKey, Tenant

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
KEY_PREFIX = "adk"


def create_tenant(
    session: Session,
    *,
    slug: str,
    legal_name: str,
    document: str,
    address: str,
    city: str,
    uf: str,
    postal_code: str | None = None,
    trade_name: str | None = None,
    timezone: str = "America/Sao_Paulo",
    contact_email: str | None = None,
    contact_phone: str | None = None,
) -> Tenant:
    """Registers a creditor; its identification is mandatory (CDC art. 42-A)."""
    # Here, not at the top: every command that looks a tenant up imports this module, and the
    # validators (phone numbers, e-mail, CPF/CNPJ) add ~50 ms to each start, the daily cycle's
    # included.
    from adimple.portfolio.validation import normalize_document

    errors: list[FieldError] = []
    if not _SLUG.match(slug):
        errors.append(FieldError("slug", "use 2-63 lower-case letters, digits or '-'"))
    try:
        doc, _kind = normalize_document(document)
    except ValueError as exc:
        errors.append(FieldError("document", str(exc)))
        doc = ""
    for name, value in (("legal_name", legal_name), ("address", address), ("city", city)):
        if not value or not value.strip():
            errors.append(FieldError(name, "required (CDC art. 42-A creditor identification)"))
    if uf.upper() not in UFS:
        errors.append(FieldError("uf", f"'{uf}' is not a Brazilian UF"))
    if errors:
        raise ValidationFailed(errors=errors, message="invalid tenant")
    if session.scalar(select(Tenant.id).where(Tenant.slug == slug)) is not None:
        raise Conflict(f"tenant '{slug}' already exists")
    tenant = Tenant(
        slug=slug,
        legal_name=legal_name.strip(),
        trade_name=trade_name,
        document=doc,
        address=address.strip(),
        city=city.strip(),
        uf=uf.upper(),
        postal_code=postal_code,
        timezone=timezone,
        contact_email=contact_email,
        contact_phone=contact_phone,
    )
    session.add(tenant)
    session.flush()
    audit.record(
        session,
        tenant_id=tenant.id,
        actor="system",
        action="tenant.created",
        entity_type="tenant",
        entity_id=tenant.id,
        data={"slug": slug},
    )
    return tenant


def get_tenant_by_slug(session: Session, slug: str) -> Tenant:
    tenant = session.scalar(select(Tenant).where(Tenant.slug == slug))
    if tenant is None:
        raise NotFound(f"tenant '{slug}' not found")
    return tenant


def default_tenant(session: Session) -> Tenant:
    """The only tenant, for single-creditor installs; otherwise ``--tenant`` is required."""
    tenants = session.scalars(select(Tenant).limit(2)).all()
    if len(tenants) == 1:
        return tenants[0]
    if not tenants:
        raise NotFound(
            "no tenant yet: create one with `adimple tenant create` or run `adimple demo`"
        )
    raise ValidationFailed(message="several tenants exist: choose one with --tenant SLUG")


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_api_key(session: Session, *, tenant_id: uuid.UUID, name: str) -> tuple[ApiKey, str]:
    """Returns the key row and the full token, shown once: ``adk_<prefix>_<secret>``.

    The secret has 256 bits of entropy, so a plain SHA-256 is enough to store it (no password
    stretching needed); lookups go by the public prefix.
    """
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    key = ApiKey(tenant_id=tenant_id, name=name, prefix=prefix, secret_hash=_hash(secret))
    session.add(key)
    session.flush()
    audit.record(
        session,
        tenant_id=tenant_id,
        actor="system",
        action="api_key.created",
        entity_type="api_key",
        entity_id=key.id,
        data={"name": name, "prefix": prefix},
    )
    return key, f"{KEY_PREFIX}_{prefix}_{secret}"


def authenticate_api_key(session: Session, token: str) -> tuple[Tenant, ApiKey]:
    parts = token.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX:
        raise Unauthorized("invalid API key")
    key = session.scalar(select(ApiKey).where(ApiKey.prefix == parts[1]))
    if key is None or key.revoked_at is not None:
        raise Unauthorized("invalid API key")
    if not hmac.compare_digest(key.secret_hash, _hash(parts[2])):
        raise Unauthorized("invalid API key")
    tenant = session.get(Tenant, key.tenant_id)
    if tenant is None:  # pragma: no cover - FK cascade deletes keys with their tenant
        raise Unauthorized("invalid API key")
    return tenant, key


def revoke_api_key(session: Session, *, tenant_id: uuid.UUID, prefix: str) -> None:
    key = session.scalar(
        select(ApiKey).where(ApiKey.tenant_id == tenant_id, ApiKey.prefix == prefix)
    )
    if key is None:
        raise NotFound(f"API key '{prefix}' not found")
    key.revoked_at = utcnow()
