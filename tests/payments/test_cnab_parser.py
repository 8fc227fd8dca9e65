"""CNAB 240/400 retorno parser: the shared files through the CLI contract, tolerance (CRLF/LF,
stripped blanks, Latin-1), synthetic files for every bank built from the same field tables,
rejections, and fuzzing (only CnabError is ever raised)."""

from __future__ import annotations

import contextlib
import hashlib
import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adimple.payments.cnab import CnabError, Kind, parse_bytes
from adimple.payments.cnab.fields import Field, FieldType, build_line, read_date
from adimple.payments.cnab.layouts import (
    CNAB240_SEGMENT_T,
    CNAB240_SEGMENT_U,
    CNAB400_LAYOUTS,
    Cnab400Layout,
)

VECTORS = Path(__file__).resolve().parent.parent / "data" / "vectors" / "cnab"
CONTRACT_KEYS = [
    "nosso_numero",
    "codigo_ocorrencia",
    "data_ocorrencia",
    "data_credito",
    "valor_titulo",
    "valor_pago",
    "valor_tarifa",
    "valor_juros",
    "valor_desconto",
    "valor_abatimento",
    "valor_liquido",
]


def _expected() -> list[dict[str, object]]:
    return json.loads((VECTORS / "expected.json").read_text(encoding="utf-8"))["files"]


class TestVectorsThroughCli:
    @pytest.mark.parametrize("case", _expected(), ids=lambda c: str(c["file"]))
    def test_file(self, case: dict[str, object], run_cli) -> None:
        path = VECTORS / str(case["file"])
        assert hashlib.sha256(path.read_bytes()).hexdigest() == case["sha256"]  # not re-saved
        result = run_cli("cnab", "parse", str(path))
        if case["expect_error"]:
            result.assert_invalid()
            return
        assert result.exit_code == 0, result.stderr
        data = result.json()
        assert list(data) == ["layout", "bank_code", "records"]
        assert data["layout"] == case["layout"] and data["bank_code"] == case["bank_code"]
        records = data["records"]
        assert len(records) == case["record_count"]
        expected_records = case["records"]
        assert isinstance(expected_records, list)
        for expected in expected_records:
            got = records[expected["index"]]
            assert {k: got[k] for k in CONTRACT_KEYS} == {k: expected[k] for k in CONTRACT_KEYS}
            assert set(got) == {*CONTRACT_KEYS, "kind", "seu_numero", "uso_empresa"}

    def test_kinds_and_company_numbers(self) -> None:
        cnab240 = parse_bytes((VECTORS / "CNAB240.RET").read_bytes())
        assert {r.kind for r in cnab240.records} == {Kind.PAID_AFTER_WRITEOFF}
        itau = parse_bytes((VECTORS / "CNAB400ITAU.RET").read_bytes())
        assert itau.records[0].kind is Kind.PAID and itau.records[-1].kind is Kind.WRITEOFF
        assert itau.records[0].seu_numero is None  # the file leaves 117-126 blank
        bradesco = parse_bytes((VECTORS / "CNAB400BRADESCO.RET").read_bytes())
        assert bradesco.records[0].kind is Kind.REGISTERED  # 02 carries an amount: not a payment
        assert [r.seu_numero for r in bradesco.records[:3]] == ["0030", "1146", "1142"]

    def test_missing_file(self, run_cli, tmp_path: Path) -> None:
        run_cli("cnab", "parse", str(tmp_path / "none.ret")).assert_invalid()


class TestTolerance:
    @pytest.mark.parametrize("name", ["CNAB240.RET", "CNAB400ITAU.RET", "CNAB400BRADESCO.RET"])
    def test_line_endings_and_trailing_blanks_do_not_matter(self, name: str) -> None:
        data = (VECTORS / name).read_bytes()
        lines = data.replace(b"\r\n", b"\n").split(b"\n")
        reference = parse_bytes(data)
        variants = [
            b"\r\n".join(lines),
            b"\n".join(line.rstrip(b" ") for line in lines),
            b"\n".join(lines) + b"\n\n\x1a",
            b"\xef\xbb\xbf"
            + b"\r\n".join(
                line.ljust(400 if b"400" in name.encode() else 240) for line in lines if line
            ),
        ]
        for variant in variants:
            assert parse_bytes(variant) == reference

    def test_latin1_and_utf8_names(self) -> None:
        data = (VECTORS / "CNAB400ITAU.RET").read_bytes()
        lines = data.split(b"\n")
        name = "JOÃO CONCEIÇÃO".ljust(30)
        detail = lines[1][:324] + name.encode("latin-1") + lines[1][354:]
        latin1 = b"\n".join([lines[0], detail, *lines[2:]])
        utf8 = b"\n".join([lines[0], lines[1][:324] + name.encode() + lines[1][354:], *lines[2:]])
        assert parse_bytes(latin1) == parse_bytes(data) == parse_bytes(utf8)

    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("150515", date(2015, 5, 15)),
            ("15051999", date(1999, 5, 15)),
            ("311299", date(1999, 12, 31)),
            ("01012079", date(2079, 1, 1)),
            ("000000", None),
            ("00000000", None),
            ("      ", None),
        ],
    )
    def test_dates(self, raw: str, expected: date | None) -> None:
        assert read_date(raw) == expected


# --------------------------------------------------------------------------------------------
# Synthetic files from the layout tables
# --------------------------------------------------------------------------------------------


def header_400(bank: str, kind: str = "2", literal: str = "RETORNO") -> str:
    literals = {
        (1, 1): "0",
        (2, 2): kind,
        (3, 9): literal,
        (10, 11): "01",
        (12, 26): "COBRANCA",
        (77, 79): bank,
        (395, 400): "000001",
    }
    return build_line((), {}, 400, literals=literals)


def trailer_400(bank: str) -> str:
    return build_line((), {}, 400, literals={(1, 1): "9", (2, 4): "201", (5, 7): bank})


dates = st.none() | st.dates(min_value=date(1990, 1, 1), max_value=date(2079, 12, 31))
text = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-/", min_size=1, max_size=10)


def values_for(fields: tuple[Field, ...]) -> st.SearchStrategy[dict[str, object]]:
    strategies: dict[str, st.SearchStrategy[object]] = {}
    for spec in fields:
        if spec.type is FieldType.MONEY:
            top = min(Decimal(10**spec.width - 1) / 100, Decimal("99999999.99"))
            strategies[spec.name] = st.decimals(min_value=Decimal(0), max_value=top, places=2)
        elif spec.type is FieldType.DATE:
            strategies[spec.name] = dates
        elif spec.type is FieldType.NOSSO_NUMERO:
            strategies[spec.name] = st.from_regex(rf"[0-9]{{1,{spec.width}}}", fullmatch=True)
        elif spec.name == "codigo_ocorrencia":
            strategies[spec.name] = st.from_regex(r"[0-9]{2}", fullmatch=True)
        elif spec.type is FieldType.CODE:
            strategies[spec.name] = st.from_regex(rf"[0-9]{{{spec.width}}}", fullmatch=True)
        else:
            strategies[spec.name] = st.none() | text.map(lambda s, w=spec.width: s[:w])
    return st.fixed_dictionaries(strategies)  # type: ignore[arg-type]


def expected_record(layout_fields: tuple[Field, ...], values: dict[str, object]) -> dict:
    result: dict[str, object] = {}
    for spec in layout_fields:
        value = values[spec.name]
        if spec.type is FieldType.DATE and value is not None:
            assert isinstance(value, date)
            value = value if spec.width == 8 else read_date(value.strftime("%d%m%y"))
        result[spec.name] = value
    return result


@pytest.mark.parametrize("bank", sorted(CNAB400_LAYOUTS))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_synthetic_cnab400_round_trip(bank: str, data: st.DataObject) -> None:
    layout: Cnab400Layout = CNAB400_LAYOUTS[bank]
    detail_type = sorted(layout.detail_types)[0]
    rows = data.draw(st.lists(values_for(layout.fields), min_size=0, max_size=5))
    lines = [header_400(bank)]
    for index, values in enumerate(rows):
        lines.append(
            build_line(
                layout.fields,
                values,
                400,
                literals={(1, 1): detail_type, (395, 400): f"{index + 2:06d}"},
            )
        )
        if index % 2:
            lines.append(build_line((), {}, 400, literals={(1, 1): "2"}))  # not a title
    lines.append(trailer_400(bank))
    crlf = data.draw(st.booleans())
    parsed = parse_bytes(("\r\n" if crlf else "\n").join(lines).encode("latin-1"))
    assert (parsed.layout, parsed.bank_code) == ("cnab400", bank)
    assert len(parsed.records) == len(rows)
    for record, values in zip(parsed.records, rows, strict=True):
        for name, value in expected_record(layout.fields, values).items():
            if name == "codigo_ocorrencia":
                assert record.kind == layout.kinds.get(str(value))
            assert getattr(record, name) == value, name
        contract = record.as_contract()
        for name in ("valor_pago", "valor_liquido"):
            if name not in {f.name for f in layout.fields}:
                assert contract[name] is None


def header_240(bank: str, kind: str = "2") -> str:
    return build_line(
        (), {}, 240, literals={(1, 3): bank, (4, 7): "0000", (8, 8): "0", (143, 143): kind}
    )


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["001", "033", "104", "237", "341", "748", "756"]),
    st.lists(st.tuples(values_for(CNAB240_SEGMENT_T), values_for(CNAB240_SEGMENT_U)), max_size=5),
)
def test_synthetic_cnab240_round_trip(bank: str, titles: list) -> None:  # type: ignore[type-arg]
    lines = [
        header_240(bank),
        build_line(
            (), {}, 240, literals={(1, 3): bank, (4, 7): "0001", (8, 9): "1T", (10, 11): "01"}
        ),
    ]
    for t_values, u_values in titles:
        lines.append(
            build_line(
                CNAB240_SEGMENT_T,
                t_values,
                240,
                literals={(1, 3): bank, (4, 7): "0001", (8, 8): "3", (14, 14): "T"},
            )
        )
        lines.append(
            build_line(
                CNAB240_SEGMENT_U,
                u_values,
                240,
                literals={(1, 3): bank, (4, 7): "0001", (8, 8): "3", (14, 14): "U"},
            )
        )
    lines.append(build_line((), {}, 240, literals={(1, 3): bank, (4, 7): "0001", (8, 8): "5"}))
    lines.append(build_line((), {}, 240, literals={(1, 3): bank, (4, 7): "9999", (8, 8): "9"}))
    parsed = parse_bytes("\n".join(line.rstrip() for line in lines).encode())
    assert (parsed.layout, parsed.bank_code, len(parsed.records)) == ("cnab240", bank, len(titles))
    for record, (t_values, u_values) in zip(parsed.records, titles, strict=True):
        for name, value in {
            **expected_record(CNAB240_SEGMENT_T, t_values),
            **expected_record(CNAB240_SEGMENT_U, u_values),
        }.items():
            assert getattr(record, name) == value, name


def test_cnab240_baixa_motive_tells_cancelled_from_writeoff() -> None:
    def title(motive: str) -> list[str]:
        t = build_line(
            CNAB240_SEGMENT_T,
            {"codigo_ocorrencia": "09", "nosso_numero": "1", "motivo": motive},
            240,
            literals={(1, 3): "104", (8, 8): "3", (14, 14): "T"},
        )
        u = build_line((), {}, 240, literals={(1, 3): "104", (8, 8): "3", (14, 14): "U"})
        return [t, u]

    lines = [
        header_240("104"),
        *title("10"),
        *title("13"),
        build_line((), {}, 240, literals={(1, 3): "104", (8, 8): "9"}),
    ]
    kinds = [r.kind for r in parse_bytes("\n".join(lines).encode()).records]
    assert kinds == [Kind.CANCELLED, Kind.WRITEOFF]


# --------------------------------------------------------------------------------------------
# Rejections: exit 2 with one line naming the file and the line
# --------------------------------------------------------------------------------------------


def _itau_lines() -> list[str]:
    return (VECTORS / "CNAB400ITAU.RET").read_text(encoding="latin-1").split("\n")


def _cnab240_lines() -> list[str]:
    return (VECTORS / "CNAB240.RET").read_text(encoding="latin-1").split("\n")


REJECTIONS: list[tuple[str, str, str]] = [
    ("empty", "", "empty file"),
    ("not cnab", "hello world\n", "not a CNAB retorno"),
    ("remessa 400", "\n".join([header_400("341", "1", "REMESSA"), trailer_400("341")]), "remessa"),
    ("unknown bank 400", "\n".join([header_400("999"), trailer_400("999")]), "bank '999'"),
    ("truncated 400", "\n".join(_itau_lines()[:10]), "truncated"),
    ("line of 401", "\n".join([_itau_lines()[0] + "X", *_itau_lines()[1:]]), "401 characters"),
    ("remessa 240", "\n".join([header_240("001", "1"), *_cnab240_lines()[1:]]), "remessa"),
    ("unknown bank 240", "\n".join([header_240("999"), *_cnab240_lines()[1:]]), "bank '999'"),
    ("U without T", "\n".join([*_cnab240_lines()[:2], *_cnab240_lines()[3:]]), "Segment U"),
    ("truncated 240", "\n".join(_cnab240_lines()[:20]), "truncated"),
    (
        "bad date",
        "\n".join(
            [
                _itau_lines()[0],
                _itau_lines()[1][:110] + "320513" + _itau_lines()[1][116:],
                *_itau_lines()[2:],
            ]
        ),
        ":2: field data_ocorrencia",
    ),
    (
        "bad amount",
        "\n".join(
            [
                _itau_lines()[0],
                _itau_lines()[1][:152] + "00000000004X0" + _itau_lines()[1][165:],
                *_itau_lines()[2:],
            ]
        ),
        "valor_titulo",
    ),
    (
        "bb cbr641",
        "\n".join(
            [header_400("001"), build_line((), {}, 400, literals={(1, 1): "1"}), trailer_400("001")]
        ),
        "CBR641",
    ),
]


@pytest.mark.parametrize(("label", "content", "reason"), REJECTIONS, ids=[r[0] for r in REJECTIONS])
def test_rejected_files(label: str, content: str, reason: str, run_cli, tmp_path: Path) -> None:
    path = tmp_path / "retorno.ret"
    path.write_bytes(content.encode("latin-1"))
    with pytest.raises(CnabError, match=reason):
        parse_bytes(path.read_bytes(), source=str(path))
    result = run_cli("cnab", "parse", str(path))
    result.assert_invalid()
    assert str(path) in result.stderr


# --------------------------------------------------------------------------------------------
# Fuzzing
# --------------------------------------------------------------------------------------------


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=3000))
def test_random_bytes_raise_only_cnab_error(data: bytes) -> None:
    with contextlib.suppress(CnabError):
        parse_bytes(data)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["CNAB240.RET", "CNAB400ITAU.RET", "CNAB400BRADESCO.RET"]),
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=25_000), st.binary(min_size=1, max_size=3)),
        min_size=1,
        max_size=5,
    ),
)
def test_corrupted_real_files_raise_only_cnab_error(name: str, edits: list) -> None:  # type: ignore[type-arg]
    data = bytearray((VECTORS / name).read_bytes())
    for position, replacement in edits:
        index = position % len(data)
        data[index : index + len(replacement)] = replacement
    with contextlib.suppress(CnabError):
        parse_bytes(bytes(data))
