"""Sandbox channel: stores the rendered message instead of sending it (demo, development).

Every channel a tenant has not configured goes here. Each message becomes one JSON file,
``{ADIMPLE_SANDBOX_DIR or var/sandbox}/<tenant>/<sha256 of the idempotency key>.json``, so
sending the same key twice stores it once; :func:`list_sandbox_messages` reads them back
(newest first) for the demo and the API (``GET /api/v1/sandbox/messages``).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from adimple.messaging.channels.base import OutgoingMessage, SendResult


def sandbox_root() -> Path:
    return Path(os.environ.get("ADIMPLE_SANDBOX_DIR", "var/sandbox"))


def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:32]


class SandboxAdapter:
    name = "sandbox"

    def __init__(self, *, tenant: str, directory: Path | str | None = None) -> None:
        self.directory = Path(directory) if directory else sandbox_root() / tenant

    def send(self, message: OutgoingMessage) -> SendResult:
        digest = _key_hash(message.idempotency_key)
        path = self.directory / f"{digest}.json"
        result = SendResult(self.name, f"sandbox-{digest[:16]}")
        if path.exists():
            return result
        self.directory.mkdir(parents=True, exist_ok=True)
        record: dict[str, Any] = {
            "stored_at": datetime.now(UTC).isoformat(),
            "provider_message_id": result.provider_message_id,
            "idempotency_key": message.idempotency_key,
            "channel": message.channel.value,
            "to": message.to,
            "subject": message.subject,
            "text": message.text,
            "html": message.html,
            "template": message.template,
            "template_params": list(message.template_params),
            "attachments": [[name, mime, len(data)] for name, mime, data in message.attachments],
            "headers": dict(message.headers),
            "metadata": dict(message.metadata),
        }
        # Write then rename: a reader never sees half a file, two writers end with one.
        handle, temp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(record, out, ensure_ascii=False, indent=1)
        os.replace(temp, path)
        return result


def list_sandbox_messages(
    tenant: str, *, limit: int = 50, directory: Path | str | None = None
) -> list[dict[str, Any]]:
    """The tenant's stored sandbox messages, newest first."""
    folder = Path(directory) if directory else sandbox_root() / tenant
    if not folder.is_dir():
        return []
    records = []
    for path in folder.glob("*.json"):
        try:
            records.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
    records.sort(key=lambda r: r.get("stored_at", ""), reverse=True)
    return records[:limit]
