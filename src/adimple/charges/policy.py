"""Collection policy (política de cobrança) of a tenant — pure code, no database.

The policy is a small document (YAML or JSON, see ``docs/policy.md``) validated by the pydantic
models below. It decides how an overdue installment is updated (multa, juros de mora, correção
monetária, tolerância, honorários) and what may be offered to settle it (descontos, parcelamento,
entrada, parcela mínima, juros do parcelamento, alçadas de desconto).

Percentages are exact ``Decimal`` values in percent (``2`` = 2%); money is ``Decimal`` reais with
at most two decimals. Floats are converted through their shortest text form (``1.99`` → ``1.99``).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from adimple.kit.errors import DomainError

# CDC art. 52 §1 (Lei 9.298/1996): a multa de mora over a consumer's installment is at most 2%.
CONSUMER_FINE_CAP = Decimal("2")

Percent = Annotated[Decimal, Field(ge=0, le=100)]


class PolicyError(DomainError):
    """A policy document that cannot be used (HTTP 422, message in pt-BR)."""

    status_code = 422
    title = "Política de cobrança inválida"


class ConsumerFineCapExceeded(PolicyError):
    """CDC art. 52 §1: multa above 2% for a consumer debtor."""

    def __init__(self, fine_percent: Decimal) -> None:
        super().__init__(consumer_fine_message(fine_percent), fine_percent=str(fine_percent))


def consumer_fine_message(fine_percent: Decimal) -> str:
    return (
        f"multa de {_plain(fine_percent)}% não pode ser aplicada a consumidor: o limite é 2% "
        "do valor da prestação (CDC art. 52 §1º, Lei 9.298/1996)"
    )


def _plain(value: Decimal) -> str:
    text = format(value.normalize(), "f") if value == value.to_integral() else format(value, "f")
    return text.replace(".", ",")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MonthlySimpleInterest(_Model):
    """Juros de mora contratuais: ``monthly_percent`` ao mês, simples, pro rata die (÷ 30)."""

    mode: Literal["monthly_simple"] = "monthly_simple"
    # STJ Súmula 379 (bank contracts) and the Lei de Usura cap moratory interest at 1% a.m. for
    # most creditors; 10 is only a sanity bound, :func:`policy_warnings` flags anything above 1.
    monthly_percent: Decimal = Field(default=Decimal("1"), ge=0, le=10)


class LegalInterest(_Model):
    """Juros pela taxa legal (CC art. 406, Lei 14.905/2024; Res. CMN 5.171/2024; SGS 29543)."""

    mode: Literal["legal"] = "legal"


class NoInterest(_Model):
    mode: Literal["none"] = "none"


InterestRule = Annotated[
    MonthlySimpleInterest | LegalInterest | NoInterest, Field(discriminator="mode")
]


class CorrectionRule(_Model):
    """Correção monetária: IPCA (CC art. 389 parágrafo único, Lei 14.905/2024) or none."""

    index: Literal["IPCA", "none"] = "IPCA"


class FeeItem(_Model):
    """One collection fee (honorários/despesas de cobrança), shown itemised."""

    code: str = Field(min_length=1, max_length=40, pattern=r"^[a-z0-9_\-]+$")
    label: str = Field(min_length=1, max_length=120)
    kind: Literal["fixed", "percent"]
    # fixed: reais per overdue installment; percent: % of the corrected installment.
    # The upper bound keeps Decimal.quantize in range (a 27-digit value would raise there).
    value: Decimal = Field(ge=0, le=Decimal("1000000"))

    @model_validator(mode="after")
    def _bounds(self) -> FeeItem:
        if self.kind == "percent" and self.value > 20:
            raise ValueError(f"taxa '{self.code}': percentual acima de 20% não é aceito")
        if self.kind == "fixed" and self.value != self.value.quantize(Decimal("0.01")):
            raise ValueError(f"taxa '{self.code}': valor fixo com mais de 2 casas decimais")
        return self


class FeesRule(_Model):
    """Off by default. Turn on only when the debtors' contracts provide for these costs (and,
    for consumers, give the consumer the same right against the creditor: CDC art. 51 XII)."""

    enabled: bool = False
    items: list[FeeItem] = Field(default_factory=list)

    @field_validator("items")
    @classmethod
    def _unique_codes(cls, items: list[FeeItem]) -> list[FeeItem]:
        codes = [item.code for item in items]
        if len(codes) != len(set(codes)):
            raise ValueError("códigos de taxa repetidos")
        return items


class DiscountTier(_Model):
    """Discount for plans of up to ``max_installments`` payments.

    ``charges_percent`` applies to the encargos (multa + juros + honorários);
    ``principal_percent`` to the updated principal (principal + correção).
    """

    max_installments: int = Field(ge=1, le=120)
    charges_percent: Percent = Decimal("0")
    principal_percent: Percent = Decimal("0")


class DownPaymentRule(_Model):
    """Entrada: at least ``min_percent`` of the negotiated amount, paid on the first due date."""

    min_percent: Percent = Decimal("10")


class PlanRules(_Model):
    max_installments: int = Field(default=12, ge=1, le=120)
    min_installment: Decimal = Field(default=Decimal("50.00"), ge=0, le=Decimal("1000000"))
    down_payment: DownPaymentRule = Field(default_factory=DownPaymentRule)
    # Juros do parcelamento (Tabela Price, monthly compound) for plans longer than
    # ``interest_free_installments`` payments.
    interest_monthly_percent: Decimal = Field(default=Decimal("1"), ge=0, le=10)
    interest_free_installments: int = Field(default=6, ge=1, le=120)
    # First payment (entrada or à vista) this many calendar days after the negotiation date,
    # then moved to a bank business day.
    first_due_days: int = Field(default=0, ge=0, le=30)

    @field_validator("min_installment")
    @classmethod
    def _cents(cls, value: Decimal) -> Decimal:
        if value != value.quantize(Decimal("0.01")):
            raise ValueError("parcela mínima com mais de 2 casas decimais")
        return value


class AuthorityLimits(_Model):
    """Alçadas: the largest discount (% of the updated debt) each role may grant by hand."""

    operator_max_discount_percent: Percent = Decimal("10")
    supervisor_max_discount_percent: Percent = Decimal("30")

    @model_validator(mode="after")
    def _ordered(self) -> AuthorityLimits:
        if self.operator_max_discount_percent > self.supervisor_max_discount_percent:
            raise ValueError("a alçada do operador não pode exceder a do supervisor")
        return self


class AgreementRules(_Model):
    """Acordos: days an agreement installment may stay unpaid after its due date before the
    agreement is broken (or, when nothing was paid yet, lapses) and collection resumes."""

    tolerance_days: int = Field(default=5, ge=0, le=60)


def _default_discounts() -> list[DiscountTier]:
    return [
        DiscountTier(max_installments=1, charges_percent=Decimal("50")),
        DiscountTier(max_installments=3, charges_percent=Decimal("25")),
    ]


class Policy(_Model):
    """The whole collection policy document (schema version 1)."""

    schema_version: Literal[1] = 1
    name: str = Field(default="Política padrão", max_length=120)
    # True only when every debtor is a business outside consumer protection: the CDC cap is then
    # not checked when the policy is saved (it still is for each consumer debtor it meets).
    business_only: bool = False
    # Multa moratória, once, on the corrected overdue installment (CDC art. 52 §1 for consumers;
    # CC art. 412 — never above the obligation itself).
    fine_percent: Percent = Decimal("2")
    interest: InterestRule = Field(default_factory=MonthlySimpleInterest)
    correction: CorrectionRule = Field(default_factory=CorrectionRule)
    # Tolerância: paid within this many days after the (business-day) due date, no charges.
    grace_days: int = Field(default=0, ge=0, le=60)
    fees: FeesRule = Field(default_factory=FeesRule)
    # Contract rate used to bring future installments to present value on early payoff
    # (CDC art. 52 §2; Resolução CMN 3.516/2007). None: no rate known, no discount.
    early_payoff_monthly_percent: Decimal | None = Field(default=None, ge=0, le=20)
    discounts: list[DiscountTier] = Field(default_factory=_default_discounts)
    plans: PlanRules = Field(default_factory=PlanRules)
    authority: AuthorityLimits = Field(default_factory=AuthorityLimits)
    agreements: AgreementRules = Field(default_factory=AgreementRules)

    @field_validator("discounts")
    @classmethod
    def _tiers_sorted(cls, tiers: list[DiscountTier]) -> list[DiscountTier]:
        limits = [tier.max_installments for tier in tiers]
        if len(limits) != len(set(limits)):
            raise ValueError("faixas de desconto com o mesmo max_installments")
        return sorted(tiers, key=lambda tier: tier.max_installments)

    def discount_for(self, installments: int) -> DiscountTier | None:
        """The tier of the smallest ``max_installments`` ≥ ``installments`` (None: no discount)."""
        for tier in self.discounts:
            if installments <= tier.max_installments:
                return tier
        return None


DEFAULT_POLICY = Policy()


def validate_for_debtor(policy: Policy, consumer: bool) -> None:
    """Raises :class:`ConsumerFineCapExceeded` when ``policy`` cannot apply to this debtor.

    Consumer = CPF, or a CNPJ debtor flagged as consumer (CDC art. 2; ``Customer.is_consumer``).
    """
    if consumer and policy.fine_percent > CONSUMER_FINE_CAP:
        raise ConsumerFineCapExceeded(policy.fine_percent)


def validate_for_tenant(policy: Policy) -> None:
    """A tenant's stored policy applies to all of its debtors, consumers included, unless it is
    marked ``business_only``; so the CDC cap is checked when the policy is saved."""
    if not policy.business_only:
        validate_for_debtor(policy, consumer=True)


def policy_warnings(policy: Policy) -> list[str]:
    """Legal points a lawyer should look at before using the policy (not errors)."""
    warnings = []
    if isinstance(policy.interest, MonthlySimpleInterest) and policy.interest.monthly_percent > 1:
        warnings.append(
            "juros de mora acima de 1% ao mês: limite da Lei de Usura (Decreto 22.626/1933) e da "
            "Súmula 379 do STJ para a maioria dos credores"
        )
    if policy.interest.mode == "legal" and policy.correction.index == "none":
        warnings.append(
            "taxa legal sem correção pelo IPCA: a taxa legal já desconta a inflação "
            "(SELIC − IPCA), então o credor perde a atualização monetária (CC art. 389)"
        )
    if policy.fees.enabled and not policy.fees.items:
        warnings.append("taxas habilitadas sem nenhum item")
    if policy.business_only:
        warnings.append(
            "política só para empresas: não se aplica a consumidores (CPF ou CNPJ marcado "
            "como consumidor)"
        )
    return warnings


def policy_from_data(data: Any) -> Policy:
    """Validates a parsed document; :class:`PolicyError` with a readable pt-BR message."""
    if not isinstance(data, dict):
        raise PolicyError("a política deve ser um objeto (chave: valor)")
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(format_validation_error(exc)) from None


def format_validation_error(exc: ValidationError) -> str:
    parts = []
    for error in exc.errors(include_url=False):
        where = ".".join(str(p) for p in error["loc"] if not str(p).startswith("function-"))
        message = str(error["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts)


def load_policy_text(text: str, *, fmt: Literal["yaml", "json"] | None = None) -> Policy:
    """Reads a YAML or JSON document (JSON is valid YAML, so ``fmt`` is only a hint)."""
    try:
        data = json.loads(text) if fmt == "json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise PolicyError(f"documento ilegível: {' '.join(str(exc).split())}") from None
    return policy_from_data(data)


def policy_to_data(policy: Policy) -> dict[str, Any]:
    """JSON-ready dict (Decimals as strings, so nothing passes through a float)."""
    return policy.model_dump(mode="json")


def dump_policy(policy: Policy, fmt: Literal["yaml", "json"] = "yaml") -> str:
    data = policy_to_data(policy)
    if fmt == "json":
        return json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
