"""Bank free fields (campo livre, barcode positions 20–44) and nosso número check digits.

Each bank defines its own 25-digit free field. One frozen dataclass per bank holds what the bank
needs to build it (``free_field()``); :func:`explain_free_field` reads a free field back into
named parts and checks the check digits that it carries. Sources are cited per bank.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, fields
from typing import Any, Protocol

from adimple.payments.boleto.codec import BoletoError, mod10, mod11_weighted_sum

BANK_NAMES: dict[str, str] = {
    "001": "Banco do Brasil",
    "004": "Banco do Nordeste",
    "033": "Santander",
    "041": "Banrisul",
    "070": "BRB",
    "104": "Caixa Econômica Federal",
    "237": "Bradesco",
    "341": "Itaú",
    "399": "HSBC",
    "422": "Safra",
    "745": "Citibank",
    "748": "Sicredi",
    "756": "Sicoob",
}


def bank_dv(bank_code: str) -> str:
    """The check digit printed after the bank code (``341-7``): módulo 11, weights 2–9, a
    result of 10 or 11 printed as 0 (FEBRABAN ficha de compensação, "código do banco")."""
    dv = 11 - mod11_weighted_sum(bank_code) % 11
    return "0" if dv >= 10 else str(dv)


@dataclass(frozen=True)
class FreeFieldInfo:
    """A free field read back: its layout, the nosso número as printed, and its parts."""

    bank_code: str
    layout: str
    nosso_numero: str
    parts: tuple[tuple[str, str], ...]

    def as_dict(self) -> dict[str, object]:
        return {
            "bank_code": self.bank_code,
            "bank_name": BANK_NAMES.get(self.bank_code),
            "layout": self.layout,
            "nosso_numero": self.nosso_numero,
            "parts": dict(self.parts),
        }


class BankFreeField(Protocol):
    """What every bank builder offers."""

    @property
    def bank_code(self) -> str: ...

    def free_field(self) -> str: ...

    def printed_nosso_numero(self) -> str: ...


def _digits(value: str, size: int, name: str, *, pad: bool = True) -> str:
    """``value`` as exactly ``size`` digits (left-padded with zeros when ``pad``)."""
    text = value.strip()
    if not text.isascii() or not text.isdigit():
        raise BoletoError(f"{name} must be digits, got {value!r}")
    if len(text) > size or (not pad and len(text) != size):
        raise BoletoError(f"{name} has at most {size} digits, got {len(text)}")
    return text.zfill(size)


# --------------------------------------------------------------------------------------------
# Banco do Brasil (001) — "Especificações técnicas para confecção de boleto de cobrança do
# Banco do Brasil" (Doc5175, Anexos 9 and 10): the free field depends on the convênio size.
# --------------------------------------------------------------------------------------------


def bb_nosso_numero_dv(number: str) -> str:
    """BB nosso número DV (Doc5175): módulo 11, weights 9..2 from the right; the remainder is
    the DV, 10 printed as ``X``."""
    total = sum(int(d) * (9 - i % 8) for i, d in enumerate(reversed(number)))
    remainder = total % 11
    return "X" if remainder == 10 else str(remainder)


@dataclass(frozen=True)
class BancoDoBrasil:
    """Banco do Brasil: ``convenio`` of 4, 6, 7 or 8 digits; ``nosso_numero`` is the sequence.

    * convênio 4: nosso número = convênio(4) + sequence(7); free field = nosso número(11) +
      agência(4) + conta(8) + carteira(2).
    * convênio 6: nosso número = convênio(6) + sequence(5), same free field as above; or, with
      ``nosso_numero_livre`` (carteiras 16/18), convênio(6) + sequence(17) + service ``21``.
    * convênio 7 (and 8): ``000000`` + nosso número(17 = convênio + sequence) + carteira(2).
    """

    convenio: str
    nosso_numero: str
    carteira: str
    agencia: str | None = None
    conta: str | None = None
    nosso_numero_livre: bool = False
    bank_code: str = "001"

    def _sequence_size(self) -> int:
        size = len(self.convenio.strip())
        if size == 4:
            return 7
        if size == 6:
            return 17 if self.nosso_numero_livre else 5
        if size == 7:
            return 10
        if size == 8:
            return 9
        raise BoletoError(f"Banco do Brasil convênio has 4, 6, 7 or 8 digits, got {size}")

    def _full_nosso_numero(self) -> str:
        sequence = _digits(self.nosso_numero, self._sequence_size(), "nosso número")
        return _digits(self.convenio, len(self.convenio.strip()), "convênio") + sequence

    def free_field(self) -> str:
        carteira = _digits(self.carteira, 2, "carteira")
        convenio_size = len(self.convenio.strip())
        number = self._full_nosso_numero()
        if convenio_size in (7, 8):
            return "000000" + number + carteira
        if convenio_size == 6 and self.nosso_numero_livre:
            if carteira not in ("16", "18"):
                raise BoletoError("BB nosso número livre (17 digits) is for carteiras 16 and 18")
            return number + "21"
        if self.agencia is None or self.conta is None:
            raise BoletoError("Banco do Brasil convênio of 4/6 digits needs agência and conta")
        return (
            number
            + _digits(self.agencia, 4, "agência")
            + _digits(self.conta, 8, "conta")
            + (carteira)
        )

    def printed_nosso_numero(self) -> str:
        number = self._full_nosso_numero()
        if len(number) == 17:  # 17-digit nosso número has no DV (Doc5175, Anexo 10)
            return number
        return f"{number}-{bb_nosso_numero_dv(number)}"


def explain_banco_do_brasil(free: str) -> FreeFieldInfo:
    if free.startswith("000000"):
        number = free[6:23]
        return FreeFieldInfo(
            "001",
            "convenio-7",
            number,
            (("convenio", number[:7]), ("sequencia", number[7:]), ("carteira", free[23:25])),
        )
    if free.endswith("21"):
        return FreeFieldInfo(
            "001",
            "convenio-6-nosso-numero-17",
            free[6:23],
            (("convenio", free[:6]), ("nosso_numero", free[6:23]), ("servico", "21")),
        )
    number = free[:11]
    return FreeFieldInfo(
        "001",
        "convenio-4-ou-6",
        f"{number}-{bb_nosso_numero_dv(number)}",
        (
            ("nosso_numero", number),
            ("agencia", free[11:15]),
            ("conta", free[15:23]),
            ("carteira", free[23:25]),
        ),
    )


# --------------------------------------------------------------------------------------------
# Itaú (341) — "Cobrança Itaú: especificações técnicas do boleto" (código de barras, campo
# livre; DAC do nosso número em módulo 10 sobre agência + conta + carteira + nosso número, ou
# só carteira + nosso número nas carteiras "escriturais e de cobrança direta").
# --------------------------------------------------------------------------------------------

ITAU_DAC_WITHOUT_ACCOUNT = frozenset({"126", "131", "146", "150", "168"})
ITAU_SPECIAL_CARTEIRAS = frozenset({"106", "107", "122", "142", "143", "195", "196", "198"})


@dataclass(frozen=True)
class Itau:
    """Itaú: carteira(3) + nosso número(8) + DAC + agência(4) + conta(5) + DAC(ag/conta) + 000.

    The special carteiras 106/107/122/142/143/195/196/198 carry instead seu número(7) +
    código do cliente(5) + DAC + ``0`` after carteira and nosso número.
    """

    carteira: str
    nosso_numero: str
    agencia: str
    conta: str
    seu_numero: str | None = None
    codigo_cliente: str | None = None
    bank_code: str = "341"

    def _parts(self) -> tuple[str, str, str, str]:
        return (
            _digits(self.carteira, 3, "carteira", pad=False),
            _digits(self.nosso_numero, 8, "nosso número"),
            _digits(self.agencia, 4, "agência"),
            _digits(self.conta, 5, "conta"),
        )

    def nosso_numero_dac(self) -> int:
        carteira, number, agencia, conta = self._parts()
        if carteira in ITAU_DAC_WITHOUT_ACCOUNT or carteira in ITAU_SPECIAL_CARTEIRAS:
            return mod10(carteira + number)
        return mod10(agencia + conta + carteira + number)

    def free_field(self) -> str:
        carteira, number, agencia, conta = self._parts()
        if carteira in ITAU_SPECIAL_CARTEIRAS:
            if self.seu_numero is None or self.codigo_cliente is None:
                raise BoletoError(
                    f"Itaú carteira {carteira} needs seu número and código do cliente"
                )
            body = (
                carteira
                + number
                + _digits(self.seu_numero, 7, "seu número")
                + _digits(self.codigo_cliente, 5, "código do cliente")
            )
            return body + str(mod10(body)) + "0"
        account_dac = mod10(agencia + conta)
        return f"{carteira}{number}{self.nosso_numero_dac()}{agencia}{conta}{account_dac}000"

    def printed_nosso_numero(self) -> str:
        carteira, number, _, _ = self._parts()
        return f"{carteira}/{number}-{self.nosso_numero_dac()}"


def explain_itau(free: str) -> FreeFieldInfo:
    carteira, number = free[0:3], free[3:11]
    if carteira in ITAU_SPECIAL_CARTEIRAS:
        if mod10(free[:23]) != int(free[23]):
            raise BoletoError("Itaú free field: DAC of the special carteira does not check")
        return FreeFieldInfo(
            "341",
            "carteira-especial",
            f"{carteira}/{number}-{mod10(carteira + number)}",
            (
                ("carteira", carteira),
                ("nosso_numero", number),
                ("seu_numero", free[11:18]),
                ("codigo_cliente", free[18:23]),
            ),
        )
    agencia, conta = free[12:16], free[16:21]
    spec = Itau(carteira=carteira, nosso_numero=number, agencia=agencia, conta=conta)
    if int(free[11]) != spec.nosso_numero_dac():
        raise BoletoError("Itaú free field: DAC of agência/conta/carteira/nosso número is wrong")
    if int(free[21]) != mod10(agencia + conta):
        raise BoletoError("Itaú free field: DAC of agência/conta is wrong")
    return FreeFieldInfo(
        "341",
        "padrao",
        spec.printed_nosso_numero(),
        (
            ("carteira", carteira),
            ("nosso_numero", number),
            ("agencia", agencia),
            ("conta", conta),
            ("dac_agencia_conta", free[21]),
        ),
    )


# --------------------------------------------------------------------------------------------
# Bradesco (237) — "Boleto de Pagamento Bradesco: layout do código de barras" (campo livre:
# agência(4) carteira(2) nosso número(11) conta(7) zero(1)); nosso número DV in módulo 11 base 7
# over carteira + nosso número, remainder 1 → "P", remainder 0 → 0.
# --------------------------------------------------------------------------------------------


def bradesco_nosso_numero_dv(carteira: str, number: str) -> str:
    remainder = mod11_weighted_sum(carteira + number, max_weight=7) % 11
    if remainder == 0:
        return "0"
    if remainder == 1:
        return "P"
    return str(11 - remainder)


@dataclass(frozen=True)
class Bradesco:
    agencia: str
    carteira: str
    nosso_numero: str
    conta: str
    bank_code: str = "237"

    def free_field(self) -> str:
        return (
            _digits(self.agencia, 4, "agência")
            + _digits(self.carteira, 2, "carteira")
            + _digits(self.nosso_numero, 11, "nosso número")
            + _digits(self.conta, 7, "conta")
            + "0"
        )

    def printed_nosso_numero(self) -> str:
        carteira = _digits(self.carteira, 2, "carteira")
        number = _digits(self.nosso_numero, 11, "nosso número")
        return f"{carteira}/{number}-{bradesco_nosso_numero_dv(carteira, number)}"


def explain_bradesco(free: str) -> FreeFieldInfo:
    spec = Bradesco(
        agencia=free[0:4], carteira=free[4:6], nosso_numero=free[6:17], conta=free[17:24]
    )
    return FreeFieldInfo(
        "237",
        "padrao",
        spec.printed_nosso_numero(),
        (
            ("agencia", free[0:4]),
            ("carteira", free[4:6]),
            ("nosso_numero", free[6:17]),
            ("conta", free[17:24]),
        ),
    )


# --------------------------------------------------------------------------------------------
# Caixa (104), SIGCB — "Leiaute de código de barras SIGCB" (Caixa, manual do código de barras
# do boleto SIGCB): nosso número of 17 digits = modalidade(1: 1 registrada, 2 sem registro) +
# emissão(1: 4 beneficiário) + 15 digits; the free field interleaves them and ends with a DV in
# módulo 11 (weights 2–9, result > 9 → 0).
# --------------------------------------------------------------------------------------------


def caixa_dv(digits: str) -> str:
    dv = 11 - mod11_weighted_sum(digits) % 11
    return "0" if dv > 9 else str(dv)


@dataclass(frozen=True)
class Caixa:
    codigo_beneficiario: str
    nosso_numero: str
    modalidade: str = "1"
    emissao: str = "4"
    bank_code: str = "104"

    def full_nosso_numero(self) -> str:
        if self.modalidade not in ("1", "2"):
            raise BoletoError("Caixa modalidade is 1 (registrada) or 2 (sem registro)")
        if not re.fullmatch(r"\d", self.emissao):
            raise BoletoError("Caixa emissão is one digit (4 = beneficiário)")
        return self.modalidade + self.emissao + _digits(self.nosso_numero, 15, "nosso número")

    def free_field(self) -> str:
        code = _digits(self.codigo_beneficiario, 6, "código do beneficiário")
        nn = self.full_nosso_numero()
        body = code + caixa_dv(code) + nn[2:5] + nn[0] + nn[5:8] + nn[1] + nn[8:17]
        return body + caixa_dv(body)

    def printed_nosso_numero(self) -> str:
        nn = self.full_nosso_numero()
        return f"{nn}-{caixa_dv(nn)}"


def explain_caixa(free: str) -> FreeFieldInfo:
    code = free[0:6]
    if caixa_dv(code) != free[6] or caixa_dv(free[:24]) != free[24]:
        if free[0] in "89":
            # SICOB, the layout SIGCB replaced (Caixa, "Leiaute SICOB"): nosso número(10,
            # starting with 8 or 9) + agência(4) + operação(3) + código do beneficiário(8).
            return FreeFieldInfo(
                "104",
                "sicob",
                free[0:10],
                (
                    ("nosso_numero", free[0:10]),
                    ("agencia", free[10:14]),
                    ("operacao", free[14:17]),
                    ("codigo_beneficiario", free[17:25]),
                ),
            )
        raise BoletoError("Caixa free field is neither SIGCB nor SICOB (check digits differ)")
    nn = free[10] + free[14] + free[7:10] + free[11:14] + free[15:24]
    return FreeFieldInfo(
        "104",
        "sigcb",
        f"{nn}-{caixa_dv(nn)}",
        (
            ("codigo_beneficiario", code),
            ("modalidade", nn[0]),
            ("emissao", nn[1]),
            ("nosso_numero", nn[2:]),
        ),
    )


# --------------------------------------------------------------------------------------------
# Santander (033) — "Santander: layout do código de barras — cobrança" (campo livre: 9 +
# código do beneficiário(7) + nosso número(12) + DV + IOF(1) + carteira(3)); nosso número DV in
# módulo 11, weights 2–9: remainder 10 → 1, remainder 0 or 1 → 0, else 11 − remainder.
# --------------------------------------------------------------------------------------------


def santander_nosso_numero_dv(number: str) -> str:
    remainder = mod11_weighted_sum(number) % 11
    if remainder == 10:
        return "1"
    if remainder in (0, 1):
        return "0"
    return str(11 - remainder)


@dataclass(frozen=True)
class Santander:
    codigo_beneficiario: str
    nosso_numero: str
    carteira: str = "101"
    iof: str = "0"
    bank_code: str = "033"

    def free_field(self) -> str:
        number = _digits(self.nosso_numero, 12, "nosso número")
        return (
            "9"
            + _digits(self.codigo_beneficiario, 7, "código do beneficiário")
            + number
            + santander_nosso_numero_dv(number)
            + _digits(self.iof, 1, "IOF")
            + _digits(self.carteira, 3, "carteira")
        )

    def printed_nosso_numero(self) -> str:
        number = _digits(self.nosso_numero, 12, "nosso número")
        return f"{number}-{santander_nosso_numero_dv(number)}"


def explain_santander(free: str) -> FreeFieldInfo:
    if free[0] != "9":
        raise BoletoError("Santander free field starts with 9")
    number = free[8:20]
    if santander_nosso_numero_dv(number) != free[20]:
        raise BoletoError("Santander free field: nosso número DV is wrong")
    return FreeFieldInfo(
        "033",
        "padrao",
        f"{number}-{free[20]}",
        (
            ("codigo_beneficiario", free[1:8]),
            ("nosso_numero", number),
            ("iof", free[21]),
            ("carteira", free[22:25]),
        ),
    )


# --------------------------------------------------------------------------------------------
# Sicoob (756) — "Sicoob: especificação do código de barras" (campo livre: carteira(1) +
# cooperativa(4) + modalidade(2) + código do cliente(7) + nosso número(7) + DV + parcela(3)); the
# nosso número DV uses the constant 3197 over cooperativa(4) + cliente(10) + nosso número(7):
# remainder 0 or 1 → 0, else 11 − remainder.
# --------------------------------------------------------------------------------------------


def sicoob_nosso_numero_dv(cooperativa: str, cliente: str, number: str) -> str:
    digits = cooperativa.zfill(4) + cliente.zfill(10) + number.zfill(7)
    weights = (3, 1, 9, 7)
    total = sum(int(d) * weights[i % 4] for i, d in enumerate(digits))
    remainder = total % 11
    return "0" if remainder in (0, 1) else str(11 - remainder)


@dataclass(frozen=True)
class Sicoob:
    cooperativa: str
    codigo_cliente: str
    nosso_numero: str
    carteira: str = "1"
    modalidade: str = "01"
    parcela: str = "001"
    bank_code: str = "756"

    def _parts(self) -> tuple[str, str, str]:
        return (
            _digits(self.cooperativa, 4, "cooperativa"),
            _digits(self.codigo_cliente, 7, "código do cliente"),
            _digits(self.nosso_numero, 7, "nosso número"),
        )

    def free_field(self) -> str:
        cooperativa, cliente, number = self._parts()
        return (
            _digits(self.carteira, 1, "carteira")
            + cooperativa
            + _digits(self.modalidade, 2, "modalidade")
            + cliente
            + number
            + sicoob_nosso_numero_dv(cooperativa, cliente, number)
            + _digits(self.parcela, 3, "parcela")
        )

    def printed_nosso_numero(self) -> str:
        cooperativa, cliente, number = self._parts()
        return f"{number}-{sicoob_nosso_numero_dv(cooperativa, cliente, number)}"


def explain_sicoob(free: str) -> FreeFieldInfo:
    cooperativa, cliente, number = free[1:5], free[7:14], free[14:21]
    if sicoob_nosso_numero_dv(cooperativa, cliente, number) != free[21]:
        raise BoletoError("Sicoob free field: nosso número DV is wrong")
    return FreeFieldInfo(
        "756",
        "padrao",
        f"{number}-{free[21]}",
        (
            ("carteira", free[0]),
            ("cooperativa", cooperativa),
            ("modalidade", free[5:7]),
            ("codigo_cliente", cliente),
            ("nosso_numero", number),
            ("parcela", free[22:25]),
        ),
    )


# --------------------------------------------------------------------------------------------
# Banrisul (041) — "Banrisul: Cobrança — especificação do código de barras" (campo livre:
# produto(1: 1 normal, 2 direta) + 1 + agência(4) + código do beneficiário(7) + nosso
# número(8) + 40 + NC(2)); NC = the "duplo dígito" módulo 10 + módulo 11 (weights 2–7).
# --------------------------------------------------------------------------------------------


def banrisul_nc(digits: str) -> str:
    """Banrisul's two check digits: módulo 10, then módulo 11 (weights 2–7) over the digits
    plus the first; a módulo-11 remainder of 1 bumps the first digit (9 → 0) and retries."""
    first = mod10(digits)
    while True:
        remainder = mod11_weighted_sum(digits + str(first), max_weight=7) % 11
        if remainder == 1:
            first = (first + 1) % 10
            continue
        second = 0 if remainder == 0 else 11 - remainder
        return f"{first}{second}"


@dataclass(frozen=True)
class Banrisul:
    agencia: str
    codigo_beneficiario: str
    nosso_numero: str
    produto: str = "2"
    bank_code: str = "041"

    def free_field(self) -> str:
        if self.produto not in ("1", "2"):
            raise BoletoError("Banrisul produto is 1 (cobrança normal) or 2 (cobrança direta)")
        body = (
            self.produto
            + "1"
            + _digits(self.agencia, 4, "agência")
            + _digits(self.codigo_beneficiario, 7, "código do beneficiário")
            + _digits(self.nosso_numero, 8, "nosso número")
            + "40"
        )
        return body + banrisul_nc(body)

    def printed_nosso_numero(self) -> str:
        number = _digits(self.nosso_numero, 8, "nosso número")
        return f"{number}-{banrisul_nc(number)}"


def explain_banrisul(free: str) -> FreeFieldInfo:
    if banrisul_nc(free[:23]) != free[23:25]:
        raise BoletoError("Banrisul free field: NC (duplo dígito) is wrong")
    number = free[13:21]
    return FreeFieldInfo(
        "041",
        "padrao",
        f"{number}-{banrisul_nc(number)}",
        (
            ("produto", free[0]),
            ("agencia", free[2:6]),
            ("codigo_beneficiario", free[6:13]),
            ("nosso_numero", number),
        ),
    )


EXPLAINERS: dict[str, Callable[[str], FreeFieldInfo]] = {
    "001": explain_banco_do_brasil,
    "033": explain_santander,
    "041": explain_banrisul,
    "104": explain_caixa,
    "237": explain_bradesco,
    "341": explain_itau,
    "756": explain_sicoob,
}


def explain_free_field(bank_code: str, free: str) -> FreeFieldInfo:
    """Reads a bank's free field; unknown banks and failing check digits raise BoletoError."""
    if not re.fullmatch(r"\d{25}", free):
        raise BoletoError("the free field (campo livre) has 25 digits")
    explainer = EXPLAINERS.get(bank_code)
    if explainer is None:
        raise BoletoError(f"no free-field layout for bank {bank_code}")
    return explainer(free)


BUILDERS: dict[str, type[Any]] = {
    "001": BancoDoBrasil,
    "033": Santander,
    "041": Banrisul,
    "104": Caixa,
    "237": Bradesco,
    "341": Itau,
    "756": Sicoob,
}


def bank_free_field(bank_code: str, params: Mapping[str, object]) -> BankFreeField:
    """The bank's builder from loose parameters (CLI options, API bodies).

    ``None`` values are ignored; a parameter the bank does not use, or a missing required one,
    raises :class:`BoletoError` naming it.
    """
    builder = BUILDERS.get(bank_code)
    if builder is None:
        known = ", ".join(sorted(BUILDERS))
        raise BoletoError(f"no free-field builder for bank {bank_code} (known: {known})")
    accepted = {f.name: f for f in fields(builder) if f.name != "bank_code"}
    # JSON bodies may carry numbers: every field but the flags is text.
    given = {
        name: value if isinstance(value, bool) else str(value)
        for name, value in params.items()
        if value is not None
    }
    unknown = sorted(set(given) - set(accepted))
    if unknown:
        raise BoletoError(f"bank {bank_code} does not use: {', '.join(unknown)}")
    missing = [
        name
        for name, spec in accepted.items()
        if spec.default is MISSING and spec.default_factory is MISSING and name not in given
    ]
    if missing:
        raise BoletoError(f"bank {bank_code} needs: {', '.join(missing)}")
    spec: BankFreeField = builder(**given)
    return spec
