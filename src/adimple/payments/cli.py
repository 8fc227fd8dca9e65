"""CLI for the payment codecs: ``adimple pix|boleto|cnab`` (contracts in DESIGN §6)."""

from __future__ import annotations

import typer

pix_app = typer.Typer(help="PIX BR Code: encode and decode payloads.", no_args_is_help=True)
boleto_app = typer.Typer(help="Boleto: barcode and linha digitável.", no_args_is_help=True)
cnab_app = typer.Typer(help="CNAB 240/400 return files.", no_args_is_help=True)
