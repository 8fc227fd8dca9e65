"""Cadence and segment documents (pure): every error class with its exact message, normal
forms, YAML round trip, and the shipped pt-BR defaults."""

from __future__ import annotations

import subprocess
import sys
from importlib import resources

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adimple.cadence.definitions import (
    ACTIONS,
    CHANNELS,
    DEFAULT_CADENCE_NAMES,
    CadenceDocument,
    DefinitionError,
    StepDefinition,
    dump_cadence,
    dump_segments,
    normalise_cadence,
    normalise_segments,
    parse_cadence,
    parse_segments,
    shipped_cadences,
    shipped_segments,
)

EXAMPLE = """\
name: padrao
steps:
  - {id: lembrete_d3, offset_days: -3, channels: [email, whatsapp], template: lembrete_vencimento}
  - {id: aviso_d1, offset_days: 1, channels: [email, sms], template: aviso_atraso}
  - {id: ligacao_d10, offset_days: 10, action: task_call}
  - {id: carta_d30, offset_days: 30, channels: [letter], template: carta_cobranca}
  - {id: aviso_bureau_d45, offset_days: 45, action: bureau_notice}
"""

ALL_ACTIONS = "task_call, bureau_notice, bureau_activate, agency_handoff, legal_review"


def errors_of(text: str, source: str = "padrao.yaml") -> list[str]:
    with pytest.raises(DefinitionError) as info:
        parse_cadence(text, source)
    return info.value.lines()


def with_step(step: str) -> str:
    return EXAMPLE + f"  - {step}\n"


class TestParseCadence:
    def test_the_issue_example_parses(self) -> None:
        doc = parse_cadence(EXAMPLE, "padrao.yaml")
        assert doc.name == "padrao"
        assert [s.id for s in doc.steps][:2] == ["lembrete_d3", "aviso_d1"]
        notice = normalise_cadence(doc)["steps"][-1]
        # bureau_notice takes a letter; the CDC art. 43 §2 notice is the default template
        assert notice["template"] == "aviso_negativacao"

    def test_steps_are_ordered_by_offset_then_file_order(self) -> None:
        doc = parse_cadence(
            "name: x\nsteps:\n"
            "  - {id: b, offset_days: 5, action: task_call}\n"
            "  - {id: a, offset_days: -1, channels: [email], template: t}\n"
            "  - {id: c, offset_days: 5, channels: [sms], template: t}\n"
        )
        assert [s["id"] for s in normalise_cadence(doc)["steps"]] == ["a", "b", "c"]

    def test_unknown_action_names_file_step_field_and_line(self) -> None:
        text = EXAMPLE.replace("action: task_call", "action: call")
        assert errors_of(text) == [
            "padrao.yaml: steps[2] (ligacao_d10): action: unknown action 'call'; "
            f"expected one of {ALL_ACTIONS} (line 5)"
        ]

    def test_unknown_channel(self) -> None:
        text = EXAMPLE.replace("[email, sms]", "[email, fax]")
        assert errors_of(text) == [
            "padrao.yaml: steps[1] (aviso_d1): channels: unknown channel 'fax'; "
            "expected one of email, sms, whatsapp, letter (line 4)"
        ]

    def test_unknown_step_key(self) -> None:
        (error,) = errors_of(EXAMPLE.replace("offset_days: 30,", "offset_days: 30, color: red,"))
        assert error.startswith("padrao.yaml: steps[3] (carta_d30): color: unknown key; expected")
        assert error.endswith("(line 6)")

    def test_unknown_top_level_key(self) -> None:
        (error,) = errors_of("owner: me\n" + EXAMPLE)
        assert error == "padrao.yaml: owner: unknown key (line 1)"

    def test_channels_and_action_together(self) -> None:
        (error,) = errors_of(
            with_step("{id: x, offset_days: 50, channels: [sms], template: t, action: task_call}")
        )
        assert error == (
            "padrao.yaml: steps[5] (x): action: a step has either channels or an action, "
            "not both (line 8)"
        )

    def test_neither_channels_nor_action(self) -> None:
        (error,) = errors_of(with_step("{id: x, offset_days: 50}"))
        assert (
            error
            == "padrao.yaml: steps[5] (x): channels: a step needs channels or an action (line 8)"
        )

    def test_channel_step_needs_a_template(self) -> None:
        (error,) = errors_of(with_step("{id: x, offset_days: 50, channels: [email]}"))
        assert (
            error
            == "padrao.yaml: steps[5] (x): template: a step with channels needs a template (line 8)"
        )

    def test_action_other_than_notice_takes_no_template(self) -> None:
        (error,) = errors_of(
            with_step("{id: x, offset_days: 50, action: task_call, template: roteiro}")
        )
        assert error.startswith("padrao.yaml: steps[5] (x): template: action 'task_call' takes no")

    def test_duplicate_step_id(self) -> None:
        (error,) = errors_of(with_step("{id: aviso_d1, offset_days: 50, action: task_call}"))
        assert error == (
            "padrao.yaml: steps[5] (aviso_d1): id: duplicate step id (also steps[1]) (line 8)"
        )

    def test_bureau_activate_without_a_notice(self) -> None:
        text = "name: x\nsteps:\n  - {id: neg, offset_days: 60, action: bureau_activate}\n"
        assert errors_of(text, "x.yaml") == [
            "x.yaml: steps[0] (neg): action: bureau_activate needs a bureau_notice step at least "
            "10 days earlier (CDC art. 43 §2) (line 3)"
        ]

    def test_bureau_activate_too_soon_after_the_notice(self) -> None:
        (error,) = errors_of(with_step("{id: neg_d54, offset_days: 54, action: bureau_activate}"))
        assert error == (
            "padrao.yaml: steps[5] (neg_d54): offset_days: bureau_activate on day 54 is 9 days "
            "after bureau_notice 'aviso_bureau_d45' (day 45); the written notice must come at "
            "least 10 days before (CDC art. 43 §2) (line 8)"
        )

    def test_bureau_activate_ten_days_after_the_notice_is_fine(self) -> None:
        doc = parse_cadence(with_step("{id: neg_d55, offset_days: 55, action: bureau_activate}"))
        assert doc.steps[-1].action == "bureau_activate"

    @pytest.mark.parametrize(
        ("given", "stored"),
        [("100", "100.00"), ("100.5", "100.50"), ('"1234.56"', "1234.56"), ("-0", "0.00")],
    )
    def test_min_balance_is_a_money_string(self, given: str, stored: str) -> None:
        doc = parse_cadence(
            with_step(f"{{id: x, offset_days: 50, action: task_call, min_balance: {given}}}")
        )
        assert normalise_cadence(doc)["steps"][-1]["min_balance"] == stored

    @pytest.mark.parametrize("given", ["-1", "1.234", '"abc"', "10000000000", "1.0e+26", ".nan"])
    def test_min_balance_rejects_bad_amounts(self, given: str) -> None:
        (error,) = errors_of(
            with_step(f"{{id: x, offset_days: 50, action: task_call, min_balance: {given}}}")
        )
        assert error.startswith("padrao.yaml: steps[5] (x): min_balance: ")

    def test_offset_out_of_range(self) -> None:
        (error,) = errors_of(with_step("{id: x, offset_days: 99999, action: task_call}"))
        assert error.startswith("padrao.yaml: steps[5] (x): offset_days: ")

    def test_missing_required_keys(self) -> None:
        errors = errors_of("steps:\n  - {offset_days: 1, action: task_call}\n", "y.yaml")
        assert "y.yaml: name: required" in errors[0]
        assert errors[1] == "y.yaml: steps[0]: id: required (line 2)"

    def test_every_shape_error_is_reported_at_once(self) -> None:
        text = EXAMPLE.replace("action: task_call", "action: call").replace("[letter]", "[pigeon]")
        with pytest.raises(DefinitionError) as info:
            parse_cadence(text, "padrao.yaml")
        assert len(info.value.issues) == 2
        assert info.value.detail.endswith("(+1 more)")
        assert [e.field for e in info.value.errors] == ["steps.2.action", "steps.3.channels"]

    def test_yaml_syntax_error_has_its_line(self) -> None:
        (error,) = errors_of("name: x\nsteps:\n  - {id: a, offset_days: 1\n", "bad.yaml")
        assert error.startswith("bad.yaml: invalid YAML: ")
        assert "(line " in error

    def test_a_key_given_twice_is_an_error(self) -> None:
        (error,) = errors_of("name: x\nname: y\nsteps: []\n", "dup.yaml")
        assert error == "dup.yaml: name: key given twice (line 2)"

    def test_document_must_be_a_mapping(self) -> None:
        (error,) = errors_of("- a\n- b\n", "list.yaml")
        assert error == "list.yaml: the document must be a mapping with name and steps"

    def test_json_is_yaml_too(self) -> None:
        doc = parse_cadence(
            '{"name": "j", "steps": [{"id": "a", "offset_days": 1, "action": "task_call"}]}'
        )
        assert doc.name == "j"


class TestRoundTrip:
    def test_dump_then_parse_gives_the_same_definition(self) -> None:
        doc = parse_cadence(EXAMPLE)
        text = dump_cadence(doc)
        assert normalise_cadence(parse_cadence(text)) == normalise_cadence(doc)
        assert "- {id: lembrete_d3, offset_days: -3, channels: [email, whatsapp]" in text

    def test_descriptions_with_accents_and_colons_survive(self) -> None:
        doc = parse_cadence(
            'name: x\ndescription: "Régua: lembrete — sem pressão; 100%"\n'
            "steps:\n  - {id: a, offset_days: 1, action: task_call}\n"
        )
        again = parse_cadence(dump_cadence(doc))
        assert again.description == "Régua: lembrete — sem pressão; 100%"

    @settings(max_examples=60, deadline=None)
    @given(
        st.lists(
            st.tuples(
                st.integers(-60, 3650),
                st.sampled_from(["channels", "task_call", "agency_handoff", "legal_review"]),
                st.one_of(st.none(), st.decimals(0, 999999, places=2)),
                st.booleans(),
                st.one_of(
                    st.none(),
                    st.lists(st.sampled_from(["A", "B", "C"]), min_size=1, max_size=3, unique=True),
                ),
            ),
            min_size=1,
            max_size=12,
        )
    )
    def test_any_valid_cadence_round_trips(self, steps: list[tuple]) -> None:  # type: ignore[type-arg]
        built = []
        for index, (offset, kind, balance, business, bands) in enumerate(steps):
            fields: dict[str, object] = {"id": f"s{index}", "offset_days": offset}
            if kind == "channels":
                fields |= {"channels": ["email", "sms"], "template": "aviso_atraso"}
            else:
                fields["action"] = kind
            if balance is not None:
                fields["min_balance"] = str(balance)
            fields["only_business_days"] = business
            if bands:
                fields["score_bands"] = bands
            built.append(StepDefinition.model_validate(fields))
        doc = CadenceDocument(name="gerada", steps=built)
        assert normalise_cadence(parse_cadence(dump_cadence(doc))) == normalise_cadence(doc)


SEGMENTS = """\
segments:
  - {code: preventive, name: Preventiva, priority: 10, kind: preventive, cadence: preventiva}
  - {code: high_balance, name: "Saldo alto", priority: 20, kind: high_balance,
     params: {min_balance: "5000.00"}, cadence: alto_saldo}
  - {code: chronic, name: Crônico, priority: 30, kind: chronic_late, cadence: atraso_cronico}
  - {code: standard, name: Padrão, priority: 100, kind: always, cadence: padrao}
"""


def segment_errors(text: str) -> list[str]:
    with pytest.raises(DefinitionError) as info:
        parse_segments(text, "segments.yaml")
    return info.value.lines()


class TestParseSegments:
    def test_defaults_fill_missing_params(self) -> None:
        rows = normalise_segments(parse_segments(SEGMENTS))
        chronic = next(r for r in rows if r["code"] == "chronic")
        assert chronic["params"] == {"min_months": 3, "window_months": 6}
        assert [r["priority"] for r in rows] == [10, 20, 30, 100]

    def test_money_param_is_normalised(self) -> None:
        rows = normalise_segments(parse_segments(SEGMENTS.replace('"5000.00"', "7500")))
        assert rows[1]["params"] == {"min_balance": "7500.00"}

    def test_unknown_kind(self) -> None:
        (error,) = segment_errors(SEGMENTS.replace("kind: chronic_late", "kind: sometimes"))
        assert error == (
            "segments.yaml: segments[2] (chronic): kind: unknown segment kind 'sometimes'; "
            "expected one of preventive, high_balance, business, never_paid, chronic_late, "
            "loyal_first_late, always (line 5)"
        )

    def test_unknown_param(self) -> None:
        (error,) = segment_errors(
            SEGMENTS.replace("kind: chronic_late,", "kind: chronic_late, params: {weeks: 2},")
        )
        assert error == (
            "segments.yaml: segments[2] (chronic): params.weeks: unknown parameter for kind "
            "'chronic_late'; expected min_months, window_months (line 5)"
        )

    def test_bad_param_values(self) -> None:
        text = SEGMENTS.replace(
            "kind: chronic_late,", "kind: chronic_late, params: {min_months: 7},"
        )
        (error,) = segment_errors(text)
        assert error == (
            "segments.yaml: segments[2] (chronic): params.min_months: must not exceed "
            "window_months (line 5)"
        )
        (error,) = segment_errors(SEGMENTS.replace('"5000.00"', '"muito"'))
        assert error.startswith("segments.yaml: segments[1] (high_balance): params.min_balance:")

    def test_exactly_one_always_and_one_preventive(self) -> None:
        no_fallback = "\n".join(SEGMENTS.splitlines()[:-1]) + "\n"
        assert segment_errors(no_fallback) == [
            "segments.yaml: segments: exactly one segment of kind 'always' is required "
            "(found 0) (line 1)"
        ]
        two = SEGMENTS.replace(
            'kind: high_balance,\n     params: {min_balance: "5000.00"},', "kind: preventive,"
        )
        assert segment_errors(two) == [
            "segments.yaml: segments: exactly one segment of kind 'preventive' is required "
            "(found 2) (line 1)"
        ]

    def test_fallback_must_come_last(self) -> None:
        (error,) = segment_errors(SEGMENTS.replace("priority: 100", "priority: 25"))
        assert error == (
            "segments.yaml: segments[2] (chronic): priority: comes after the fallback 'standard' "
            "(kind always, priority 25) and would never match (line 5)"
        )

    def test_duplicate_code_and_priority(self) -> None:
        errors = segment_errors(
            SEGMENTS.replace(
                "code: chronic, name: Crônico, priority: 30",
                "code: high_balance, name: Crônico, priority: 20",
            )
        )
        assert errors == [
            "segments.yaml: segments[2] (high_balance): code: duplicate segment code (also "
            "segments[1]) (line 5)",
            "segments.yaml: segments[2] (high_balance): priority: same priority as segments[1]; "
            "the first match wins, so the order must be unambiguous (line 5)",
        ]

    def test_fallback_cannot_be_disabled(self) -> None:
        (error,) = segment_errors(
            SEGMENTS.replace("kind: always,", "kind: always, enabled: false,")
        )
        assert "(kind always) cannot be disabled" in error

    def test_dump_round_trip(self) -> None:
        doc = parse_segments(SEGMENTS)
        assert normalise_segments(parse_segments(dump_segments(doc))) == normalise_segments(doc)


THREATS = ["prisão", "polícia", "vergonha", "protesto imediato", "seu nome será exposto"]
TEMPLATES = {
    "lembrete_vencimento",
    "aviso_atraso",
    "lembrete_atraso",
    "proposta_acordo",
    "carta_cobranca",
    "aviso_negativacao",
}


class TestShippedDefaults:
    def test_every_default_cadence_validates(self) -> None:
        docs = shipped_cadences()
        assert [d.name for d in docs] == list(DEFAULT_CADENCE_NAMES)
        for doc in docs:
            assert doc.description, doc.name

    def test_defaults_use_only_the_shipped_templates(self) -> None:
        for doc in shipped_cadences():
            for step in normalise_cadence(doc)["steps"]:
                assert step["template"] is None or step["template"] in TEMPLATES, step
                if step["channels"] == ["letter"]:
                    assert step["template"] in {"carta_cobranca", "aviso_negativacao"}

    def test_first_contact_is_a_friendly_reminder(self) -> None:
        for doc in shipped_cadences():
            first = normalise_cadence(doc)["steps"][0]
            assert first["template"] == "lembrete_vencimento", doc.name

    def test_no_threatening_words_in_any_shipped_text(self) -> None:
        folder = resources.files("adimple.cadence").joinpath("data")
        texts = [p.read_text("utf-8").lower() for p in folder.iterdir() if p.name.endswith(".yaml")]
        assert len(texts) == 8
        for text in texts:
            for word in THREATS:
                assert word not in text

    def test_default_segments_map_to_the_default_cadences(self) -> None:
        rows = normalise_segments(shipped_segments())
        assert {r["kind"]: r["cadence"] for r in rows} == {
            "preventive": "preventiva",
            "high_balance": "alto_saldo",
            "business": "empresa",
            "never_paid": "primeira_fatura",
            "chronic_late": "atraso_cronico",
            "loyal_first_late": "cliente_fiel",
            "always": "padrao",
        }
        assert {r["code"] for r in rows} >= {"high_balance", "standard", "preventive"}
        assert rows[-1]["kind"] == "always"
        assert rows[3]["params"] == {"min_balance": "5000.00"}

    def test_bureau_activation_always_waits_for_the_notice(self) -> None:
        for doc in shipped_cadences():
            steps = normalise_cadence(doc)["steps"]
            notices = [s["offset_days"] for s in steps if s["action"] == "bureau_notice"]
            for step in steps:
                if step["action"] == "bureau_activate":
                    assert step["offset_days"] - min(notices) >= 10


class TestVocabulary:
    def test_actions_and_channels_match_the_models(self) -> None:
        from adimple.cadence.models import StepAction
        from adimple.portfolio.models import Channel

        assert set(ACTIONS) == {a.value for a in StepAction}
        assert set(CHANNELS) <= {c.value for c in Channel}

    def test_definitions_module_is_pure(self) -> None:
        code = (
            "import sys, adimple.cadence.definitions as d; d.shipped_cadences(); "
            "assert not any(m.startswith(('sqlalchemy', 'fastapi')) for m in sys.modules)"
        )
        subprocess.run([sys.executable, "-c", code], check=True)


class TestHostileInput:
    def test_aliases_cannot_blow_up(self) -> None:
        # "billion laughs": 9 levels of 9 aliases would be 9**9 items if expanded
        levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
        for level in range(1, 10):
            refs = ", ".join([f"*a{level - 1}"] * 9)
            levels.append(f"a{level}: &a{level} [{refs}]")
        text = (
            "name: x\nsteps:\n"
            "  - {id: s, offset_days: 1, channels: *a9, segments: *a9, template: t}\n"
        )
        with pytest.raises(DefinitionError) as info:
            parse_cadence("\n".join(["defs:", *("  " + line for line in levels)]) + "\n" + text)
        assert len(str(info.value.detail)) < 400

    def test_long_values_are_shortened_in_messages(self) -> None:
        (error,) = errors_of(EXAMPLE.replace("action: task_call", "action: " + "z" * 500))
        assert "z" * 37 + "..." in error and "z" * 41 not in error


@pytest.mark.parametrize("word", ["on", "yes", "no", "null", "1", "0x1", "1e3", "007", "true"])
def test_yaml_lookalike_names_survive_the_round_trip(word: str) -> None:
    doc = CadenceDocument(
        name=word,
        description=word,
        steps=[
            StepDefinition(id=word, offset_days=1, channels=["email"], template=word),
            StepDefinition(id="s2", offset_days=2, action="task_call", segments=[word]),
        ],
    )
    again = parse_cadence(dump_cadence(doc))
    assert normalise_cadence(again) == normalise_cadence(doc)
