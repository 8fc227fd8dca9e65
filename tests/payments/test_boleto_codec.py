"""Boleto codec: the shared vectors through the CLI contract, check digits, the due-date factor
with the 2025-02-22 reset, round trips and fuzzing (only BoletoError is ever raised)."""

from __future__ import annotations

import contextlib
import json
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adimple.payments.boleto.codec import (
    BoletoError,
    barcode_dv,
    barcode_to_linha,
    decode,
    due_factor,
    encode,
    factor_to_date,
    format_linha,
    linha_to_barcode,
    mod10,
)

VECTORS = Path(__file__).resolve().parent.parent / "data" / "vectors"
CONTRACT_KEYS = [
    "bank_code",
    "currency_code",
    "due_factor",
    "due_date",
    "amount",
    "barcode",
    "linha_digitavel",
    "free_field",
]


def _cases() -> list[dict[str, object]]:
    return json.loads((VECTORS / "boleto.json").read_text(encoding="utf-8"))["cases"]


class TestVectorsThroughCli:
    @pytest.mark.parametrize("case", _cases(), ids=lambda c: str(c["input"])[:12])
    def test_case(self, case: dict[str, object], run_cli) -> None:
        args = ["boleto", "decode", str(case["input"])]
        if case["reference_date"]:
            args += ["--as-of", str(case["reference_date"])]
        result = run_cli(*args)
        if case["valid"]:
            assert result.exit_code == 0, result.stderr
            data = result.json()
            assert list(data) == CONTRACT_KEYS
            assert data == case["expect"]
        else:
            result.assert_invalid()

    @pytest.mark.parametrize("case", [c for c in _cases() if c["valid"]])
    def test_barcode_and_linha_decode_alike(self, case: dict[str, object]) -> None:
        expect = case["expect"]
        assert isinstance(expect, dict)
        as_of = date.fromisoformat(str(case["reference_date"]))
        assert decode(expect["barcode"], as_of=as_of) == decode(
            format_linha(expect["linha_digitavel"]), as_of=as_of
        )


class TestDueFactor:
    @pytest.mark.parametrize(
        ("due", "factor"),
        [
            (date(2000, 7, 3), 1000),
            (date(2025, 2, 21), 9999),
            (date(2025, 2, 22), 1000),
            (date(2025, 2, 23), 1001),
            (date(1997, 10, 8), 1),
        ],
    )
    def test_factor_of_date(self, due: date, factor: int) -> None:
        assert due_factor(due) == factor
        assert factor_to_date(factor, as_of=due) == due

    def test_factor_names_the_date_nearest_to_as_of(self) -> None:
        assert factor_to_date(1000, as_of=date(2024, 12, 1)) == date(2025, 2, 22)
        assert factor_to_date(1000, as_of=date(2001, 1, 1)) == date(2000, 7, 3)
        assert factor_to_date(9999, as_of=date(2025, 6, 1)) == date(2025, 2, 21)
        assert factor_to_date(1500, as_of=date(2026, 1, 1)) == date(2026, 7, 7)

    def test_zero_factor_means_no_due_date(self, run_cli) -> None:
        boleto = encode(bank_code="341", free_field="0" * 25, amount=Decimal("1"), due_date=None)
        assert boleto.due_factor == 0
        assert run_cli("boleto", "decode", boleto.barcode).json()["due_date"] is None

    def test_as_of_default_is_today(self) -> None:
        today = date.today()
        boleto = encode(bank_code="001", free_field="1" * 25, amount=Decimal("2"), due_date=today)
        assert decode(boleto.linha_digitavel).due_date == today

    def test_due_date_before_the_base_is_refused(self) -> None:
        with pytest.raises(BoletoError):
            due_factor(date(1997, 10, 7))


class TestCheckDigits:
    def test_mod10_and_mod11_examples(self) -> None:
        # BB Doc5175 worked example: campo 1 "001905009" → DV 5; general DV 3.
        assert mod10("001905009") == 5
        assert barcode_dv("0019373700000001000500940144816060680935031") == 3

    def test_general_dv_0_10_11_become_1(self) -> None:
        free = "0" * 25
        seen = set()
        for cents in range(0, 400):
            body = f"3419{1000:04d}{cents:010d}{free}"
            remainder = 11 - sum(int(d) * (2 + i % 8) for i, d in enumerate(reversed(body))) % 11
            if remainder in (0, 10, 11):
                seen.add(remainder)
                assert barcode_dv(body) == 1
        assert seen  # the loop did hit the special cases

    @pytest.mark.parametrize(
        "code",
        [
            "1234",
            "0019037370000000100050094014481606068093503",  # 43 digits
            "00190.50095 40144.816069 06809.350314 3 3737000000010X",
            "848900000002404201622015806051904292586034111220",  # arrecadação
        ],
    )
    def test_malformed_codes(self, code: str, run_cli) -> None:
        with pytest.raises(BoletoError):
            decode(code)
        run_cli("boleto", "decode", code).assert_invalid()

    def test_bad_as_of(self, run_cli) -> None:
        run_cli("boleto", "decode", _cases()[0]["input"], "--as-of", "01/02/2008").assert_invalid()


# --------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------

barcodes = st.builds(
    lambda bank, factor, cents, free: encode(
        bank_code=bank,
        free_field=free,
        amount=Decimal(cents) / 100,
        due_date=factor,
    ),
    st.from_regex(r"[0-9]{3}", fullmatch=True),
    st.none() | st.dates(min_value=date(1997, 10, 8), max_value=date(2060, 12, 31)),
    st.integers(min_value=0, max_value=9_999_999_999),
    st.from_regex(r"[0-9]{25}", fullmatch=True),
)


@settings(max_examples=400, deadline=None)
@given(barcodes)
def test_barcode_linha_barcode_round_trip(boleto) -> None:  # type: ignore[no-untyped-def]
    assert linha_to_barcode(barcode_to_linha(boleto.barcode)) == boleto.barcode
    reference = boleto.due_date or date(2020, 1, 1)
    for code in (boleto.barcode, boleto.linha_digitavel, format_linha(boleto.linha_digitavel)):
        assert decode(code, as_of=reference) == boleto


@settings(max_examples=200, deadline=None)
@given(barcodes, st.integers(min_value=-4499, max_value=4499))
def test_factor_is_read_within_half_a_cycle(boleto, shift: int) -> None:  # type: ignore[no-untyped-def]
    if boleto.due_date is None or boleto.due_factor < 1000:
        return
    as_of = boleto.due_date + timedelta(days=shift)
    assert decode(boleto.barcode, as_of=as_of).due_date == boleto.due_date


@settings(max_examples=300, deadline=None)
@given(barcodes, st.integers(min_value=0, max_value=31), st.integers(min_value=1, max_value=9))
def test_any_single_digit_change_in_fields_1_to_3_is_caught(  # type: ignore[no-untyped-def]
    boleto, position: int, delta: int
) -> None:
    # Campos 1-3 carry a módulo-10 DV, which catches every single-digit change. (Campo 5 is
    # guarded only by the general DV, whose 0/10/11 → 1 folding lets ~5% of changes through —
    # a property of the FEBRABAN scheme, not of this code.)
    linha = boleto.linha_digitavel
    changed = linha[:position] + str((int(linha[position]) + delta) % 10) + linha[position + 1 :]
    with pytest.raises(BoletoError):
        decode(changed)


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=80) | st.from_regex(r"[\d .]{40,60}", fullmatch=True))
def test_decoder_only_raises_boleto_error(text: str) -> None:
    with contextlib.suppress(BoletoError):
        decode(text)
