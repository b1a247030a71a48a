"""Standard Webhooks 1.0 signatures (https://www.standardwebhooks.com).

A secret is ``whsec_`` followed by the base64 of 24 to 64 random bytes (the
HMAC key). A delivery carries three headers:

``webhook-id``         the event id (the same on every attempt: receivers de-duplicate on it)
``webhook-timestamp``  seconds since the epoch when the attempt was signed
``webhook-signature``  ``v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`` (space-separated
                       list: more than one signature may be sent while a secret is rotated)
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigError, WebhookSignatureError

__all__ = ["SECRET_PREFIX", "TOLERANCE_S", "check_secret", "generate_secret", "headers", "sign", "verify"]

SECRET_PREFIX = "whsec_"
TOLERANCE_S = 300
"""How far a ``webhook-timestamp`` may be from the receiver's clock, in seconds (replay protection)."""


def generate_secret(*, nbytes: int = 32) -> str:
    """A new secret: ``whsec_`` + base64 of ``nbytes`` random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(nbytes)).decode()


def check_secret(secret: str, *, name: str = "secret") -> bytes:
    """The HMAC key of a ``whsec_`` secret.

    Raises
    ------
    ConfigError
        When it lacks the prefix, is not base64, or holds fewer than 24 or more than 64 bytes
        (the message never repeats the value).
    """
    if not isinstance(secret, str) or not secret.startswith(SECRET_PREFIX):
        raise ConfigError(f"The webhook {name} must start with {SECRET_PREFIX!r} followed by base64 (Standard "
                          f"Webhooks); leave it out to have one generated.")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX):], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ConfigError(f"The webhook {name} is not valid base64 after {SECRET_PREFIX!r}; leave it out to have "
                          "one generated.") from exc
    if not 24 <= len(key) <= 64:
        raise ConfigError(f"The webhook {name} holds {len(key)} bytes; Standard Webhooks secrets hold 24 to 64 "
                          "random bytes. Leave it out to have one generated.")
    return key


def sign(secret: str, *, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,<base64 signature>`` of ``body`` for this id and timestamp."""
    key = check_secret(secret)
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secret: str, *, msg_id: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The three Standard Webhooks headers of one attempt (``timestamp``: now by default)."""
    stamp = int(time.time()) if timestamp is None else int(timestamp)
    return {"webhook-id": msg_id, "webhook-timestamp": str(stamp),
            "webhook-signature": sign(secret, msg_id=msg_id, timestamp=stamp, body=body)}


def verify(payload: bytes | str, headers: Mapping[str, str], secret: str, *, tolerance_s: float = TOLERANCE_S,
           now: float | None = None) -> Any:
    """Check a received webhook and return its decoded JSON payload.

    Parameters
    ----------
    payload : bytes or str
        The request body exactly as received (a str is taken as its UTF-8 bytes).
    headers : Mapping[str, str]
        The request headers (any case): ``webhook-id``, ``webhook-timestamp``, ``webhook-signature``.
    secret : str
        The endpoint's ``whsec_`` secret.
    tolerance_s : float
        Largest accepted distance between ``webhook-timestamp`` and ``now``, in seconds.
    now : float, optional
        The receiver's clock (``time.time()``).

    Returns
    -------
    Any
        ``json.loads(payload)``: ``{"type": ..., "timestamp": ..., "data": {...}}``.

    Raises
    ------
    WebhookSignatureError
        Missing headers, a timestamp that is not a number or too far from ``now``, or no
        matching ``v1`` signature.
    ConfigError
        When ``secret`` is not a ``whsec_`` secret.
    """
    body = payload.encode() if isinstance(payload, str) else bytes(payload)
    lowered = {k.lower(): v for k, v in headers.items()}
    msg_id, stamp, signatures = (lowered.get(h) for h in ("webhook-id", "webhook-timestamp", "webhook-signature"))
    if not (msg_id and stamp and signatures):
        raise WebhookSignatureError("The request lacks webhook-id, webhook-timestamp or webhook-signature; it was "
                                    "not sent by a Standard Webhooks sender.")
    try:
        sent = int(stamp)
    except ValueError as exc:
        raise WebhookSignatureError(f"webhook-timestamp {stamp[:20]!r} is not a number of seconds.") from exc
    clock = time.time() if now is None else now
    if abs(clock - sent) > tolerance_s:
        raise WebhookSignatureError(f"webhook-timestamp is {clock - sent:+.0f} s away from this clock (more than "
                                    f"{tolerance_s:g} s): a replay, or a clock to set right.", webhook_id=msg_id)
    expected = sign(secret, msg_id=msg_id, timestamp=sent, body=body)
    if not any(hmac.compare_digest(expected, s) for s in signatures.split(" ") if s.startswith("v1,")):
        raise WebhookSignatureError("No webhook-signature matches this body and secret: check the secret, and pass "
                                    "the body exactly as received (not re-encoded JSON).", webhook_id=msg_id)
    try:
        return json.loads(body)
    except ValueError as exc:
        raise WebhookSignatureError("The signed body is not JSON.", webhook_id=msg_id) from exc
