"""CNAB retorno layouts as data: one field table per record, one occurrence map per bank.

Field names are the names of the ``adimple cnab parse`` contract (DESIGN §6) plus
``seu_numero`` (número do documento given by the company), ``uso_empresa`` (identificação do
título na empresa / nº de controle do participante, echoed back verbatim) and ``motivo``
(motive codes of the occurrence). A contract amount that a layout does not carry is simply not
in its table and comes out as ``null``.

Occurrence codes map to a normalised :class:`Kind`; codes that only confirm an instruction
(alteração de vencimento, protesto, abatimento…) map to ``None``. "cancelled" is a baixa asked
for by the beneficiário; "writeoff" any other baixa (decurso de prazo, protesto, automática).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from adimple.payments.cnab.fields import Field, FieldType

T = FieldType


class Kind(StrEnum):
    REGISTERED = "registered"
    REJECTED = "rejected"
    PAID = "paid"
    PAID_AFTER_WRITEOFF = "paid_after_writeoff"
    CANCELLED = "cancelled"
    FEE = "fee"
    WRITEOFF = "writeoff"


def _kinds(**groups: str) -> dict[str, Kind]:
    """``_kinds(paid="06 07", fee="28")`` → ``{"06": Kind.PAID, "07": Kind.PAID, "28": …}``."""
    table: dict[str, Kind] = {}
    for kind, codes in groups.items():
        for code in codes.split():
            table[code] = Kind(kind)
    return table


# ---------------------------------------------------------------------------------------------
# CNAB 240 — FEBRABAN "Layout Padrão de Arquivos CNAB 240", v08.3 / v10.x (same positions),
# Cobrança: Segmento T (pp. 62-63) and Segmento U (p. 64) of the retorno.
# ---------------------------------------------------------------------------------------------

CNAB240_LENGTH = 240

CNAB240_SEGMENT_T: tuple[Field, ...] = (
    Field("codigo_ocorrencia", 16, 17, T.CODE),  # C044 código de movimento retorno
    Field("nosso_numero", 38, 57, T.NOSSO_NUMERO),  # G069 identificação do título no banco
    Field("seu_numero", 59, 73, T.TEXT),  # C011 número do documento de cobrança
    Field("valor_titulo", 82, 96, T.MONEY),  # G070 valor nominal do título
    Field("uso_empresa", 106, 130, T.TEXT),  # G072 identificação do título na empresa
    Field("valor_tarifa", 199, 213, T.MONEY),  # G076 valor da tarifa / custas
    Field("motivo", 214, 223, T.CODE),  # C047 motivos da ocorrência (5 × 2 digits)
)

CNAB240_SEGMENT_U: tuple[Field, ...] = (
    Field("valor_juros", 18, 32, T.MONEY),  # C048 juros / multa / encargos
    Field("valor_desconto", 33, 47, T.MONEY),  # C049 valor do desconto concedido
    Field("valor_abatimento", 48, 62, T.MONEY),  # C050 valor do abatimento
    Field("valor_pago", 78, 92, T.MONEY),  # C052 valor pago pelo pagador (bruto)
    Field("valor_liquido", 93, 107, T.MONEY),  # C053 valor líquido a ser creditado
    Field("data_ocorrencia", 138, 145, T.DATE),  # C054 data da ocorrência
    Field("data_credito", 146, 153, T.DATE),  # C055 data da efetivação do crédito
)

# C044, códigos de movimento retorno; 09 (baixa) is refined by motive C047 below.
CNAB240_KINDS = _kinds(
    registered="02",
    rejected="03",
    paid="06",
    writeoff="09 25",
    paid_after_writeoff="17",
    fee="28",
)
# C047 motives of movement 09: 10 "comandada cliente arquivo", 11 "comandada cliente on-line".
CNAB240_CANCEL_MOTIVES = frozenset({"10", "11"})

# Banks that issue CNAB 240 cobrança in the FEBRABAN layout (compensação codes).
CNAB240_BANKS: dict[str, str] = {
    "001": "Banco do Brasil",
    "004": "Banco do Nordeste",
    "021": "Banestes",
    "033": "Santander",
    "041": "Banrisul",
    "070": "BRB",
    "077": "Inter",
    "084": "Uniprime",
    "085": "Ailos",
    "097": "Credisis",
    "104": "Caixa Econômica Federal",
    "133": "Cresol",
    "136": "Unicred",
    "208": "BTG Pactual",
    "212": "Banco Original",
    "237": "Bradesco",
    "246": "ABC Brasil",
    "336": "C6 Bank",
    "341": "Itaú",
    "389": "Mercantil do Brasil",
    "399": "HSBC",
    "422": "Safra",
    "633": "Rendimento",
    "643": "Pine",
    "655": "Votorantim",
    "707": "Daycoval",
    "745": "Citibank",
    "748": "Sicredi",
    "756": "Sicoob",
}


# ---------------------------------------------------------------------------------------------
# CNAB 400 — one table per bank (detail record of the retorno de cobrança).
# ---------------------------------------------------------------------------------------------

CNAB400_LENGTH = 400


@dataclass(frozen=True)
class Cnab400Layout:
    bank_code: str
    bank_name: str
    manual: str
    fields: tuple[Field, ...]
    kinds: dict[str, Kind]
    detail_types: frozenset[str] = field(default_factory=lambda: frozenset({"1"}))
    unsupported_types: dict[str, str] = field(default_factory=dict)


ITAU_400 = Cnab400Layout(
    bank_code="341",
    bank_name="Itaú",
    manual="Itaú, 'Cobrança 400 bytes CNAB' (jul/2021 v3), registro de transação tipo 1, pp.20-21",
    fields=(
        Field("uso_empresa", 38, 62, T.TEXT),
        Field("nosso_numero", 63, 70, T.NOSSO_NUMERO),
        Field("codigo_ocorrencia", 109, 110, T.CODE),
        Field("data_ocorrencia", 111, 116, T.DATE),
        Field("seu_numero", 117, 126, T.TEXT),
        Field("valor_titulo", 153, 165, T.MONEY),
        Field("valor_tarifa", 176, 188, T.MONEY),
        Field("valor_abatimento", 228, 240, T.MONEY),
        Field("valor_desconto", 241, 253, T.MONEY),
        # 254-266 "valor principal — valor lançado em conta corrente": the NET credit.
        Field("valor_liquido", 254, 266, T.MONEY),
        Field("valor_juros", 267, 279, T.MONEY),
        Field("data_credito", 296, 301, T.DATE),
        Field("motivo", 378, 385, T.CODE),
    ),
    kinds=_kinds(
        registered="02 64 71 73",
        rejected="03 60",
        paid="06 07 08",
        cancelled="05",
        writeoff="09 10 32 47 59 72",
        fee="26 27 28 29 30 33 34 35 36 37 38 39 40 41 42 43 44 45 46 48 51 52 53 54 55 56 "
        "61 62 80 82 83 85 86 87 88 89 90 91 92 93",
    ),
)

BRADESCO_400 = Cnab400Layout(
    bank_code="237",
    bank_name="Bradesco",
    manual="Bradesco, 'Layout Cobrança — Arquivo Retorno' (CNAB 400), registro tipo 1, pp.41-42",
    fields=(
        Field("uso_empresa", 38, 62, T.TEXT),
        Field("nosso_numero", 71, 82, T.NOSSO_NUMERO),  # 11 digits + DV (0-9 or P)
        Field("codigo_ocorrencia", 109, 110, T.CODE),
        Field("data_ocorrencia", 111, 116, T.DATE),
        Field("seu_numero", 117, 126, T.TEXT),
        Field("valor_titulo", 153, 165, T.MONEY),
        Field("valor_tarifa", 176, 188, T.MONEY),
        Field("valor_abatimento", 228, 240, T.MONEY),
        Field("valor_desconto", 241, 253, T.MONEY),
        Field("valor_pago", 254, 266, T.MONEY),  # "valor pago": GROSS; no net field
        Field("valor_juros", 267, 279, T.MONEY),
        Field("data_credito", 296, 301, T.DATE),
        Field("motivo", 319, 328, T.CODE),
    ),
    kinds=_kinds(
        registered="02",
        rejected="03 24",
        paid="06 15",
        paid_after_writeoff="17",
        cancelled="09",  # "baixado automaticamente via arquivo" (instrução do beneficiário)
        writeoff="10",  # "baixado conforme instruções da agência"
        fee="28",
    ),
)

BANCO_DO_BRASIL_400 = Cnab400Layout(
    bank_code="001",
    bank_name="Banco do Brasil",
    manual="Banco do Brasil, 'Leiaute de arquivo retorno CBR643' (convênio de 7 posições), "
    "registro detalhe tipo 7",
    fields=(
        Field("uso_empresa", 39, 63, T.TEXT),  # número de controle do participante
        Field("nosso_numero", 64, 80, T.NOSSO_NUMERO),  # convênio(7) + sequência(10)
        Field("codigo_ocorrencia", 109, 110, T.CODE),  # comando
        Field("data_ocorrencia", 111, 116, T.DATE),  # data de liquidação / do comando
        Field("seu_numero", 117, 126, T.TEXT),
        Field("valor_titulo", 153, 165, T.MONEY),
        Field("data_credito", 176, 181, T.DATE),
        Field("valor_tarifa", 182, 188, T.MONEY),
        Field("valor_abatimento", 228, 240, T.MONEY),
        Field("valor_desconto", 241, 253, T.MONEY),
        Field("valor_pago", 254, 266, T.MONEY),  # valor recebido
        Field("valor_juros", 267, 279, T.MONEY),
        Field("valor_liquido", 306, 318, T.MONEY),  # valor do lançamento em conta
        Field("motivo", 87, 88, T.CODE),  # natureza do recebimento / motivo do comando
    ),
    kinds=_kinds(
        registered="02",
        rejected="03",
        paid="06 07 08 15",
        paid_after_writeoff="05",  # liquidado sem registro
        writeoff="09",
        cancelled="10",  # baixa solicitada
        fee="28 96 97 98",
    ),
    detail_types=frozenset({"7"}),
    unsupported_types={
        "1": "Banco do Brasil CNAB 400 with type-1 details (CBR641, convênio of 6 digits) is "
        "not supported; only CBR643 (type 7)",
    },
)

SANTANDER_400 = Cnab400Layout(
    bank_code="033",
    bank_name="Santander",
    manual="Santander, 'Layout de arquivos — Cobrança CNAB 400 posições', retorno, registro tipo 1",
    fields=(
        Field("uso_empresa", 38, 62, T.TEXT),
        Field("nosso_numero", 63, 70, T.NOSSO_NUMERO),
        Field("codigo_ocorrencia", 109, 110, T.CODE),
        Field("data_ocorrencia", 111, 116, T.DATE),
        Field("seu_numero", 117, 126, T.TEXT),
        Field("motivo", 137, 145, T.CODE),
        Field("valor_titulo", 153, 165, T.MONEY),
        Field("valor_tarifa", 176, 188, T.MONEY),
        Field("valor_abatimento", 228, 240, T.MONEY),
        Field("valor_desconto", 241, 253, T.MONEY),
        Field("valor_pago", 254, 266, T.MONEY),  # valor total recebido
        Field("valor_juros", 267, 279, T.MONEY),
        Field("data_credito", 296, 301, T.DATE),
    ),
    kinds=_kinds(
        registered="02",
        rejected="03",
        paid="06 07 08 17",
        writeoff="09",  # baixa automática
        cancelled="10",  # baixado conforme instrução
        fee="24",
    ),
)

CAIXA_400 = Cnab400Layout(
    bank_code="104",
    bank_name="Caixa Econômica Federal",
    manual="Caixa, 'Leiaute de arquivo eletrônico padrão CNAB 400 — SIGCB', retorno, tipo 1",
    fields=(
        Field("uso_empresa", 32, 56, T.TEXT),
        Field("nosso_numero", 57, 73, T.NOSSO_NUMERO),
        Field("motivo", 80, 82, T.CODE),  # código de rejeição
        Field("codigo_ocorrencia", 109, 110, T.CODE),
        Field("data_ocorrencia", 111, 116, T.DATE),
        Field("seu_numero", 117, 126, T.TEXT),
        Field("valor_titulo", 153, 165, T.MONEY),
        Field("valor_tarifa", 176, 188, T.MONEY),
        Field("valor_abatimento", 228, 240, T.MONEY),
        Field("valor_desconto", 241, 253, T.MONEY),
        Field("valor_pago", 254, 266, T.MONEY),
        Field("valor_juros", 267, 279, T.MONEY),
        Field("data_credito", 294, 299, T.DATE),
    ),
    kinds=_kinds(
        registered="01",
        cancelled="02",  # baixa manual confirmada
        paid="21 22",
        writeoff="23 24 25",
        fee="31 32 34",
        rejected="99",
    ),
)

SICOOB_400 = Cnab400Layout(
    bank_code="756",
    bank_name="Sicoob",
    manual="Sicoob, 'Layout CNAB 400 — retorno de cobrança' (modelo CBR641), registro tipo 1",
    fields=(
        Field("uso_empresa", 38, 62, T.TEXT),
        Field("nosso_numero", 63, 73, T.NOSSO_NUMERO),
        Field("codigo_ocorrencia", 109, 110, T.CODE),
        Field("data_ocorrencia", 111, 116, T.DATE),
        Field("seu_numero", 117, 126, T.TEXT),
        Field("valor_titulo", 153, 165, T.MONEY),
        Field("data_credito", 176, 181, T.DATE),
        Field("valor_tarifa", 182, 188, T.MONEY),
        Field("valor_abatimento", 228, 240, T.MONEY),
        Field("valor_desconto", 241, 253, T.MONEY),
        Field("valor_pago", 254, 266, T.MONEY),
        Field("valor_juros", 267, 279, T.MONEY),
    ),
    kinds=_kinds(
        registered="02",
        rejected="03",
        paid="06 15",
        paid_after_writeoff="05",  # liquidação sem registro
        writeoff="09",
        cancelled="10",  # baixa — pedido do beneficiário
        fee="28",
    ),
)

BANRISUL_400 = Cnab400Layout(
    bank_code="041",
    bank_name="Banrisul",
    manual="Banrisul, 'Cobrança — Leiaute CNAB 400 posições', retorno, registro tipo 1",
    fields=(
        Field("uso_empresa", 38, 62, T.TEXT),
        Field("nosso_numero", 63, 72, T.NOSSO_NUMERO),  # 8 digits + 2 NC
        Field("codigo_ocorrencia", 109, 110, T.CODE),
        Field("data_ocorrencia", 111, 116, T.DATE),
        Field("seu_numero", 117, 126, T.TEXT),
        Field("valor_titulo", 153, 165, T.MONEY),
        Field("valor_tarifa", 176, 188, T.MONEY),
        Field("valor_abatimento", 228, 240, T.MONEY),
        Field("valor_desconto", 241, 253, T.MONEY),
        Field("valor_pago", 254, 266, T.MONEY),
        Field("valor_juros", 267, 279, T.MONEY),
        Field("data_credito", 296, 301, T.DATE),
        Field("motivo", 383, 392, T.CODE),
    ),
    kinds=_kinds(
        registered="02 47",
        rejected="03 24",
        paid="06 07 08 15",
        writeoff="04 09 25 40",
        cancelled="10",  # baixado conforme instruções
        fee="41 44 46",
    ),
)

CNAB400_LAYOUTS: dict[str, Cnab400Layout] = {
    layout.bank_code: layout
    for layout in (
        ITAU_400,
        BRADESCO_400,
        BANCO_DO_BRASIL_400,
        SANTANDER_400,
        CAIXA_400,
        SICOOB_400,
        BANRISUL_400,
    )
}
