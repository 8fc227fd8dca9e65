"""QR code images of a BR Code (SVG and PNG) with segno.

The BCB manual asks for a QR Code (ISO/IEC 18004) of the payload as is; error correction level M
keeps the symbol small enough to scan from a phone screen or a printed boleto while tolerating
smudges. The payload is validated first, so no image is ever produced for a broken code.
"""

from __future__ import annotations

import io
from pathlib import Path

import segno

from adimple.payments.pix.codec import decode

QR_ERROR_LEVEL = "m"


def _qr(payload: str) -> segno.QRCode:
    decode(payload)  # raises PixError on an invalid payload
    return segno.make_qr(payload.strip(), error=QR_ERROR_LEVEL, boost_error=False)


def qr_svg(payload: str, *, scale: int = 4, border: int = 4) -> bytes:
    """The QR code as a standalone SVG document (UTF-8 bytes)."""
    buffer = io.BytesIO()
    _qr(payload).save(buffer, kind="svg", scale=scale, border=border, xmldecl=True)
    return buffer.getvalue()


def qr_svg_inline(payload: str, *, scale: int = 4, border: int = 4) -> str:
    """The QR code as an ``<svg>`` element to embed in HTML (no XML declaration)."""
    buffer = io.BytesIO()
    _qr(payload).save(
        buffer, kind="svg", scale=scale, border=border, xmldecl=False, svgns=True, nl=False
    )
    return buffer.getvalue().decode("utf-8")


def qr_png(payload: str, *, scale: int = 8, border: int = 4) -> bytes:
    """The QR code as a PNG image."""
    buffer = io.BytesIO()
    _qr(payload).save(buffer, kind="png", scale=scale, border=border)
    return buffer.getvalue()


def write_qr(payload: str, path: Path) -> None:
    """Writes ``path`` as SVG or PNG, chosen by its suffix (``.svg`` / ``.png``)."""
    suffix = path.suffix.lower()
    if suffix == ".svg":
        data = qr_svg(payload)
    elif suffix == ".png":
        data = qr_png(payload)
    else:
        raise ValueError(f"unsupported image type {suffix!r}: use .svg or .png")
    path.write_bytes(data)
