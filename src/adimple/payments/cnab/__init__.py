"""CNAB 240/400 retorno de cobrança parsers, table-driven (pure code)."""

from adimple.payments.cnab.layouts import Kind
from adimple.payments.cnab.parser import CnabError, CnabFile, CnabRecord, parse_bytes, parse_file

__all__ = ["CnabError", "CnabFile", "CnabRecord", "Kind", "parse_bytes", "parse_file"]
