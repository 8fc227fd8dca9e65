"""CLI contracts (DESIGN §6): JSON on stdout and exit 0, one stderr line and exit 2 on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from adimple.charges.cli import register

runner = CliRunner()


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """adimple (test app)."""

    register(app)
    return app


APP = _app()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(APP, list(args))
    return result.exit_code, result.stdout, result.stderr


QUOTE_KEYS = [
    "principal",
    "effective_due_date",
    "days_late",
    "correction",
    "fine",
    "interest",
    "fees",
    "discount",
    "total",
]


class TestDebtQuote:
    def test_contract(self) -> None:
        code, out, _ = run(
            "debt",
            "quote",
            "--principal",
            "100",
            "--due-date",
            "2026-01-15",
            "--as-of",
            "2026-04-10",
        )
        assert code == 0
        data = json.loads(out)
        assert list(data) == QUOTE_KEYS
        assert data == {
            "principal": "100.00",
            "effective_due_date": "2026-01-15",
            "days_late": 85,
            "correction": "1.59",
            "fine": "2.03",
            "interest": "2.88",
            "fees": "0.00",
            "discount": "0.00",
            "total": "106.50",
        }

    def test_carnaval_due_date(self) -> None:
        code, out, _ = run(
            "debt",
            "quote",
            "--principal",
            "1.234,56",
            "--due-date",
            "2026-02-14",
            "--as-of",
            "2026-02-18",
        )
        assert code == 0
        data = json.loads(out)
        assert data["effective_due_date"] == "2026-02-18"
        assert data["days_late"] == 0 and data["total"] == "1234.56"

    def test_explanations_on_request(self) -> None:
        code, out, _ = run(
            "debt",
            "quote",
            "--principal",
            "100",
            "--due-date",
            "2026-02-14",
            "--as-of",
            "2026-02-19",
            "--explain",
        )
        assert code == 0
        texts = [e["text"] for e in json.loads(out)["explanations"]]
        assert "Multa de 2% (CDC art. 52 §1º) sobre R$\xa0100,00: R$\xa02,00." in texts

    def test_missing_index_month_exits_2(self) -> None:
        code, out, err = run(
            "debt",
            "quote",
            "--principal",
            "100",
            "--due-date",
            "2026-01-15",
            "--as-of",
            "2026-11-22",
        )
        assert code == 2 and out == ""
        assert "2026-10" in err and len(err.strip().splitlines()) == 1

    @pytest.mark.parametrize(
        ("args", "message"),
        [
            (["--principal", "abc", "--due-date", "2026-01-15"], "--principal"),
            (["--principal", "0", "--due-date", "2026-01-15"], "maior que zero"),
            (["--principal", "10", "--due-date", "2026-02-30"], "--due-date"),
            (["--principal", "10", "--due-date", "2026-01-15", "--as-of", "x"], "--as-of"),
            (
                ["--principal", "10", "--due-date", "2026-01-15", "--debtor-kind", "x"],
                "--debtor-kind",
            ),
        ],
    )
    def test_bad_input_exits_2(self, args: list[str], message: str) -> None:
        code, out, err = run("debt", "quote", *args)
        assert code == 2 and out == ""
        assert message in err and len(err.strip().splitlines()) == 1

    def test_policy_file_and_consumer_cap(self, tmp_path: Path) -> None:
        policy = tmp_path / "b2b.yaml"
        policy.write_text("business_only: true\nfine_percent: 10\ninterest: {mode: none}\n")
        base = [
            "debt",
            "quote",
            "--principal",
            "100",
            "--due-date",
            "2026-02-14",
            "--as-of",
            "2026-02-19",
            "--policy",
            str(policy),
        ]
        code, _, err = run(*base)
        assert code == 2 and "CDC art. 52 §1º" in err
        code, out, _ = run(*base, "--debtor-kind", "business")
        assert code == 0 and json.loads(out)["fine"] == "10.00"

    def test_json_policy_and_bad_policy(self, tmp_path: Path) -> None:
        good = tmp_path / "p.json"
        good.write_text('{"interest": {"mode": "none"}, "correction": {"index": "none"}}')
        code, out, _ = run(
            "debt",
            "quote",
            "--principal",
            "100",
            "--due-date",
            "2026-01-15",
            "--as-of",
            "2026-11-22",
            "--policy",
            str(good),
        )
        assert code == 0 and json.loads(out)["total"] == "102.00"
        bad = tmp_path / "bad.yaml"
        bad.write_text("fine_percent: -3\n")
        code, _, err = run(
            "debt", "quote", "--principal", "1", "--due-date", "2026-01-15", "--policy", str(bad)
        )
        assert code == 2 and "fine_percent" in err
        code, _, err = run(
            "debt",
            "quote",
            "--principal",
            "1",
            "--due-date",
            "2026-01-15",
            "--policy",
            str(tmp_path / "nope.yaml"),
        )
        assert code == 2 and "arquivo" in err

    def test_early_payoff(self) -> None:
        code, out, _ = run(
            "debt",
            "quote",
            "--principal",
            "100",
            "--due-date",
            "2026-12-10",
            "--as-of",
            "2026-11-10",
            "--contract-rate",
            "2",
        )
        assert code == 0
        data = json.loads(out)
        assert (data["discount"], data["total"]) == ("1.96", "98.04")


class TestOffers:
    def test_contract(self) -> None:
        code, out, _ = run(
            "offers",
            "--principal",
            "1000",
            "--due-date",
            "2026-03-10",
            "--as-of",
            "2026-04-15",
        )
        assert code == 0
        offers = json.loads(out)["offers"]
        assert offers[0]["id"] == "a-vista" and offers[0]["total"] == "1016.00"
        for offer in offers:
            assert list(offer) == [
                "id",
                "label",
                "installments",
                "down_payment",
                "installment_amounts",
                "due_dates",
                "interest_percent",
                "discount",
                "total",
            ]
            cents = sum(int(a.replace(".", "")) for a in offer["installment_amounts"])
            assert cents == int(offer["total"].replace(".", ""))

    def test_bad_input(self) -> None:
        code, _, err = run("offers", "--principal", "-5", "--due-date", "2026-03-10")
        assert code == 2 and err.strip()


class TestIndicesAndPolicyWithoutDatabase:
    def test_indices_show_series(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        monkeypatch.chdir(tmp_path)  # no ./adimple.db here: packaged data only, no file created
        code, out, _ = run("indices", "show", "--series", "TAXA_LEGAL", "--from", "2026-09")
        assert code == 0
        data = json.loads(out)
        assert [v["month"] for v in data["values"]] == ["2026-09", "2026-10"]
        assert data["values"][1]["percent"] == "0.379020"
        assert not (tmp_path / "adimple.db").exists()

    def test_indices_show_all(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        monkeypatch.chdir(tmp_path)
        code, out, _ = run("indices", "show")
        assert code == 0
        assert {s["series"] for s in json.loads(out)["series"]} == {
            "IPCA",
            "SELIC",
            "IPCA15",
            "TAXA_LEGAL",
        }

    def test_indices_show_bad_series(self) -> None:
        code, _, err = run("indices", "show", "--series", "IGPM")
        assert code == 2 and "IGPM" in err

    def test_policy_export_default_and_validate(self, tmp_path: Path) -> None:
        code, out, _ = run("policy", "export", "--format", "yaml")
        assert code == 0
        exported = tmp_path / "policy.yaml"
        exported.write_text(out)
        code, out, _ = run("policy", "validate", str(exported))
        assert code == 0 and json.loads(out)["valid"] is True
        code, out, _ = run("policy", "export")
        assert code == 0 and json.loads(out)["fine_percent"] == "2"

    def test_policy_validate_rejects_consumer_fine(self, tmp_path: Path) -> None:
        file = tmp_path / "p.yaml"
        file.write_text("fine_percent: 5\n")
        code, _, err = run("policy", "validate", str(file))
        assert code == 2 and "CDC art. 52 §1º" in err
