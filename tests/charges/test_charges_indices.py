"""Index series: packaged data, file formats, overlay and missing months."""

from __future__ import annotations

from decimal import Decimal

import pytest

from adimple.charges.indices import (
    IndexBook,
    IndexFileError,
    IndexPoint,
    IndexSeries,
    MissingIndexMonth,
    SeriesName,
    months_between,
    packaged_series,
    parse_series_name,
    read_index_text,
)


class TestPackagedSeries:
    @pytest.mark.parametrize(
        ("name", "first", "last", "count"),
        [
            (SeriesName.IPCA, "2015-01", "2026-09", 141),
            (SeriesName.SELIC, "2015-01", "2026-09", 141),
            (SeriesName.IPCA15, "2015-01", "2026-09", 141),
            (SeriesName.TAXA_LEGAL, "2024-08", "2026-10", 27),
        ],
    )
    def test_coverage_without_gaps(
        self, name: SeriesName, first: str, last: str, count: int
    ) -> None:
        series = packaged_series(name)
        assert (series.first_month, series.last_month, len(series)) == (first, last, count)
        assert series.months() == list(months_between(first, last))

    def test_values_are_exact_published_decimals(self) -> None:
        assert packaged_series("IPCA").percent("2025-08") == Decimal("-0.11")
        taxa = packaged_series("TAXA_LEGAL")
        assert taxa.percent("2025-03") == Decimal("0.000000")
        assert str(taxa.percent("2026-10")) == "0.379020"
        assert packaged_series("SELIC").percent("2019-07") == Decimal("0.57")

    def test_every_value_has_a_source(self) -> None:
        for name in SeriesName:
            assert all(point.source for point in packaged_series(name).sorted_points())

    def test_missing_month_is_never_zero(self) -> None:
        with pytest.raises(MissingIndexMonth) as info:
            packaged_series("IPCA").percent("2026-10")
        assert info.value.month == "2026-10"
        assert "IPCA de 2026-10" in info.value.detail

    def test_book_with_an_absent_series(self) -> None:
        with pytest.raises(MissingIndexMonth):
            IndexBook().get(SeriesName.IPCA).percent("2026-01")


class TestReadingFiles:
    def test_csv_with_and_without_source(self) -> None:
        points = read_index_text(
            "month,percent\n2026-10,0.09\n2026-11,-0.05\n", source_name="x.csv"
        )
        assert points == [
            IndexPoint("2026-10", Decimal("0.09"), "x.csv"),
            IndexPoint("2026-11", Decimal("-0.05"), "x.csv"),
        ]
        points = read_index_text('month,percent,source\n2026-10,0.09,"IBGE; SIDRA"\n')
        assert points[0].source == "IBGE; SIDRA"

    def test_sgs_json(self) -> None:
        text = '[{"data": "01/10/2026", "valor": "0.09"}, {"data": "01/11/2026", "valor": 0.10}]'
        points = read_index_text(text, source_name="sgs.json")
        assert [(p.month, p.percent) for p in points] == [
            ("2026-10", Decimal("0.09")),
            ("2026-11", Decimal("0.10")),
        ]

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("", "vazio"),
            ("mes;valor\n2026-10;0.1\n", "cabeçalho"),
            ("month,percent\n2026-13,0.1\n", ":2: mês inválido"),
            ("month,percent\n2026-10,abc\n", ":2: percentual inválido"),
            ("month,percent\n2026-10,0.1\n2026-10,0.2\n", "repetido"),
            ('[{"data": "2026-10-01", "valor": "0.1"}]', "data inválida"),
            ("[{", "JSON inválido"),
        ],
    )
    def test_errors_say_where(self, text: str, message: str) -> None:
        with pytest.raises(IndexFileError, match=message):
            read_index_text(text, source_name="f.csv")

    def test_series_names(self) -> None:
        assert parse_series_name("taxa-legal") is SeriesName.TAXA_LEGAL
        assert parse_series_name("ipca") is SeriesName.IPCA
        with pytest.raises(IndexFileError, match="série desconhecida"):
            parse_series_name("IGPM")


class TestOverlay:
    def test_newer_values_extend_and_replace(self) -> None:
        base = IndexSeries.from_percents("IPCA", {"2026-08": "-0.32", "2026-09": "0.82"})
        merged = base.overlay(
            [IndexPoint("2026-09", Decimal("0.81"), "fix"), IndexPoint("2026-10", Decimal("0.09"))]
        )
        assert merged.percent("2026-09") == Decimal("0.81")
        assert merged.percent("2026-10") == Decimal("0.09")
        assert base.percent("2026-09") == Decimal("0.82")  # the original is unchanged

    def test_floats_are_refused(self) -> None:
        with pytest.raises(TypeError):
            IndexSeries.from_percents("IPCA", {"2026-01": 0.33})
