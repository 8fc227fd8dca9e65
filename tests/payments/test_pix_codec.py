"""PIX BR Code: the shared vectors through the CLI contract, the encoder's rules, round trips
and fuzzing (the decoder raises only PixError)."""

from __future__ import annotations

import contextlib
import json
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adimple.payments.pix import NO_TXID, PixError, build, crc16_ccitt_false, decode, encode
from adimple.payments.pix.codec import parse_tlv

CONTRACT_KEYS = [
    "payload_format",
    "point_of_initiation",
    "gui",
    "key",
    "description",
    "url",
    "mcc",
    "currency",
    "amount",
    "country",
    "merchant_name",
    "merchant_city",
    "postal_code",
    "txid",
    "crc",
]
BCB_STATIC = (
    "00020126580014br.gov.bcb.pix0136123e4567-e12b-12d1-a456-426655440000"
    "5204000053039865802BR5913Fulano de Tal6008BRASILIA62070503***63041D3D"
)


VECTORS = Path(__file__).resolve().parent.parent / "data" / "vectors"


def _vector_cases() -> list[dict[str, object]]:
    return json.loads((VECTORS / "pix.json").read_text(encoding="utf-8"))["cases"]


class TestVectorsThroughCli:
    @pytest.mark.parametrize("case", _vector_cases(), ids=lambda c: str(c["payload"])[-8:])
    def test_case(self, case: dict[str, object], run_cli) -> None:
        result = run_cli("pix", "decode", str(case["payload"]))
        if case["valid"]:
            assert result.exit_code == 0, result.stderr
            data = result.json()
            assert list(data) == CONTRACT_KEYS
            assert data == case["expect"]
        else:
            result.assert_invalid()

    @pytest.mark.parametrize("case", [c for c in _vector_cases() if c["valid"]])
    def test_valid_payloads_re_encode_byte_for_byte(self, case: dict[str, object]) -> None:
        assert encode(decode(str(case["payload"]))) == case["payload"]


class TestDecode:
    def test_crc_is_ccitt_false(self) -> None:
        assert crc16_ccitt_false(b"123456789") == 0x29B1  # the CRC catalogue check value

    def test_unreserved_template_is_kept(self) -> None:
        payload = _vector_cases()[2]["payload"]
        decoded = decode(str(payload))
        assert decoded.templates[0][0] == "80"
        assert dict(decoded.templates[0][1])["25"].startswith("pix.example.com/qr/v2/rec/")

    def test_gui_upper_case_is_accepted_and_kept(self) -> None:
        body = BCB_STATIC[:-8].replace("br.gov.bcb.pix", "BR.GOV.BCB.PIX")
        payload = body + "6304"
        from adimple.payments.pix.codec import crc_of

        payload += crc_of(payload)
        assert decode(payload).gui == "BR.GOV.BCB.PIX"

    def test_surrounding_whitespace_is_ignored(self) -> None:
        assert decode(f"  {BCB_STATIC}\n").crc == "1D3D"

    @pytest.mark.parametrize(
        ("payload", "reason"),
        [
            ("", "empty"),
            (BCB_STATIC + "99019", "must end with field 63"),
            (BCB_STATIC + "0000", "length 00"),
            (BCB_STATIC[:-1], "declares 4 characters"),
            (BCB_STATIC[:-4] + "1d3e", "CRC mismatch"),
            ("0102" + BCB_STATIC[4:], "start with field 00"),
        ],
    )
    def test_rejections(self, payload: str, reason: str) -> None:
        with pytest.raises(PixError, match=reason):
            decode(payload)

    def test_missing_mandatory_field(self) -> None:
        base = build(merchant_name="Loja", merchant_city="Recife", key="a@b.co")
        text = encode(base)
        without_city = text.replace("6006Recife", "")[:-4]
        from adimple.payments.pix.codec import crc_of

        with pytest.raises(PixError, match="mandatory field 60"):
            decode(without_city + crc_of(without_city))

    def test_bad_txid(self) -> None:
        with pytest.raises(PixError, match="txid"):
            build(merchant_name="Loja", merchant_city="Recife", key="k", txid="com-hífen")

    def test_lowercase_crc_is_accepted(self) -> None:
        assert decode(BCB_STATIC[:-4] + "1d3d").crc == "1d3d"


class TestEncode:
    def test_static_payload_matches_the_bcb_example(self) -> None:
        payload = build(
            merchant_name="Fulano de Tal",
            merchant_city="BRASILIA",
            key="123e4567-e12b-12d1-a456-426655440000",
        )
        assert encode(payload) == BCB_STATIC

    def test_dynamic_payload_matches_the_bcb_example(self) -> None:
        payload = build(
            merchant_name="Fulano de Tal",
            merchant_city="BRASILIA",
            url="https://pix.example.com/8b3da2f39a4140d1a91abd93113bd441",
        )
        assert encode(payload) == _vector_cases()[1]["payload"]

    def test_accents_are_stripped_and_lengths_enforced(self) -> None:
        payload = build(merchant_name="Cobrança São João", merchant_city="São Paulo", key="k")
        assert (payload.merchant_name, payload.merchant_city) == ("Cobranca Sao Joao", "Sao Paulo")
        with pytest.raises(PixError, match="merchant name"):
            build(merchant_name="x" * 26, merchant_city="Recife", key="k")
        with pytest.raises(PixError, match="merchant city"):
            build(merchant_name="Loja", merchant_city="Santo Antonio do Pinhal", key="k")

    def test_dynamic_refuses_key_and_txid(self) -> None:
        with pytest.raises(PixError, match="must not carry a Pix key"):
            build(merchant_name="L", merchant_city="C", key="k", url="psp.example/x")
        with pytest.raises(PixError, match="62-05"):
            build(merchant_name="L", merchant_city="C", url="psp.example/x", txid="ABC")

    def test_static_needs_a_key(self) -> None:
        with pytest.raises(PixError, match="needs a Pix key"):
            build(merchant_name="L", merchant_city="C")

    def test_amount_rules(self) -> None:
        assert decode(
            encode(build(merchant_name="L", merchant_city="C", key="k", amount=Decimal("10.5")))
        ).amount == Decimal("10.50")
        with pytest.raises(PixError, match="greater than zero"):
            build(merchant_name="L", merchant_city="C", key="k", amount=Decimal("0"))
        with pytest.raises(PixError, match="2 decimal"):
            build(merchant_name="L", merchant_city="C", key="k", amount=Decimal("1.001"))

    def test_template_over_99_characters_is_refused(self) -> None:
        with pytest.raises(PixError, match="field 26"):
            build(merchant_name="L", merchant_city="C", key="k" * 60, description="d" * 30)


class TestCli:
    def test_encode_static(self, run_cli) -> None:
        result = run_cli(
            "pix",
            "encode",
            "--key",
            "+5511999998888",
            "--name",
            "Adimple Cobrança",
            "--city",
            "São Paulo",
            "--amount",
            "1.234,56",
            "--txid",
            "PEDIDO42",
        )
        assert result.exit_code == 0, result.stderr
        payload = result.json()["payload"]
        decoded = run_cli("pix", "decode", payload).json()
        assert decoded["key"] == "+5511999998888"
        assert decoded["amount"] == "1234.56"
        assert decoded["merchant_name"] == "Adimple Cobranca"
        assert decoded["txid"] == "PEDIDO42"
        assert decoded["point_of_initiation"] is None

    def test_encode_dynamic(self, run_cli) -> None:
        result = run_cli(
            "pix",
            "encode",
            "--name",
            "Adimple",
            "--city",
            "Recife",
            "--url",
            "psp.example.com/qr/v2/abc",
        )
        decoded = run_cli("pix", "decode", result.json()["payload"]).json()
        assert decoded["point_of_initiation"] == "12"
        assert decoded["url"] == "psp.example.com/qr/v2/abc"
        assert decoded["key"] is None and decoded["txid"] == NO_TXID

    @pytest.mark.parametrize(
        "args",
        [
            ["--name", "N", "--city", "C"],
            ["--key", "k", "--name", "N" * 30, "--city", "C"],
            ["--key", "k", "--name", "N", "--city", "C", "--amount", "abc"],
            ["--key", "k", "--name", "N", "--city", "C", "--txid", "with space"],
        ],
    )
    def test_encode_invalid(self, run_cli, args: list[str]) -> None:
        run_cli("pix", "encode", *args).assert_invalid()

    @pytest.mark.parametrize("suffix", [".svg", ".png"])
    def test_qr(self, run_cli, tmp_path: Path, suffix: str) -> None:
        out = tmp_path / f"qr{suffix}"
        result = run_cli("pix", "qr", BCB_STATIC, "--out", str(out))
        assert result.exit_code == 0, result.stderr
        data = out.read_bytes()
        assert data.startswith(b"\x89PNG" if suffix == ".png" else b"<?xml")
        assert result.json()["bytes"] == len(data)

    def test_qr_refuses_invalid_payload(self, run_cli, tmp_path: Path) -> None:
        out = tmp_path / "qr.svg"
        run_cli("pix", "qr", BCB_STATIC[:-1] + "0", "--out", str(out)).assert_invalid()
        assert not out.exists()


# --------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------

_alnum = st.text(
    alphabet=st.characters(min_codepoint=48, max_codepoint=122)
    .filter(str.isalnum)
    .filter(str.isascii),
    min_size=1,
    max_size=25,
)
_printable = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=0x24F, blacklist_categories=("Cs",)),
    min_size=1,
    max_size=25,
).filter(lambda s: s.strip() == s and s.strip() != "")


@st.composite
def pix_payloads(draw: st.DrawFn):  # type: ignore[no-untyped-def]
    dynamic = draw(st.booleans())
    amount = draw(
        st.none()
        | st.decimals(min_value=Decimal("0.01"), max_value=Decimal("9999999.99"), places=2)
    )
    name = draw(_printable)
    city = draw(_printable.map(lambda s: s[:15].strip() or "X"))
    try:
        return build(
            merchant_name=name,
            merchant_city=city,
            key=None if dynamic else draw(_printable),
            url=draw(_alnum.map(lambda s: f"psp.example/{s}")) if dynamic else None,
            amount=amount,
            txid=None if dynamic else draw(st.none() | _alnum),
            description=draw(st.none() | _printable),
            postal_code=draw(st.none() | st.from_regex(r"[0-9]{8}", fullmatch=True)),
            templates=draw(
                st.sampled_from([(), (("80", (("00", "br.gov.bcb.pix"), ("25", "x.y/z"))),)])
            ),
        )
    except PixError:
        from hypothesis import assume

        assume(False)
        raise


@settings(max_examples=300, deadline=None)
@given(pix_payloads())
def test_encode_decode_round_trip(payload) -> None:  # type: ignore[no-untyped-def]
    text = encode(payload)
    assert len(text) <= 512
    decoded = decode(text)
    assert decoded == payload
    assert encode(decoded) == text


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=600))
def test_decoder_only_raises_pix_error(text: str) -> None:
    with contextlib.suppress(PixError):
        decode(text)


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=len(BCB_STATIC) - 1), st.characters(codec="ascii"))
def test_any_single_character_change_is_rejected(position: int, char: str) -> None:
    mutated = BCB_STATIC[:position] + char + BCB_STATIC[position + 1 :]
    if mutated[:-4] == BCB_STATIC[:-4] and mutated[-4:].upper() == BCB_STATIC[-4:]:
        return  # unchanged, or only the CRC's letter case changed
    with pytest.raises(PixError):
        decode(mutated)


def test_tlv_parser_counts_characters_not_bytes() -> None:
    assert parse_tlv("0004São0") == [("00", "São0")]
