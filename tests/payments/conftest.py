"""Fixtures for the payment codec tests (pure code: no database).

``run_cli`` invokes the ``pix``/``boleto``/``cnab`` sub-apps exactly as ``adimple`` will mount
them (through :func:`adimple.payments.cli.register`), and returns exit code, stdout and stderr.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from adimple.payments.cli import register

VECTORS = Path(__file__).resolve().parent.parent / "data" / "vectors"


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    def assert_invalid(self) -> None:
        """The DESIGN §6 contract for invalid input: exit 2, one line on stderr, no stdout."""
        assert self.exit_code == 2, (self.exit_code, self.stdout, self.stderr)
        assert self.stdout == ""
        lines = self.stderr.splitlines()
        assert len(lines) == 1 and lines[0].strip(), self.stderr


@pytest.fixture(scope="session")
def vectors() -> Path:
    return VECTORS


@pytest.fixture(scope="session")
def run_cli() -> Callable[..., CliResult]:
    app = typer.Typer()
    register(app)

    @app.callback()
    def _root() -> None:  # keeps sub-commands as sub-commands with one group only
        pass

    runner = CliRunner()

    def run(*args: str) -> CliResult:
        result = runner.invoke(app, list(args))
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return CliResult(result.exit_code, result.stdout, result.stderr)

    return run
