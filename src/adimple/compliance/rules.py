"""The guards as pure functions: who may be contacted, on which contact point, and when.

The daily planner (both the set-based engine and the reference implementation) and the
dispatcher call these, so a rule lives in exactly one place. No database imports here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import NamedTuple

from adimple.cadence.models import SuppressionReason
from adimple.kit.calendar import (
    DEFAULT_CONTACT_WINDOW,
    ContactWindowPolicy,
    next_contact_opening,
    timezone_for_uf,
)
from adimple.portfolio.models import Channel

# Código Civil art. 206 §5º I: the claim for a liquid debt in a written instrument prescribes
# in five years; after that, active collection stops and only passive offers remain.
PRESCRIPTION_YEARS = 5

# Templates that are legally required notices: sent even to a customer who opted out of the
# channel (DESIGN §5: "opt-out honoured except for legally required notices"). The prior
# written notice of negativação is one (CDC art. 43 §2).
LEGALLY_REQUIRED_TEMPLATES = frozenset({"aviso_negativacao"})


@dataclass(frozen=True)
class CompliancePolicy:
    """Frequency caps and windows (defaults from DESIGN §5)."""

    per_channel_per_day: int = 1
    max_attempts: int = 7
    attempts_window_days: int = 7
    # A step whose next contact opening is further away than this is suppressed (``window``)
    # rather than delivered days late, when the situation may have changed.
    max_window_delay_days: int = 3
    window: ContactWindowPolicy = DEFAULT_CONTACT_WINDOW


DEFAULT_POLICY = CompliancePolicy()


@dataclass(frozen=True)
class CustomerFacts:
    deceased: bool = False
    disputed: bool = False
    superendividamento: bool = False
    do_not_contact: bool = False
    in_agreement: bool = False


@dataclass(frozen=True)
class CreditorFacts:
    legal_name: str | None
    document: str | None
    address: str | None
    city: str | None
    uf: str | None


class ContactPointFacts(NamedTuple):
    """A contact point as the guards see it. A named tuple rather than a frozen dataclass:
    the daily cycle builds one per point of every customer it decides about (~45,000 a day
    at 10M títulos), and a frozen dataclass's ``__init__`` costs five times as much."""

    id: object
    kind: str  # ContactKind value
    value: str
    owner: str  # ContactOwner value
    verified: bool = False
    preferred: bool = False
    preferred_channel: str | None = None
    invalid: bool = False
    best_hour_start: time | None = None
    best_hour_end: time | None = None


def prescription_limit(day: date) -> date:
    """Receivables due on or before this date are prescribed on ``day``."""
    try:
        return day.replace(year=day.year - PRESCRIPTION_YEARS)
    except ValueError:  # 29 February
        return day.replace(year=day.year - PRESCRIPTION_YEARS, day=28)


def case_block_reason(facts: CustomerFacts) -> SuppressionReason | None:
    """Why nobody may contact this customer about the debt now, if anything.

    Order matters only for the recorded reason: the first that applies is kept.
    """
    if facts.in_agreement:
        return SuppressionReason.AGREEMENT
    if facts.deceased:
        return SuppressionReason.DECEASED
    if facts.superendividamento:  # CDC art. 104-A: collection frozen during repactuação
        return SuppressionReason.SUPERENDIVIDAMENTO
    if facts.disputed:
        return SuppressionReason.DISPUTED
    if facts.do_not_contact:
        return SuppressionReason.DO_NOT_CONTACT
    return None


def creditor_identified(creditor: CreditorFacts) -> bool:
    """CDC art. 42-A: name, CPF/CNPJ and address must appear on every collection message."""
    return all(
        (value or "").strip()
        for value in (creditor.legal_name, creditor.document, creditor.address, creditor.city)
    )


def is_mobile(e164: str) -> bool:
    """Brazilian mobile numbers have nine digits after the area code, starting with 9."""
    digits = e164.lstrip("+")
    if digits.startswith("55"):
        national = digits[2:]
        return len(national) == 11 and national[2] == "9"
    return True  # foreign numbers: let the provider decide


_KIND_FOR_CHANNEL = {
    Channel.EMAIL: "email",
    Channel.SMS: "phone",
    Channel.WHATSAPP: "phone",
    Channel.LETTER: "address",
    Channel.PHONE: "phone",
}


def choose_contact_point(
    channel: Channel,
    points: Iterable[ContactPointFacts],
    *,
    opted_out: frozenset[Channel] | set[Channel],
    template: str | None = None,
) -> ContactPointFacts | SuppressionReason:
    """The debtor's best contact point for ``channel``, or why there is none.

    Only points owned by the debtor are ever used: telling a third party about a debt exposes
    the debtor (CDC art. 42 and 71; LGPD art. 6º).
    """
    if channel in opted_out and template not in LEGALLY_REQUIRED_TEMPLATES:
        return SuppressionReason.OPT_OUT
    kind = _KIND_FOR_CHANNEL[channel]
    usable = [
        p
        for p in points
        if p.kind == kind
        and not p.invalid
        and (channel not in (Channel.SMS, Channel.WHATSAPP) or is_mobile(p.value))
    ]
    own = [p for p in usable if p.owner == "debtor"]
    if not own:
        return SuppressionReason.THIRD_PARTY if usable else SuppressionReason.NO_CONTACT_POINT
    return min(
        own,
        key=lambda p: (
            p.preferred_channel != channel.value,
            not p.preferred,
            not p.verified,
            p.value,
        ),
    )


def schedule_contact(
    day: date,
    uf: str | None,
    point: ContactPointFacts | None,
    policy: CompliancePolicy = DEFAULT_POLICY,
) -> datetime | None:
    """When to deliver a contact planned for ``day``: the debtor's best hour if it falls inside
    the window, else the window's opening; the next opening when ``day`` is closed (Sunday,
    holiday). ``None`` when that is more than ``max_window_delay_days`` away."""
    tz = timezone_for_uf(uf)
    best = point.best_hour_start if point is not None else None
    window = policy.window.window_on(day, uf)
    if window is not None and best is not None and window.start <= best < window.end:
        moment = datetime.combine(day, best, tzinfo=tz)
    else:
        try:
            moment = next_contact_opening(
                datetime.combine(day, time(0), tzinfo=tz),
                uf,
                policy.window,
                max_days=policy.max_window_delay_days,
            )
        except ValueError:  # no opening close enough
            return None
    if (moment.date() - day).days > policy.max_window_delay_days:
        return None
    return moment


@dataclass
class FrequencyLedger:
    """Attempts already made or planned for one customer, to apply the caps.

    ``history`` holds (local date, channel) of earlier attempts inside the window.
    """

    history: list[tuple[date, Channel]]

    def allows(
        self, day: date, channel: Channel, policy: CompliancePolicy = DEFAULT_POLICY
    ) -> bool:
        since = day - timedelta(days=policy.attempts_window_days - 1)
        recent = [(d, c) for d, c in self.history if since <= d <= day]
        if len(recent) >= policy.max_attempts:
            return False
        same_day = sum(1 for d, c in recent if d == day and c == channel)
        return same_day < policy.per_channel_per_day

    def add(self, day: date, channel: Channel) -> None:
        self.history.append((day, channel))
