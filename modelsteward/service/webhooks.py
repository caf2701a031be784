"""PagerDuty Webhooks V3: signature verification and mapping an incident to a model.

PagerDuty signs the raw request body with HMAC-SHA256 under each subscription's secret and
sends ``X-PagerDuty-Signature: v1=<hex>[,v1=<hex>...]`` (several during a secret rotation).
:func:`verify_signature` accepts the body when any signature matches any configured secret,
comparing in constant time. :func:`parse_event` reads the V3 envelope
``{"event": {"id", "event_type", "resource_type", "occurred_at", "agent", "data": {...}}}`` and
:func:`model_for` maps an incident to a model: its incident key (dedup key)
``steward:<model>:...``, or the PagerDuty service id named in a policy.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelsteward.policy import Policy

__all__ = [
    "MalformedWebhookError",
    "WebhookEvent",
    "model_for",
    "parse_event",
    "service_map",
    "sign",
    "verify_signature",
]

#: More signatures than this in one header are not looked at (no CPU amplification).
MAX_SIGNATURES = 8
_KEY = re.compile(r"^steward:([a-z0-9][a-z0-9._-]{0,62})(?::|$)")
TRIGGERED = "incident.triggered"


class MalformedWebhookError(ValueError):
    """The body is not a PagerDuty V3 webhook event (HTTP 400)."""


def sign(body: bytes, secret: str | bytes) -> str:
    """The ``X-PagerDuty-Signature`` value PagerDuty would send for ``body``."""
    key = secret.encode() if isinstance(secret, str) else secret
    return "v1=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, header: str | None, secrets: Sequence[bytes]) -> bool:
    """True when one ``v1=`` signature in ``header`` is the HMAC of ``body`` under a secret."""
    if not header or not secrets:
        return False
    candidates = [
        part.strip()[3:].strip().lower().encode("latin-1", "replace")
        for part in header.split(",", MAX_SIGNATURES)[:MAX_SIGNATURES]
        if part.strip().startswith("v1=")
    ]
    if not candidates:
        return False
    matched = False
    for secret in secrets:
        expected = hmac.new(secret, body, hashlib.sha256).hexdigest().encode()
        for candidate in candidates:
            # every pair is compared, so the time does not tell which one matched
            matched |= hmac.compare_digest(expected, candidate)
    return matched


@dataclass(frozen=True)
class WebhookEvent:
    """The fields of a V3 webhook event Model Steward uses."""

    id: str
    event_type: str
    resource_type: str | None
    incident_id: str | None
    incident_number: int | None
    title: str | None
    incident_key: str | None
    service_id: str | None
    agent: str | None
    html_url: str | None
    occurred_at: str | None

    @property
    def is_trigger(self) -> bool:
        return self.event_type == TRIGGERED


_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def _text(value: Any, limit: int = 200) -> str | None:
    """A printable, bounded string of a scalar JSON value (it ends up in the audit ledger)."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str | int | float):
        text = _CONTROL.sub(" ", str(value)).strip()[:limit]
        return text or None
    return None


def parse_event(body: bytes) -> WebhookEvent:
    """Read a V3 webhook body; :class:`MalformedWebhookError` says what is wrong."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as err:
        raise MalformedWebhookError(f"body is not JSON ({err.__class__.__name__})") from err
    if not isinstance(document, dict) or not isinstance(document.get("event"), dict):
        raise MalformedWebhookError('expected a JSON object with an "event" object (Webhooks V3)')
    event: dict[str, Any] = document["event"]
    event_type = event.get("event_type")
    if not isinstance(event_type, str) or not event_type:
        raise MalformedWebhookError("event.event_type is missing or not a string")
    data = event.get("data")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise MalformedWebhookError("event.data is not an object")
    service = data.get("service")
    agent = event.get("agent")
    number = data.get("number")
    return WebhookEvent(
        id=_text(event.get("id")) or "",
        event_type=event_type[:100],
        resource_type=_text(event.get("resource_type")),
        incident_id=_text(data.get("id")),
        incident_number=number
        if isinstance(number, int) and not isinstance(number, bool)
        else None,
        title=_text(data.get("title")),
        incident_key=_text(data.get("incident_key")) or _text(data.get("dedup_key")),
        service_id=_text(service.get("id")) if isinstance(service, dict) else None,
        agent=(
            _text(agent.get("summary")) or _text(agent.get("id"))
            if isinstance(agent, dict)
            else None
        ),
        html_url=_text(data.get("html_url")),
        occurred_at=_text(event.get("occurred_at")),
    )


def service_map(policies: Iterable[Policy]) -> dict[str, str]:
    """PagerDuty service id -> model, from every role's ``pagerduty.service_id``.

    The Operator's service wins when two roles name different models' services.
    """
    mapping: dict[str, str] = {}
    for policy in policies:
        for role in ("guardian", "owner", "operator"):
            pagerduty = policy.contact(role).pagerduty
            if pagerduty is not None and pagerduty.service_id:
                mapping[pagerduty.service_id] = policy.model
    return mapping


def model_for(event: WebhookEvent, services: Mapping[str, str]) -> str | None:
    """The model an incident is about, or ``None`` when nothing maps it."""
    if event.incident_key:
        match = _KEY.match(event.incident_key)
        if match:
            return match.group(1)
    if event.service_id:
        return services.get(event.service_id)
    return None
