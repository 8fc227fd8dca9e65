"""The `adimple` command line end to end, committing to SQLite and PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from adimple.cli import app

runner = CliRunner()

CUSTOMERS = "codigo_cliente;cpf_cnpj;nome;uf\nC1;529.982.247-25;Maria da Silva;SP\n"
RECEIVABLES = (
    "id_titulo;id_cliente;emissao;vencimento;valor\n"
    "T1;C1;01/01/2026;10/02/2026;100,00\n"
    "T2;C1;01/01/2026;10/03/2026;200,00\n"
)
BAD = (
    "id_titulo;id_cliente;emissao;vencimento;valor\n"
    "T3;C1;01/01/2026;10/02/2026;10,00\n"
    "T4;CX;01/01/2026;10/02/2026;10,00\n"
    "T5;C1;01/01/2026;10/02/2026;1,234\n"
)


@pytest.fixture
def slug(cli_database: str) -> str:
    slug = f"cli-{uuid.uuid4().hex[:8]}"
    result = runner.invoke(
        app,
        [
            "tenant", "create", "--slug", slug, "--legal-name", "Credor Teste Ltda",
            "--document", "11.222.333/0001-81", "--address", "Rua A, 1",
            "--city", "São Paulo", "--uf", "SP",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return slug


def imp(slug: str, kind: str, path: Path, *extra: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["import", kind, str(path), "--tenant", slug, "--json", *extra])


def counts(result) -> tuple[int, int, int, int]:  # type: ignore[no-untyped-def]
    data = json.loads(result.stdout)
    return data["inserted"], data["updated"], data["unchanged"], data["rejected"]


class TestImportCommand:
    def test_import_twice_changes_nothing(self, slug: str, tmp_path: Path) -> None:
        (tmp_path / "c.csv").write_text(CUSTOMERS, encoding="utf-8")
        (tmp_path / "r.csv").write_text(RECEIVABLES, encoding="utf-8")
        assert imp(slug, "customers", tmp_path / "c.csv").exit_code == 0
        first = imp(slug, "receivables", tmp_path / "r.csv")
        assert first.exit_code == 0, first.output
        assert counts(first) == (2, 0, 0, 0)
        assert "delimiter ';', decimal separator ','" in first.stderr
        assert counts(imp(slug, "receivables", tmp_path / "r.csv")) == (0, 0, 2, 0)
        (tmp_path / "r2.csv").write_text(RECEIVABLES.replace("200,00", "250,00"), "utf-8")
        assert counts(imp(slug, "receivables", tmp_path / "r2.csv")) == (0, 1, 1, 0)

    def test_all_or_nothing_exits_2_and_prints_every_error(self, slug: str, tmp_path: Path) -> None:
        (tmp_path / "c.csv").write_text(CUSTOMERS, encoding="utf-8")
        imp(slug, "customers", tmp_path / "c.csv")
        bad = tmp_path / "bad.csv"
        bad.write_text(BAD, encoding="utf-8")
        result = imp(slug, "receivables", bad)
        assert result.exit_code == 2
        assert f"{bad}:3: customer_external_id: customer 'CX' not found" in result.stderr
        assert f"{bad}:4: amount: must have at most 2 decimal places" in result.stderr
        # Nothing was written: the valid line 2 is not there either.
        (tmp_path / "ok.csv").write_text(BAD.splitlines()[0] + "\n" + BAD.splitlines()[1] + "\n")
        assert counts(imp(slug, "receivables", tmp_path / "ok.csv")) == (1, 0, 0, 0)

    def test_partial_and_dry_run(self, slug: str, tmp_path: Path) -> None:
        (tmp_path / "c.csv").write_text(CUSTOMERS, encoding="utf-8")
        imp(slug, "customers", tmp_path / "c.csv")
        bad = tmp_path / "bad.csv"
        bad.write_text(BAD, encoding="utf-8")
        dry = imp(slug, "receivables", bad, "--partial", "--dry-run")
        assert dry.exit_code == 0 and counts(dry) == (1, 0, 0, 2)
        result = imp(slug, "receivables", bad, "--partial")
        assert result.exit_code == 0 and counts(result) == (1, 0, 0, 2)
        rejects = (tmp_path / "bad.rejects.csv").read_text(encoding="utf-8").splitlines()
        assert len(rejects) == 3 and rejects[1].startswith("3;T4;CX")
        # The dry run wrote nothing, so the real run inserted T3; a rerun finds it unchanged.
        assert counts(imp(slug, "receivables", bad, "--partial"))[:3] == (0, 0, 1)

    def test_header_errors(self, slug: str, tmp_path: Path) -> None:
        path = tmp_path / "x.csv"
        path.write_text("id_titulo;valor\nT1;10\n", encoding="utf-8")
        result = imp(slug, "receivables", path)
        assert result.exit_code == 2
        assert f"{path}:1: header: missing column 'due_date'" in result.stderr

    def test_unknown_kind_and_missing_file(self, slug: str, tmp_path: Path) -> None:
        assert imp(slug, "boletos", tmp_path / "x.csv").exit_code == 2
        missing = imp(slug, "customers", tmp_path / "nope.csv")
        assert missing.exit_code == 2 and "file not found" in missing.stderr


def test_tenant_create_rejects_bad_cnpj(cli_database: str) -> None:
    result = runner.invoke(
        app,
        [
            "tenant", "create", "--slug", "x-bad", "--legal-name", "X", "--document",
            "11.222.333/0001-82", "--address", "Rua", "--city", "SP", "--uf", "SP",
        ],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "document: '11.222.333/0001-82' is not a valid CNPJ" in result.stderr


def test_demo_builds_and_summarises(cli_database: str, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["demo", "--customers", "40", "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert "Aging dos vencidos" in result.stdout
    assert "Loja Exemplo Comércio de Eletrodomésticos Ltda" in " ".join(result.stdout.split())
    assert "adimple serve" in result.stdout
    _demo_portal_link_works(result.stdout)
    again = runner.invoke(app, ["demo", "--customers", "40", "--seed", "3"])
    assert again.exit_code == 0
    assert (tmp_path / "var/demo/titulos.csv").exists()


def _demo_portal_link_works(output: str) -> None:
    """Issue 7's "done when": the demo prints a sent message's portal link and the data that
    confirms the debtor's identity, and they open the portal."""
    import re

    from fastapi.testclient import TestClient

    from adimple.web.app import create_app

    link = re.search(r"^  http://127\.0\.0\.1:8000(/portal/l/\S+)$", output, re.MULTILINE)
    login = re.search(r"CPF/CNPJ ([\d./-]+), nascimento (\d\d/\d\d/\d{4})", output)
    assert link and login, output
    with TestClient(create_app(), follow_redirects=False) as client:
        opened = client.get(link.group(1))
        assert opened.headers.get("location") == "/portal/entrar", (link.group(1), opened.text)
        form = client.get("/portal/entrar").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', form)
        assert csrf
        entered = client.post(
            "/portal/entrar",
            data={"documento": login.group(1), "nascimento": login.group(2), "csrf": csrf[1]},
        )
        assert entered.headers.get("location") == "/portal/dividas", entered.text
        debts = client.get("/portal/dividas")
        assert debts.status_code == 200, debts.text


def test_commands_check_the_schema_first(
    fresh_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On an empty database the embedded SQLite default migrates itself; PostgreSQL is never
    migrated behind the operator's back: the command stops and says what to run."""
    from adimple.db import engine as engine_module
    from adimple.db.migrate import HEAD_REVISION, current_revision
    from adimple.settings import get_settings

    monkeypatch.setenv("ADIMPLE_DATABASE_URL", fresh_engine.url.render_as_string(False))
    get_settings.cache_clear()
    engine_module.get_engine.cache_clear()
    try:
        result = runner.invoke(app, ["tenant", "list"])
        if fresh_engine.dialect.name == "sqlite":
            assert result.exit_code == 0, result.output
            assert current_revision(fresh_engine) == HEAD_REVISION
        else:
            assert result.exit_code != 0
            assert "adimple db upgrade" in result.output
            assert current_revision(fresh_engine) is None
    finally:
        engine_module.get_engine().dispose()
        get_settings.cache_clear()
        engine_module.get_engine.cache_clear()


def test_the_command_leaves_its_objects_out_of_the_final_collection() -> None:
    # The interpreter's final garbage collection cost `adimple run` a quarter of a second;
    # `main` freezes what is alive so that collection skips it (docs/benchmarks.md).
    code = (
        "import atexit, gc, sys; from adimple.cli import main; "
        "atexit.register(lambda: print('frozen', gc.get_freeze_count() > 0)); "
        "sys.argv = ['adimple', '--help']; main()"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("frozen True")
