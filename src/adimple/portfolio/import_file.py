"""Reading and validating portfolio files (pure: no database).

A file is read with every column as text, its headers mapped to canonical names (pt-BR
aliases accepted), then each column is validated as a whole with Polars expressions so a
million-row file is checked in about a second. The result is a typed frame ready for staging
plus every error as ``file:line: field: reason``. See docs/import-format.md.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import polars as pl

from adimple.kit.errors import FieldError
from adimple.portfolio import validation as rules

LINE = "_line"


class ImportKind(StrEnum):
    CUSTOMERS = "customers"
    RECEIVABLES = "receivables"
    PAYMENTS = "payments"


@dataclass(frozen=True)
class Column:
    name: str
    aliases: tuple[str, ...] = ()
    required: bool = False


COLUMNS: dict[ImportKind, tuple[Column, ...]] = {
    ImportKind.CUSTOMERS: (
        Column(
            "external_id",
            ("id_cliente", "codigo_cliente", "cliente_id", "customer_id", "codigo", "id"),
            True,
        ),
        Column("document", ("cpf_cnpj", "cpf", "cnpj", "documento", "doc"), True),
        Column("name", ("nome", "razao_social", "nome_razao_social"), True),
        Column("birth_date", ("data_nascimento", "nascimento", "dt_nascimento")),
        Column("uf", ("estado", "state")),
        Column("municipality", ("municipio", "cidade", "city")),
        Column("email", ("e_mail", "correio_eletronico")),
        Column("phone", ("telefone", "celular", "fone", "mobile", "whatsapp")),
        Column("address", ("endereco", "endereco_completo", "logradouro")),
        Column("tags", ("etiquetas", "marcadores")),
        Column("consumer", ("consumidor",)),
        Column("deceased", ("falecido", "obito")),
        Column("disputed", ("contestado", "em_disputa", "contestacao")),
        Column("superendividamento", ("superendividado", "repactuacao")),
        Column("do_not_contact", ("nao_contatar", "nao_perturbe", "bloqueado")),
    ),
    ImportKind.RECEIVABLES: (
        Column(
            "external_id",
            ("id_titulo", "titulo", "numero_titulo", "numero_documento", "receivable_id", "id"),
            True,
        ),
        Column(
            "customer_external_id",
            ("id_cliente", "codigo_cliente", "cliente", "cliente_id", "customer_id"),
        ),
        Column("customer_document", ("cpf_cnpj", "cpf", "cnpj", "documento")),
        Column("contract", ("contrato", "numero_contrato")),
        Column("installment_number", ("parcela", "numero_parcela", "installment")),
        Column("installment_count", ("total_parcelas", "parcelas", "qtd_parcelas")),
        Column("issue_date", ("emissao", "data_emissao", "dt_emissao"), True),
        Column("due_date", ("vencimento", "data_vencimento", "dt_vencimento"), True),
        Column("amount", ("valor", "valor_original", "valor_titulo", "original_amount"), True),
        Column("nosso_numero", ("nossonumero", "nosso_num")),
        Column("description", ("descricao", "historico")),
        Column("status", ("situacao",)),
    ),
    ImportKind.PAYMENTS: (
        Column("external_id", ("id_pagamento", "pagamento", "payment_id", "id"), True),
        Column(
            "receivable_external_id",
            ("id_titulo", "titulo", "numero_titulo", "receivable_id"),
            True,
        ),
        Column("paid_on", ("data_pagamento", "pago_em", "dt_pagamento"), True),
        Column("amount", ("valor", "valor_pago", "gross"), True),
        Column("fees", ("tarifa", "taxa", "valor_tarifa")),
        Column("credited_on", ("data_credito", "dt_credito")),
        Column("source", ("origem", "meio")),
    ),
}

RECEIVABLE_STATUS_WORDS = {
    "open": "open", "aberto": "open", "em_aberto": "open", "pendente": "open",
    "paid": "paid", "pago": "paid", "liquidado": "paid", "quitado": "paid",
    "cancelled": "cancelled", "cancelado": "cancelled",
    "written_off": "written_off", "baixado": "written_off", "perda": "written_off",
}  # fmt: skip
PAYMENT_SOURCE_WORDS = {
    "import": "import", "manual": "manual", "pix": "pix", "cnab": "cnab", "boleto": "cnab",
    "agreement": "agreement", "acordo": "agreement",
}  # fmt: skip


class ImportFileError(Exception):
    """The file as a whole cannot be read (encoding, missing columns, empty)."""


@dataclass
class Detected:
    format: str
    encoding: str | None = None
    delimiter: str | None = None
    decimal_separator: str = "."
    rows: int = 0

    def describe(self) -> str:
        if self.format == "xlsx":
            return f"XLSX, {self.rows} rows, decimal separator '{self.decimal_separator}'"
        return (
            f"CSV, encoding {self.encoding}, delimiter '{self.delimiter}', "
            f"decimal separator '{self.decimal_separator}', {self.rows} rows"
        )


@dataclass
class Validated:
    """Typed rows ready for staging, the rows' original text, and what was wrong."""

    frame: pl.DataFrame
    raw: pl.DataFrame
    errors: list[FieldError] = field(default_factory=list)
    columns: frozenset[str] = frozenset()


def header_key(text: str) -> str:
    key = rules.strip_accents(text.strip().lower())
    return re.sub(r"[^a-z0-9]+", "_", key).strip("_")


def read_table(path: Path) -> tuple[pl.DataFrame, Detected]:
    """Every column as text, canonical names not applied yet; adds ``_line`` (1 = header)."""
    if not path.exists():
        raise ImportFileError(f"{path}: file not found")
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        try:
            frame = pl.read_excel(path, infer_schema_length=0)
        except Exception as exc:  # fastexcel raises its own error types
            raise ImportFileError(f"{path}: cannot read the spreadsheet: {exc}") from exc
        frame = frame.with_columns(pl.all().cast(pl.Utf8))
        detected = Detected(format="xlsx")
    else:
        data = path.read_bytes()
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        try:
            text = data.decode("utf-8")
            encoding = "utf-8"
        except UnicodeDecodeError:
            # Brazilian spreadsheets saved as "CSV" are Windows-1252 (a Latin-1 superset).
            try:
                text = data.decode("cp1252")
                encoding = "latin-1 (cp1252)"
            except UnicodeDecodeError:
                text = data.decode("latin-1")
                encoding = "latin-1"
            data = text.encode("utf-8")
        first_line = text.split("\n", 1)[0]
        if not first_line.strip():
            raise ImportFileError(f"{path}:1: header: the file is empty")
        delimiter = max((";", ",", "\t", "|"), key=first_line.count)
        try:
            frame = pl.read_csv(
                io.BytesIO(data),
                separator=delimiter,
                infer_schema=False,
                truncate_ragged_lines=False,
            )
        except pl.exceptions.ComputeError as exc:
            raise ImportFileError(f"{path}: cannot parse the CSV: {exc}") from exc
        detected = Detected(format="csv", encoding=encoding, delimiter=delimiter)
    frame = frame.with_row_index(LINE, offset=2).with_columns(pl.col(LINE).cast(pl.Int64))
    detected.rows = frame.height
    return frame, detected


def canonicalize(
    frame: pl.DataFrame, kind: ImportKind, source: str
) -> tuple[pl.DataFrame, list[FieldError]]:
    """Renames headers to canonical names; unknown headers are ignored, missing required ones
    are errors on line 1."""
    lookup: dict[str, str] = {}
    for col in COLUMNS[kind]:
        for alias in (col.name, *col.aliases):
            lookup.setdefault(alias, col.name)
    renames: dict[str, str] = {}
    errors: list[FieldError] = []
    for original in frame.columns:
        if original == LINE:
            continue
        canonical = lookup.get(header_key(original))
        if canonical is None:
            continue
        if canonical in renames.values():
            errors.append(FieldError("header", f"two columns mean '{canonical}'", 1, source))
            continue
        renames[original] = canonical
    present = set(renames.values())
    for col in COLUMNS[kind]:
        if col.required and col.name not in present:
            aliases = ", ".join(col.aliases[:4])
            errors.append(
                FieldError("header", f"missing column '{col.name}' (or {aliases})", 1, source)
            )
    if kind is ImportKind.RECEIVABLES and not present & {
        "customer_external_id",
        "customer_document",
    }:
        errors.append(
            FieldError("header", "missing column 'customer_external_id' or 'cpf_cnpj'", 1, source)
        )
    kept = frame.select([LINE, *renames]).rename(renames)
    # Blank cells are missing values.
    kept = kept.with_columns(
        [pl.col(c).str.strip_chars().replace("", None).alias(c) for c in kept.columns if c != LINE]
    )
    return kept, errors


def detect_decimal_separator(frame: pl.DataFrame, columns: list[str], delimiter: str | None) -> str:
    """Comma when amounts look like ``1.234,56`` or ``10,5``; point otherwise."""
    if delimiter == ",":
        return "."
    for col in columns:
        if col not in frame.columns:
            continue
        values = frame.get_column(col).drop_nulls()
        if values.str.contains(r",\d{1,2}$").any():
            return ","
        if values.str.contains(r"\.\d{1,2}$").any():
            return "."
    return ","


# --- column validators: each returns (typed expression, error-reason expression or null) ----


def _cents(col: str, decimal_separator: str) -> tuple[pl.Expr, pl.Expr]:
    text = pl.col(col).str.replace(r"^R\$\s*", "")
    if decimal_separator == ",":
        text = text.str.replace_all(".", "", literal=True).str.replace(",", ".", literal=True)
    else:
        text = text.str.replace_all(",", "", literal=True)
    well_formed = text.str.contains(r"^\d{1,13}(\.\d+)?$")
    two_places = text.str.contains(r"^\d{1,13}(\.\d{1,2})?$")
    cents = text.str.extract(r"^(\d+)", 1).cast(pl.Int64, strict=False) * 100 + text.str.extract(
        r"\.(\d{1,2})$", 1
    ).fill_null("").str.pad_end(2, "0").cast(pl.Int64, strict=False).fill_null(0)
    value = pl.when(two_places).then(cents)
    reason = (
        pl.when(pl.col(col).is_null())
        .then(pl.lit(None))
        .when(pl.col(col).str.starts_with("-"))
        .then(pl.lit("must be greater than zero"))
        .when(~well_formed)
        .then(pl.format("'{}' is not an amount", pl.col(col)))
        .when(~two_places)
        .then(pl.lit("must have at most 2 decimal places"))
        .when(cents <= 0)
        .then(pl.lit("must be greater than zero"))
    )
    return value, reason


def _date(col: str) -> tuple[pl.Expr, pl.Expr]:
    value = pl.coalesce(
        pl.col(col).str.to_date("%Y-%m-%d", strict=False),
        pl.col(col).str.to_date("%d/%m/%Y", strict=False),
    )
    reason = pl.when(pl.col(col).is_not_null() & value.is_null()).then(
        pl.format("'{}' is not a date (use AAAA-MM-DD or DD/MM/AAAA)", pl.col(col))
    )
    return value, reason


def _int(col: str, minimum: int = 1) -> tuple[pl.Expr, pl.Expr]:
    value = pl.col(col).cast(pl.Int32, strict=False)
    reason = (
        pl.when(pl.col(col).is_not_null() & value.is_null())
        .then(pl.format("'{}' is not a whole number", pl.col(col)))
        .when(value < minimum)
        .then(pl.lit(f"must be at least {minimum}"))
    )
    return value, reason


def _max_length(col: str, limit: int) -> pl.Expr:
    return pl.when(pl.col(col).str.len_chars() > limit).then(
        pl.lit(f"longer than {limit} characters")
    )


def _required(col: str) -> pl.Expr:
    return pl.when(pl.col(col).is_null()).then(pl.lit("required"))


def _words(col: str, words: dict[str, str]) -> tuple[pl.Expr, pl.Expr]:
    key = pl.col(col).str.to_lowercase().str.replace_all(r"[\s-]+", "_")
    value = key.replace_strict(words, default=None)
    allowed = ", ".join(sorted(set(words.values())))
    reason = pl.when(pl.col(col).is_not_null() & value.is_null()).then(
        pl.format("'{}' is not one of: " + allowed, pl.col(col))
    )
    return value, reason


def _duplicates(col: str) -> pl.Expr:
    first_line = pl.col(LINE).min().over(col)
    return pl.when(pl.col(col).is_not_null() & (pl.col(LINE) != first_line)).then(
        pl.format("duplicate {} (first on line {})", pl.lit(col), first_line)
    )


def _collect_errors(
    frame: pl.DataFrame, checks: list[tuple[str, pl.Expr]], source: str
) -> tuple[list[FieldError], set[int]]:
    if not checks:
        return [], set()
    names = [f"_e{i}" for i in range(len(checks))]
    reasons = frame.select(
        pl.col(LINE), *[expr.alias(name) for (_, expr), name in zip(checks, names, strict=True)]
    )
    errors: list[FieldError] = []
    bad = reasons.filter(pl.any_horizontal(pl.col(names).is_not_null()))
    for row in bad.iter_rows(named=True):
        for (fld, _), name in zip(checks, names, strict=True):
            if row[name] is not None:
                errors.append(FieldError(fld, row[name], row[LINE], source))
    return errors, {e.line for e in errors if e.line is not None}


def _python_column(
    frame: pl.DataFrame,
    col: str,
    func: object,
    source: str,
    errors: list[FieldError],
) -> pl.Series:
    """Runs a per-value Python rule (CPF/CNPJ, e-mail, phone) and collects its errors."""
    out: list[object] = []
    lines = frame.get_column(LINE).to_list()
    for line, value in zip(lines, frame.get_column(col).to_list(), strict=True):
        if value is None:
            out.append(None)
            continue
        try:
            out.append(func(value))  # type: ignore[operator]
        except ValueError as exc:
            errors.append(FieldError(col, str(exc), line, source))
            out.append(None)
    return pl.Series(col, out, dtype=pl.Utf8)


def validate(
    frame: pl.DataFrame, kind: ImportKind, source: str, *, decimal_separator: str = "."
) -> Validated:
    """Validates canonical columns; returns typed rows (all rows, bad ones included) + errors."""
    present = frozenset(c for c in frame.columns if c != LINE)
    checks: list[tuple[str, pl.Expr]] = []
    typed: list[pl.Expr] = [pl.col(LINE)]
    extra_errors: list[FieldError] = []

    def text(col: str, limit: int, required: bool = False) -> None:
        if col not in present:
            return
        if required:
            checks.append((col, _required(col)))
        checks.append((col, _max_length(col, limit)))
        typed.append(pl.col(col))

    def dated(col: str, required: bool = False) -> None:
        if col not in present:
            return
        value, reason = _date(col)
        if required:
            checks.append((col, _required(col)))
        checks.append((col, reason))
        typed.append(value.alias(col))

    text("external_id", 80 if kind is ImportKind.PAYMENTS else 64, required=True)
    if "external_id" in present:
        checks.append(("external_id", _duplicates("external_id")))

    if kind is ImportKind.CUSTOMERS:
        text("name", 200, required=True)
        dated("birth_date")
        text("municipality", 100)
        text("address", 300)
        if "document" in present:
            checks.append(("document", _required("document")))
        flags = ("consumer", "deceased", "disputed", "superendividamento", "do_not_contact")
        for flag in flags:
            if flag in present:
                words = {w: "1" for w in rules.TRUE_WORDS} | {w: "0" for w in rules.FALSE_WORDS}
                value, reason = _words(flag, words)
                checks.append((flag, reason))
                typed.append((value == "1").alias(flag))
        if "tags" in present:
            typed.append(pl.col("tags").str.split("|").list.eval(pl.element().str.strip_chars()))
    elif kind is ImportKind.RECEIVABLES:
        text("customer_external_id", 64)
        if "customer_document" in present:
            checks.append(("customer_document", _max_length("customer_document", 20)))
            typed.append(
                pl.col("customer_document").str.replace_all(r"[.\-/\s]", "").str.to_uppercase()
            )
        if {"customer_external_id", "customer_document"} <= present:
            checks.append(
                (
                    "customer_external_id",
                    pl.when(
                        pl.col("customer_external_id").is_null()
                        & pl.col("customer_document").is_null()
                    ).then(pl.lit("required (or cpf_cnpj)")),
                )
            )
        elif "customer_external_id" in present:
            checks.append(("customer_external_id", _required("customer_external_id")))
        elif "customer_document" in present:
            checks.append(("customer_document", _required("customer_document")))
        text("contract", 64)
        text("nosso_numero", 30)
        text("description", 200)
        dated("issue_date", required=True)
        dated("due_date", required=True)
        if {"issue_date", "due_date"} <= present:
            checks.append(
                (
                    "due_date",
                    pl.when(_date("due_date")[0] < _date("issue_date")[0]).then(
                        pl.lit("due date is before the issue date")
                    ),
                )
            )
        if "installment_number" in present:
            # "1/12" gives both the installment and the count.
            split = pl.col("installment_number").str.split_exact("/", 1)
            frame = frame.with_columns(
                split.struct.field("field_0").str.strip_chars().alias("installment_number"),
                *(
                    []
                    if "installment_count" in present
                    else [
                        split.struct.field("field_1").str.strip_chars().alias("installment_count")
                    ]
                ),
            )
            present = present | {"installment_count"}
        for col in ("installment_number", "installment_count"):
            if col in present:
                value, reason = _int(col)
                checks.append((col, reason))
                typed.append(value.alias(col))
        if {"installment_number", "installment_count"} <= present:
            checks.append(
                (
                    "installment_number",
                    pl.when(
                        pl.col("installment_number").cast(pl.Int32, strict=False)
                        > pl.col("installment_count").cast(pl.Int32, strict=False)
                    ).then(pl.lit("installment number is greater than the count")),
                )
            )
        if "status" in present:
            value, reason = _words("status", RECEIVABLE_STATUS_WORDS)
            checks.append(("status", reason))
            typed.append(value.alias("status"))
    else:
        text("receivable_external_id", 64, required=True)
        dated("paid_on", required=True)
        dated("credited_on")
        if "fees" in present:
            value, reason = _cents("fees", decimal_separator)
            fees_reason = (
                pl.when(pl.col("fees").is_in(["0", "0,00", "0.00", "0,0", "0.0"]))
                .then(pl.lit(None))
                .otherwise(reason)
            )
            checks.append(("fees", fees_reason))
            zero = pl.col("fees").is_in(["0", "0,00", "0.00", "0,0", "0.0"])
            typed.append(pl.when(zero).then(0).otherwise(value).alias("fees_cents"))
        if "source" in present:
            value, reason = _words("source", PAYMENT_SOURCE_WORDS)
            checks.append(("source", reason))
            typed.append(value.alias("source"))

    if "amount" in present:
        value, reason = _cents("amount", decimal_separator)
        checks.append(("amount", _required("amount")))
        checks.append(("amount", reason))
        typed.append(value.alias("amount_cents"))

    errors, _ = _collect_errors(frame, checks, source)

    # Rules that need Python per value run only on the customer file.
    python_columns: list[pl.Series] = []
    if kind is ImportKind.CUSTOMERS:
        if "document" in present:
            docs = _python_column(
                frame,
                "document",
                lambda v: "|".join(rules.normalize_document(v)),
                source,
                extra_errors,
            )
            parts = docs.str.split_exact("|", 1)
            python_columns.append(parts.struct.field("field_0").alias("document"))
            python_columns.append(parts.struct.field("field_1").alias("document_kind"))
        if "uf" in present:
            python_columns.append(
                _python_column(frame, "uf", rules.normalize_uf, source, extra_errors)
            )
        if "email" in present:
            python_columns.append(
                _python_column(frame, "email", rules.normalize_email, source, extra_errors)
            )
        if "phone" in present:
            python_columns.append(
                _python_column(frame, "phone", rules.normalize_phone, source, extra_errors)
            )

    result = frame.select(typed)
    if python_columns:
        result = result.with_columns(python_columns)
    all_errors = sorted(errors + extra_errors, key=lambda e: (e.line or 0, e.field))
    columns = frozenset(c for c in result.columns if c != LINE)
    return Validated(frame=result, raw=frame, errors=all_errors, columns=columns)


def load(path: Path, kind: ImportKind) -> tuple[Validated, Detected]:
    """Reads and validates a file; header problems are returned as errors on line 1."""
    raw, detected = read_table(path)
    source = str(path)
    canonical, header_errors = canonicalize(raw, kind, source)
    if header_errors:
        return Validated(frame=canonical, raw=canonical, errors=header_errors), detected
    if detected.format == "xlsx":
        # Spreadsheet cells come as text already formatted by the reader: point decimals.
        detected.decimal_separator = detect_decimal_separator(canonical, ["amount", "fees"], ",")
    else:
        detected.decimal_separator = detect_decimal_separator(
            canonical, ["amount", "fees"], detected.delimiter
        )
    validated = validate(canonical, kind, source, decimal_separator=detected.decimal_separator)
    return validated, detected
