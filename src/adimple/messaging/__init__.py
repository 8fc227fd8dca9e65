"""Messaging: the outbox the daily cycle fills, templates, the dispatcher and its channels."""
