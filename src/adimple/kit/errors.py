"""Domain errors. Each carries the HTTP status the API answers with (RFC 9457 problem details)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class FieldError:
    """One rejected value: where it is, which field, and why (pt-BR or English as given)."""

    field: str
    reason: str
    line: int | None = None
    source: str | None = None

    def __str__(self) -> str:
        where = f"{self.source or '<input>'}:{self.line}: " if self.line is not None else ""
        return f"{where}{self.field}: {self.reason}"

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "reason": self.reason}


class DomainError(Exception):
    status_code = 400
    title = "Requisição inválida"
    type = "about:blank"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class NotFound(DomainError):
    status_code = 404
    title = "Não encontrado"


class Conflict(DomainError):
    status_code = 409
    title = "Conflito"


class Unauthorized(DomainError):
    status_code = 401
    title = "Não autenticado"


class Forbidden(DomainError):
    status_code = 403
    title = "Acesso negado"


@dataclass
class ValidationFailed(DomainError):
    """Input with one or more invalid fields; nothing was written."""

    errors: list[FieldError] = field(default_factory=list)
    message: str = "Dados inválidos"

    def __post_init__(self) -> None:
        DomainError.__init__(self, self.message)

    status_code = 422
    title = "Dados inválidos"
