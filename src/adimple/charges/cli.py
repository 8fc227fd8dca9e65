"""CLI for debt updates and offers: ``adimple debt quote``, ``adimple offers``, ``adimple indices``."""

from __future__ import annotations

import typer

debt_app = typer.Typer(help="Debt update (multa, juros, correção).", no_args_is_help=True)
indices_app = typer.Typer(help="Index series (IPCA, SELIC, taxa legal).", no_args_is_help=True)
