"""Webhook delivery: a JSON POST signed with HMAC-SHA256 of the raw body.

The receiver recomputes ``hmac.new(secret, body, sha256).hexdigest()`` over the bytes it received
and compares it with ``X-DDMS-Signature: sha256=<hex>`` (docs/alarms-channels.md has the example).
Any 2xx answer is a delivery; anything else (another status, a redirect, a timeout, a refused
connection) is a failure the caller retries. Error texts never carry the secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import httpx

from ddms import __version__

SIGNATURE_HEADER = "X-DDMS-Signature"
EVENT_HEADER = "X-DDMS-Event"


class DeliveryFailed(Exception):
    """One attempt did not get through; ``str(error)`` says why, for the channel's ``last_error``."""


def encode(event: dict[str, Any]) -> bytes:
    """The exact bytes that are sent and signed (compact JSON, UTF-8)."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def signature(secret: str, body: bytes) -> str:
    """The header value: ``sha256=`` and the hex HMAC-SHA256 of ``body`` keyed with ``secret``."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def describe(exc: Exception) -> str:
    """A short reason for a failed attempt (the exception's class and message, bounded)."""
    text = str(exc).strip()
    reason = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return reason[:300]


async def post(client: httpx.AsyncClient, url: str, secret: str, event: dict[str, Any]) -> None:
    """POST ``event`` to ``url``; raises ``DeliveryFailed`` unless the receiver answers 2xx."""
    body = encode(event)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"DDMS/{__version__}",
        SIGNATURE_HEADER: signature(secret, body),
        EVENT_HEADER: str(event.get("event", "")),
    }
    try:
        response = await client.post(url, content=body, headers=headers)
    except httpx.TimeoutException:
        raise DeliveryFailed("timed out waiting for the webhook receiver") from None
    except httpx.HTTPError as exc:
        raise DeliveryFailed(describe(exc)) from None
    if not 200 <= response.status_code < 300:
        raise DeliveryFailed(f"webhook answered HTTP {response.status_code}")
