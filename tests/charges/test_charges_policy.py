"""Policy documents: defaults, validation, YAML/JSON round trips and the CDC cap."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest

from adimple.charges.policy import (
    DEFAULT_POLICY,
    ConsumerFineCapExceeded,
    LegalInterest,
    MonthlySimpleInterest,
    Policy,
    PolicyError,
    dump_policy,
    load_policy_text,
    policy_from_data,
    policy_warnings,
    validate_for_debtor,
    validate_for_tenant,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "policy.md"


class TestDefaults:
    def test_default_policy(self) -> None:
        policy = DEFAULT_POLICY
        assert policy.fine_percent == Decimal("2")
        assert isinstance(policy.interest, MonthlySimpleInterest)
        assert policy.interest.monthly_percent == Decimal("1")
        assert policy.correction.index == "IPCA"
        assert policy.fees.enabled is False
        assert policy.plans.max_installments == 12
        assert policy.discount_for(1) is not None
        assert policy.discount_for(12) is None
        validate_for_tenant(policy)

    def test_documented_example_is_valid(self) -> None:
        text = DOC.read_text(encoding="utf-8")
        blocks = re.findall(r"```yaml\n(.*?)```", text, flags=re.S)
        assert blocks, "docs/policy.md has a YAML example"
        for block in blocks:
            load_policy_text(block)

    def test_documented_defaults_match_the_code(self) -> None:
        text = DOC.read_text(encoding="utf-8")
        block = re.search(r"<!-- default-policy -->\n```yaml\n(.*?)```", text, flags=re.S)
        assert block is not None
        assert load_policy_text(block.group(1)) == DEFAULT_POLICY


class TestRoundTrip:
    @pytest.mark.parametrize("fmt", ["yaml", "json"])
    def test_dump_and_load(self, fmt: str) -> None:
        policy = Policy(
            name="Escola X",
            interest=LegalInterest(),
            grace_days=3,
            fees={
                "enabled": True,
                "items": [
                    {"code": "honorarios", "label": "Honorários", "kind": "percent", "value": "10"}
                ],
            },
            discounts=[{"max_installments": 1, "charges_percent": "100", "principal_percent": "5"}],
        )
        text = dump_policy(policy, fmt)  # type: ignore[arg-type]
        assert load_policy_text(text, fmt=fmt) == policy  # type: ignore[arg-type]

    def test_yaml_floats_become_exact_decimals(self) -> None:
        policy = load_policy_text("interest: {mode: monthly_simple, monthly_percent: 0.99}\n")
        assert isinstance(policy.interest, MonthlySimpleInterest)
        assert policy.interest.monthly_percent == Decimal("0.99")


class TestValidation:
    @pytest.mark.parametrize(
        ("data", "message"),
        [
            ({"fine_percent": -1}, "fine_percent"),
            ({"interest": {"mode": "compound"}}, "interest"),
            ({"correction": {"index": "IGPM"}}, "correction.index"),
            ({"grace_days": 90}, "grace_days"),
            ({"unknown": 1}, "unknown"),
            ({"plans": {"min_installment": "10.001"}}, "2 casas"),
            (
                {"authority": {"operator_max_discount_percent": 40}},
                "alçada do operador",
            ),
            ({"discounts": [{"max_installments": 1}, {"max_installments": 1}]}, "mesmo"),
            (
                {"fees": {"items": [{"code": "x", "label": "X", "kind": "percent", "value": 30}]}},
                "20%",
            ),
        ],
    )
    def test_errors_name_the_field(self, data: dict[str, object], message: str) -> None:
        with pytest.raises(PolicyError, match=re.escape(message)):
            policy_from_data(data)

    def test_unreadable_document(self) -> None:
        with pytest.raises(PolicyError, match="ilegível"):
            load_policy_text("fine_percent: [1,\n")
        with pytest.raises(PolicyError, match="objeto"):
            load_policy_text("- 1\n- 2\n")

    def test_discount_tiers_are_sorted(self) -> None:
        policy = Policy(discounts=[{"max_installments": 6}, {"max_installments": 1}])
        assert [t.max_installments for t in policy.discounts] == [1, 6]


class TestConsumerFineCap:
    def test_above_two_percent_is_rejected_for_consumers(self) -> None:
        policy = Policy(fine_percent=Decimal("2.5"), business_only=True)
        with pytest.raises(ConsumerFineCapExceeded) as info:
            validate_for_debtor(policy, consumer=True)
        assert info.value.detail == (
            "multa de 2,5% não pode ser aplicada a consumidor: o limite é 2% do valor da "
            "prestação (CDC art. 52 §1º, Lei 9.298/1996)"
        )
        validate_for_debtor(policy, consumer=False)

    def test_exactly_two_percent_is_fine(self) -> None:
        validate_for_debtor(Policy(fine_percent=Decimal("2.00")), consumer=True)

    def test_a_tenant_policy_covers_consumers_unless_business_only(self) -> None:
        with pytest.raises(ConsumerFineCapExceeded):
            validate_for_tenant(Policy(fine_percent=Decimal("10")))
        validate_for_tenant(Policy(fine_percent=Decimal("10"), business_only=True))


class TestWarnings:
    def test_lawyer_notes(self) -> None:
        assert policy_warnings(DEFAULT_POLICY) == []
        notes = policy_warnings(
            Policy(interest=LegalInterest(), correction={"index": "none"}, business_only=True)
        )
        assert any("taxa legal sem correção" in n for n in notes)
        assert any("só para empresas" in n for n in notes)
        usura = policy_warnings(Policy(interest={"mode": "monthly_simple", "monthly_percent": 2}))
        assert any("Súmula 379" in n for n in usura)
