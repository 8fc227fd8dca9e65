"""Helpers shared by the charges tests (imported as a plain module, not a conftest)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from adimple.charges.indices import IndexBook, IndexSeries, SeriesName, months_between


def synthetic_book(
    *,
    ipca: str = "0.50",
    taxa_legal: str = "1.00",
    first: str = "2000-01",
    last: str = "2040-12",
    overrides: dict[SeriesName, dict[str, str]] | None = None,
) -> IndexBook:
    """Flat series over a long span (for properties and hand-checkable examples)."""
    months = list(months_between(first, last))
    series = {
        SeriesName.IPCA: {m: ipca for m in months},
        SeriesName.TAXA_LEGAL: {m: taxa_legal for m in months},
    }
    for name, values in (overrides or {}).items():
        series.setdefault(name, {}).update(values)
    return IndexBook(
        {name: IndexSeries.from_percents(name, values) for name, values in series.items()}
    )


D = Decimal


def d(text: str) -> date:
    return date.fromisoformat(text)
