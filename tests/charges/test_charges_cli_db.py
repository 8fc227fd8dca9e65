"""CLI commands that use the database: indices import/show, policy import/export, quote --db."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from sqlalchemy import delete
from typer.testing import CliRunner

from adimple.charges.cli import register
from adimple.charges.models import IndexValue
from adimple.db.engine import make_engine, unit_of_work
from adimple.db.migrate import upgrade

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


@pytest.fixture
def cli_db(cli_database: str) -> Iterator[str]:
    """The CLI's database, migrated; index values it commits are removed afterwards (they are
    global rows, shared by every test on the same PostgreSQL database)."""
    engine = make_engine(cli_database)
    upgrade(engine)
    yield cli_database
    with engine.begin() as conn:
        conn.execute(delete(IndexValue))
    engine.dispose()


@pytest.fixture
def slug(cli_db: str) -> str:
    from adimple.tenancy.service import create_tenant

    name = f"cred-{uuid.uuid4().hex[:8]}"
    with unit_of_work() as session:
        create_tenant(
            session,
            slug=name,
            legal_name="Credor Teste Ltda",
            document="11.222.333/0001-81",
            address="Rua A, 1",
            city="São Paulo",
            uf="SP",
        )
    return name


QUOTE = ["debt", "quote", "--principal", "100", "--due-date", "2026-09-10", "--as-of", "2026-11-23"]


class TestIndicesWithDatabase:
    def test_import_then_show_and_quote(self, cli_db: str, tmp_path: Path) -> None:
        file = tmp_path / "ipca_2026_10.csv"
        file.write_text("month,percent,source\n2026-10,0.09,IBGE SIDRA 1737\n")
        code, _, err = run(*QUOTE, "--db")
        assert code == 2 and "2026-10" in err
        code, out, _ = run("indices", "import", str(file), "--series", "IPCA")
        assert code == 0, out
        assert json.loads(out) | {"file": ""} == {
            "series": "IPCA",
            "file": "",
            "months": 1,
            "inserted": 1,
            "updated": 0,
            "unchanged": 0,
            "differs_from_package": [],
            "first": "2015-01",
            "last": "2026-10",
        }
        code, out, _ = run("indices", "show", "--series", "IPCA", "--from", "2026-10")
        assert json.loads(out)["values"] == [
            {"month": "2026-10", "percent": "0.09", "source": "IBGE SIDRA 1737"}
        ]
        code, out, _ = run(*QUOTE, "--db")
        assert code == 0 and json.loads(out)["correction"] == "0.09"
        code, _, _ = run(*QUOTE)  # without --db the packaged data alone still lacks 2026-10
        assert code == 2

    def test_bad_file(self, cli_db: str, tmp_path: Path) -> None:
        file = tmp_path / "bad.csv"
        file.write_text("month,percent\n2026-10,zero\n")
        code, out, err = run("indices", "import", str(file), "--series", "IPCA")
        assert code == 2 and out == "" and "bad.csv:2" in err
        code, _, err = run("indices", "import", str(tmp_path / "nope.csv"), "--series", "IPCA")
        assert code == 2 and "arquivo" in err
        code, _, err = run("indices", "import", str(file))
        assert code == 2 and "--series" in err

    def test_series_from_the_file_name(self, cli_db: str, tmp_path: Path) -> None:
        file = tmp_path / "taxa_legal_monthly.csv"
        file.write_text("month,percent\n2026-11,0.401234\n")
        code, out, _ = run("indices", "import", str(file))
        assert code == 0 and json.loads(out)["series"] == "TAXA_LEGAL"


class TestPolicyWithDatabase:
    def test_import_and_export(self, slug: str, tmp_path: Path) -> None:
        file = tmp_path / "policy.yaml"
        file.write_text("grace_days: 4\ninterest: {mode: legal}\n")
        code, out, _ = run("policy", "import", str(file), "--tenant", slug)
        assert code == 0 and json.loads(out) == {"tenant": slug, "version": 1}
        code, out, _ = run("policy", "import", str(file), "--tenant", slug)
        assert json.loads(out)["version"] == 2
        code, out, _ = run("policy", "export", "--tenant", slug)
        assert code == 0
        exported = json.loads(out)
        assert exported["grace_days"] == 4 and exported["interest"] == {"mode": "legal"}

    def test_rejections(self, slug: str, tmp_path: Path) -> None:
        file = tmp_path / "policy.yaml"
        file.write_text("fine_percent: 3\n")
        code, _, err = run("policy", "import", str(file), "--tenant", slug)
        assert code == 2 and "CDC art. 52 §1º" in err
        code, _, err = run("policy", "export", "--tenant", "nao-existe")
        assert code == 2 and "nao-existe" in err
