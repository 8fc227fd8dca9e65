"""Régua de cobrança: cadences, segments, collection cases and the daily planner."""
