"""The régua's pure date rules: the planner selects títulos by the due dates
:func:`due_dates_for` returns, so it must be exactly the inverse of :func:`step_date`."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from adimple.cadence.rules import StepDef, due_dates_for, month_starts, step_date

days = st.dates(min_value=date(2024, 1, 1), max_value=date(2028, 12, 31))


@given(day=days, offset=st.integers(-10, 60), business=st.booleans())
def test_due_dates_for_is_the_inverse_of_step_date(day: date, offset: int, business: bool) -> None:
    step = StepDef(position=1, key="s", offset_days=offset, only_business_days=business)
    dues = set(due_dates_for(day, step))
    base = day - timedelta(days=offset)
    # Rolling to the next business day moves a date forward by at most a long holiday run.
    for due in (base + timedelta(days=k) for k in range(-10, 11)):
        assert (step_date(due, step) == day) == (due in dues), due


def test_a_weekend_due_date_is_reminded_on_the_next_business_day() -> None:
    step = StepDef(position=1, key="s", offset_days=1, only_business_days=True)
    monday = date(2026, 11, 23)
    # D+1 of the 19th is Friday the 20th, Dia da Consciência Negra (a national holiday since
    # 2024), then the weekend: all roll to Monday.
    assert due_dates_for(monday, step) == [date(2026, 11, d) for d in (19, 20, 21, 22)]
    assert due_dates_for(date(2026, 11, 22), step) == []  # a Sunday takes no step


def test_month_starts_bound_the_window_months() -> None:
    assert month_starts(date(2026, 2, 28), 3) == [
        date(2025, 12, 1),
        date(2026, 1, 1),
        date(2026, 2, 1),
        date(2026, 3, 1),
    ]


@given(day=days, months=st.integers(1, 24))
def test_month_starts_are_consecutive_months_ending_after_day(day: date, months: int) -> None:
    starts = month_starts(day, months)
    assert len(starts) == months + 1 and all(s.day == 1 for s in starts)
    assert starts[-2] <= day < starts[-1]
    for a, b in pairwise(starts):
        assert (b.year * 12 + b.month) - (a.year * 12 + a.month) == 1
