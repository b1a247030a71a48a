"""Standard Webhooks signatures: ours against the reference ``standardwebhooks`` package, both ways."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from soundforge.errors import ConfigError, WebhookSignatureError
from soundforge.events.signing import check_secret, generate_secret, headers, sign
from soundforge.events.types import Event
from soundforge.webhooks import verify

BODY = Event(event_id="evt_1", type="track.analyzed", data={"track_id": "t1", "tempo_bpm": 120.5, "name": "Café"},
             created_at="2026-05-01T12:00:00.000001+00:00").body()


def test_our_signature_verifies_with_the_reference_package() -> None:
    secret = generate_secret()
    sent = headers(secret, msg_id="evt_1", body=BODY)
    payload = Webhook(secret).verify(BODY, sent)
    assert payload == {"type": "track.analyzed", "timestamp": "2026-05-01T12:00:00.000001Z",
                       "data": {"track_id": "t1", "tempo_bpm": 120.5, "name": "Café"}}


def test_reference_signature_verifies_with_ours() -> None:
    secret = generate_secret(nbytes=24)
    stamp = int(time.time())
    signature = Webhook(secret).sign("evt_9", datetime.fromtimestamp(stamp, UTC), BODY)
    assert signature == sign(secret, msg_id="evt_9", timestamp=stamp, body=BODY)
    got = verify(BODY, {"Webhook-Id": "evt_9", "Webhook-Timestamp": str(stamp),
                        "Webhook-Signature": f"v1,bm90IGl0 {signature}"}, secret)  # rotation: several signatures
    assert got["data"]["track_id"] == "t1"


def test_verify_refuses_tampering_replays_and_missing_headers() -> None:
    secret = generate_secret()
    sent = headers(secret, msg_id="evt_1", body=BODY)
    with pytest.raises(WebhookSignatureError, match="No webhook-signature matches"):
        verify(BODY.replace(b"120.5", b"99.0"), sent, secret)
    with pytest.raises(WebhookSignatureError, match="No webhook-signature matches"):
        verify(BODY, sent, generate_secret())
    old = headers(secret, msg_id="evt_1", body=BODY, timestamp=int(time.time()) - 3600)
    with pytest.raises(WebhookSignatureError, match="away from this clock"):
        verify(BODY, old, secret)
    with pytest.raises(WebhookVerificationError):  # the reference agrees
        Webhook(secret).verify(BODY, old)
    with pytest.raises(WebhookSignatureError, match="lacks webhook-id"):
        verify(BODY, {"webhook-id": "evt_1"}, secret)
    assert json.loads(BODY)["type"] == "track.analyzed"


def test_secrets_are_checked_without_echoing_them() -> None:
    assert len(check_secret(generate_secret())) == 32
    with pytest.raises(ConfigError, match="must start with 'whsec_'") as info:
        check_secret("hunter2-hunter2-hunter2")
    assert "hunter2" not in str(info.value)
    with pytest.raises(ConfigError, match="holds 3 bytes"):
        check_secret("whsec_YWJj")
    with pytest.raises(ConfigError, match="not valid base64"):
        check_secret("whsec_!!!not-base64!!!")
