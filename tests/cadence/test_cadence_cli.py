"""`adimple cadence …` and `adimple segment …` contracts: JSON on stdout, or one stderr line
and exit 2 (both databases)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from adimple.cadence.cli import register
from adimple.cadence.definitions import DEFAULT_CADENCE_NAMES
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

CADENCE = """\
name: padrao
steps:
  - {id: lembrete_d3, offset_days: -3, channels: [email, whatsapp], template: lembrete_vencimento}
  - {id: aviso_d1, offset_days: 1, channels: [email, sms], template: aviso_atraso}
  - {id: ligacao_d10, offset_days: 10, action: task_call}
  - {id: carta_d30, offset_days: 30, channels: [letter], template: carta_cobranca}
  - {id: aviso_bureau_d45, offset_days: 45, action: bureau_notice}
"""


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(APP, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def slug(cli_database: str) -> str:
    from adimple.tenancy.service import create_tenant

    upgrade(make_engine(cli_database))
    name = f"cad-{uuid.uuid4().hex[:8]}"
    with unit_of_work() as session:
        create_tenant(
            session,
            slug=name,
            legal_name="Credor Régua Ltda",
            document="11.222.333/0001-81",
            address="Rua A, 1",
            city="São Paulo",
            uf="SP",
        )
    return name


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


class TestCadenceCli:
    def test_import_export_reimport(self, slug: str, tmp_path: Path) -> None:
        file = write(tmp_path, "padrao.yaml", CADENCE)
        code, out, err = run("cadence", "import", str(file), "--tenant", slug)
        assert code == 0, err
        assert json.loads(out) == {"name": "padrao", "version": 1, "created": True}
        code, out, _ = run("cadence", "import", str(file), "--tenant", slug)
        assert json.loads(out) == {"name": "padrao", "version": 1, "created": False}

        code, exported, _ = run("cadence", "export", "padrao", "--tenant", slug)
        assert code == 0 and exported.startswith("name: padrao\nsteps:\n")
        again = write(tmp_path, "export.yaml", exported)
        code, out, _ = run("cadence", "import", str(again), "--tenant", slug)
        assert json.loads(out)["created"] is False

        changed = write(tmp_path, "v2.yaml", CADENCE.replace("offset_days: 10", "offset_days: 8"))
        code, out, _ = run("cadence", "import", str(changed), "--tenant", slug)
        assert json.loads(out) == {"name": "padrao", "version": 2, "created": True}
        code, old, _ = run("cadence", "export", "padrao", "--version", "1", "--tenant", slug)
        assert code == 0 and "offset_days: 10" in old

        code, out, _ = run("cadence", "list", "--tenant", slug)
        (row,) = json.loads(out)
        assert row["name"] == "padrao" and row["current_version"] == 2 and row["versions"] == 2

    def test_invalid_file_is_one_stderr_line_and_exit_2(self, slug: str, tmp_path: Path) -> None:
        file = write(tmp_path, "padrao.yaml", CADENCE.replace("task_call", "call"))
        code, out, err = run("cadence", "import", str(file), "--tenant", slug)
        assert code == 2 and out == ""
        assert err.count("\n") == 1
        assert err.startswith(
            "padrao.yaml: steps[2] (ligacao_d10): action: unknown action 'call'; expected one of"
        )

    @pytest.mark.parametrize(
        "args",
        [
            ("cadence", "export", "nenhuma"),
            ("cadence", "export", "padrao", "--version", "7"),
            ("cadence", "list", "--tenant", "nao-existe"),
        ],
    )
    def test_not_found_is_exit_2(self, slug: str, args: tuple[str, ...]) -> None:
        code, _, err = run(*args, *(("--tenant", slug) if "--tenant" not in args else ()))
        assert code == 2 and err.count("\n") == 1

    def test_missing_file_is_exit_2(self, slug: str, tmp_path: Path) -> None:
        code, _, err = run("cadence", "import", str(tmp_path / "x.yaml"), "--tenant", slug)
        assert code == 2 and "x.yaml" in err

    def test_install_defaults_then_segments(self, slug: str, tmp_path: Path) -> None:
        code, out, err = run("cadence", "install-defaults", "--tenant", slug)
        assert code == 0, err
        assert sorted(json.loads(out)["cadences"]) == sorted(DEFAULT_CADENCE_NAMES)
        code, out, _ = run("cadence", "install-defaults", "--tenant", slug)
        assert json.loads(out) == {"cadences": [], "segments": False}

        code, out, _ = run("segment", "list", "--tenant", slug)
        rows = json.loads(out)
        assert rows[0]["kind"] == "preventive" and rows[-1]["kind"] == "always"
        code, exported, _ = run("segment", "export", "--tenant", slug)
        assert code == 0 and exported.startswith("segments:\n")
        file = write(tmp_path, "segments.yaml", exported)
        code, out, _ = run("segment", "import", str(file), "--tenant", slug)
        assert json.loads(out) == {"segments": len(rows), "changed": False}

        fewer = "\n".join(line for line in exported.splitlines() if "kind: never_paid" not in line)
        file = write(tmp_path, "fewer.yaml", fewer + "\n")
        code, out, _ = run("segment", "import", str(file), "--tenant", slug)
        assert json.loads(out) == {"segments": len(rows) - 1, "changed": True}

    def test_segments_with_unknown_cadence(self, slug: str, tmp_path: Path) -> None:
        file = write(
            tmp_path,
            "segments.yaml",
            "segments:\n"
            "  - {code: p, name: P, priority: 1, kind: preventive, cadence: preventiva}\n"
            "  - {code: s, name: S, priority: 2, kind: always, cadence: padrao}\n",
        )
        code, _, err = run("segment", "import", str(file), "--tenant", slug)
        assert code == 2 and err.count("\n") == 1
        assert err.startswith(
            "segments.yaml: segments[0] (p): cadence: cadence 'preventiva' does not exist"
        )
        assert "(+1 more)" in err


def test_registered_on_the_main_app() -> None:
    from adimple.cli import app

    for group in ("cadence", "segment"):
        result = runner.invoke(app, [group, "--help"])
        assert result.exit_code == 0 and "import" in result.stdout
