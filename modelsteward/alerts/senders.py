"""The two outside systems: Slack's Web API and PagerDuty's Events API v2.

Each sender makes exactly one HTTP request per call and classifies the outcome into a
:class:`SendResult`; it never retries and never sleeps. Retrying, backoff and pacing belong to
the dispatcher, which keeps them durable in the outbox. So the Slack client is built with
``retry_handlers=[]`` (slack-sdk would otherwise retry refused connections itself, and its
rate-limit handler sleeps in-process, invisible to the outbox).

Classification (what the dispatcher does with it):

- Slack: ``ok`` → delivered. HTTP 429 → wait ``Retry-After`` seconds, then retry (the attempt
  does not count). HTTP 5xx (500, 502, 503, 504 alike), ``internal_error``/``fatal_error``/
  ``service_unavailable``/``request_timeout``, refused connections and timeouts (``URLError``,
  ``OSError``) → transient, backoff. Token and channel errors (``invalid_auth``,
  ``token_revoked``, ``channel_not_found``, ``not_in_channel``, ...) and payload errors
  (``invalid_blocks``, ``msg_too_long``) → permanent: retrying cannot fix them.
- PagerDuty: 202 → delivered. 400 → permanent (bad payload: reported, not retried). 429 →
  wait (``Retry-After`` when given, else 2 s) and retry, not counted as an attempt. 5xx,
  timeouts, refused connections → transient. Other 4xx → permanent.
"""

from __future__ import annotations

import http.client
import logging
from dataclasses import dataclass
from typing import Any

import httpx

__all__ = ["PagerDutySender", "SendResult", "SlackSender"]

log = logging.getLogger(__name__)

_SLACK_PERMANENT = {
    "invalid_auth": "the Slack token is invalid; check STEWARD_SLACK_BOT_TOKEN",
    "not_authed": "no Slack token was sent; set STEWARD_SLACK_BOT_TOKEN",
    "token_revoked": "the Slack token was revoked; issue a new bot token",
    "token_expired": "the Slack token expired; issue a new bot token",
    "account_inactive": "the Slack bot or workspace is deactivated; issue a new bot token",
    "not_allowed_token_type": "use a bot token (xoxb-...) in STEWARD_SLACK_BOT_TOKEN",
    "missing_scope": "the Slack app needs the chat:write scope",
    "no_permission": "the Slack app may not post there; check its scopes",
    "channel_not_found": "no such Slack channel or user; fix the role's slack in the policy",
    "not_in_channel": "invite the bot to the channel (/invite @your-bot)",
    "is_archived": "the channel is archived; fix the role's slack in the policy",
    "restricted_action": "the workspace forbids the bot from posting in this channel",
    "invalid_blocks": "Slack rejected the Block Kit payload (a bug: please report it)",
    "invalid_blocks_format": "Slack rejected the Block Kit payload (a bug: please report it)",
    "msg_too_long": "the message is too long for Slack (a bug: please report it)",
    "no_text": "the message has no text (a bug: please report it)",
    "invalid_arguments": "Slack rejected the request arguments (a bug: please report it)",
}
_PD_THROTTLE_SECONDS = 2.0  # PagerDuty's 429 carries no Retry-After; wait this long first
_SLACK_THREAD_GONE = {"thread_not_found", "invalid_thread_ts"}
_SLACK_TRANSIENT = {"internal_error", "fatal_error", "service_unavailable", "request_timeout"}


@dataclass(frozen=True)
class SendResult:
    """The outcome of one request."""

    ok: bool
    ref: str | None = None
    channel_id: str | None = None
    error: str | None = None
    permanent: bool = False
    retry_after: float | None = None
    thread_gone: bool = False

    @property
    def transient(self) -> bool:
        return not self.ok and not self.permanent


def _retry_after(headers: Any, default: float = 1.0) -> float:
    for name in ("Retry-After", "retry-after"):
        value = headers.get(name) if headers is not None else None
        if isinstance(value, list):
            value = value[0] if value else None
        if value is not None:
            try:
                return max(0.0, float(value))
            except ValueError:
                return default
    return default


class SlackSender:
    """``chat.postMessage`` through the real :class:`slack_sdk.WebClient`."""

    def __init__(self, token: str, *, base_url: str, timeout: float = 10.0):
        from slack_sdk import WebClient

        if not base_url.endswith("/"):
            base_url += "/"
        self.base_url = base_url
        self.client = WebClient(token=token, base_url=base_url, timeout=int(timeout) or 1)
        self.client.retry_handlers = []  # the outbox retries, durably (see module docstring)

    def post(
        self,
        *,
        channel: str,
        text: str,
        blocks: list[dict[str, Any]] | None = None,
        thread_ts: str | None = None,
        reply_broadcast: bool = False,
    ) -> SendResult:
        from slack_sdk.errors import SlackApiError, SlackRequestError

        where = f"slack chat.postMessage to {channel!r}"
        try:
            response = self.client.chat_postMessage(
                channel=channel,
                text=text,
                blocks=blocks,
                thread_ts=thread_ts,
                reply_broadcast=True if thread_ts and reply_broadcast else None,
            )
        except SlackApiError as err:
            status = err.response.status_code
            data = err.response.data if isinstance(err.response.data, dict) else {}
            code = str(data.get("error") or f"HTTP {status}")
            if status == 429 or code == "ratelimited":
                wait = _retry_after(err.response.headers)
                return SendResult(
                    ok=False,
                    error=f"{where}: rate limited (HTTP 429), retry after {wait:g}s",
                    retry_after=wait,
                )
            if code in _SLACK_THREAD_GONE and thread_ts:
                return SendResult(
                    ok=False,
                    thread_gone=True,
                    error=f"{where}: {code}: the thread {thread_ts} is gone; posting anew",
                )
            if status >= 500 or code in _SLACK_TRANSIENT:
                return SendResult(ok=False, error=f"{where}: {code} (HTTP {status})")
            if code in _SLACK_PERMANENT:
                hint = _SLACK_PERMANENT[code]
                if code == "channel_not_found" and channel.startswith("@"):
                    hint = "Slack needs a user ID (U0123ABCD), not an @name; fix the policy"
                return SendResult(
                    ok=False, permanent=True, error=f"{where}: {code} (HTTP {status}); {hint}"
                )
            return SendResult(ok=False, error=f"{where}: unexpected error {code} (HTTP {status})")
        except SlackRequestError as err:
            return SendResult(
                ok=False,
                permanent=True,
                error=f"{where}: bad request ({err}); check STEWARD_SLACK_API_URL",
            )
        except (OSError, http.client.HTTPException) as err:  # URLError, timeouts, resets
            reason = getattr(err, "reason", None) or err
            return SendResult(ok=False, error=f"{where}: cannot reach {self.base_url} ({reason})")
        return SendResult(
            ok=True, ref=str(response.get("ts")), channel_id=str(response.get("channel") or channel)
        )


class PagerDutySender:
    """Events API v2 over :mod:`httpx`."""

    def __init__(self, url: str, *, timeout: float = 10.0, client: httpx.Client | None = None):
        self.url = url
        self._client = client or httpx.Client(timeout=timeout)

    def close(self) -> None:
        self._client.close()

    def send(self, event: dict[str, Any]) -> SendResult:
        action = event.get("event_action")
        where = f"pagerduty {action} {event.get('dedup_key')!r}"
        try:
            response = self._client.post(self.url, json=event)
        except httpx.HTTPError as err:
            return SendResult(ok=False, error=f"{where}: cannot reach {self.url} ({err!r})")
        try:
            body = response.json()
        except ValueError:
            body = {"message": response.text[:200]}
        if not isinstance(body, dict):
            body = {"message": str(body)[:200]}
        status = response.status_code
        if status == 202:
            return SendResult(ok=True, ref=str(body.get("dedup_key") or event.get("dedup_key")))
        detail = "; ".join(str(e) for e in body.get("errors", [])) or body.get("message", "")
        if status == 400:
            return SendResult(
                ok=False,
                permanent=True,
                error=f"{where}: PagerDuty refused the event as invalid (HTTP 400: {detail}); "
                "not retried; check roles.operator.pagerduty.routing_key_env and its key",
            )
        if status == 429:
            return SendResult(
                ok=False,
                error=f"{where}: rate limited (HTTP 429)",
                retry_after=_retry_after(response.headers, default=_PD_THROTTLE_SECONDS),
            )
        if status >= 500:
            return SendResult(ok=False, error=f"{where}: PagerDuty error HTTP {status} {detail}")
        return SendResult(
            ok=False, permanent=True, error=f"{where}: unexpected HTTP {status} {detail}"
        )
