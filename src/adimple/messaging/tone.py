"""Tone check: collection messages never threaten, expose or embarrass (CDC art. 42, art. 71).

The maintained pt-BR term list is ``messaging/data/tone_terms.txt``; a tenant may add its own
terms (:class:`adimple.messaging.template_models.ToneTerm`). Matching ignores accents, case and
repeated whitespace and works on whole words, so "polícia" also finds "POLICIA" but "apolícia"
would not match. :func:`check_tone` reports every hit with its 1-based line number, so a person
editing a template sees which line to change.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from sqlalchemy import select
from sqlalchemy.orm import Session

MAX_TERM_LENGTH = 80


@dataclass(frozen=True)
class ToneViolation:
    """A forbidden term on a line of a text (``field`` names the template part checked)."""

    line: int
    term: str
    excerpt: str
    field: str = "body"

    def __str__(self) -> str:
        return (
            f"{self.field}, linha {self.line}: termo proibido '{self.term}' em \"{self.excerpt}\""
        )


def normalize(text: str) -> str:
    """Lower case, no accents, single spaces: the form terms and texts are compared in."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return re.sub(r"\s+", " ", plain).strip()


def read_terms(text: str) -> list[str]:
    terms = []
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            terms.append(line)
    return terms


@lru_cache(maxsize=1)
def default_terms() -> tuple[str, ...]:
    data = resources.files("adimple.messaging").joinpath("data/tone_terms.txt")
    return tuple(read_terms(data.read_text(encoding="utf-8")))


@lru_cache(maxsize=256)
def _compiled(terms: tuple[str, ...]) -> tuple[re.Pattern[str] | None, dict[str, str]]:
    """One regex over every term (longest first) and normalized form → term as written."""
    originals = {normalize(t): t for t in terms if normalize(t)}
    if not originals:
        return None, originals
    ordered = sorted(originals, key=len, reverse=True)
    alternatives = "|".join(re.escape(t).replace(r"\ ", r"\s+") for t in ordered)
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)"), originals


def check_tone(
    text: str, *, extra_terms: Iterable[str] = (), field: str = "body"
) -> list[ToneViolation]:
    """Every forbidden term in ``text``, line by line (1-based), in order of appearance."""
    pattern, originals = _compiled(tuple(sorted(set(default_terms()) | set(extra_terms))))
    if pattern is None:
        return []
    violations = []
    for number, line in enumerate(text.splitlines() or [text], start=1):
        for match in pattern.finditer(normalize(line)):
            excerpt = line.strip()
            if len(excerpt) > 120:
                excerpt = excerpt[:117] + "..."
            term = originals.get(re.sub(r"\s+", " ", match.group(0)), match.group(0))
            violations.append(ToneViolation(number, term, excerpt, field))
    return violations


def tenant_terms(session: Session, *, tenant_id: uuid.UUID) -> list[str]:
    """The tenant's own extra terms (the maintained list always applies too)."""
    from adimple.messaging.template_models import ToneTerm

    return list(
        session.scalars(
            select(ToneTerm.term).where(ToneTerm.tenant_id == tenant_id).order_by(ToneTerm.term)
        )
    )


def set_tenant_terms(
    session: Session, *, tenant_id: uuid.UUID, terms: Iterable[str], actor: str
) -> list[str]:
    """Replaces the tenant's extra terms (audited); returns them sorted."""
    from adimple.audit import service as audit
    from adimple.db.base import utcnow
    from adimple.messaging.template_models import ToneTerm

    wanted = sorted({t.strip() for t in terms if t.strip()})
    if any("\x00" in t or len(t) > MAX_TERM_LENGTH for t in wanted):
        from adimple.kit.errors import FieldError, ValidationFailed

        raise ValidationFailed(
            errors=[FieldError("terms", f"até {MAX_TERM_LENGTH} caracteres, sem NUL")],
            message="termos inválidos",
        )
    for row in session.scalars(select(ToneTerm).where(ToneTerm.tenant_id == tenant_id)):
        session.delete(row)
    session.flush()
    now = utcnow()
    session.add_all(
        ToneTerm(tenant_id=tenant_id, term=term, created_by=actor, created_at=now)
        for term in wanted
    )
    session.flush()
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action="tone_terms.saved",
        entity_type="tone_term",
        entity_id=tenant_id,
        data={"terms": wanted},
    )
    return wanted
