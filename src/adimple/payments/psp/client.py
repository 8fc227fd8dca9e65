"""httpx client for the subset of the BCB API Pix that collections need.

- OAuth 2.0 ``client_credentials`` at the PSP's token endpoint (HTTP Basic with the client id
  and secret, as the API Pix security scheme asks); the token is cached until shortly before
  ``expires_in`` runs out.
- ``PUT /v2/cobv/{txid}`` create, ``GET`` read, ``PATCH`` revise or cancel
  (``status: REMOVIDA_PELO_USUARIO_RECEBEDOR``), ``PUT /v2/webhook/{chave}`` register the
  webhook (the PSP then POSTs to ``webhookUrl + "/pix"``).
- Optional mutual TLS (``cert_path``/``key_path``): the BCB requires mTLS between the receiver
  and its PSP in production.
- Timeouts on every call; 429 and 5xx answers and transport errors are retried with exponential
  backoff (``Retry-After`` honoured); every other error raises :class:`PspError` with the HTTP
  status and the PSP's problem details (``type``, ``title``, ``detail``, ``violacoes``).

The calls that change state are idempotent by construction: a cobv is addressed by our txid, so
repeating a ``PUT`` (after a lost response, or on a second request for the same charge) finds the
existing charge and either returns it unchanged or revises it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from adimple.payments.psp.cobv import COBV_TXID, CobvRequest, same_charge

CANCELLED_BY_RECEIVER = "REMOVIDA_PELO_USUARIO_RECEBEDOR"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class PspError(Exception):
    """A call to the PSP that failed: HTTP ``status`` (None for a transport error) and the
    PSP's problem-details body when it sent one."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        problem: dict[str, Any] | None = None,
        method: str = "",
        path: str = "",
        charge_status: str | None = None,
    ) -> None:
        self.status = status
        self.charge_status = charge_status  # set when the txid exists but is not ATIVA
        self.problem = problem or {}
        self.method = method
        self.path = path
        super().__init__(message)

    @property
    def violations(self) -> list[dict[str, Any]]:
        found = self.problem.get("violacoes")
        return found if isinstance(found, list) else []

    @classmethod
    def from_response(cls, response: httpx.Response) -> PspError:
        problem: dict[str, Any] = {}
        try:
            data = response.json()
            if isinstance(data, dict):
                problem = data
        except ValueError:
            pass
        request = response.request
        parts = [f"PSP answered {response.status_code} to {request.method} {request.url.path}"]
        title = problem.get("title") or response.reason_phrase
        if title:
            parts.append(str(title))
        if problem.get("detail"):
            parts.append(str(problem["detail"]))
        for violation in problem.get("violacoes") or []:
            if isinstance(violation, dict):
                parts.append(f"{violation.get('propriedade', '?')}: {violation.get('razao', '')}")
        return cls(
            " — ".join(parts),
            status=response.status_code,
            problem=problem,
            method=request.method,
            path=request.url.path,
        )


@dataclass(frozen=True)
class PspConfig:
    base_url: str
    client_id: str
    client_secret: str
    cert_path: str | None = None
    key_path: str | None = None
    token_path: str = "/oauth/token"
    scope: str = "cobv.write cobv.read webhook.write webhook.read"
    timeout_seconds: float = 10.0
    max_attempts: int = 4
    backoff_seconds: float = 0.25
    max_backoff_seconds: float = 5.0


class PixClient:
    """One PSP account. Thread-safe token cache; use as a context manager or call close()."""

    def __init__(self, config: PspConfig, *, transport: httpx.BaseTransport | None = None) -> None:
        self.config = config
        cert: str | tuple[str, str] | None = None
        if config.cert_path:
            cert = (config.cert_path, config.key_path) if config.key_path else config.cert_path
        self._http = httpx.Client(
            base_url=config.base_url.rstrip("/"),
            timeout=httpx.Timeout(config.timeout_seconds),
            cert=cert,
            transport=transport,
            headers={"Accept": "application/json"},
        )
        self._token: str | None = None
        self._token_expires = 0.0
        self._lock = threading.Lock()

    def __enter__(self) -> PixClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # --- OAuth2 -------------------------------------------------------------------------------

    def token(self) -> str:
        """A bearer token, fetched once and reused until 30 s before it expires."""
        with self._lock:
            if self._token is not None and time.monotonic() < self._token_expires:
                return self._token
            response = self._send(
                "POST",
                self.config.token_path,
                data={"grant_type": "client_credentials", "scope": self.config.scope},
                auth=(self.config.client_id, self.config.client_secret),
                authorize=False,
            )
            data = self._json(response)
            token = data.get("access_token")
            if not isinstance(token, str) or not token:
                raise PspError(
                    "PSP token endpoint answered without an access_token",
                    status=response.status_code,
                    method="POST",
                    path=self.config.token_path,
                )
            lifetime = float(data.get("expires_in") or 300)
            self._token = token
            self._token_expires = time.monotonic() + max(0.0, lifetime - 30)
            return token

    # --- cobv ---------------------------------------------------------------------------------

    def put_cobv(self, txid: str, request: CobvRequest | dict[str, Any]) -> dict[str, Any]:
        """Creates the cobv ``txid``; if the PSP already has it, returns it when it matches and
        revises it (``PATCH``) otherwise — so calling this twice is harmless."""
        _check_txid(txid)
        body = request.as_json() if isinstance(request, CobvRequest) else request
        path = f"/v2/cobv/{txid}"
        try:
            return self._json(self._call("PUT", path, json=body))
        except PspError as exc:
            if exc.status not in (400, 409):
                raise
            try:
                existing = self.get_cobv(txid)
            except PspError:
                raise exc from None
            status = existing.get("status")
            if status not in (None, "ATIVA"):
                # A paid or removed charge cannot be revised: the caller needs another txid
                # (removed) or has a payment on its way (paid).
                raise PspError(
                    f"cobv {txid} already exists with status {status}",
                    status=exc.status,
                    problem=exc.problem,
                    method="PUT",
                    path=path,
                    charge_status=str(status),
                ) from None
            if same_charge(body, existing):
                return existing
            return self.patch_cobv(txid, body)

    def get_cobv(self, txid: str) -> dict[str, Any]:
        _check_txid(txid)
        return self._json(self._call("GET", f"/v2/cobv/{txid}"))

    def patch_cobv(self, txid: str, changes: CobvRequest | dict[str, Any]) -> dict[str, Any]:
        """Revises a cobv (new due date or amount keeps the same txid: ``revisao`` + 1)."""
        _check_txid(txid)
        body = changes.as_json() if isinstance(changes, CobvRequest) else changes
        return self._json(self._call("PATCH", f"/v2/cobv/{txid}", json=body))

    def cancel_cobv(self, txid: str) -> dict[str, Any]:
        """Cancels a cobv so it can no longer be paid (a repeated cancel is harmless)."""
        try:
            return self.patch_cobv(txid, {"status": CANCELLED_BY_RECEIVER})
        except PspError as exc:
            if exc.status not in (400, 409):
                raise
            existing = self.get_cobv(txid)
            if existing.get("status") == CANCELLED_BY_RECEIVER:
                return existing
            raise

    # --- webhook ------------------------------------------------------------------------------

    def put_webhook(self, key: str, webhook_url: str) -> None:
        """Registers ``webhook_url`` for the Pix key; the PSP POSTs to ``webhook_url + /pix``."""
        self._call("PUT", f"/v2/webhook/{quote(key, safe='')}", json={"webhookUrl": webhook_url})

    def get_webhook(self, key: str) -> dict[str, Any]:
        return self._json(self._call("GET", f"/v2/webhook/{quote(key, safe='')}"))

    # --- transport ----------------------------------------------------------------------------

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self._send(method, path, **kwargs)
        if response.status_code == 401:
            # The PSP may revoke a token before its expiry: fetch a new one once.
            with self._lock:
                self._token = None
            response = self._send(method, path, **kwargs)
        if response.status_code >= 400:
            raise PspError.from_response(response)
        return response

    def _send(
        self, method: str, path: str, *, authorize: bool = True, **kwargs: Any
    ) -> httpx.Response:
        attempts = max(1, self.config.max_attempts)
        for attempt in range(1, attempts + 1):
            headers = {"Authorization": f"Bearer {self.token()}"} if authorize else {}
            try:
                response = self._http.request(method, path, headers=headers, **kwargs)
            except httpx.TransportError as exc:
                if attempt == attempts:
                    raise PspError(
                        f"PSP unreachable on {method} {path}: {exc.__class__.__name__}: {exc}",
                        method=method,
                        path=path,
                    ) from exc
                time.sleep(self._delay(attempt, None))
                continue
            if response.status_code in RETRY_STATUSES and attempt < attempts:
                time.sleep(self._delay(attempt, response.headers.get("Retry-After")))
                continue
            if not authorize and response.status_code >= 400:
                raise PspError.from_response(response)
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        if retry_after is not None:
            try:
                return min(float(retry_after), self.config.max_backoff_seconds)
            except ValueError:
                pass
        delay = self.config.backoff_seconds * 2 ** (attempt - 1)
        return min(delay, self.config.max_backoff_seconds)

    @staticmethod
    def _json(response: httpx.Response) -> dict[str, Any]:
        try:
            data = response.json()
        except ValueError:
            raise PspError(
                f"PSP answered {response.status_code} with a body that is not JSON",
                status=response.status_code,
                method=response.request.method,
                path=response.request.url.path,
            ) from None
        if not isinstance(data, dict):
            raise PspError(
                "PSP answered with JSON that is not an object",
                status=response.status_code,
                method=response.request.method,
                path=response.request.url.path,
            )
        return data


def _check_txid(txid: str) -> None:
    if not COBV_TXID.match(txid):
        raise PspError(f"txid of a cobv must be 26 to 35 letters or digits, got {txid!r}")
