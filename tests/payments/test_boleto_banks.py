"""Bank free fields (campo livre) and nosso número check digits: published examples, and
build → barcode → decode → explain round trips for every bank."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adimple.payments.boleto.banks import (
    BancoDoBrasil,
    Banrisul,
    Bradesco,
    Caixa,
    Itau,
    Santander,
    Sicoob,
    bank_dv,
    bank_free_field,
    bb_nosso_numero_dv,
    bradesco_nosso_numero_dv,
    explain_free_field,
)
from adimple.payments.boleto.codec import BoletoError, decode, encode


class TestPublishedExamples:
    """Free fields of the shared boleto vectors, rebuilt from their parts."""

    @pytest.mark.parametrize(
        ("spec", "free"),
        [
            (
                BancoDoBrasil(convenio="1238798", nosso_numero="9777700168", carteira="18"),
                "0000001238798977770016818",
            ),
            (
                BancoDoBrasil(
                    convenio="0500",
                    nosso_numero="9401448",
                    carteira="31",
                    agencia="1606",
                    conta="06809350",
                ),
                "0500940144816060680935031",
            ),
            (
                Itau(carteira="175", nosso_numero="12345678", agencia="0810", conta="53678"),
                "1751234567840810536789000",
            ),
            (
                Bradesco(agencia="1172", carteira="06", nosso_numero="75896452", conta="403005"),
                "1172060007589645204030050",
            ),
            (
                Santander(codigo_beneficiario="1899775", nosso_numero="9000026", carteira="102"),
                "9189977500000900002690102",
            ),
            (
                Sicoob(cooperativa="4327", codigo_cliente="229385", nosso_numero="2"),
                "1432701022938500000024001",
            ),
            (
                Banrisul(agencia="0016", codigo_beneficiario="0164640", nosso_numero="03408099"),
                "2100160164640034080994027",
            ),
            # Caixa SIGCB example (kivanio/brcobranca caixa_spec: convênio 245274, NN 1)
            (Caixa(codigo_beneficiario="245274", nosso_numero="1"), "2452740000100040000000017"),
        ],
    )
    def test_free_field(self, spec, free: str) -> None:  # type: ignore[no-untyped-def]
        assert spec.free_field() == free
        assert explain_free_field(spec.bank_code, free).nosso_numero == spec.printed_nosso_numero()

    def test_printed_nosso_numero(self) -> None:
        assert Caixa(codigo_beneficiario="245274", nosso_numero="1").printed_nosso_numero() == (
            "14000000000000001-4"
        )
        assert bradesco_nosso_numero_dv("19", "00000000002") == "8"  # Bradesco manual example
        assert Itau("175", "12345678", "0810", "53678").printed_nosso_numero() == "175/12345678-4"
        assert bb_nosso_numero_dv("0000000000") in "0123456789X"

    @pytest.mark.parametrize(
        ("bank", "dv"),
        [
            ("001", "9"),
            ("033", "7"),
            ("041", "8"),
            ("104", "0"),
            ("237", "2"),
            ("341", "7"),
            ("756", "0"),
        ],
    )
    def test_bank_check_digit(self, bank: str, dv: str) -> None:
        assert bank_dv(bank) == dv

    def test_caixa_sicob_free_field_is_explained(self) -> None:
        info = explain_free_field("104", "8019525086156587000000414")
        assert info.layout == "sicob" and info.nosso_numero == "8019525086"

    def test_wrong_dac_is_reported(self) -> None:
        with pytest.raises(BoletoError, match="DAC"):
            explain_free_field("341", "1751234567940810536789000")


class TestBuilderFromOptions:
    def test_unknown_and_missing_parameters_are_named(self) -> None:
        with pytest.raises(BoletoError, match="does not use: convenio"):
            bank_free_field("341", {"convenio": "123", "carteira": "109"})
        with pytest.raises(BoletoError, match="needs: nosso_numero, agencia, conta"):
            bank_free_field("341", {"carteira": "109"})
        with pytest.raises(BoletoError, match="no free-field builder"):
            bank_free_field("999", {})

    def test_encode_cli_matches_decode_shape(self, run_cli) -> None:
        result = run_cli(
            "boleto",
            "encode",
            "--bank",
            "104",
            "--due-date",
            "2026-03-10",
            "--amount",
            "1.234,56",
            "--codigo-beneficiario",
            "245274",
            "--nosso-numero",
            "42",
        )
        assert result.exit_code == 0, result.stderr
        data = result.json()
        decoded = run_cli("boleto", "decode", data["linha_digitavel"], "--as-of", "2026-03-10")
        assert decoded.json() == data
        assert data["amount"] == "1234.56" and data["due_date"] == "2026-03-10"

    def test_encode_cli_raw_free_field_and_no_due_date(self, run_cli) -> None:
        data = run_cli(
            "boleto", "encode", "--bank", "422", "--amount", "10", "--free-field", "7" * 25
        ).json()
        assert data["due_factor"] == 0 and data["due_date"] is None

    @pytest.mark.parametrize(
        "args",
        [
            ["--bank", "341", "--amount", "10", "--carteira", "109"],
            ["--bank", "341", "--amount", "x", "--free-field", "1" * 25],
            ["--bank", "341", "--amount", "10", "--free-field", "1" * 24],
            [
                "--bank",
                "341",
                "--amount",
                "10",
                "--due-date",
                "2026-13-01",
                "--free-field",
                "1" * 25,
            ],
            ["--bank", "341", "--amount", "100000000.00", "--free-field", "1" * 25],
        ],
    )
    def test_encode_cli_invalid(self, run_cli, args: list[str]) -> None:
        run_cli("boleto", "encode", *args).assert_invalid()

    def test_explain_cli(self, run_cli) -> None:
        data = run_cli("boleto", "explain", "34191377000000135001750025828170810536789000").json()
        assert data["bank_fields"]["nosso_numero"] == "175/00258281-7"
        other = run_cli("boleto", "explain", "74595545200000009993621305080446000000000027").json()
        assert other["bank_fields"] is None and "745" in other["bank_fields_error"]


# --------------------------------------------------------------------------------------------
# Round trips: bank fields → free field → barcode → decode → explain
# --------------------------------------------------------------------------------------------


def digits(size: int) -> st.SearchStrategy[str]:
    return st.from_regex(rf"[0-9]{{1,{size}}}", fullmatch=True)


bank_specs = st.one_of(
    st.builds(
        BancoDoBrasil,
        convenio=st.from_regex(r"[1-9][0-9]{6}", fullmatch=True),
        nosso_numero=digits(10),
        carteira=st.sampled_from(["17", "18"]),
    ),
    st.builds(
        BancoDoBrasil,
        convenio=st.from_regex(r"[1-9][0-9]{3}", fullmatch=True),
        nosso_numero=digits(7),
        carteira=st.sampled_from(["11", "17", "18", "31"]),
        agencia=digits(4),
        conta=digits(8),
    ),
    st.builds(
        BancoDoBrasil,
        convenio=st.from_regex(r"[1-9][0-9]{5}", fullmatch=True),
        nosso_numero=digits(5),
        carteira=st.sampled_from(["11", "17", "18"]),
        agencia=digits(4),
        conta=digits(8),
    ),
    st.builds(
        Itau,
        carteira=st.sampled_from(["109", "112", "157", "175", "126", "168"]),
        nosso_numero=digits(8),
        agencia=digits(4),
        conta=digits(5),
    ),
    st.builds(
        Itau,
        carteira=st.sampled_from(["106", "198"]),
        nosso_numero=digits(8),
        agencia=digits(4),
        conta=digits(5),
        seu_numero=digits(7),
        codigo_cliente=digits(5),
    ),
    st.builds(
        Bradesco,
        agencia=digits(4),
        carteira=st.sampled_from(["06", "09", "19"]),
        nosso_numero=digits(11),
        conta=digits(7),
    ),
    st.builds(
        Caixa,
        codigo_beneficiario=digits(6),
        nosso_numero=digits(15),
        modalidade=st.sampled_from(["1", "2"]),
    ),
    st.builds(
        Santander,
        codigo_beneficiario=digits(7),
        nosso_numero=digits(12),
        carteira=st.sampled_from(["101", "102", "201"]),
    ),
    st.builds(
        Sicoob,
        cooperativa=digits(4),
        codigo_cliente=digits(7),
        nosso_numero=digits(7),
        parcela=st.from_regex(r"0[0-9][1-9]", fullmatch=True),
    ),
    st.builds(
        Banrisul,
        agencia=digits(4),
        codigo_beneficiario=digits(7),
        nosso_numero=digits(8),
        produto=st.sampled_from(["1", "2"]),
    ),
)


@settings(max_examples=400, deadline=None)
@given(
    bank_specs,
    st.dates(min_value=date(2000, 7, 3), max_value=date(2050, 1, 1)),
    st.integers(min_value=1, max_value=99_999_999_99),
)
def test_every_bank_round_trips(spec, due: date, cents: int) -> None:  # type: ignore[no-untyped-def]
    boleto = encode(
        bank_code=spec.bank_code,
        free_field=spec.free_field(),
        amount=Decimal(cents) / 100,
        due_date=due,
    )
    decoded = decode(boleto.linha_digitavel, as_of=due)
    assert decoded == boleto
    info = explain_free_field(decoded.bank_code, decoded.free_field)
    # (BB convênios of 4 and 6 digits share one layout: the printed nosso número is the same
    # 11 digits + DV either way, so it still matches.)
    assert info.nosso_numero == spec.printed_nosso_numero()
