"""Monthly index series (IPCA, SELIC, IPCA-15, taxa legal) — pure code, no database.

A series maps a reference month ``"YYYY-MM"`` to the published monthly percent as an exact
``Decimal`` (``Decimal("0.33")`` = 0,33% in the month), plus the source of each value.

The series ship as package data (``charges/data/*.csv``, compiled and cross-checked as described
in ``charges/data/README.md``); newer values come from ``adimple indices import`` and are laid
over the packaged ones (:meth:`IndexSeries.overlay`). A calculation that needs a month the series
lacks raises :class:`MissingIndexMonth` naming the month: a missing value is never taken as zero
nor as the last known value.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from importlib import resources
from typing import Any

from adimple.kit.errors import DomainError

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_PERCENT = re.compile(r"^-?\d{1,3}(\.\d{1,8})?$")


class SeriesName(StrEnum):
    """The series the platform knows, with their official codes."""

    IPCA = "IPCA"  # IBGE SIDRA 1737 var. 63 = BCB SGS 433
    SELIC = "SELIC"  # SELIC accumulated in the month, BCB SGS 4390
    IPCA15 = "IPCA15"  # IBGE SIDRA 3065 var. 355 = BCB SGS 7478
    TAXA_LEGAL = "TAXA_LEGAL"  # CC art. 406 (Lei 14.905/2024), BCB SGS 29543


SERIES_FILES: dict[SeriesName, str] = {
    SeriesName.IPCA: "ipca_monthly.csv",
    SeriesName.SELIC: "selic_monthly.csv",
    SeriesName.IPCA15: "ipca15_monthly.csv",
    SeriesName.TAXA_LEGAL: "taxa_legal_monthly.csv",
}

SERIES_LABELS: dict[SeriesName, str] = {
    SeriesName.IPCA: "IPCA",
    SeriesName.SELIC: "SELIC",
    SeriesName.IPCA15: "IPCA-15",
    SeriesName.TAXA_LEGAL: "taxa legal",
}


class IndexDataError(DomainError):
    """Base for index-series problems (HTTP 422: the request cannot be computed as asked)."""

    status_code = 422
    title = "Índice indisponível"


class MissingIndexMonth(IndexDataError):
    """A calculation needs a month the series does not have (it is never assumed to be zero)."""

    def __init__(self, series: str, month: str) -> None:
        label = SERIES_LABELS[SeriesName(series)] if series in SERIES_NAMES else series
        super().__init__(
            f"Índice {label} de {month} não disponível: importe o valor publicado "
            f"(adimple indices import ARQUIVO --series {series}) antes de calcular.",
            series=series,
            month=month,
        )
        self.series = series
        self.month = month


class IndexFileError(IndexDataError):
    """An index file that cannot be read (wrong month, percent or layout)."""

    title = "Arquivo de índice inválido"


SERIES_NAMES: frozenset[str] = frozenset(s.value for s in SeriesName)


def parse_series_name(text: str) -> SeriesName:
    normalized = text.strip().upper().replace("-", "_")
    aliases = {"IPCA_15": "IPCA15", "TL": "TAXA_LEGAL", "TAXALEGAL": "TAXA_LEGAL"}
    normalized = aliases.get(normalized, normalized)
    try:
        return SeriesName(normalized)
    except ValueError:
        names = ", ".join(sorted(SERIES_NAMES))
        raise IndexFileError(f"série desconhecida '{text}' (use uma de: {names})") from None


def month_key(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def check_month(text: str) -> str:
    """``"2026-10"`` → itself; anything else raises :class:`IndexFileError`."""
    value = text.strip()
    if not _MONTH.match(value):
        raise IndexFileError(f"mês inválido '{text}' (use AAAA-MM)")
    return value


def parse_percent(text: str) -> Decimal:
    """The published decimal, exactly (``"0.000000"`` stays a real zero, never a float)."""
    value = text.strip().replace(",", ".")
    if not _PERCENT.match(value):
        raise IndexFileError(f"percentual inválido '{text}'")
    try:
        return Decimal(value)
    except InvalidOperation:  # pragma: no cover - the regex guards this
        raise IndexFileError(f"percentual inválido '{text}'") from None


def months_between(first: str, last: str) -> Iterator[str]:
    """Every month from ``first`` to ``last`` inclusive (``"YYYY-MM"``)."""
    year, month = int(first[:4]), int(first[5:])
    end = (int(last[:4]), int(last[5:]))
    while (year, month) <= end:
        yield f"{year:04d}-{month:02d}"
        month += 1
        if month == 13:
            year, month = year + 1, 1


def next_month(key: str) -> str:
    year, month = int(key[:4]), int(key[5:])
    return f"{year + 1:04d}-01" if month == 12 else f"{year:04d}-{month + 1:02d}"


def previous_month(key: str) -> str:
    year, month = int(key[:4]), int(key[5:])
    return f"{year - 1:04d}-12" if month == 1 else f"{year:04d}-{month - 1:02d}"


@dataclass(frozen=True)
class IndexPoint:
    month: str
    percent: Decimal
    source: str = ""


@dataclass(frozen=True)
class IndexSeries:
    """One monthly series: month → percent (exact), with the source of every value."""

    name: SeriesName
    points: Mapping[str, IndexPoint] = field(default_factory=dict)

    def __contains__(self, month: object) -> bool:
        return month in self.points

    def __len__(self) -> int:
        return len(self.points)

    def percent(self, month: str) -> Decimal:
        """The published percent of ``month``; :class:`MissingIndexMonth` when absent."""
        point = self.points.get(month)
        if point is None:
            raise MissingIndexMonth(self.name.value, month)
        return point.percent

    def months(self) -> list[str]:
        return sorted(self.points)

    @property
    def first_month(self) -> str | None:
        return min(self.points) if self.points else None

    @property
    def last_month(self) -> str | None:
        return max(self.points) if self.points else None

    def sorted_points(self, since: str | None = None) -> list[IndexPoint]:
        return [self.points[m] for m in self.months() if since is None or m >= since]

    def overlay(self, newer: Iterable[IndexPoint]) -> IndexSeries:
        """A copy where ``newer`` points replace or extend these (later files win)."""
        merged = dict(self.points)
        for point in newer:
            merged[point.month] = point
        return IndexSeries(self.name, merged)

    @classmethod
    def from_points(cls, name: SeriesName | str, points: Iterable[IndexPoint]) -> IndexSeries:
        series_name = name if isinstance(name, SeriesName) else parse_series_name(name)
        return cls(series_name, {p.month: p for p in points})

    @classmethod
    def from_percents(cls, name: SeriesName | str, values: Mapping[str, Any]) -> IndexSeries:
        """Handy for tests: ``{"2026-01": "0.33"}`` (values as str or Decimal, never float)."""
        points = []
        for month, value in values.items():
            if isinstance(value, float):
                raise TypeError("index percents are exact: pass str or Decimal, not float")
            points.append(IndexPoint(check_month(month), parse_percent(str(value)), "test"))
        return cls.from_points(name, points)


def read_index_text(text: str, *, source_name: str = "<arquivo>") -> list[IndexPoint]:
    """Reads an index file: our CSV (``month,percent[,source]``) or a BCB SGS JSON answer.

    CSV: a header with ``month`` and ``percent`` (``mes``/``valor`` also accepted); ``source``
    is optional and defaults to the file name. SGS JSON: ``[{"data": "01/10/2026", "valor":
    "0.38"}, ...]`` as returned by ``api.bcb.gov.br/dados/serie/bcdata.sgs.N/dados``.
    Duplicated months in one file are rejected (a file must not contradict itself).
    """
    stripped = text.lstrip("\ufeff").strip()
    if not stripped:
        raise IndexFileError(f"{source_name}: arquivo vazio")
    points = (
        _read_sgs_json(stripped, source_name)
        if stripped.startswith("[")
        else _read_csv(stripped, source_name)
    )
    seen: set[str] = set()
    for point in points:
        if point.month in seen:
            raise IndexFileError(f"{source_name}: mês {point.month} repetido")
        seen.add(point.month)
    return points


def _read_csv(text: str, source_name: str) -> list[IndexPoint]:
    reader = csv.DictReader(io.StringIO(text))
    header = {(h or "").strip().lower(): h for h in reader.fieldnames or []}
    month_col = header.get("month") or header.get("mes") or header.get("mês")
    percent_col = header.get("percent") or header.get("valor") or header.get("value")
    source_col = header.get("source") or header.get("fonte")
    if month_col is None or percent_col is None:
        raise IndexFileError(f"{source_name}: cabeçalho deve ter as colunas month e percent")
    points = []
    for line, row in enumerate(reader, start=2):
        try:
            month = check_month(row.get(month_col) or "")
            percent = parse_percent(row.get(percent_col) or "")
        except IndexFileError as exc:
            raise IndexFileError(f"{source_name}:{line}: {exc.detail}") from None
        source = (row.get(source_col) or "").strip() if source_col else ""
        points.append(IndexPoint(month, percent, source or source_name))
    return points


def _read_sgs_json(text: str, source_name: str) -> list[IndexPoint]:
    try:
        rows = json.loads(text, parse_float=str, parse_int=str)
    except json.JSONDecodeError as exc:
        raise IndexFileError(f"{source_name}: JSON inválido ({exc.msg})") from None
    points = []
    for position, row in enumerate(rows, start=1):
        if not isinstance(row, dict) or "data" not in row or "valor" not in row:
            raise IndexFileError(f"{source_name}: item {position} sem 'data' e 'valor'")
        match = re.match(r"^(\d{2})/(\d{2})/(\d{4})$", str(row["data"]).strip())
        if not match:
            raise IndexFileError(f"{source_name}: item {position}: data inválida '{row['data']}'")
        try:
            month = check_month(f"{match.group(3)}-{match.group(2)}")
            percent = parse_percent(str(row["valor"]))
        except IndexFileError as exc:
            raise IndexFileError(f"{source_name}: item {position}: {exc.detail}") from None
        points.append(IndexPoint(month, percent, source_name))
    return points


def packaged_series(name: SeriesName | str) -> IndexSeries:
    """The series shipped with the package (``charges/data``)."""
    series_name = name if isinstance(name, SeriesName) else parse_series_name(name)
    return _packaged(series_name)


_PACKAGED_CACHE: dict[SeriesName, IndexSeries] = {}


def _packaged(name: SeriesName) -> IndexSeries:
    cached = _PACKAGED_CACHE.get(name)
    if cached is None:
        resource = resources.files("adimple.charges").joinpath("data", SERIES_FILES[name])
        text = resource.read_text(encoding="utf-8")
        cached = IndexSeries.from_points(name, read_index_text(text, source_name=resource.name))
        _PACKAGED_CACHE[name] = cached
    return cached


@dataclass(frozen=True)
class IndexBook:
    """The series a calculation may use; missing series behave as empty (every month missing)."""

    series: Mapping[SeriesName, IndexSeries] = field(default_factory=dict)

    def get(self, name: SeriesName) -> IndexSeries:
        return self.series.get(name) or IndexSeries(name, {})

    def with_series(self, series: IndexSeries) -> IndexBook:
        return IndexBook({**self.series, series.name: series})

    @classmethod
    def packaged(cls) -> IndexBook:
        return cls({name: packaged_series(name) for name in SeriesName})
