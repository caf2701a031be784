"""Payloads shaped like PagerDuty's documented V3 webhooks, signed as PagerDuty signs them."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from typing import Any


def incident_event(
    *,
    event_type: str = "incident.triggered",
    incident_key: str | None = "steward:fraud-detector:drift-critical",
    service_id: str = "PFRAUD1",
    number: int = 1234,
    title: str = "fraud-detector: critical drift",
) -> dict[str, Any]:
    incident_id = "Q" + uuid.uuid4().hex[:13].upper()
    return {
        "event": {
            "id": str(uuid.uuid4()),
            "event_type": event_type,
            "resource_type": "incident",
            "occurred_at": "2026-11-25T21:00:00.000Z",
            "agent": {
                "html_url": "https://acme.pagerduty.com/users/PLH1HKV",
                "id": "PLH1HKV",
                "self": "https://api.pagerduty.com/users/PLH1HKV",
                "summary": "Tenex Engineer",
                "type": "user_reference",
            },
            "client": {"name": "PagerDuty"},
            "data": {
                "id": incident_id,
                "type": "incident",
                "self": f"https://api.pagerduty.com/incidents/{incident_id}",
                "html_url": f"https://acme.pagerduty.com/incidents/{incident_id}",
                "number": number,
                "status": "triggered",
                "incident_key": incident_key,
                "created_at": "2026-11-25T21:00:00Z",
                "title": title,
                "service": {
                    "html_url": f"https://acme.pagerduty.com/services/{service_id}",
                    "id": service_id,
                    "self": f"https://api.pagerduty.com/services/{service_id}",
                    "summary": "Fraud detector",
                    "type": "service_reference",
                },
                "assignees": [],
                "escalation_policy": {
                    "id": "PUS0KTE",
                    "summary": "Default",
                    "type": "escalation_policy_reference",
                },
                "teams": [],
                "priority": None,
                "urgency": "high",
                "conference_bridge": None,
                "resolve_reason": None,
            },
        }
    }


def body_of(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":")).encode()


def signature(body: bytes, *secrets: str) -> str:
    return ",".join("v1=" + hmac.new(s.encode(), body, hashlib.sha256).hexdigest() for s in secrets)


def headers(body: bytes, *secrets: str, webhook_id: str | None = None) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-PagerDuty-Signature": signature(body, *secrets),
        "X-Webhook-Id": webhook_id or str(uuid.uuid4()),
        "X-Webhook-Subscription": "PSUBSCR",
        "User-Agent": "PagerDuty-Webhook/V3.0",
    }
