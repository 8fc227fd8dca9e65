"""Helpers for the command-line contracts (DESIGN §6).

Every contract command prints JSON on stdout and exits 0, or prints one line to stderr and
exits 2 on invalid input.
"""

from __future__ import annotations

import json
import sys
from typing import Any, NoReturn

import typer

INVALID_INPUT_EXIT = 2


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def die(message: str, code: int = INVALID_INPUT_EXIT) -> NoReturn:
    """One line on stderr, then exit ``code`` (2 = invalid input)."""
    sys.stderr.write(" ".join(str(message).split()) + "\n")
    raise typer.Exit(code)
