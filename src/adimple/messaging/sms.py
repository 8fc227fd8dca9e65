"""SMS length and segments (GSM 03.38 / 3GPP TS 23.038) — pure code.

A message that uses only the GSM 7-bit default alphabet (plus its extension table, two septets
per character: ``^ { } \\ [ ~ ] | €`` and form feed) fits 160 septets in one SMS or 153 per
segment when concatenated (the UDH takes 7). Anything else (``ç``, ``á``, ``ã``, ``õ``, ``ê``,
emoji…) forces UCS-2: 70 UTF-16 units in one SMS, 67 per segment; characters outside the BMP
(most emoji) take two units. Segments never split an escape pair or a surrogate pair.

Portuguese needs ``ç``, ``ã``, ``á``…, none of which is GSM-7 (only ``é``, ``à``, ``Ç`` and a few
others are), so one accented letter halves the room in every segment. :func:`transliterate`
keeps GSM-7 characters and strips the accents of the rest (``ç`` → ``c``, ``ã`` → ``a``,
curly quotes → straight ones). **It is the default for the Brazilian SMS providers** (setting
``unicode: false``): Brazilian carriers deliver GSM-7 reliably and providers bill per segment,
and the messages stay readable without accents. Set ``unicode: true`` in the channel settings to
send UCS-2 with accents instead.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = "\f^{}\\[~]|€"
_BASIC = frozenset(GSM7_BASIC) - {"\x1b"}
_EXTENSION = frozenset(GSM7_EXTENSION)

SINGLE_GSM7 = 160
MULTI_GSM7 = 153
SINGLE_UCS2 = 70
MULTI_UCS2 = 67

# Characters that NFKD cannot reduce to GSM-7 but have an obvious plain form.
_REPLACEMENTS = {
    "“": '"',
    "”": '"',
    "„": '"',
    "«": '"',
    "»": '"',
    "‘": "'",
    "’": "'",
    "‚": "'",
    "–": "-",
    "—": "-",
    "‐": "-",
    "−": "-",
    "…": "...",
    "º": "o",
    "ª": "a",
    "°": "o",
    "\u00a0": " ",  # no-break space (Babel puts one after "R$")
    "\u202f": " ",
    "\u2009": " ",
    "•": "-",
    "\t": " ",
}


class Encoding(StrEnum):
    GSM7 = "gsm7"
    UCS2 = "ucs2"


@dataclass(frozen=True)
class SmsInfo:
    """How a text travels: encoding, units used (septets or UTF-16 units), segments."""

    encoding: Encoding
    units: int
    segments: int
    per_segment: int
    characters: int

    @property
    def remaining(self) -> int:
        """Units left in the last segment."""
        if self.segments <= 1:
            single = SINGLE_GSM7 if self.encoding is Encoding.GSM7 else SINGLE_UCS2
            return single - self.units
        return self.segments * self.per_segment - self.units


_GSM7 = _BASIC | _EXTENSION


def is_gsm7(text: str) -> bool:
    return _GSM7.issuperset(text)


def _unit_sizes(text: str, encoding: Encoding) -> list[int]:
    if encoding is Encoding.GSM7:
        return [2 if ch in _EXTENSION else 1 for ch in text]
    return [2 if ord(ch) > 0xFFFF else 1 for ch in text]


def _units(text: str, encoding: Encoding) -> int:
    # Counted with C string methods: every SMS is analysed when it is rendered and again when
    # it is sent, and a per-character loop was a tenth of a worker's CPU.
    if encoding is Encoding.GSM7:
        return len(text) + sum(text.count(ch) for ch in GSM7_EXTENSION)
    if text.isascii():
        return len(text)
    return sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)


def analyze(text: str) -> SmsInfo:
    """Encoding, length in units and segment count of ``text`` as sent."""
    encoding = Encoding.GSM7 if is_gsm7(text) else Encoding.UCS2
    units = _units(text, encoding)
    single, multi = (
        (SINGLE_GSM7, MULTI_GSM7) if encoding is Encoding.GSM7 else (SINGLE_UCS2, MULTI_UCS2)
    )
    if units <= single:
        return SmsInfo(encoding, units, 1 if units else 0, single, len(text))
    # Pack greedily: an escape pair (GSM-7) or a surrogate pair (UCS-2) never straddles two
    # segments, so a segment may end one unit short and the count can exceed ceil(units/multi).
    if units == len(text):  # every unit a character: nothing to straddle
        segments = math.ceil(units / multi)
    else:
        segments, used = 1, 0
        for size in _unit_sizes(text, encoding):
            if used + size > multi:
                segments += 1
                used = 0
            used += size
    assert segments >= math.ceil(units / multi)
    return SmsInfo(encoding, units, segments, multi, len(text))


def _plain_form(ch: str) -> str:
    if ch in _GSM7:
        return ch
    if ch in _REPLACEMENTS:
        return _REPLACEMENTS[ch]
    plain = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
    if plain and _GSM7.issuperset(plain):
        return plain
    return "?"


class _PlainForms(dict[int, str]):
    """``str.translate`` table that works out each character's plain form once."""

    def __missing__(self, code: int) -> str:
        form = self[code] = _plain_form(chr(code))
        return form


_PLAIN_FORMS = _PlainForms()


def transliterate(text: str) -> str:
    """Keeps GSM-7 characters, strips accents from the others, replaces the rest with ``?``."""
    if _GSM7.issuperset(text):
        return text
    return text.translate(_PLAIN_FORMS)


def prepare(text: str, *, unicode: bool = False) -> tuple[str, SmsInfo]:
    """The text to send (transliterated unless ``unicode``) and how it travels."""
    body = text if unicode else transliterate(text)
    return body, analyze(body)
