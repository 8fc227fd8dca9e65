"""The portal's Jinja2 environment (pages and the carta de quitação share its pt-BR filters)."""

from __future__ import annotations

from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from adimple.kit.i18n import brl, percent, short_date, short_datetime

HERE = Path(str(resources.files("adimple.web.portal")))


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
        # Templates ship with the package: no stat() of every template file on every render.
        auto_reload=False,
    )
    env.filters["brl"] = lambda v: brl(Decimal(v))
    env.filters["data"] = short_date
    env.filters["datahora"] = short_datetime
    env.filters["pct"] = lambda v: percent(Decimal(v))
    return env


TEMPLATES = _environment()


def render_text(template: str, **ctx: Any) -> str:
    return TEMPLATES.get_template(template).render(**ctx)
