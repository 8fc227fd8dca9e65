"""Boleto de cobrança: barcode/linha digitável codec, bank free fields, ITF and PDF (pure)."""

from adimple.payments.boleto.banks import bank_free_field, explain_free_field
from adimple.payments.boleto.codec import Boleto, BoletoError, decode, encode, format_linha

__all__ = [
    "Boleto",
    "BoletoError",
    "bank_free_field",
    "decode",
    "encode",
    "explain_free_field",
    "format_linha",
]
