import json
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adimple.kit import calendar
from adimple.kit.calendar import (
    HOLIDAY_TABLE,
    add_bank_business_days,
    build_holiday_table,
    is_bank_business_day,
    is_local_holiday,
    is_within_contact_window,
    next_bank_business_day,
    next_contact_opening,
)


class TestBankBusinessDays:
    @pytest.mark.parametrize(
        ("day", "name"),
        [
            (date(2026, 1, 1), "Confraternização Universal"),
            (date(2026, 2, 16), "Carnaval (segunda)"),
            (date(2026, 2, 17), "Carnaval (terça)"),
            (date(2026, 4, 3), "Sexta-feira Santa"),
            (date(2026, 4, 21), "Tiradentes"),
            (date(2026, 6, 4), "Corpus Christi"),
            (date(2026, 11, 20), "Consciência Negra (Lei 14.759/2023)"),
            (date(2026, 12, 25), "Natal"),
        ],
    )
    def test_holidays_are_not_business_days(self, day: date, name: str) -> None:
        assert not is_bank_business_day(day), name

    def test_ash_wednesday_is_a_business_day(self) -> None:
        assert is_bank_business_day(date(2026, 2, 18))

    def test_weekend_rolls_to_monday(self) -> None:
        assert next_bank_business_day(date(2026, 11, 21)) == date(2026, 11, 23)

    def test_carnaval_weekend_rolls_to_wednesday(self) -> None:
        assert next_bank_business_day(date(2026, 2, 14)) == date(2026, 2, 18)

    def test_state_holiday_is_still_a_bank_day(self) -> None:
        # 9 July (SP Revolução Constitucionalista) does not close the national compensation.
        assert is_bank_business_day(date(2026, 7, 9))

    def test_add_business_days(self) -> None:
        assert add_bank_business_days(date(2026, 2, 13), 1) == date(2026, 2, 18)

    @given(st.dates(min_value=date(2000, 1, 1), max_value=date(2060, 12, 31)))
    def test_next_business_day_is_the_first_one_on_or_after(self, day: date) -> None:
        result = next_bank_business_day(day)
        assert result >= day and is_bank_business_day(result)
        assert all(not is_bank_business_day(day + timedelta(d)) for d in range((result - day).days))


class TestHolidayTable:
    def test_the_shipped_table_is_what_the_holidays_library_says(self) -> None:
        shipped = json.loads(HOLIDAY_TABLE.read_text())
        assert shipped == build_holiday_table(), (
            "the holiday table is out of date (a new law, or a new `holidays` release): "
            "python -c 'from adimple.kit.calendar import write_holiday_table as w; w()'"
        )

    @pytest.mark.parametrize("year", [1999, 2081])
    def test_years_outside_the_table_ask_the_library(self, year: int) -> None:
        assert not is_bank_business_day(date(year, 12, 25))
        assert is_local_holiday(date(year, 7, 9), "SP")  # Revolução Constitucionalista
        assert not is_local_holiday(date(year, 7, 9), "RJ")
        assert not calendar._state_holidays(year, "SP") & calendar._bank_holidays(year)

    def test_state_holidays_come_on_top_of_the_bank_holidays(self) -> None:
        assert is_local_holiday(date(2026, 7, 9), "SP")
        assert is_local_holiday(date(2026, 4, 23), "RJ")  # São Jorge
        assert not is_local_holiday(date(2026, 4, 23), "SP")
        assert is_local_holiday(date(2026, 12, 25), "SP") and is_local_holiday(
            date(2026, 12, 25), None
        )

    def test_starting_a_command_does_not_load_the_library(self) -> None:
        # The library's first calendar imports every country it knows: 0.6 s of each start.
        code = (
            "import sys; from datetime import date; import adimple.cli; "
            "from adimple.kit.calendar import overdue_cutoff, is_local_holiday; "
            "overdue_cutoff(date(2026, 11, 24)); is_local_holiday(date(2026, 7, 9), 'SP'); "
            "print('holidays' in sys.modules)"
        )
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
        assert result.stdout.strip() == "False"


def at(y: int, m: int, d: int, hh: int, mm: int = 0) -> datetime:
    """A UTC moment; São Paulo is UTC−3."""
    return datetime(y, m, d, hh, mm, tzinfo=UTC)


class TestContactWindow:
    def test_weekday_hours_in_local_time(self) -> None:
        assert is_within_contact_window(at(2026, 11, 23, 11), "SP")  # 08:00 in São Paulo
        assert not is_within_contact_window(at(2026, 11, 23, 10, 59), "SP")  # 07:59
        assert not is_within_contact_window(at(2026, 11, 23, 23), "SP")  # 20:00 closes

    def test_acre_is_two_hours_behind(self) -> None:
        # 11:00 UTC is 08:00 in São Paulo but 06:00 in Rio Branco.
        assert not is_within_contact_window(at(2026, 11, 23, 11), "AC")
        assert next_contact_opening(at(2026, 11, 23, 11), "AC").hour == 8

    def test_saturday_closes_at_14(self) -> None:
        assert is_within_contact_window(at(2026, 11, 28, 16, 59), "SP")  # 13:59
        assert not is_within_contact_window(at(2026, 11, 28, 17), "SP")

    def test_never_on_sunday_or_holidays(self) -> None:
        assert not is_within_contact_window(at(2026, 11, 22, 15), "SP")  # Sunday
        assert not is_within_contact_window(at(2026, 11, 20, 15), "SP")  # Consciência Negra
        assert not is_within_contact_window(at(2026, 7, 9, 15), "SP")  # SP state holiday
        assert is_within_contact_window(at(2026, 7, 9, 15), "RJ")

    def test_next_opening_after_saturday_close_is_monday(self) -> None:
        opening = next_contact_opening(at(2026, 11, 28, 18), "SP")
        assert opening.date() == date(2026, 11, 30) and opening.hour == 8

    @given(
        st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31)),
        st.sampled_from(["SP", "AC", "AM", "BA", "RS", None]),
    )
    def test_next_opening_is_inside_the_window(self, moment: datetime, uf: str | None) -> None:
        aware = moment.replace(tzinfo=UTC)
        opening = next_contact_opening(aware, uf)
        assert opening >= aware
        assert is_within_contact_window(opening, uf)
