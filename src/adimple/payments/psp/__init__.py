"""PSP adapter for the Banco Central's API Pix (subset: OAuth2, ``cobv``, webhook) and a local
test server implementing the same subset (tests and the demo)."""

from adimple.payments.psp.client import PixClient, PspConfig, PspError
from adimple.payments.psp.cobv import (
    CobvRequest,
    Discount,
    DiscountMode,
    Fine,
    FineMode,
    Interest,
    InterestMode,
)

__all__ = [
    "CobvRequest",
    "Discount",
    "DiscountMode",
    "Fine",
    "FineMode",
    "Interest",
    "InterestMode",
    "PixClient",
    "PspConfig",
    "PspError",
]
