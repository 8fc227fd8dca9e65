"""GSM-7 / UCS-2 encoding, length and segments (3GPP TS 23.038), and transliteration."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adimple.messaging.sms import (
    GSM7_BASIC,
    GSM7_EXTENSION,
    Encoding,
    analyze,
    is_gsm7,
    prepare,
    transliterate,
)


class TestAnalyze:
    @pytest.mark.parametrize(
        ("text", "encoding", "units", "segments"),
        [
            ("", Encoding.GSM7, 0, 0),
            ("a" * 160, Encoding.GSM7, 160, 1),
            ("a" * 161, Encoding.GSM7, 161, 2),
            ("a" * 306, Encoding.GSM7, 306, 2),
            ("a" * 307, Encoding.GSM7, 307, 3),
            # € and the other extension characters take two septets.
            ("€" * 80, Encoding.GSM7, 160, 1),
            ("€" * 81, Encoding.GSM7, 162, 2),
            ("{}[]~|^\\", Encoding.GSM7, 16, 1),
            # é, à and Ç are GSM-7; ç, á, ã, õ, ê are not.
            ("é à Ç Ñ ü", Encoding.GSM7, 9, 1),
            ("ç", Encoding.UCS2, 1, 1),
            ("Ação", Encoding.UCS2, 4, 1),
            ("x" * 69 + "ã", Encoding.UCS2, 70, 1),
            ("x" * 70 + "ã", Encoding.UCS2, 71, 2),
            # Emoji outside the BMP take two UTF-16 units.
            ("😀" * 35, Encoding.UCS2, 70, 1),
            ("😀" * 36, Encoding.UCS2, 72, 2),
        ],
    )
    def test_counts(self, text: str, encoding: Encoding, units: int, segments: int) -> None:
        info = analyze(text)
        assert (info.encoding, info.units, info.segments) == (encoding, units, segments)

    def test_an_escape_pair_never_straddles_two_segments(self) -> None:
        # 152 plain septets then "€": the pair does not fit in the first 153-septet segment.
        info = analyze("a" * 152 + "€" + "a" * 10)
        assert info.units == 164
        assert info.segments == 2
        assert analyze("a" * 305 + "€").segments == 3  # 305 + 2 = 307 > 306

    def test_a_surrogate_pair_never_straddles_two_segments(self) -> None:
        # 134 units would fit two 67-unit segments, but the emoji cannot start at unit 67.
        info = analyze("ç" * 66 + "😀" + "ç" * 66)
        assert (info.units, info.segments) == (134, 3)
        assert analyze("ç" * 67 + "😀" + "ç" * 65).segments == 2

    def test_remaining_room(self) -> None:
        assert analyze("a" * 150).remaining == 10
        assert analyze("a" * 200).remaining == 106


class TestTransliterate:
    def test_portuguese_accents_become_gsm7(self) -> None:
        text = "Olá, João! Ação “já” — R\u00a0$ 1.234,56 às 10h: você, ônibus, põe"
        out = transliterate(text)
        assert out == 'Ola, Joao! Acao "ja" - R $ 1.234,56 às 10h: voce, onibus, poe'
        assert is_gsm7(out)

    def test_keeps_characters_that_gsm7_has(self) -> None:
        assert transliterate("é à Ç € {}") == "é à Ç € {}"

    def test_emoji_becomes_a_question_mark(self) -> None:
        assert transliterate("Oi 😀") == "Oi ?"

    def test_prepare_defaults_to_gsm7_and_can_keep_unicode(self) -> None:
        text, info = prepare("Não pague em duplicidade, Conceição")
        assert info.encoding is Encoding.GSM7 and text.startswith("Nao")
        text, info = prepare("Não pague em duplicidade, Conceição", unicode=True)
        assert info.encoding is Encoding.UCS2 and text.startswith("Não")

    @given(st.text(max_size=400))
    def test_output_is_always_gsm7(self, text: str) -> None:
        assert is_gsm7(transliterate(text))

    @given(st.text(alphabet=GSM7_BASIC.replace("\x1b", "") + GSM7_EXTENSION, max_size=400))
    def test_gsm7_text_is_unchanged_and_segments_bound_holds(self, text: str) -> None:
        assert transliterate(text) == text
        info = analyze(text)
        if info.units > 160:
            assert info.segments >= math.ceil(info.units / 153)
            assert info.segments <= math.ceil(info.units / 152)
