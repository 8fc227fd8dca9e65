"""Bank business days and contact windows (pure: no database, no web).

Bank business days follow the national calendar the Banco Central uses for compensation:
national holidays (Lei 662/1949, Lei 6.802/1980, Lei 14.759/2023 for 20 November) plus Carnaval
Monday and Tuesday and Corpus Christi, on which banks do not open (Resolução CMN 4.880/2020).
A boleto or installment due on a non-business day may be paid on the next one without charges.

Contact windows are evaluated in the debtor's local time (Brazil has four time zones) and skip
Sundays, bank holidays and the holidays of the debtor's state.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.easter import easter

UFS: frozenset[str] = frozenset(
    [
        "AC",
        "AL",
        "AP",
        "AM",
        "BA",
        "CE",
        "DF",
        "ES",
        "GO",
        "MA",
        "MT",
        "MS",
        "MG",
        "PA",
        "PB",
        "PR",
        "PE",
        "PI",
        "RJ",
        "RN",
        "RS",
        "RO",
        "RR",
        "SC",
        "SP",
        "SE",
        "TO",
    ]
)

# IANA zones by state; where a state spans two zones (AM, PA) the capital's zone is used.
UF_TIMEZONES: dict[str, str] = {
    "AC": "America/Rio_Branco",
    "AM": "America/Manaus",
    "RR": "America/Boa_Vista",
    "RO": "America/Porto_Velho",
    "MT": "America/Cuiaba",
    "MS": "America/Campo_Grande",
    "PA": "America/Belem",
    "AP": "America/Belem",
    "TO": "America/Araguaina",
    "MA": "America/Fortaleza",
    "PI": "America/Fortaleza",
    "CE": "America/Fortaleza",
    "RN": "America/Fortaleza",
    "PB": "America/Fortaleza",
    "PE": "America/Recife",
    "AL": "America/Maceio",
    "SE": "America/Maceio",
    "BA": "America/Bahia",
}
DEFAULT_TIMEZONE = "America/Sao_Paulo"


@lru_cache(maxsize=64)  # 27 UFs; asked twice per message sent
def timezone_for_uf(uf: str | None) -> ZoneInfo:
    return ZoneInfo(UF_TIMEZONES.get((uf or "").upper(), DEFAULT_TIMEZONE))


# The holidays of HOLIDAY_YEARS as the ``holidays`` library gives them, computed once and kept
# in the package: the library's first Brazilian calendar imports all of its ~280 countries,
# 0.6–0.7 s of every command's start (the daily cycle asks on its first line). Years outside
# the table ask the library. tests/kit/test_calendar.py fails when the table and the library
# disagree (a new holiday law, a library update); ``write_holiday_table()`` rewrites it.
HOLIDAY_YEARS = range(2000, 2081)
HOLIDAY_TABLE = Path(__file__).with_name("data") / "holidays_br.json"


def _library_bank_holidays(year: int) -> frozenset[date]:
    import holidays

    national = holidays.country_holidays("BR", years=year, categories=("public",))
    days = set(national.keys())
    e = easter(year)
    # Carnaval Monday/Tuesday and Corpus Christi are not national holidays but banks close.
    days.update({e - timedelta(days=48), e - timedelta(days=47), e + timedelta(days=60)})
    return frozenset(days)


def _library_state_holidays(year: int, uf: str) -> frozenset[date]:
    import holidays

    return frozenset(holidays.country_holidays("BR", subdiv=uf, years=year).keys())


def build_holiday_table(years: range = HOLIDAY_YEARS) -> dict[str, Any]:
    """The table's contents: per year, the bank holidays and each state's other holidays."""
    table: dict[str, Any] = {"bank": {}, "state": {uf: {} for uf in sorted(UFS)}}
    for year in years:
        bank = _library_bank_holidays(year)
        table["bank"][str(year)] = sorted(d.isoformat() for d in bank)
        for uf in sorted(UFS):
            extra = _library_state_holidays(year, uf) - bank
            table["state"][uf][str(year)] = sorted(d.isoformat() for d in extra)
    return table


def write_holiday_table(path: Path = HOLIDAY_TABLE) -> None:
    path.write_text(json.dumps(build_holiday_table(), indent=0, sort_keys=True) + "\n")


@lru_cache(maxsize=1)
def _holiday_table() -> dict[str, Any]:
    return json.loads(HOLIDAY_TABLE.read_text())


def _dates(values: list[str]) -> frozenset[date]:
    return frozenset(date.fromisoformat(v) for v in values)


@lru_cache(maxsize=256)
def _bank_holidays(year: int) -> frozenset[date]:
    if year in HOLIDAY_YEARS:
        return _dates(_holiday_table()["bank"][str(year)])
    return _library_bank_holidays(year)


@lru_cache(maxsize=4096)
def _state_holidays(year: int, uf: str) -> frozenset[date]:
    """The state's own holidays, beyond the bank holidays (callers ask for either)."""
    if uf not in UFS:
        return frozenset()
    if year in HOLIDAY_YEARS:
        return _dates(_holiday_table()["state"][uf][str(year)])
    return _library_state_holidays(year, uf) - _bank_holidays(year)


def is_bank_holiday(day: date) -> bool:
    return day in _bank_holidays(day.year)


# Pure functions of the date, asked again and again by the daily cycle (every step of every
# case it looks at): remembered.
@lru_cache(maxsize=16384)
def is_bank_business_day(day: date) -> bool:
    return day.weekday() < 5 and not is_bank_holiday(day)


@lru_cache(maxsize=16384)
def next_bank_business_day(day: date) -> date:
    """``day`` itself when it is a business day, else the next one."""
    while not is_bank_business_day(day):
        day += timedelta(days=1)
    return day


def overdue_cutoff(day: date) -> date:
    """The latest due date that is overdue on ``day``.

    A due date on a non-business day may be paid on the next business day without interest
    (DESIGN §5), so a title is overdue on ``day`` only if its due date, rolled forward, is
    before ``day``: that is every due date up to the last business day before ``day``.
    """
    previous = day - timedelta(days=1)
    while not is_bank_business_day(previous):
        previous -= timedelta(days=1)
    return previous


def add_bank_business_days(day: date, count: int) -> date:
    """The ``count``-th business day after ``day`` (``count`` ≥ 0; 0 = ``day`` rolled forward)."""
    current = next_bank_business_day(day)
    for _ in range(count):
        current = next_bank_business_day(current + timedelta(days=1))
    return current


@lru_cache(maxsize=16384)  # a pure function of its arguments, asked per message sent
def is_local_holiday(day: date, uf: str | None) -> bool:
    """A bank holiday or a holiday of the debtor's state (no contact on either)."""
    return is_bank_holiday(day) or (uf is not None and day in _state_holidays(day.year, uf))


@dataclass(frozen=True)
class DayWindow:
    start: time
    end: time


@dataclass(frozen=True)
class ContactWindowPolicy:
    """When a debtor may be contacted, in the debtor's local time.

    Default: Mon–Fri 08:00–20:00, Sat 08:00–14:00, never on Sundays or holidays (DESIGN §5;
    the hours of SP Lei 15.426/2014, used nationally as the conservative default).
    ``weekdays`` maps Python weekday numbers (0 = Monday) to a window; a missing day is closed.
    """

    weekdays: dict[int, DayWindow] = field(
        default_factory=lambda: {
            **{d: DayWindow(time(8), time(20)) for d in range(5)},
            5: DayWindow(time(8), time(14)),
        }
    )
    closed_on_holidays: bool = True

    def window_on(self, day: date, uf: str | None) -> DayWindow | None:
        if self.closed_on_holidays and is_local_holiday(day, uf):
            return None
        return self.weekdays.get(day.weekday())


DEFAULT_CONTACT_WINDOW = ContactWindowPolicy()


def is_within_contact_window(
    moment: datetime, uf: str | None, policy: ContactWindowPolicy = DEFAULT_CONTACT_WINDOW
) -> bool:
    """``moment`` is timezone-aware; it is judged in the debtor's local time."""
    local = moment.astimezone(timezone_for_uf(uf))
    window = policy.window_on(local.date(), uf)
    return window is not None and window.start <= local.time() < window.end


def next_contact_opening(
    moment: datetime,
    uf: str | None,
    policy: ContactWindowPolicy = DEFAULT_CONTACT_WINDOW,
    *,
    max_days: int = 30,
) -> datetime:
    """``moment`` when it is inside the window, else the next opening (timezone-aware, local)."""
    tz = timezone_for_uf(uf)
    local = moment.astimezone(tz)
    day = local.date()
    for offset in range(max_days + 1):
        current = day + timedelta(days=offset)
        window = policy.window_on(current, uf)
        if window is None:
            continue
        opens = datetime.combine(current, window.start, tzinfo=tz)
        closes = datetime.combine(current, window.end, tzinfo=tz)
        if offset == 0 and local >= closes:
            continue
        return max(opens, local) if offset == 0 else opens
    raise ValueError(f"no contact window within {max_days} days of {moment.isoformat()}")
