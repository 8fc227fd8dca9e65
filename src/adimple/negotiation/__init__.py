"""Negotiation (negociação): agreements built from the ready-made offers (DESIGN §4.4)."""
