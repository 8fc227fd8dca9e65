"""The pure guards: contact point choice, reasons, windows, caps, prescription."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from adimple.cadence.models import SuppressionReason
from adimple.compliance.rules import (
    ContactPointFacts,
    CreditorFacts,
    CustomerFacts,
    FrequencyLedger,
    case_block_reason,
    choose_contact_point,
    creditor_identified,
    is_mobile,
    prescription_limit,
    schedule_contact,
)
from adimple.kit.calendar import is_within_contact_window
from adimple.portfolio.models import Channel

SP = ZoneInfo("America/Sao_Paulo")


def point(kind: str, value: str, owner: str = "debtor", **kw: object) -> ContactPointFacts:
    return ContactPointFacts(id=value, kind=kind, value=value, owner=owner, **kw)  # type: ignore[arg-type]


def test_only_debtor_points_are_used_and_third_party_is_named() -> None:
    neighbour = point("phone", "+5511987654321", owner="third_party")
    assert choose_contact_point(Channel.SMS, [neighbour], opted_out=set()) is (
        SuppressionReason.THIRD_PARTY
    )
    assert choose_contact_point(Channel.EMAIL, [neighbour], opted_out=set()) is (
        SuppressionReason.NO_CONTACT_POINT
    )
    own = point("phone", "+5511912345678")
    assert choose_contact_point(Channel.SMS, [neighbour, own], opted_out=set()) == own


def test_landlines_do_not_get_sms_or_whatsapp() -> None:
    landline = point("phone", "+551133334444")
    assert not is_mobile(landline.value)
    assert choose_contact_point(Channel.WHATSAPP, [landline], opted_out=set()) is (
        SuppressionReason.NO_CONTACT_POINT
    )


def test_invalid_points_are_skipped_and_preferences_ordered() -> None:
    bounced = point("email", "a@x.com", invalid=True, preferred=True)
    plain = point("email", "b@x.com")
    verified = point("email", "c@x.com", verified=True)
    favourite = point("email", "d@x.com", preferred_channel="email")
    assert choose_contact_point(Channel.EMAIL, [bounced, plain], opted_out=set()) == plain
    assert choose_contact_point(Channel.EMAIL, [plain, verified], opted_out=set()) == verified
    chosen = choose_contact_point(Channel.EMAIL, [plain, verified, favourite], opted_out=set())
    assert chosen == favourite


def test_opt_out_except_legally_required_notice() -> None:
    address = point("address", "Rua A, 1")
    assert (
        choose_contact_point(Channel.LETTER, [address], opted_out={Channel.LETTER})
        is SuppressionReason.OPT_OUT
    )
    assert (
        choose_contact_point(
            Channel.LETTER, [address], opted_out={Channel.LETTER}, template="aviso_negativacao"
        )
        == address
    )


def test_case_block_reasons() -> None:
    assert case_block_reason(CustomerFacts()) is None
    assert case_block_reason(CustomerFacts(deceased=True)) is SuppressionReason.DECEASED
    assert case_block_reason(CustomerFacts(disputed=True)) is SuppressionReason.DISPUTED
    assert (
        case_block_reason(CustomerFacts(superendividamento=True))
        is SuppressionReason.SUPERENDIVIDAMENTO
    )
    assert case_block_reason(CustomerFacts(do_not_contact=True)) is (
        SuppressionReason.DO_NOT_CONTACT
    )
    assert case_block_reason(CustomerFacts(in_agreement=True, disputed=True)) is (
        SuppressionReason.AGREEMENT
    )


def test_creditor_identification_required() -> None:
    full = CreditorFacts("Loja Ltda", "11222333000181", "Rua A, 1", "São Paulo", "SP")
    assert creditor_identified(full)
    assert not creditor_identified(CreditorFacts("Loja Ltda", "11222333000181", " ", "SP", "SP"))


def test_prescription_limit_five_years() -> None:
    assert prescription_limit(date(2026, 11, 22)) == date(2021, 11, 22)
    assert prescription_limit(date(2028, 2, 29)) == date(2023, 2, 28)


def test_schedule_in_debtor_time_zone_and_next_opening() -> None:
    # Saturday 21/11/2026 in SP: window 08–14; best hour 10:00 is inside.
    saturday = date(2026, 11, 21)
    p = point("email", "a@x.com", best_hour_start=time(10))
    assert schedule_contact(saturday, "SP", p) == datetime(2026, 11, 21, 10, tzinfo=SP)
    # Best hour 19:00 is outside Saturday's window: the opening at 08:00 is used.
    late = point("email", "a@x.com", best_hour_start=time(19))
    assert schedule_contact(saturday, "SP", late) == datetime(2026, 11, 21, 8, tzinfo=SP)
    # Sunday → Monday 08:00; Acre is two hours behind Brasília.
    sunday = date(2026, 11, 22)
    moment = schedule_contact(sunday, "AC", None)
    assert moment is not None
    assert moment.date() == date(2026, 11, 23)
    assert moment.utcoffset() is not None and moment.utcoffset().total_seconds() == -5 * 3600
    # Christmas Friday → Saturday 26/12 08:00.
    assert schedule_contact(date(2026, 12, 25), "SP", None) == datetime(2026, 12, 26, 8, tzinfo=SP)


def test_state_holiday_moves_contact() -> None:
    # 20/11 is a national holiday since 2024; 9 July is São Paulo's state holiday (Friday 2027).
    moment = schedule_contact(date(2027, 7, 9), "SP", None)
    assert moment is not None and moment.date() == date(2027, 7, 10)
    rio = schedule_contact(date(2027, 7, 9), "RJ", None)
    assert rio is not None and rio.date() == date(2027, 7, 9)


@given(
    st.dates(min_value=date(2025, 1, 1), max_value=date(2030, 12, 31)),
    st.sampled_from(["SP", "RJ", "AM", "AC", "RS", "BA", None]),
    st.one_of(st.none(), st.integers(min_value=0, max_value=23).map(lambda h: time(h))),
)
def test_scheduled_contacts_are_always_inside_the_window(
    day: date, uf: str | None, best: time | None
) -> None:
    moment = schedule_contact(day, uf, point("email", "a@x.com", best_hour_start=best))
    if moment is not None:
        assert is_within_contact_window(moment, uf)
        assert moment.date() >= day


def test_frequency_caps() -> None:
    day = date(2026, 11, 23)
    ledger = FrequencyLedger(history=[])
    assert ledger.allows(day, Channel.EMAIL)
    ledger.add(day, Channel.EMAIL)
    assert not ledger.allows(day, Channel.EMAIL)  # one per channel per day
    assert ledger.allows(day, Channel.SMS)
    full = FrequencyLedger(history=[(date(2026, 11, d), Channel.SMS) for d in range(17, 24)])
    assert not full.allows(day, Channel.WHATSAPP)  # seven attempts in seven days
    assert full.allows(date(2026, 11, 24), Channel.WHATSAPP)  # 18..24 holds six: room for one
    aged = FrequencyLedger(history=[(date(2026, 11, d), Channel.SMS) for d in range(10, 17)])
    assert aged.allows(day, Channel.SMS)
