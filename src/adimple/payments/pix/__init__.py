"""PIX BR Code: encoder, validating decoder and QR images (pure code)."""

from adimple.payments.pix.codec import (
    NO_TXID,
    PIX_GUI,
    PixError,
    PixPayload,
    build,
    crc16_ccitt_false,
    decode,
    encode,
)

__all__ = [
    "NO_TXID",
    "PIX_GUI",
    "PixError",
    "PixPayload",
    "build",
    "crc16_ccitt_false",
    "decode",
    "encode",
]
