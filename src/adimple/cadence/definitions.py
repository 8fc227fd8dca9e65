"""Cadence (régua de cobrança) and segment documents — pure code, no database.

A cadence is a YAML document (``docs/cadence.md``)::

    name: padrao
    steps:
      - {id: lembrete_d3, offset_days: -3, channels: [email], template: lembrete_vencimento}
      - {id: ligacao_d10, offset_days: 10, action: task_call}

Parsing has three layers: YAML (syntax errors with their line), shape (the pydantic models
below, which are also the API's request schema, every string and list bounded) and meaning
(:func:`cadence_issues` / :func:`segments_issues`: channels XOR action, unique ids, the CDC
art. 43 §2 waiting period between the bureau notice and the activation…). Every problem is a
:class:`DefinitionIssue` that names the file, the step or segment (index and id), the field
and, when the text came from YAML, the line. All problems are reported at once.

The normalised form (:func:`normalise_cadence`) is what a version stores and what decides
whether an import changed anything: steps sorted by ``offset_days`` (stable, so file order
breaks ties), defaults written out, money as ``"100.00"``.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from importlib import resources
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from adimple.kit.errors import FieldError, ValidationFailed

# The channels a step may use (a subset of portfolio.models.Channel: a phone call is an
# action, ``task_call``, because an operator makes it) and the actions (cadence.models.StepAction).
CHANNELS: tuple[str, ...] = ("email", "sms", "whatsapp", "letter")
ACTIONS: tuple[str, ...] = (
    "task_call",
    "bureau_notice",
    "bureau_activate",
    "agency_handoff",
    "legal_review",
)
SEGMENT_KINDS: tuple[str, ...] = (
    "preventive",
    "high_balance",
    "business",
    "never_paid",
    "chronic_late",
    "loyal_first_late",
    "always",
)

# CDC art. 43 §2: the debtor is told in writing before being registered with a credit bureau;
# the bureaus' practice (and DESIGN §5) gives at least 10 days to pay before activation.
BUREAU_WAITING_DAYS = 10
BUREAU_NOTICE_TEMPLATE = "aviso_negativacao"

# A step more than 60 days before the due date or 10 years after it is a typo, not a plan
# (collection stops at prescription, Código Civil art. 206 §5 I: 5 years).
MIN_OFFSET_DAYS = -60
MAX_OFFSET_DAYS = 3650
MAX_STEPS = 60
MAX_SEGMENTS = 50
MAX_MONEY = Decimal("1000000000")

NAME_PATTERN = r"^[a-z0-9][a-z0-9_\-]{0,63}$"
KEY_PATTERN = r"^[a-z0-9][a-z0-9_]{0,63}$"
CODE_PATTERN = r"^[a-z0-9][a-z0-9_]{0,39}$"
BAND_PATTERN = r"^[A-Za-z0-9_\-]{1,10}$"
MONEY_PATTERN = r"^[0-9]{1,10}(\.[0-9]{1,2})?$"

Name = Annotated[str, Field(min_length=1, max_length=64, pattern=NAME_PATTERN)]
Key = Annotated[str, Field(min_length=1, max_length=64, pattern=KEY_PATTERN)]
Code = Annotated[str, Field(min_length=1, max_length=40, pattern=CODE_PATTERN)]
Band = Annotated[str, Field(min_length=1, max_length=10, pattern=BAND_PATTERN)]
MoneyText = Annotated[str, Field(min_length=1, max_length=13, pattern=MONEY_PATTERN)]
ChannelName = Literal["email", "sms", "whatsapp", "letter"]
ActionName = Literal[
    "task_call", "bureau_notice", "bureau_activate", "agency_handoff", "legal_review"
]
SegmentKind = Literal[
    "preventive",
    "high_balance",
    "business",
    "never_paid",
    "chronic_late",
    "loyal_first_late",
    "always",
]
ParamKey = Annotated[str, Field(min_length=1, max_length=40)]
ParamValue = (
    Annotated[int, Field(ge=0, le=100_000)]
    | Annotated[float, Field(ge=0, le=1e9)]
    | Annotated[str, Field(max_length=20)]
)


# --- issues -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DefinitionIssue:
    """One problem in a document: ``padrao.yaml: steps[2] (ligacao_d10): action: …``."""

    source: str
    field: str  # the key inside the item, or the top-level key
    reason: str
    item: str | None = None  # "steps" or "segments"
    index: int | None = None
    item_id: str | None = None
    line: int | None = None

    @property
    def where(self) -> str:
        if self.item is None:
            return ""
        label = f"{self.item}[{self.index}]" if self.index is not None else self.item
        return f"{label} ({self.item_id})" if self.item_id else label

    @property
    def path(self) -> str:
        """Machine path for the API: ``steps.2.action``."""
        parts = [self.item, None if self.index is None else str(self.index), self.field]
        return ".".join(p for p in parts if p)

    def __str__(self) -> str:
        where = f"{self.where}: " if self.where else ""
        field = f"{self.field}: " if self.field else ""
        line = f" (line {self.line})" if self.line is not None else ""
        return f"{self.source}: {where}{field}{self.reason}{line}"

    def as_field_error(self) -> FieldError:
        return FieldError(field=self.path, reason=self.reason, line=self.line, source=self.source)


class DefinitionError(ValidationFailed):
    """A cadence or segments document that cannot be saved (HTTP 422)."""

    title = "Definição inválida"

    def __init__(self, issues: list[DefinitionIssue]) -> None:
        self.issues = issues
        first = str(issues[0]) if issues else "invalid document"
        more = f" (+{len(issues) - 1} more)" if len(issues) > 1 else ""
        super().__init__(errors=[i.as_field_error() for i in issues], message=first + more)

    def lines(self) -> list[str]:
        return [str(issue) for issue in self.issues]


# --- document models (also the API schema) ----------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _one_of(kind: str, value: object, allowed: tuple[str, ...]) -> PydanticCustomError:
    return PydanticCustomError(
        "unknown_choice",
        "unknown {kind} '{value}'; expected one of {allowed}",
        {"kind": kind, "value": _shown(value), "allowed": ", ".join(allowed)},
    )


def _shown(value: object) -> str:
    """A value quoted in a message: short, and never the text of a whole nested structure."""
    text = str(value) if isinstance(value, str | int | float) else type(value).__name__
    return text if len(text) <= 40 else text[:37] + "..."


def _money_text(value: object) -> object:
    """``100``, ``100.5`` and ``"100.50"`` → ``"100.50"``; anything else is left to the pattern."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        return value
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        return value
    if not amount.is_finite() or amount < 0:
        raise PydanticCustomError(
            "money",
            "'{value}' is not an amount ≥ 0 with at most 2 decimals",
            {"value": _shown(value)},
        )
    if amount >= MAX_MONEY:  # checked first: quantize would overflow on huge values
        raise PydanticCustomError(
            "money_range", "amount too large (at most {limit})", {"limit": "999999999.99"}
        )
    if amount != amount.quantize(Decimal("0.01")):
        raise PydanticCustomError(
            "money",
            "'{value}' is not an amount ≥ 0 with at most 2 decimals",
            {"value": _shown(value)},
        )
    return f"{amount + 0:.2f}"  # + 0 turns -0 into 0


class StepDefinition(_Model):
    """Passo da régua: what happens ``offset_days`` after the due date (negative = before)."""

    id: Key
    offset_days: int = Field(ge=MIN_OFFSET_DAYS, le=MAX_OFFSET_DAYS)
    channels: list[ChannelName] | None = Field(default=None, min_length=1, max_length=4)
    action: ActionName | None = None
    template: Key | None = None
    min_balance: MoneyText | None = None
    segments: list[Code] | None = Field(default=None, min_length=1, max_length=MAX_SEGMENTS)
    score_bands: list[Band] | None = Field(default=None, min_length=1, max_length=20)
    only_business_days: bool = False

    @field_validator("action", mode="before")
    @classmethod
    def _known_action(cls, value: object) -> object:
        if value is not None and value not in ACTIONS:
            raise _one_of("action", value, ACTIONS)
        return value

    @field_validator("channels", mode="before")
    @classmethod
    def _known_channels(cls, value: object) -> object:
        if isinstance(value, str):  # `channels: email` is a common slip for [email]
            value = [value]
        if isinstance(value, list):
            for channel in value:
                if channel not in CHANNELS:
                    raise _one_of("channel", channel, CHANNELS)
            if len(set(value)) != len(value):
                raise PydanticCustomError("duplicate", "a channel is listed twice", {})
        return value

    @field_validator("segments", "score_bands", mode="before")
    @classmethod
    def _one_or_list(cls, value: object) -> object:
        if isinstance(value, str):
            value = [value]
        if (
            isinstance(value, list)
            and all(isinstance(item, str) for item in value)
            and len(set(value)) != len(value)
        ):
            raise PydanticCustomError("duplicate", "a value is listed twice", {})
        return value

    @field_validator("min_balance", mode="before")
    @classmethod
    def _money(cls, value: object) -> object:
        return _money_text(value)


class CadenceDocument(_Model):
    """A whole cadence: its name, an optional pt-BR description and its steps."""

    name: Name
    description: str | None = Field(default=None, max_length=300)
    steps: list[StepDefinition] = Field(min_length=1, max_length=MAX_STEPS)


class SegmentDefinition(_Model):
    """Segmento: a rule (``kind`` + ``params``) and the cadence its cases follow."""

    code: Code
    name: str = Field(min_length=1, max_length=100)
    priority: int = Field(ge=0, le=100_000)
    kind: SegmentKind
    params: dict[ParamKey, ParamValue] = Field(default_factory=dict, max_length=5)
    cadence: Name
    enabled: bool = True

    @field_validator("kind", mode="before")
    @classmethod
    def _known_kind(cls, value: object) -> object:
        if value not in SEGMENT_KINDS:
            raise _one_of("segment kind", value, SEGMENT_KINDS)
        return value


class SegmentsDocument(_Model):
    """The tenant's whole set of segment rules (saving replaces the set)."""

    segments: list[SegmentDefinition] = Field(min_length=1, max_length=MAX_SEGMENTS)


# --- meaning ----------------------------------------------------------------------------------

# Every kind's parameters: name → (kind of value, default, minimum, maximum).
SEGMENT_PARAMS: dict[str, dict[str, tuple[str, Any, int, int]]] = {
    "preventive": {},
    "high_balance": {"min_balance": ("money", "5000.00", 0, 0)},
    "business": {},
    "never_paid": {"within_days": ("int", 120, 1, 3650)},
    "chronic_late": {"min_months": ("int", 3, 1, 24), "window_months": ("int", 6, 1, 24)},
    "loyal_first_late": {"months": ("int", 12, 1, 120)},
    "always": {},
}


def cadence_issues(doc: CadenceDocument, source: str) -> list[DefinitionIssue]:
    """Rules across fields and steps; an empty list means the cadence can be saved."""
    issues: list[DefinitionIssue] = []
    seen: dict[str, int] = {}

    def issue(index: int, step: StepDefinition, field: str, reason: str) -> None:
        issues.append(DefinitionIssue(source, field, reason, "steps", index, step.id))

    for index, step in enumerate(doc.steps):
        if step.id in seen:
            issue(index, step, "id", f"duplicate step id (also steps[{seen[step.id]}])")
        else:
            seen[step.id] = index
        if step.channels and step.action:
            issue(index, step, "action", "a step has either channels or an action, not both")
        elif not step.channels and not step.action:
            issue(index, step, "channels", "a step needs channels or an action")
        if step.channels and not step.template:
            issue(index, step, "template", "a step with channels needs a template")
        if step.action and not step.channels and step.action != "bureau_notice" and step.template:
            issue(
                index,
                step,
                "template",
                f"action '{step.action}' takes no template (only channel steps and "
                "bureau_notice, whose letter defaults to aviso_negativacao)",
            )
    notices = [(i, s) for i, s in enumerate(doc.steps) if s.action == "bureau_notice"]
    for index, step in enumerate(doc.steps):
        if step.action != "bureau_activate":
            continue
        if not notices:
            issue(
                index,
                step,
                "action",
                "bureau_activate needs a bureau_notice step at least "
                f"{BUREAU_WAITING_DAYS} days earlier (CDC art. 43 §2)",
            )
            continue
        _, earliest = min(notices, key=lambda pair: pair[1].offset_days)
        gap = step.offset_days - earliest.offset_days
        if gap < BUREAU_WAITING_DAYS:
            issue(
                index,
                step,
                "offset_days",
                f"bureau_activate on day {step.offset_days} is {gap} days after bureau_notice "
                f"'{earliest.id}' (day {earliest.offset_days}); the written notice must come at "
                f"least {BUREAU_WAITING_DAYS} days before (CDC art. 43 §2)",
            )
    return issues


def segments_issues(doc: SegmentsDocument, source: str) -> list[DefinitionIssue]:
    """Unique codes and priorities, known parameters per kind, exactly one ``always`` (last)
    and exactly one ``preventive``."""
    issues: list[DefinitionIssue] = []
    codes: dict[str, int] = {}
    priorities: dict[int, int] = {}

    def issue(index: int, seg: SegmentDefinition | None, field: str, reason: str) -> None:
        issues.append(
            DefinitionIssue(source, field, reason, "segments", index, seg.code if seg else None)
        )

    for index, seg in enumerate(doc.segments):
        if seg.code in codes:
            issue(index, seg, "code", f"duplicate segment code (also segments[{codes[seg.code]}])")
        else:
            codes[seg.code] = index
        if seg.priority in priorities:
            issue(
                index,
                seg,
                "priority",
                f"same priority as segments[{priorities[seg.priority]}]; the first match wins, "
                "so the order must be unambiguous",
            )
        else:
            priorities[seg.priority] = index
        spec = SEGMENT_PARAMS[seg.kind]
        for key, value in seg.params.items():
            if key not in spec:
                expected = ", ".join(spec) or "no parameters"
                issue(
                    index,
                    seg,
                    f"params.{key}",
                    f"unknown parameter for kind '{seg.kind}'; expected {expected}",
                )
                continue
            reason = _param_problem(spec[key], value)
            if reason:
                issue(index, seg, f"params.{key}", reason)
        params = normalise_params(seg.kind, seg.params)
        if (
            seg.kind == "chronic_late"
            and isinstance(params.get("min_months"), int)
            and isinstance(params.get("window_months"), int)
            and params["min_months"] > params["window_months"]
        ):
            issue(index, seg, "params.min_months", "must not exceed window_months")
    for kind in ("always", "preventive"):
        found = [i for i, s in enumerate(doc.segments) if s.kind == kind]
        if len(found) != 1:
            issues.append(
                DefinitionIssue(
                    source,
                    "segments",
                    f"exactly one segment of kind '{kind}' is required (found {len(found)})",
                )
            )
    always = [s for s in doc.segments if s.kind == "always"]
    if len(always) == 1:
        fallback = always[0]
        for index, seg in enumerate(doc.segments):
            later = seg.priority > fallback.priority
            if seg is not fallback and later:
                issue(
                    index,
                    seg,
                    "priority",
                    f"comes after the fallback '{fallback.code}' (kind always, priority "
                    f"{fallback.priority}) and would never match",
                )
        if not fallback.enabled:
            issues.append(
                DefinitionIssue(
                    source,
                    "enabled",
                    "the fallback segment (kind always) cannot be disabled",
                    "segments",
                    doc.segments.index(fallback),
                    fallback.code,
                )
            )
    return issues


def _param_problem(spec: tuple[str, Any, int, int], value: object) -> str | None:
    kind, _, low, high = spec
    if kind == "money":
        try:
            _money_text(value)
        except PydanticCustomError as exc:
            return exc.message()
        if not (isinstance(value, str | int) and re.match(MONEY_PATTERN, str(value))):
            return f"'{_shown(value)}' is not an amount like \"5000.00\""
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        return f"must be a whole number between {low} and {high}"
    if not low <= value <= high:
        return f"must be between {low} and {high}"
    return None


def normalise_params(kind: str, params: dict[str, Any]) -> dict[str, Any]:
    """Every parameter of ``kind`` written out (defaults filled), money as ``"5000.00"``."""
    result: dict[str, Any] = {}
    for key, (value_kind, default, _, _) in SEGMENT_PARAMS.get(kind, {}).items():
        value = params.get(key, default)
        if value_kind == "money":
            with contextlib.suppress(PydanticCustomError):
                value = _money_text(value)
        result[key] = value
    return result


# --- normal forms -----------------------------------------------------------------------------


def normalise_step(step: StepDefinition) -> dict[str, Any]:
    template = step.template
    if step.action == "bureau_notice" and template is None:
        template = BUREAU_NOTICE_TEMPLATE
    return {
        "id": step.id,
        "offset_days": step.offset_days,
        "channels": list(step.channels) if step.channels else None,
        "action": step.action,
        "template": template,
        "min_balance": step.min_balance,
        "segments": list(step.segments) if step.segments else None,
        "score_bands": list(step.score_bands) if step.score_bands else None,
        "only_business_days": step.only_business_days,
    }


def normalise_cadence(doc: CadenceDocument) -> dict[str, Any]:
    """The stored definition: steps by offset (file order breaks ties), every key present."""
    steps = sorted(doc.steps, key=lambda step: step.offset_days)  # sorted() is stable
    return {
        "name": doc.name,
        "description": doc.description,
        "steps": [normalise_step(step) for step in steps],
    }


def normalise_segments(doc: SegmentsDocument) -> list[dict[str, Any]]:
    """Segments by priority, parameters complete."""
    return [
        {
            "code": seg.code,
            "name": seg.name,
            "priority": seg.priority,
            "kind": seg.kind,
            "params": normalise_params(seg.kind, seg.params),
            "cadence": seg.cadence,
            "enabled": seg.enabled,
        }
        for seg in sorted(doc.segments, key=lambda s: s.priority)
    ]


def _compact_step(step: dict[str, Any]) -> dict[str, Any]:
    """A step as written by hand: keys with their default value left out."""
    return {
        key: value
        for key, value in step.items()
        if value is not None and not (key == "only_business_days" and value is False)
    }


class _Dumper(yaml.SafeDumper):
    pass


def _flow(items: list[dict[str, Any]]) -> list[str]:
    return [
        "  - "
        + yaml.dump(
            item,
            Dumper=_Dumper,
            default_flow_style=True,
            sort_keys=False,
            allow_unicode=True,
            width=10_000,
        ).strip()
        for item in items
    ]


def _scalar(value: Any) -> str:
    dumped = yaml.dump(value, Dumper=_Dumper, allow_unicode=True, width=10_000)
    return dumped.removesuffix("\n...\n").strip()


def dump_cadence(doc: CadenceDocument | dict[str, Any]) -> str:
    """YAML text of a cadence, one step per line in flow style (the form of the docs).

    ``parse_cadence(dump_cadence(d))`` normalises to the same dict, so exporting and
    re-importing never creates a version.
    """
    data = normalise_cadence(doc) if isinstance(doc, CadenceDocument) else doc
    lines = [f"name: {_scalar(data['name'])}"]
    if data.get("description"):
        lines.append(f"description: {_scalar(data['description'])}")
    lines.append("steps:")
    lines.extend(_flow([_compact_step(step) for step in data["steps"]]))
    return "\n".join(lines) + "\n"


def dump_segments(doc: SegmentsDocument | list[dict[str, Any]]) -> str:
    rows = normalise_segments(doc) if isinstance(doc, SegmentsDocument) else doc
    compact = [
        {k: v for k, v in row.items() if not (k == "params" and not v) and k != "enabled"}
        | ({} if row.get("enabled", True) else {"enabled": False})
        for row in rows
    ]
    return "\n".join(["segments:", *_flow(compact)]) + "\n"


# --- parsing ----------------------------------------------------------------------------------

_Path = tuple[str | int, ...]

_FRIENDLY = {
    "missing": "required",
    "extra_forbidden": "unknown key",
    "int_parsing": "must be a whole number",
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "bool_parsing": "must be true or false",
    "bool_type": "must be true or false",
    "string_type": "must be text",
    "list_type": "must be a list",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
}

_STEP_KEYS = ", ".join(StepDefinition.model_fields)
_SEGMENT_KEYS = ", ".join(SegmentDefinition.model_fields)


def _reason(error: Any) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        loc = error["loc"]
        expected = (
            _STEP_KEYS
            if "steps" in loc
            else _SEGMENT_KEYS
            if "segments" in loc and len(loc) > 2
            else ""
        )
        return "unknown key" + (f"; expected one of {expected}" if expected else "")
    if kind in _FRIENDLY:
        return _FRIENDLY[kind]
    if kind == "string_pattern_mismatch":
        return f"'{_shown(error['input'])}' does not match {error['ctx']['pattern']}"
    return str(error["msg"])


def _issues_from_validation(
    exc: ValidationError, data: Any, item: str, source: str, lines: dict[_Path, int]
) -> list[DefinitionIssue]:
    issues = []
    for error in exc.errors():
        loc: _Path = tuple(error["loc"])
        index: int | None = None
        item_id: str | None = None
        rest: _Path = loc
        if len(loc) >= 2 and loc[0] == item and isinstance(loc[1], int):
            index = loc[1]
            rest = loc[2:]
            try:
                raw = data[item][index]
                key = "id" if item == "steps" else "code"
                item_id = _shown(raw[key]) if isinstance(raw, dict) and key in raw else None
            except (KeyError, IndexError, TypeError):
                item_id = None
        field = ".".join(str(p) for p in rest)
        issues.append(
            DefinitionIssue(
                source=source,
                field=field,
                reason=_reason(error),
                item=item if index is not None else None,
                index=index,
                item_id=item_id,
                line=_line_for(lines, loc),
            )
        )
    return issues


def _line_for(lines: dict[_Path, int], loc: _Path) -> int | None:
    """The line of the deepest node of ``loc`` the YAML had (a missing key: its mapping)."""
    for size in range(len(loc), -1, -1):
        if loc[:size] in lines:
            return lines[loc[:size]]
    return None


def _with_lines(issues: list[DefinitionIssue], lines: dict[_Path, int]) -> list[DefinitionIssue]:
    out = []
    for issue in issues:
        loc: _Path = ()
        if issue.item is not None and issue.index is not None:
            loc = (issue.item, issue.index, *issue.field.split("."))
        elif issue.field:
            loc = (issue.field,)
        line = _line_for(lines, loc) if loc else None
        out.append(
            DefinitionIssue(
                issue.source,
                issue.field,
                issue.reason,
                issue.item,
                issue.index,
                issue.item_id,
                line,
            )
        )
    return out


def _load_yaml(text: str, source: str) -> tuple[Any, dict[_Path, int]]:
    """The data and the 1-based line of every key and list item (from the YAML nodes)."""
    try:
        loader = yaml.SafeLoader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        reason = " ".join(str(exc.problem or exc.context or "invalid YAML").split())
        raise DefinitionError(
            [
                DefinitionIssue(
                    source, "", f"invalid YAML: {reason}", line=mark.line + 1 if mark else None
                )
            ]
        ) from exc
    except yaml.YAMLError as exc:
        raise DefinitionError([DefinitionIssue(source, "", f"invalid YAML: {exc}")]) from exc
    lines: dict[_Path, int] = {}
    duplicates: list[DefinitionIssue] = []

    visited: set[int] = set()

    def walk(n: yaml.Node, path: _Path) -> None:
        lines.setdefault(path, n.start_mark.line + 1)
        # An alias points to a node already walked: walking it again for every path that
        # reaches it would be exponential (the "billion laughs" document).
        if id(n) in visited:
            return
        visited.add(id(n))
        if isinstance(n, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, value_node in n.value:
                key = str(key_node.value)
                if key in seen:
                    duplicates.append(
                        DefinitionIssue(
                            source,
                            ".".join(str(p) for p in (*path, key)),
                            "key given twice",
                            line=key_node.start_mark.line + 1,
                        )
                    )
                seen.add(key)
                lines[(*path, key)] = key_node.start_mark.line + 1
                walk(value_node, (*path, key))
        elif isinstance(n, yaml.SequenceNode):
            for i, child in enumerate(n.value):
                walk(child, (*path, i))

    if node is not None:
        walk(node, ())
    if duplicates:
        raise DefinitionError(duplicates)
    return data, lines


def _top_mapping(data: Any, source: str, keys: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise DefinitionError(
            [DefinitionIssue(source, "", f"the document must be a mapping with {keys}")]
        )
    return data


def cadence_from_data(
    data: Any, source: str = "<input>", lines: dict[_Path, int] | None = None
) -> CadenceDocument:
    """Validates already-loaded data (a JSON body, a YAML mapping) into a cadence document."""
    lines = lines or {}
    data = _top_mapping(data, source, "name and steps")
    try:
        doc = CadenceDocument.model_validate(data)
    except ValidationError as exc:
        raise DefinitionError(_issues_from_validation(exc, data, "steps", source, lines)) from exc
    check_cadence(doc, source, lines)
    return doc


def check_cadence(
    doc: CadenceDocument, source: str = "<input>", lines: dict[_Path, int] | None = None
) -> None:
    issues = cadence_issues(doc, source)
    if issues:
        raise DefinitionError(_with_lines(issues, lines or {}))


def parse_cadence(text: str, source: str = "<input>") -> CadenceDocument:
    """A cadence from YAML (or JSON) text; :class:`DefinitionError` lists every problem."""
    data, lines = _load_yaml(text, source)
    return cadence_from_data(data, source, lines)


def segments_from_data(
    data: Any, source: str = "<input>", lines: dict[_Path, int] | None = None
) -> SegmentsDocument:
    lines = lines or {}
    data = _top_mapping(data, source, "a 'segments' list")
    try:
        doc = SegmentsDocument.model_validate(data)
    except ValidationError as exc:
        raise DefinitionError(
            _issues_from_validation(exc, data, "segments", source, lines)
        ) from exc
    check_segments(doc, source, lines)
    return doc


def check_segments(
    doc: SegmentsDocument, source: str = "<input>", lines: dict[_Path, int] | None = None
) -> None:
    issues = segments_issues(doc, source)
    if issues:
        raise DefinitionError(_with_lines(issues, lines or {}))


def parse_segments(text: str, source: str = "<input>") -> SegmentsDocument:
    """The segments document from YAML (or JSON) text."""
    data, lines = _load_yaml(text, source)
    return segments_from_data(data, source, lines)


# --- shipped defaults -------------------------------------------------------------------------

DEFAULT_CADENCE_NAMES: tuple[str, ...] = (
    "preventiva",
    "padrao",
    "cliente_fiel",
    "atraso_cronico",
    "alto_saldo",
    "empresa",
    "primeira_fatura",
)


def _data_text(file_name: str) -> str:
    return resources.files("adimple.cadence").joinpath("data", file_name).read_text("utf-8")


def shipped_cadences() -> list[CadenceDocument]:
    """The default cadences in pt-BR (``adimple/cadence/data/*.yaml``)."""
    return [
        parse_cadence(_data_text(f"{name}.yaml"), f"{name}.yaml") for name in DEFAULT_CADENCE_NAMES
    ]


def shipped_segments() -> SegmentsDocument:
    return parse_segments(_data_text("segments.yaml"), "segments.yaml")
