import pytest

from adimple.portfolio.models import DocumentKind
from adimple.portfolio.validation import (
    normalize_document,
    normalize_email,
    normalize_phone,
    normalize_uf,
    parse_bool,
    parse_date,
)


class TestDocuments:
    def test_cpf_with_punctuation(self) -> None:
        assert normalize_document("529.982.247-25") == ("52998224725", DocumentKind.CPF)

    def test_cpf_that_lost_its_leading_zero_in_a_spreadsheet(self) -> None:
        assert normalize_document("1234567890")[0] == "01234567890"

    def test_numeric_cnpj(self) -> None:
        assert normalize_document("11.222.333/0001-81") == ("11222333000181", DocumentKind.CNPJ)

    def test_alphanumeric_cnpj(self) -> None:
        # IN RFB 2.229/2024: letters in the first 12 positions, numeric check digits.
        assert normalize_document("12.abc.345/01de-35") == ("12ABC34501DE35", DocumentKind.CNPJ)

    @pytest.mark.parametrize(
        "bad", ["529.982.247-26", "111.111.111-11", "11.222.333/0001-82", "12ABC34501DE36", "x"]
    )
    def test_wrong_check_digits(self, bad: str) -> None:
        with pytest.raises(ValueError):
            normalize_document(bad)


def test_email() -> None:
    assert normalize_email(" maria@Example.COM ") == "maria@example.com"
    with pytest.raises(ValueError):
        normalize_email("maria@")


def test_phone_to_e164() -> None:
    assert normalize_phone("(11) 98765-4321") == "+5511987654321"
    assert normalize_phone("+55 21 3333-4444") == "+552133334444"
    with pytest.raises(ValueError):
        normalize_phone("123")


def test_uf() -> None:
    assert normalize_uf("sp") == "SP"
    with pytest.raises(ValueError):
        normalize_uf("XX")


def test_dates_and_booleans() -> None:
    assert str(parse_date("22/11/2026")) == "2026-11-22"
    assert str(parse_date("2026-11-22")) == "2026-11-22"
    with pytest.raises(ValueError):
        parse_date("31/02/2026")
    assert parse_bool("Sim") and not parse_bool("não")
