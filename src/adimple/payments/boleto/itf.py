"""Interleaved 2 of 5 (ITF) barcode of a boleto, drawn as SVG rectangles.

FEBRABAN's ficha de compensação prints the 44 digits in ITF with a narrow:wide ratio of 1:3,
narrow element 0.254 mm (1/100 inch) — total ≈ 103 mm — and bars 13 mm tall, between a start
code (narrow bar, narrow space, narrow bar, narrow space) and a stop code (wide bar, narrow
space, narrow bar). Each pair of digits is encoded together: the first in the five bars, the
second in the five spaces between them. Drawing it here keeps the module ratio exact (generic
libraries default to other ratios and add a text line the standard does not want).
"""

from __future__ import annotations

# N = narrow, W = wide (ISO/IEC 16390 / ANSI ITF table)
_PATTERNS = {
    "0": "NNWWN",
    "1": "WNNNW",
    "2": "NWNNW",
    "3": "WWNNN",
    "4": "NNWNW",
    "5": "WNWNN",
    "6": "NWWNN",
    "7": "NNNWW",
    "8": "WNNWN",
    "9": "NWNWN",
}
NARROW_MM = 0.254
WIDE_RATIO = 3
HEIGHT_MM = 13.0
QUIET_ZONE_MODULES = 10  # light margin each side, in narrow modules


def itf_elements(digits: str) -> list[tuple[bool, int]]:
    """The barcode as (is_bar, width in narrow modules) from left to right."""
    if not digits.isdigit() or len(digits) % 2:
        raise ValueError("ITF encodes an even number of digits")
    widths = {"N": 1, "W": WIDE_RATIO}
    elements: list[tuple[bool, int]] = [(True, 1), (False, 1), (True, 1), (False, 1)]
    for index in range(0, len(digits), 2):
        bars, spaces = _PATTERNS[digits[index]], _PATTERNS[digits[index + 1]]
        for bar, space in zip(bars, spaces, strict=True):
            elements.append((True, widths[bar]))
            elements.append((False, widths[space]))
    elements += [(True, WIDE_RATIO), (False, 1), (True, 1)]
    return elements


def itf_svg(digits: str, *, narrow_mm: float = NARROW_MM, height_mm: float = HEIGHT_MM) -> str:
    """A standalone SVG document of the ITF barcode, sized in millimetres."""
    elements = itf_elements(digits)
    total = sum(width for _, width in elements) + 2 * QUIET_ZONE_MODULES
    x = QUIET_ZONE_MODULES
    rects: list[str] = []
    for is_bar, width in elements:
        if is_bar:
            rects.append(f'<rect x="{x}" y="0" width="{width}" height="100"/>')
        x += width
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" '
        f'width="{total * narrow_mm:.3f}mm" height="{height_mm}mm" '
        f'viewBox="0 0 {total} 100" preserveAspectRatio="none" shape-rendering="crispEdges">'
        '<rect width="100%" height="100%" fill="#fff"/>'
        f'<g fill="#000">{"".join(rects)}</g></svg>'
    )


def itf_decode(elements: list[tuple[bool, int]]) -> str:
    """Reads back :func:`itf_elements` (used by the tests to prove the drawing is right)."""
    inverse = {pattern: digit for digit, pattern in _PATTERNS.items()}
    body = elements[4:-3]
    digits = []
    for index in range(0, len(body), 10):
        chunk = body[index : index + 10]
        bars = "".join("W" if width > 1 else "N" for _, width in chunk[0::2])
        spaces = "".join("W" if width > 1 else "N" for _, width in chunk[1::2])
        digits.append(inverse[bars] + inverse[spaces])
    return "".join(digits)
