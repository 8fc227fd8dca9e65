"""Charges per título: boleto and PIX (static BR Code or a PSP ``cobv``) for every open
receivable, kept so what was issued is reused until it expires or the amount changes."""
