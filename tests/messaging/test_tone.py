"""Tone check: threats and exposure are refused, with the line that has them (CDC art. 42, 71)."""

from __future__ import annotations

from adimple.messaging.templates import shipped_templates
from adimple.messaging.tone import check_tone, default_terms, normalize


class TestCheckTone:
    def test_names_the_line_and_the_term(self) -> None:
        text = "Olá, Maria!\nSua parcela venceu.\nSem pagamento haverá protesto imediato."
        [violation] = check_tone(text)
        assert violation.line == 3
        assert violation.term == "protesto imediato"
        assert "protesto imediato" in violation.excerpt
        assert "linha 3" in str(violation)

    def test_ignores_accents_case_and_spacing(self) -> None:
        found = check_tone("CHAMAREMOS A POLICIA\nseu   NOME será\texposto")
        assert [(v.line, v.term) for v in found] == [(1, "polícia"), (2, "seu nome será exposto")]

    def test_matches_whole_words_only(self) -> None:
        # "presa" is on the list; "empresa" must not trip it.
        assert check_tone("A empresa agradece. Não tenha vergonhas") == []
        assert [v.term for v in check_tone("Que vergonha!")] == ["vergonha"]

    def test_every_occurrence_is_reported(self) -> None:
        found = check_tone("prisão\nok\nprisão e polícia")
        assert [(v.line, v.term) for v in found] == [(1, "prisão"), (3, "prisão"), (3, "polícia")]

    def test_tenant_terms_extend_the_list(self) -> None:
        assert check_tone("Cobrança pesada a caminho") == []
        [violation] = check_tone("Cobrança pesada a caminho", extra_terms=["cobranca PESADA"])
        assert violation.term == "cobranca PESADA" and violation.line == 1

    def test_the_maintained_list_covers_the_issue_examples(self) -> None:
        terms = {normalize(t) for t in default_terms()}
        for example in ("protesto imediato", "prisão", "polícia", "vergonha"):
            assert normalize(example) in terms
        assert normalize("seu nome será exposto") in terms

    def test_shipped_templates_are_clean(self) -> None:
        for spec in shipped_templates().values():
            for part in (spec.subject, spec.body, spec.html, *spec.whatsapp_params):
                assert check_tone(part or "") == [], (spec.name, spec.channel)
