"""Compliance guards every contact passes, at planning time and again at send time."""
