"""Billing service: boleto and PIX for each open receivable (functions take the session first;
they flush, never commit).

:func:`payment_instructions` is what messages and the portal call: it decides the amount and
due date (:mod:`.terms`), allocates the receivable's nosso número / txid once, and issues — or
reuses — the boleto and the PIX charge (a PSP ``cobv`` when the tenant configured one, a static
BR Code otherwise). A document is reused while it is valid: not past its due date, same balance,
same terms, same settings; otherwise a new one supersedes it (for a cobv the *same* txid is
revised at the PSP, so a payment of the older code still matches the receivable).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import threading
import uuid
from dataclasses import dataclass, fields
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from adimple.audit import service as audit
from adimple.charges.service import pricing
from adimple.db.base import utcnow
from adimple.kit.calendar import next_bank_business_day
from adimple.kit.errors import Conflict, DomainError, NotFound
from adimple.kit.i18n import short_date
from adimple.kit.money import ZERO, money_str
from adimple.payments.billing.models import (
    BillingReference,
    BillingSettings,
    ChargeDocument,
    ChargeKind,
    PixMode,
    ReferenceKind,
)
from adimple.payments.billing.schemas import (
    BillingSettingsInput,
    BillingSettingsRead,
    BoletoSettings,
    PixSettings,
    PspSettingsRead,
)
from adimple.payments.billing.terms import ChargeTerms, charge_terms, document_due_date
from adimple.payments.boleto.banks import BANK_NAMES, BUILDERS, BancoDoBrasil, bank_free_field
from adimple.payments.boleto.codec import BoletoError, encode, format_linha
from adimple.payments.boleto.pdf import BoletoDocument, Party
from adimple.payments.pix.codec import PixError, build, strip_accents
from adimple.payments.pix.codec import encode as encode_pix
from adimple.payments.psp.client import PixClient, PspConfig, PspError
from adimple.payments.psp.cobv import CobvRequest, Fine, FineMode, Interest, InterestMode
from adimple.portfolio.models import (
    ContactKind,
    ContactOwner,
    ContactPoint,
    Customer,
    Receivable,
    ReceivableStatus,
)
from adimple.tenancy.models import Tenant

# Nosso número sequence digits per bank (the builders in payments/boleto/banks.py); Banco do
# Brasil depends on the convênio size.
SEQUENCE_DIGITS = {"033": 12, "041": 8, "104": 15, "237": 11, "341": 8, "756": 7}
STATIC_TXID_LENGTH = 25  # BR Code 62-05: at most 25 characters (BCB manual, Anexo I)
COBV_TXID_LENGTH = 32  # API Pix cobv: 26 to 35 characters


class BillingNotConfigured(Conflict):
    title = "Cobrança não configurada"


class ReceivableNotBillable(Conflict):
    title = "Título sem cobrança"


class BillingSettingsInvalid(DomainError):
    status_code = 422
    title = "Configuração de cobrança inválida"


class PaymentProviderError(DomainError):
    """The PSP refused or failed a call (HTTP 502 with the PSP's status and problem)."""

    status_code = 502
    title = "Falha no provedor Pix (PSP)"


# --- settings ---------------------------------------------------------------------------------


def get_settings(session: Session, *, tenant_id: uuid.UUID) -> BillingSettings | None:
    return session.scalars(
        select(BillingSettings).where(BillingSettings.tenant_id == tenant_id)
    ).first()


def _bank_values(settings: BillingSettings | BoletoSettings) -> dict[str, Any]:
    if isinstance(settings, BoletoSettings):
        base = settings.model_dump(include={"agencia", "conta", "carteira", "convenio"})
        base["codigo_beneficiario"] = settings.codigo_beneficiario
        return {**base, **settings.options}
    return {
        "agencia": settings.agencia,
        "conta": settings.conta,
        "carteira": settings.carteira,
        "convenio": settings.convenio,
        "codigo_beneficiario": settings.codigo_beneficiario,
        **(settings.bank_options or {}),
    }


def bank_params(bank: str, values: dict[str, Any], nosso_numero: str) -> dict[str, Any]:
    """The bank builder's parameters: only the fields that bank uses, plus the nosso número."""
    accepted = {f.name for f in fields(BUILDERS[bank])}
    params = {k: v for k, v in values.items() if k in accepted and v not in (None, "")}
    params["nosso_numero"] = nosso_numero
    return params


def sequence_digits(bank: str, values: dict[str, Any]) -> int:
    if bank == "001":
        spec = bank_free_field("001", bank_params("001", values, "0"))
        assert isinstance(spec, BancoDoBrasil)
        return spec._sequence_size()
    return SEQUENCE_DIGITS[bank]


def _validate_boleto(boleto: BoletoSettings) -> None:
    if boleto.bank not in BUILDERS:
        known = ", ".join(sorted(BUILDERS))
        raise BillingSettingsInvalid(f"boleto.bank: banco {boleto.bank} não suportado ({known})")
    accepted = {f.name for f in fields(BUILDERS[boleto.bank])} - {"bank_code", "nosso_numero"}
    unknown = sorted(set(boleto.options) - accepted)
    if unknown:
        raise BillingSettingsInvalid(
            f"boleto.options: o banco {boleto.bank} não usa {', '.join(unknown)}"
        )
    flags = {f.name for f in fields(BUILDERS[boleto.bank]) if isinstance(f.default, bool)}
    for name, value in boleto.options.items():
        if isinstance(value, bool) != (name in flags):
            kind = "verdadeiro/falso" if name in flags else "texto"
            raise BillingSettingsInvalid(f"boleto.options.{name}: deve ser {kind}")
    values = _bank_values(boleto)
    try:
        spec = bank_free_field(boleto.bank, bank_params(boleto.bank, values, "1"))
        spec.free_field()
        spec.printed_nosso_numero()
    except BoletoError as exc:
        raise BillingSettingsInvalid(f"boleto: {exc}") from None
    if boleto.nosso_numero_next is not None:
        digits = sequence_digits(boleto.bank, values)
        if boleto.nosso_numero_next >= 10**digits:
            raise BillingSettingsInvalid(
                f"boleto.nosso_numero_next: o banco {boleto.bank} usa {digits} dígitos"
            )


def _validate_pix(pix: PixSettings, tenant: Tenant) -> None:
    try:
        build(
            key=pix.key,
            merchant_name=pix.merchant_name or _merchant_name(tenant, None),
            merchant_city=pix.merchant_city or _merchant_city(tenant, None),
            amount=Decimal("1.00"),
        )
    except PixError as exc:
        raise BillingSettingsInvalid(f"pix: {exc}") from None


def save_settings(
    session: Session, *, tenant_id: uuid.UUID, document: BillingSettingsInput, actor: str
) -> BillingSettings:
    """Validates and stores the tenant's settings (replacing the previous ones; an omitted
    PSP client secret or nosso número sequence keeps the stored one). Audited without secrets."""
    tenant = _tenant(session, tenant_id)
    if document.boleto is not None:
        _validate_boleto(document.boleto)
    if document.pix is not None:
        _validate_pix(document.pix, tenant)
    row = get_settings(session, tenant_id=tenant_id)
    if row is None:
        row = BillingSettings(tenant_id=tenant_id, bank_options={}, nosso_numero_next=1)
        session.add(row)
    boleto, pix, psp = document.boleto, document.pix, document.psp
    row.bank_code = boleto.bank if boleto else None
    row.agencia = boleto.agencia if boleto else None
    row.conta = boleto.conta if boleto else None
    row.conta_dv = boleto.conta_dv if boleto else None
    row.carteira = boleto.carteira if boleto else None
    row.convenio = boleto.convenio if boleto else None
    row.codigo_beneficiario = boleto.codigo_beneficiario if boleto else None
    row.bank_options = dict(boleto.options) if boleto else {}
    if boleto and boleto.nosso_numero_next is not None:
        row.nosso_numero_next = boleto.nosso_numero_next
    row.boleto_days_to_pay = boleto.days_to_pay if boleto else 3
    row.pix_key = pix.key if pix else None
    row.merchant_name = strip_accents(pix.merchant_name) if pix and pix.merchant_name else None
    row.merchant_city = strip_accents(pix.merchant_city) if pix and pix.merchant_city else None
    if psp is None:
        row.psp_base_url = row.psp_client_id = row.psp_client_secret = None
        row.psp_cert_path = row.psp_key_path = row.psp_webhook_url = None
        row.cobv_validity_days = 30
    else:
        if psp.client_secret is None and not row.psp_client_secret:
            raise BillingSettingsInvalid("psp.client_secret: obrigatório na primeira configuração")
        row.psp_base_url = psp.base_url.rstrip("/")
        row.psp_client_id = psp.client_id
        if psp.client_secret is not None:
            row.psp_client_secret = psp.client_secret
        row.psp_cert_path = psp.cert_path
        row.psp_key_path = psp.key_path
        # A masked URL sent back unchanged (GET → edit → PUT) keeps the stored one.
        if psp.webhook_url is None or psp.webhook_url != mask_secret_url(row.psp_webhook_url):
            row.psp_webhook_url = psp.webhook_url
        row.cobv_validity_days = psp.validity_days
    session.flush()
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action="billing.settings_saved",
        entity_type="billing_settings",
        entity_id=row.id,
        data=settings_read(row).model_dump(mode="json"),
    )
    return row


_API_KEY_IN_URL = re.compile(r"(adk_[0-9a-f]+_)[A-Za-z0-9_\-]+")


def mask_secret_url(url: str | None) -> str | None:
    """The webhook URL carries an API key (the PSP cannot send headers): only its public prefix
    is ever shown (``…/webhooks/pix/adk_1a2b3c4d5e6f_***``)."""
    return None if url is None else _API_KEY_IN_URL.sub(r"\1***", url)


def settings_read(row: BillingSettings | None) -> BillingSettingsRead:
    """The settings as shown (never the PSP client secret)."""
    if row is None:
        return BillingSettingsRead(boleto=None, pix=None, psp=None, pix_mode=None)
    boleto = None
    if row.bank_code:
        boleto = BoletoSettings(
            bank=row.bank_code,
            agencia=row.agencia,
            conta=row.conta,
            conta_dv=row.conta_dv,
            carteira=row.carteira,
            convenio=row.convenio,
            codigo_beneficiario=row.codigo_beneficiario,
            options=dict(row.bank_options or {}),
            nosso_numero_next=row.nosso_numero_next,
            days_to_pay=row.boleto_days_to_pay,
        )
    pix = None
    if row.pix_key:
        pix = PixSettings(
            key=row.pix_key, merchant_name=row.merchant_name, merchant_city=row.merchant_city
        )
    psp = None
    if row.psp_base_url and row.psp_client_id:
        psp = PspSettingsRead(
            base_url=row.psp_base_url,
            client_id=row.psp_client_id,
            has_client_secret=bool(row.psp_client_secret),
            cert_path=row.psp_cert_path,
            key_path=row.psp_key_path,
            webhook_url=mask_secret_url(row.psp_webhook_url),
            validity_days=row.cobv_validity_days,
        )
    mode = "cobv" if row.psp_enabled else "static" if row.pix_enabled else None
    return BillingSettingsRead(boleto=boleto, pix=pix, psp=psp, pix_mode=mode)


# --- PSP clients (one per account, so the OAuth token is reused across requests) -------------

_clients: dict[tuple[str, ...], PixClient] = {}
_clients_lock = threading.Lock()


def psp_client(settings: BillingSettings) -> PixClient:
    if not settings.psp_enabled:
        raise BillingNotConfigured("PSP não configurado (psp.base_url, client_id, client_secret)")
    assert settings.psp_base_url and settings.psp_client_id and settings.psp_client_secret
    secret_hash = hashlib.sha256(settings.psp_client_secret.encode()).hexdigest()
    key = (
        settings.psp_base_url,
        settings.psp_client_id,
        secret_hash,
        settings.psp_cert_path or "",
        settings.psp_key_path or "",
    )
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = PixClient(
                PspConfig(
                    base_url=settings.psp_base_url,
                    client_id=settings.psp_client_id,
                    client_secret=settings.psp_client_secret,
                    cert_path=settings.psp_cert_path,
                    key_path=settings.psp_key_path,
                )
            )
            _clients[key] = client
        return client


def _psp_failure(exc: PspError) -> PaymentProviderError:
    return PaymentProviderError(str(exc), psp_status=exc.status, psp_problem=exc.problem)


def register_webhook(session: Session, *, tenant_id: uuid.UUID, actor: str) -> dict[str, str]:
    """``PUT /v2/webhook/{chave}`` with the configured webhook URL (the PSP will POST paid
    charges to that URL + ``/pix``)."""
    settings = _require_settings(session, tenant_id)
    if not settings.psp_enabled or not settings.psp_webhook_url or not settings.pix_key:
        raise BillingNotConfigured("configure psp e psp.webhook_url antes de registrar o webhook")
    try:
        psp_client(settings).put_webhook(settings.pix_key, settings.psp_webhook_url)
    except PspError as exc:
        raise _psp_failure(exc) from None
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action="billing.webhook_registered",
        entity_type="billing_settings",
        entity_id=settings.id,
        data={"webhook_url": mask_secret_url(settings.psp_webhook_url)},
    )
    return {"key": settings.pix_key, "webhook_url": mask_secret_url(settings.psp_webhook_url) or ""}


# --- references ---------------------------------------------------------------------------------


def _reference_owner(
    session: Session, tenant_id: uuid.UUID, kind: ReferenceKind, value: str
) -> uuid.UUID | None:
    return session.scalar(
        select(BillingReference.receivable_id).where(
            BillingReference.tenant_id == tenant_id,
            BillingReference.kind == kind,
            BillingReference.value == value,
        )
    )


def _claim(session: Session, receivable: Receivable, kind: ReferenceKind, value: str) -> None:
    owner = _reference_owner(session, receivable.tenant_id, kind, value)
    if owner is not None and owner != receivable.id:
        label = "nosso número" if kind == ReferenceKind.NOSSO_NUMERO else "txid"
        raise ReceivableNotBillable(f"{label} {value} já pertence a outro título")
    if owner is None:
        session.add(
            BillingReference(
                tenant_id=receivable.tenant_id,
                kind=kind,
                value=value,
                receivable_id=receivable.id,
                created_at=utcnow(),
            )
        )
        session.flush()


def allocate_nosso_numero(
    session: Session, *, settings: BillingSettings, receivable: Receivable
) -> str:
    """The receivable's nosso número: the stored one, or the next of the tenant's sequence.

    The sequence advances with one ``UPDATE … RETURNING`` (row lock), and every number handed
    out is registered in ``billing_reference`` under a unique index: a number already used
    (e.g. after the sequence was set back) is skipped, never given twice.
    """
    assert settings.bank_code
    values = _bank_values(settings)
    digits = sequence_digits(settings.bank_code, values)
    if receivable.nosso_numero:
        number = receivable.nosso_numero.strip()
        if not number.isdigit() or len(number) > digits:
            raise ReceivableNotBillable(
                f"nosso número {number!r} do título não cabe no layout do banco "
                f"{settings.bank_code} ({digits} dígitos)"
            )
        number = number.zfill(digits)
        _claim(session, receivable, ReferenceKind.NOSSO_NUMERO, number)
        return number
    for _ in range(1000):
        allocated = session.execute(
            update(BillingSettings)
            .where(BillingSettings.id == settings.id)
            .values(nosso_numero_next=BillingSettings.nosso_numero_next + 1)
            .returning(BillingSettings.nosso_numero_next)
            .execution_options(synchronize_session=False)
        ).scalar_one()
        sequence = allocated - 1
        if sequence >= 10**digits:
            raise BillingNotConfigured(
                f"sequência de nosso número esgotada ({digits} dígitos no banco "
                f"{settings.bank_code}): ajuste boleto.nosso_numero_next"
            )
        number = str(sequence).zfill(digits)
        if _reference_owner(session, receivable.tenant_id, ReferenceKind.NOSSO_NUMERO, number):
            continue
        _claim(session, receivable, ReferenceKind.NOSSO_NUMERO, number)
        receivable.nosso_numero = number
        session.expire(settings, ["nosso_numero_next"])
        return number
    raise BillingNotConfigured("nenhum nosso número livre após 1000 tentativas")


def allocate_txid(
    session: Session, *, receivable: Receivable, mode: PixMode, renew: bool = False
) -> str:
    """The receivable's txid: the stored one when it fits the mode (≤ 25 characters for a
    static BR Code, 26–35 for a cobv), else a new random one (registered as unique)."""
    current = receivable.pix_txid
    fits = (
        current is not None
        and current.isascii()
        and current.isalnum()
        and (
            len(current) <= STATIC_TXID_LENGTH
            if mode == PixMode.STATIC
            else 26 <= len(current) <= 35
        )
    )
    if fits and not renew:
        assert current is not None
        _claim(session, receivable, ReferenceKind.TXID, current)
        return current
    size = STATIC_TXID_LENGTH if mode == PixMode.STATIC else COBV_TXID_LENGTH
    while True:
        txid = secrets.token_hex(size)[:size]
        if _reference_owner(session, receivable.tenant_id, ReferenceKind.TXID, txid) is None:
            break
    _claim(session, receivable, ReferenceKind.TXID, txid)
    receivable.pix_txid = txid
    return txid


# --- instructions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PaymentInstructions:
    """Everything a message, letter or portal page needs to let the debtor pay one título."""

    tenant: Tenant
    receivable: Receivable
    as_of: date
    terms: ChargeTerms
    boleto: ChargeDocument | None
    pix: ChargeDocument | None

    @property
    def amount(self) -> Decimal:
        return self.terms.amount

    @property
    def due_date(self) -> date:
        return self.terms.due_date

    def pix_qr_svg(self) -> str | None:
        """The PIX QR code as an inline ``<svg>`` (computed on demand)."""
        if self.pix is None or not self.pix.br_code:
            return None
        from adimple.payments.pix.qr import qr_svg_inline

        return qr_svg_inline(self.pix.br_code)

    def instructions(self) -> list[str]:
        """pt-BR lines shown with the codes (as stored on the issued document)."""
        for doc in (self.boleto, self.pix):
            if doc is not None:
                return list(doc.details.get("instructions", []))
        return self.terms.instructions()

    def as_contract(self) -> dict[str, Any]:
        """JSON for the CLI and the API: money as "0.00", dates ISO."""
        boleto = self.boleto
        pix = self.pix
        return {
            "receivable_id": str(self.receivable.id),
            "external_id": self.receivable.external_id,
            "customer_id": str(self.receivable.customer_id),
            "as_of": self.as_of.isoformat(),
            "overdue": self.terms.overdue,
            "receivable_due_date": self.receivable.due_date.isoformat(),
            "due_date": self.terms.due_date.isoformat(),
            "amount": money_str(self.terms.amount),
            "breakdown": self.terms.breakdown(),
            "after_due": self.terms.after_due.as_dict(),
            "instructions": self.instructions(),
            "creditor": creditor(self.tenant),
            "boleto": None
            if boleto is None
            else {
                "bank_code": boleto.bank_code,
                "bank_name": BANK_NAMES.get(boleto.bank_code or ""),
                "nosso_numero": boleto.nosso_numero,
                "nosso_numero_printed": boleto.nosso_numero_printed,
                "due_date": boleto.due_date.isoformat(),
                "amount": money_str(boleto.amount),
                "barcode": boleto.barcode,
                "linha_digitavel": boleto.linha_digitavel,
                "linha_digitavel_formatada": format_linha(boleto.linha_digitavel or ""),
                "expires_on": boleto.expires_on.isoformat(),
            },
            "pix": None
            if pix is None
            else {
                "kind": str(pix.pix_mode),
                "txid": pix.txid,
                "br_code": pix.br_code,
                "amount": money_str(pix.amount),
                "due_date": pix.due_date.isoformat(),
                "expires_on": pix.expires_on.isoformat(),
                "location": pix.psp_location,
                "status": pix.psp_status,
            },
        }


def creditor(tenant: Tenant) -> dict[str, str]:
    """The creditor's identification on every collection document (CDC art. 42-A)."""
    address = f"{tenant.address}, {tenant.city}/{tenant.uf}"
    if tenant.postal_code:
        address += f", CEP {tenant.postal_code[:5]}-{tenant.postal_code[5:]}"
    return {"name": tenant.legal_name, "document": tenant.document, "address": address}


def _tenant(session: Session, tenant_id: uuid.UUID) -> Tenant:
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound("credor não encontrado")
    return tenant


def _require_settings(session: Session, tenant_id: uuid.UUID) -> BillingSettings:
    settings = get_settings(session, tenant_id=tenant_id)
    if settings is None or not (settings.boleto_enabled or settings.pix_enabled):
        raise BillingNotConfigured(
            "cobrança por boleto/PIX não configurada: adimple billing settings --file ARQUIVO"
        )
    return settings


def _merchant_name(tenant: Tenant, settings: BillingSettings | None) -> str:
    name = (settings.merchant_name if settings else None) or tenant.display_name
    return strip_accents(name).strip()[:25]


def _merchant_city(tenant: Tenant, settings: BillingSettings | None) -> str:
    city = (settings.merchant_city if settings else None) or tenant.city
    return strip_accents(city).strip()[:15]


def _settings_fingerprint(settings: BillingSettings, kind: ChargeKind, tenant: Tenant) -> str:
    if kind == ChargeKind.BOLETO:
        data: Any = [settings.bank_code, sorted(_bank_values(settings).items(), key=str)]
    else:
        data = [
            "cobv" if settings.psp_enabled else "static",
            settings.pix_key,
            _merchant_name(tenant, settings),
            _merchant_city(tenant, settings),
            settings.psp_base_url,
            settings.cobv_validity_days,
        ]
    return json.dumps(data, sort_keys=True, default=str)


def _current_documents(
    session: Session, receivable: Receivable
) -> dict[ChargeKind, ChargeDocument]:
    rows = session.scalars(
        select(ChargeDocument).where(
            ChargeDocument.tenant_id == receivable.tenant_id,
            ChargeDocument.receivable_id == receivable.id,
            ChargeDocument.superseded_at.is_(None),
        )
    )
    return {row.kind: row for row in rows}


def _load_receivable(
    session: Session, tenant_id: uuid.UUID, receivable_id: uuid.UUID
) -> Receivable:
    receivable = session.scalars(
        select(Receivable)
        .where(Receivable.tenant_id == tenant_id, Receivable.id == receivable_id)
        .with_for_update()
    ).first()
    if receivable is None:
        raise NotFound("título não encontrado")
    if receivable.status != ReceivableStatus.OPEN or receivable.balance <= ZERO:
        raise ReceivableNotBillable(
            f"título {receivable.external_id} não está em aberto ({receivable.status.value})"
        )
    return receivable


def payment_instructions(
    session: Session, *, tenant_id: uuid.UUID, receivable_id: uuid.UUID, as_of: date
) -> PaymentInstructions:
    """Boleto and PIX for one open receivable as of ``as_of`` (see the module docstring)."""
    settings = _require_settings(session, tenant_id)
    tenant = _tenant(session, tenant_id)
    receivable = _load_receivable(session, tenant_id, receivable_id)
    customer = session.get(Customer, receivable.customer_id)
    assert customer is not None
    policy, book = pricing(session, tenant_id=tenant_id)

    computed: dict[date, ChargeTerms] = {}

    def terms_for(due: date) -> ChargeTerms:
        if due not in computed:  # both documents usually share the due date: compute once
            computed[due] = charge_terms(
                balance=receivable.balance,
                receivable_due=receivable.due_date,
                due_date=due,
                policy=policy,
                consumer=customer.is_consumer,
                indices=book,
            )
        return computed[due]

    current = _current_documents(session, receivable)
    wanted = {
        kind
        for kind, enabled in (
            (ChargeKind.BOLETO, settings.boleto_enabled),
            (ChargeKind.PIX, settings.pix_enabled),
        )
        if enabled
    }

    def reusable(doc: ChargeDocument) -> ChargeTerms | None:
        if doc.basis_balance != receivable.balance or doc.basis_due_date != receivable.due_date:
            return None
        if as_of > next_bank_business_day(doc.due_date):
            return None  # past its due date: a new document with the amount updated
        terms = terms_for(doc.due_date)
        extra = _settings_fingerprint(settings, doc.kind, tenant)
        return terms if terms.fingerprint(extra) == doc.terms_fingerprint else None

    # One due date for both documents: that of a still-valid document, else a new one.
    kept: dict[ChargeKind, ChargeDocument] = {}
    terms: ChargeTerms | None = None
    for kind in sorted(wanted):
        doc = current.get(kind)
        found = reusable(doc) if doc is not None else None
        if doc is not None and found is not None and (terms is None or found == terms):
            kept[kind] = doc
            terms = found
    if terms is None:
        terms = terms_for(
            document_due_date(receivable.due_date, as_of, settings.boleto_days_to_pay)
        )

    issued: dict[ChargeKind, ChargeDocument] = dict(kept)
    for kind in sorted(wanted - set(kept)):
        previous = current.get(kind)
        if previous is not None:
            previous.superseded_at = utcnow()
            session.flush()
        if kind == ChargeKind.BOLETO:
            doc = _issue_boleto(session, settings, tenant, receivable, terms)
        else:
            doc = _issue_pix(session, settings, tenant, customer, receivable, terms)
        session.add(doc)
        session.flush()
        audit.record(
            session,
            tenant_id=tenant_id,
            actor="billing",
            action="billing.document_issued",
            entity_type="charge_document",
            entity_id=doc.id,
            data={
                "receivable_id": str(receivable.id),
                "kind": doc.kind.value,
                "pix_mode": doc.pix_mode.value if doc.pix_mode else None,
                "amount": money_str(doc.amount),
                "due_date": doc.due_date.isoformat(),
                "nosso_numero": doc.nosso_numero,
                "txid": doc.txid,
                "supersedes": str(previous.id) if previous else None,
            },
        )
        issued[kind] = doc
    return PaymentInstructions(
        tenant=tenant,
        receivable=receivable,
        as_of=as_of,
        terms=terms,
        boleto=issued.get(ChargeKind.BOLETO),
        pix=issued.get(ChargeKind.PIX),
    )


def _document(
    receivable: Receivable,
    terms: ChargeTerms,
    kind: ChargeKind,
    fingerprint: str,
    instructions: list[str],
) -> ChargeDocument:
    return ChargeDocument(
        tenant_id=receivable.tenant_id,
        receivable_id=receivable.id,
        kind=kind,
        basis_balance=receivable.balance,
        basis_due_date=receivable.due_date,
        terms_fingerprint=fingerprint,
        amount=terms.amount,
        due_date=terms.due_date,
        expires_on=next_bank_business_day(terms.due_date),
        details={
            "breakdown": terms.breakdown(),
            "after_due": terms.after_due.as_dict(),
            "instructions": instructions,
        },
        created_at=utcnow(),
    )


def _issue_boleto(
    session: Session,
    settings: BillingSettings,
    tenant: Tenant,
    receivable: Receivable,
    terms: ChargeTerms,
) -> ChargeDocument:
    assert settings.bank_code
    number = allocate_nosso_numero(session, settings=settings, receivable=receivable)
    try:
        spec = bank_free_field(
            settings.bank_code, bank_params(settings.bank_code, _bank_values(settings), number)
        )
        boleto = encode(
            bank_code=settings.bank_code,
            free_field=spec.free_field(),
            amount=terms.amount,
            due_date=terms.due_date,
        )
        printed = spec.printed_nosso_numero()
    except BoletoError as exc:
        raise ReceivableNotBillable(f"boleto: {exc}") from None
    fingerprint = terms.fingerprint(_settings_fingerprint(settings, ChargeKind.BOLETO, tenant))
    doc = _document(receivable, terms, ChargeKind.BOLETO, fingerprint, terms.instructions())
    doc.bank_code = settings.bank_code
    doc.nosso_numero = number
    doc.nosso_numero_printed = printed
    doc.barcode = boleto.barcode
    doc.linha_digitavel = boleto.linha_digitavel
    return doc


def _issue_pix(
    session: Session,
    settings: BillingSettings,
    tenant: Tenant,
    customer: Customer,
    receivable: Receivable,
    terms: ChargeTerms,
) -> ChargeDocument:
    assert settings.pix_key
    fingerprint = terms.fingerprint(_settings_fingerprint(settings, ChargeKind.PIX, tenant))
    if not settings.psp_enabled:
        txid = allocate_txid(session, receivable=receivable, mode=PixMode.STATIC)
        try:
            br_code = encode_pix(
                build(
                    key=settings.pix_key,
                    merchant_name=_merchant_name(tenant, settings),
                    merchant_city=_merchant_city(tenant, settings),
                    amount=terms.amount,
                    txid=txid,
                )
            )
        except PixError as exc:
            raise ReceivableNotBillable(f"pix: {exc}") from None
        # A static code carries a fixed amount: after its due date a new code is issued.
        lines = [
            *terms.instructions()[: 1 if terms.overdue else 0],
            f"Código Pix válido para pagamento até {short_date(terms.due_date)}; "
            "depois dessa data, gere um novo código com o valor atualizado.",
            *terms.notes,
        ]
        doc = _document(receivable, terms, ChargeKind.PIX, fingerprint, lines)
        doc.pix_mode = PixMode.STATIC
        doc.txid = txid
        doc.br_code = br_code
        return doc

    txid = allocate_txid(session, receivable=receivable, mode=PixMode.COBV)
    after = terms.after_due
    if after.interest_per_day:
        interest = Interest(InterestMode.VALUE_PER_CALENDAR_DAY, after.interest_per_day)
    else:
        interest = Interest(InterestMode.PERCENT_PER_MONTH, after.interest_monthly_percent or ZERO)
    request = CobvRequest(
        key=settings.pix_key,
        due_date=terms.due_date,
        amount=terms.amount,
        debtor_name=customer.name,
        debtor_document=customer.document,
        validity_after_due_days=settings.cobv_validity_days,
        # Always sent, zero when none: a revision (PATCH) must also clear a multa that the
        # updated amount already contains.
        fine=Fine(FineMode.PERCENT, after.fine_percent),
        interest=interest,
        payer_message=f"{tenant.legal_name} — título {receivable.external_id}",
        additional_info=(("Credor", f"{tenant.legal_name} — {tenant.document}"),),
    )
    try:
        request.as_json()  # the API Pix formats (\d{1,10}\.\d{2}) before any call
    except ValueError as exc:
        raise ReceivableNotBillable(f"pix: {exc}") from None
    try:
        charge = psp_client(settings).put_cobv(txid, request)
    except PspError as exc:
        if exc.charge_status == "CONCLUIDA":
            raise ReceivableNotBillable(
                f"a cobrança Pix {txid} já foi paga; o pagamento chega pelo webhook"
            ) from None
        if exc.charge_status is None:
            raise _psp_failure(exc) from None
        # The charge was removed (cancelled by us or by the PSP): issue under a new txid.
        txid = allocate_txid(session, receivable=receivable, mode=PixMode.COBV, renew=True)
        try:
            charge = psp_client(settings).put_cobv(txid, request)
        except PspError as again:
            raise _psp_failure(again) from None
    copia_e_cola = charge.get("pixCopiaECola")
    if not isinstance(copia_e_cola, str) or not copia_e_cola:
        raise PaymentProviderError("o PSP não devolveu o Pix Copia e Cola da cobrança")
    found_loc = charge.get("loc")
    loc: dict[str, Any] = found_loc if isinstance(found_loc, dict) else {}
    doc = _document(receivable, terms, ChargeKind.PIX, fingerprint, terms.instructions())
    doc.pix_mode = PixMode.COBV
    doc.txid = txid
    doc.br_code = copia_e_cola
    doc.psp_location = str(loc.get("location") or charge.get("location") or "") or None
    doc.psp_status = str(charge.get("status") or "") or None
    revision = charge.get("revisao")
    doc.psp_revision = revision if isinstance(revision, int) else None
    doc.expires_on = terms.due_date + timedelta(days=settings.cobv_validity_days)
    return doc


def cancel_charges(
    session: Session, *, tenant_id: uuid.UUID, receivable_id: uuid.UUID, actor: str
) -> list[ChargeDocument]:
    """Withdraws the receivable's current documents (agreement, write-off, paid elsewhere).

    A cobv is cancelled at the PSP (``REMOVIDA_PELO_USUARIO_RECEBEDOR``) so it can no longer be
    paid; a cobv the PSP reports as paid (``CONCLUIDA``) is a :class:`Conflict` — the payment is
    on its way through the webhook. Documents are marked superseded; the receivable keeps its
    nosso número and txid (a late payment of an old code still matches it).
    """
    receivable = session.scalars(
        select(Receivable).where(Receivable.tenant_id == tenant_id, Receivable.id == receivable_id)
    ).first()
    if receivable is None:
        raise NotFound("título não encontrado")
    settings = get_settings(session, tenant_id=tenant_id)
    cancelled = []
    for doc in _current_documents(session, receivable).values():
        if doc.pix_mode == PixMode.COBV and doc.txid:
            if settings is None or not settings.psp_enabled:
                raise BillingNotConfigured("PSP não configurado: a cobv não pode ser cancelada")
            client = psp_client(settings)
            try:
                charge = client.cancel_cobv(doc.txid)
            except PspError as exc:
                try:
                    status = client.get_cobv(doc.txid).get("status")
                except PspError:
                    status = None
                if status == "CONCLUIDA":
                    raise Conflict(f"a cobrança Pix {doc.txid} já foi paga") from None
                raise _psp_failure(exc) from None
            doc.psp_status = str(charge.get("status") or "") or None
        doc.superseded_at = utcnow()
        cancelled.append(doc)
        audit.record(
            session,
            tenant_id=tenant_id,
            actor=actor,
            action="billing.document_cancelled",
            entity_type="charge_document",
            entity_id=doc.id,
            data={"receivable_id": str(receivable.id), "kind": doc.kind.value, "txid": doc.txid},
        )
    session.flush()
    return cancelled


def instructions_for_customer(
    session: Session, *, tenant_id: uuid.UUID, customer_id: uuid.UUID, as_of: date
) -> list[PaymentInstructions]:
    """Instructions for every open receivable of a customer, oldest due date first."""
    customer = session.scalars(
        select(Customer).where(Customer.tenant_id == tenant_id, Customer.id == customer_id)
    ).first()
    if customer is None:
        raise NotFound("devedor não encontrado")
    ids = session.scalars(
        select(Receivable.id)
        .where(
            Receivable.tenant_id == tenant_id,
            Receivable.customer_id == customer_id,
            Receivable.status == ReceivableStatus.OPEN,
            Receivable.balance > ZERO,
        )
        .order_by(Receivable.due_date, Receivable.external_id)
    ).all()
    return [
        payment_instructions(session, tenant_id=tenant_id, receivable_id=rid, as_of=as_of)
        for rid in ids
    ]


def _debtor_address(session: Session, customer: Customer) -> str:
    point = session.scalars(
        select(ContactPoint)
        .where(
            ContactPoint.tenant_id == customer.tenant_id,
            ContactPoint.customer_id == customer.id,
            ContactPoint.kind == ContactKind.ADDRESS,
            ContactPoint.owner == ContactOwner.DEBTOR,
            ContactPoint.invalid_at.is_(None),
        )
        .order_by(ContactPoint.preferred.desc(), ContactPoint.created_at)
        .limit(1)
    ).first()
    if point is not None:
        return point.value
    return "/".join(p for p in (customer.municipality, customer.uf) if p)


def boleto_document(
    session: Session, *, tenant_id: uuid.UUID, receivable_id: uuid.UUID, as_of: date
) -> BoletoDocument:
    """The ficha de compensação of the receivable's current boleto, with the creditor's name,
    CPF/CNPJ and address (CDC art. 42-A) and, when there is one, the PIX QR (boleto híbrido)."""
    from adimple.payments.boleto.codec import decode

    found = payment_instructions(
        session, tenant_id=tenant_id, receivable_id=receivable_id, as_of=as_of
    )
    doc = found.boleto
    if doc is None or doc.barcode is None:
        raise BillingNotConfigured("boleto não configurado para este credor (boleto.bank)")
    settings = _require_settings(session, tenant_id)
    customer = session.get(Customer, found.receivable.customer_id)
    assert customer is not None
    who = creditor(found.tenant)
    if settings.codigo_beneficiario:
        account = "/".join(p for p in (settings.agencia, settings.codigo_beneficiario) if p)
    else:
        conta = settings.conta
        if conta and settings.conta_dv:
            conta = f"{conta}-{settings.conta_dv}"
        account = "/".join(p for p in (settings.agencia, conta) if p)
    return BoletoDocument(
        boleto=decode(doc.barcode, as_of=doc.due_date),
        beneficiario=Party(who["name"], who["document"], who["address"]),
        pagador=Party(customer.name, customer.document, _debtor_address(session, customer)),
        nosso_numero=doc.nosso_numero_printed or doc.nosso_numero or "",
        agencia_codigo_beneficiario=account,
        numero_documento=found.receivable.external_id[:25],
        data_documento=found.receivable.issue_date,
        data_processamento=as_of,
        carteira=settings.carteira or "",
        instrucoes=tuple(doc.details.get("instructions", [])),
        pix_payload=found.pix.br_code if found.pix is not None else None,
    )


def boleto_pdf(
    session: Session, *, tenant_id: uuid.UUID, receivable_id: uuid.UUID, as_of: date
) -> bytes:
    """The boleto as an A4 PDF (WeasyPrint, ~0.2 s)."""
    from adimple.payments.boleto.pdf import render_pdf

    return render_pdf(
        boleto_document(session, tenant_id=tenant_id, receivable_id=receivable_id, as_of=as_of)
    )
