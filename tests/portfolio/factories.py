"""Builders for portfolio test files."""

from __future__ import annotations

from pathlib import Path

CUSTOMERS = (
    "codigo_cliente;cpf_cnpj;nome;uf;cidade;email;celular;data_nascimento\n"
    "C1;529.982.247-25;Maria da Silva;SP;São Paulo;maria@example.com;(11) 98765-4321;15/03/1980\n"
    "C2;12.ABC.345/01DE-35;Padaria Pão Bom Ltda;RJ;Rio de Janeiro;;;\n"
)
RECEIVABLES = (
    "id_titulo;id_cliente;emissao;vencimento;valor;parcela\n"
    "T1;C1;01/01/2026;10/02/2026;1.234,56;1/3\n"
    "T2;C1;01/01/2026;10/03/2026;1.234,56;2/3\n"
    "T3;C2;2026-01-01;2026-04-10;99,90;1/1\n"
)
PAYMENTS = (
    "id_pagamento;id_titulo;data_pagamento;valor;tarifa\n"
    "P1;T1;2026-02-10;1.234,56;2,50\n"
    "P2;T2;2026-03-12;100,00;0\n"
)


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path
