"""Shapes of the billing settings document (CLI file and API body) and of the API answers."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BoletoSettings(_Model):
    """Beneficiary account; which fields a bank needs: docs/payments.md (bank free fields)."""

    bank: str = Field(
        pattern=r"^\d{3}$", description="Bank code (001, 033, 041, 104, 237, 341, 756)."
    )
    agencia: str | None = Field(default=None, max_length=10)
    conta: str | None = Field(default=None, max_length=20)
    conta_dv: str | None = Field(default=None, max_length=2)
    carteira: str | None = Field(default=None, max_length=5)
    convenio: str | None = Field(default=None, max_length=20)
    codigo_beneficiario: str | None = Field(default=None, max_length=20)
    options: dict[
        Annotated[str, Field(max_length=40)], bool | Annotated[str, Field(max_length=20)]
    ] = Field(
        default_factory=dict,
        description="Other bank fields: cooperativa, codigo_cliente, modalidade, emissao, iof, …",
    )
    nosso_numero_next: int | None = Field(
        default=None, ge=1, le=10**17, description="Next nosso número sequence (kept if omitted)."
    )
    days_to_pay: int = Field(
        default=3, ge=1, le=30, description="Bank business days to pay an overdue título."
    )


class PixSettings(_Model):
    key: str = Field(min_length=1, max_length=77, description="Chave Pix of the creditor.")
    merchant_name: str | None = Field(default=None, max_length=25)
    merchant_city: str | None = Field(default=None, max_length=15)


class PspSettings(_Model):
    base_url: str = Field(pattern=r"^https?://\S+$", max_length=300)
    client_id: str = Field(min_length=1, max_length=200)
    client_secret: str | None = Field(
        default=None,
        min_length=1,
        max_length=500,
        description="Write only. Omit to keep the stored secret.",
    )
    cert_path: str | None = Field(default=None, max_length=500)
    key_path: str | None = Field(default=None, max_length=500)
    webhook_url: str | None = Field(default=None, pattern=r"^https?://\S+$", max_length=300)
    validity_days: int = Field(
        default=30, ge=0, le=365, description="validadeAposVencimento of each cobv."
    )


class BillingSettingsInput(_Model):
    """The whole settings document (``adimple billing settings --file``, ``PUT …/settings``)."""

    boleto: BoletoSettings | None = None
    pix: PixSettings | None = None
    psp: PspSettings | None = None

    @field_validator("psp")
    @classmethod
    def _psp_needs_pix(cls, value: PspSettings | None, info: Any) -> PspSettings | None:
        if value is not None and info.data.get("pix") is None:
            raise ValueError("psp requires pix.key (the cobv is issued for that key)")
        return value


class PspSettingsRead(BaseModel):
    base_url: str
    client_id: str
    has_client_secret: bool
    cert_path: str | None
    key_path: str | None
    webhook_url: str | None
    validity_days: int


class BillingSettingsRead(BaseModel):
    boleto: BoletoSettings | None
    pix: PixSettings | None
    psp: PspSettingsRead | None
    pix_mode: Literal["cobv", "static"] | None


class BoletoRead(BaseModel):
    bank_code: str
    bank_name: str | None
    nosso_numero: str
    nosso_numero_printed: str
    due_date: date
    amount: str
    barcode: str
    linha_digitavel: str
    linha_digitavel_formatada: str
    expires_on: date


class PixRead(BaseModel):
    kind: Literal["cobv", "static"]
    txid: str
    br_code: str = Field(description="Pix Copia e Cola")
    amount: str
    due_date: date
    expires_on: date
    location: str | None
    status: str | None


class CreditorRead(BaseModel):
    name: str
    document: str
    address: str


class PaymentInstructionsRead(BaseModel):
    receivable_id: str
    external_id: str
    customer_id: str
    as_of: date
    overdue: bool
    receivable_due_date: date
    due_date: date
    amount: str
    breakdown: dict[str, Any]
    after_due: dict[str, Any]
    instructions: list[str]
    creditor: CreditorRead
    boleto: BoletoRead | None
    pix: PixRead | None
