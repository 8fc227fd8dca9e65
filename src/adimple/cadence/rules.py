"""The régua's rules as pure functions: when a step falls due, which step a case takes today
(catch-up), which segment a debtor is in and why. No database imports: both the set-based
engine and the reference implementation call these, so they cannot disagree on a rule.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from adimple.kit.calendar import next_bank_business_day
from adimple.kit.i18n import brl
from adimple.portfolio.models import Channel


@dataclass(frozen=True)
class StepDef:
    """A cadence step as the planner sees it (one row of ``cadence_step``)."""

    position: int
    key: str
    offset_days: int
    channels: tuple[Channel, ...] = ()
    action: str | None = None
    template: str | None = None
    min_balance: Decimal | None = None
    segments: tuple[str, ...] | None = None
    score_bands: tuple[str, ...] | None = None
    only_business_days: bool = False

    @property
    def pre_due(self) -> bool:
        """Reminders on or before the due date are planned per receivable, not per case."""
        return self.offset_days <= 0


def step_date(due: date, step: StepDef) -> date:
    """The day ``step`` falls due for a título due on ``due``."""
    day = due + timedelta(days=step.offset_days)
    return next_bank_business_day(day) if step.only_business_days else day


def due_dates_for(day: date, step: StepDef) -> list[date]:
    """Every due date whose ``step`` falls on ``day`` (several when business-day rolling
    gathers a weekend onto a Monday), so the planner can select them by index."""
    base = day - timedelta(days=step.offset_days)
    if not step.only_business_days:
        return [base]
    if next_bank_business_day(day) != day:
        return []
    dates = [base]
    candidate = base - timedelta(days=1)
    while step_date(candidate, step) == day:
        dates.append(candidate)
        candidate -= timedelta(days=1)
    return sorted(dates)


def step_applies(
    step: StepDef, *, segment: str, overdue_balance: Decimal, risk_band: str | None
) -> bool:
    """A step's optional conditions (docs/cadence.md)."""
    if step.segments is not None and segment not in step.segments:
        return False
    if step.min_balance is not None and overdue_balance < step.min_balance:
        return False
    return step.score_bands is None or (risk_band is not None and risk_band in step.score_bands)


@dataclass(frozen=True)
class StepDecision:
    executed: StepDef | None
    skipped: tuple[StepDef, ...]
    next_step_on: date | None


def decide_step(
    steps: Sequence[StepDef],
    *,
    last_position: int,
    anchor_due: date,
    day: date,
    segment: str,
    overdue_balance: Decimal,
    risk_band: str | None,
) -> StepDecision:
    """Which post-due step a case takes on ``day``.

    Catch-up: when several steps fell due since the last run, only the most advanced one is
    carried out and the others are recorded as skipped — a debtor never gets a burst of
    messages because the job did not run for a few days.
    """
    # Each pending step with the day it falls due, worked out once (a day decides thousands
    # of cases; ``offset_days > 0`` is ``not pre_due``).
    pending = [
        (s, step_date(anchor_due, s))
        for s in steps
        if s.offset_days > 0 and s.position > last_position
    ]
    due = [
        s
        for s, on in pending
        if on <= day
        and step_applies(s, segment=segment, overdue_balance=overdue_balance, risk_band=risk_band)
    ]
    executed = max(due, key=lambda s: s.position) if due else None
    skipped = tuple(s for s in due if executed is not None and s.position < executed.position)
    reached = executed.position if executed is not None else last_position
    later = [on for s, on in pending if s.position > reached and on > day]
    return StepDecision(executed, skipped, min(later) if later else None)


def first_step_on(steps: Sequence[StepDef], anchor_due: date) -> date | None:
    """When a new case's first post-due step falls due."""
    dates = [step_date(anchor_due, s) for s in steps if not s.pre_due]
    return min(dates) if dates else None


# --- segments ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SegmentDef:
    code: str
    name: str
    priority: int
    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    cadence_name: str = "padrao"


@dataclass(frozen=True)
class CustomerFeatures:
    """What segment rules look at, computed on the day a case opens.

    ``late_months`` is the number of calendar months, among the window's (the last
    ``window_months`` up to and including the current one), with a título due in it that was
    paid more than ``grace`` days late or is still overdue; ``paid_late_recent`` counts
    títulos paid late within the loyalty window; ``first_due`` is the customer's oldest due
    date (length of the relationship) and ``first_issue`` the oldest issue date.
    """

    is_business: bool
    overdue_balance: Decimal
    ever_paid: bool
    first_issue: date
    first_due: date
    late_months: int
    paid_late_recent: int


LATE_GRACE_DAYS = 3  # a weekend or a holiday between due date and payment is not lateness


def months_back(day: date, months: int) -> date:
    """The first day of the month ``months`` before ``day``'s month (window start)."""
    index = day.year * 12 + day.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def month_starts(day: date, months: int) -> list[date]:
    """The first days of the ``months`` calendar months ending with ``day``'s, then of the
    month after: ``months + 1`` bounds, month k being ``[starts[k], starts[k + 1])``."""
    return [months_back(day, months - 1 - k) for k in range(months + 1)]


def same_day_months_back(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 - months
    year, month = index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def classify(
    features: CustomerFeatures, segments: Sequence[SegmentDef], day: date
) -> tuple[SegmentDef, str]:
    """The first segment, by priority, whose rule matches; and the reason in pt-BR."""
    for segment in sorted(segments, key=lambda s: (s.priority, s.code)):
        reason = _matches(segment, features, day)
        if reason is not None:
            return segment, reason
    raise ValueError("no segment matched: the tenant needs one segment of kind 'always'")


def _matches(segment: SegmentDef, f: CustomerFeatures, day: date) -> str | None:
    """The segment's reason when its rule matches, else None.

    Pre-due reminders ask the same in SQL (``cadence.repository._segment_sql``): a change
    here — a new kind, a parameter, an edge — goes there too; tests/cadence/test_repository.py
    compares the two at every edge.
    """
    params = segment.params
    match segment.kind:
        case "high_balance":
            threshold = Decimal(str(params.get("min_balance", "5000.00")))
            if f.overdue_balance >= threshold:
                return f"saldo em atraso {brl(f.overdue_balance)} ≥ {brl(threshold)}"
        case "business":
            if f.is_business:
                return "devedor pessoa jurídica (CNPJ)"
        case "never_paid":
            within = int(params.get("within_days", 120))
            if not f.ever_paid and f.first_issue >= day - timedelta(days=within):
                return f"cliente novo (primeira emissão há menos de {within} dias) sem pagamento"
        case "chronic_late":
            minimum = int(params.get("min_months", 3))
            window = int(params.get("window_months", 6))
            if f.late_months >= minimum:
                return f"atrasou em {f.late_months} dos últimos {window} meses"
        case "loyal_first_late":
            months = int(params.get("months", 12))
            if f.paid_late_recent == 0 and f.first_due <= same_day_months_back(day, months):
                return f"pagou em dia nos últimos {months} meses; primeiro atraso"
        case "always":
            return "régua padrão"
    return None


def segment_window(segments: Sequence[SegmentDef]) -> tuple[int, int]:
    """(chronic window in months, loyalty window in months) the features must cover."""
    chronic = max(
        (int(s.params.get("window_months", 6)) for s in segments if s.kind == "chronic_late"),
        default=6,
    )
    loyal = max(
        (int(s.params.get("months", 12)) for s in segments if s.kind == "loyal_first_late"),
        default=12,
    )
    return chronic, loyal


def reminder_candidates(segments: Sequence[SegmentDef]) -> list[SegmentDef]:
    """Every segment :func:`reminder_segment` can return, in the order it tries them."""
    history = [s for s in segments if s.kind not in ("preventive", "always", "high_balance")]
    preventive = sorted((s for s in segments if s.kind == "preventive"), key=lambda s: s.priority)
    return sorted(history, key=lambda s: (s.priority, s.code)) + preventive[:1]


def reminder_segment(
    features: CustomerFeatures, segments: Sequence[SegmentDef], day: date
) -> SegmentDef | None:
    """Whose pre-due reminders a customer with nothing overdue gets.

    The history segments (new customer, loyal, chronic late payer, business…) are tried in
    priority order, so a chronic late payer is reminded earlier and a new customer is greeted
    before the first due date; a customer none of them describes gets the ``preventive``
    segment's reminders. The catch-all (``always``) and overdue-balance rules play no part
    before anything is due.
    """
    for segment in reminder_candidates(segments):
        if segment.kind == "preventive" or _matches(segment, features, day) is not None:
            return segment
    return None


def min_late_months(segments: Sequence[SegmentDef]) -> int | None:
    """The fewest late months any of ``segments`` asks for, when every one of them is a
    chronic-late-payer rule (else None: no such necessary condition)."""
    if not segments or any(s.kind != "chronic_late" for s in segments):
        return None
    return min(int(s.params.get("min_months", 3)) for s in segments)
