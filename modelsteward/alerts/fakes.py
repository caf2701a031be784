"""Loopback fakes of Slack's Web API and PagerDuty's Events API v2, for tests and benchmarks.

They speak the real wire format so the real clients (``slack_sdk.WebClient``, ``httpx``) can
be driven against them, and they check what the real services check:

- :class:`FakeSlack`: ``POST /api/chat.postMessage`` with a JSON or form body and a bearer
  token. Answers ``{"ok": true, "channel", "ts"}`` or HTTP 200 ``{"ok": false, "error"}``
  (``not_authed``, ``invalid_auth``, ``token_revoked``, ``channel_not_found``, ``no_text``,
  ``invalid_blocks``, ``msg_too_long``, ``thread_not_found`` for a reply to an unknown or
  deleted message). Optionally enforces a per-channel rate (HTTP 429 with
  ``Retry-After``, like Slack's ``chat.postMessage`` limit of about one message per second
  per channel). Faults are scripted with :meth:`FakeSlack.fail_next` (429, 500, 502, 503 ...)
  and outages with :meth:`stop` / :meth:`start` (same port).
- :class:`FakePagerDuty`: ``POST /v2/enqueue``. Validates as documented (``routing_key`` a
  32-character string, ``event_action`` trigger/acknowledge/resolve, ``dedup_key`` at most 255
  characters, for a trigger ``payload.summary`` (≤1024), ``payload.source`` and
  ``payload.severity`` (critical, error, warning, info)); answers 202
  ``{"status": "success", "message": "Event processed", "dedup_key"}`` or 400
  ``{"status": "invalid event", "message": "Event object is invalid", "errors": [...]}``;
  keeps incidents by ``dedup_key``.

Every server binds 127.0.0.1 on a free port and logs each request with its arrival time
(``clock``, default :func:`time.monotonic`; tests pass their fake clock).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

__all__ = ["FakePagerDuty", "FakeSlack", "Fault", "Request"]


@dataclass
class Fault:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Request:
    """One request as the server saw it."""

    path: str
    body: dict[str, Any]
    arrived: float
    status: int
    answer: dict[str, Any] | str | None = None

    @property
    def channel(self) -> str | None:
        return self.body.get("channel")


class _Server:
    """A ThreadingHTTPServer on loopback that can go down and come back on the same port."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.requests: list[Request] = []
        self._faults: list[Fault] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # lifecycle
    def start(self) -> _Server:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                status, body, headers = owner._handle(self.path, dict(self.headers), raw)
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                content_type = "application/json" if not isinstance(body, bytes) else "text/html"
                self.send_header("Content-Type", f"{content_type}; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # scripting
    def fail_next(
        self,
        status: int,
        *,
        times: int = 1,
        body: Any = None,
        retry_after: float | None = None,
    ) -> None:
        """The next ``times`` requests get ``status`` (with ``Retry-After`` if given)."""
        headers = {} if retry_after is None else {"Retry-After": f"{retry_after:g}"}
        with self._lock:
            self._faults.extend(Fault(status, body, headers) for _ in range(times))

    def _next_fault(self) -> Fault | None:
        with self._lock:
            return self._faults.pop(0) if self._faults else None

    def _log(self, path: str, body: dict[str, Any], status: int, answer: Any) -> None:
        with self._lock:
            self.requests.append(Request(path, body, self.clock(), status, answer))

    def _handle(
        self, path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, Any, dict[str, str]]:
        raise NotImplementedError


def _parse(headers: dict[str, str], raw: bytes) -> dict[str, Any]:
    kind = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
    if kind.startswith("application/json"):
        try:
            data = json.loads(raw or b"{}")
        except ValueError:
            return {"__invalid__": True}
        return data if isinstance(data, dict) else {"__invalid__": True}
    form = parse_qs(raw.decode("utf-8", "replace"))
    body: dict[str, Any] = {k: v[-1] for k, v in form.items()}
    for name in ("blocks", "attachments"):
        if isinstance(body.get(name), str):
            try:
                body[name] = json.loads(body[name])
            except ValueError:
                body[name] = {"__invalid__": True}
    return body


def _blocks_problem(blocks: Any) -> str | None:
    if not isinstance(blocks, list) or len(blocks) > 50:
        return "blocks must be a list of at most 50"
    for block in blocks:
        if not isinstance(block, dict) or "type" not in block:
            return "each block needs a type"
        text = block.get("text")
        if block["type"] == "header" and (
            not text or text.get("type") != "plain_text" or len(text.get("text", "")) > 150
        ):
            return "header needs plain_text of at most 150 characters"
        if block["type"] == "section":
            if text is not None and len(text.get("text", "")) > 3000:
                return "section text is longer than 3000"
            fields = block.get("fields") or []
            if len(fields) > 10 or any(len(f.get("text", "")) > 2000 for f in fields):
                return "at most 10 fields of at most 2000 characters"
            if text is None and not fields:
                return "a section needs text or fields"
    return None


class FakeSlack(_Server):
    """Slack's Web API, enough of it for ``chat.postMessage``."""

    def __init__(
        self,
        *,
        tokens: tuple[str, ...] = ("xoxb-test-token",),
        revoked: tuple[str, ...] = (),
        channels: tuple[str, ...] = (),
        rate_limit_seconds: float | None = None,
        retry_after: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        super().__init__(clock)
        self.tokens = set(tokens)
        self.revoked = set(revoked)
        self.channels = {
            name: "C" + uuid.uuid5(uuid.NAMESPACE_DNS, name).hex[:9].upper() for name in channels
        }
        self.rate_limit_seconds = rate_limit_seconds
        self.retry_after = retry_after
        self._last_post: dict[str, float] = {}
        self._messages: set[tuple[str, str]] = set()
        self._ts = 1_700_000_000.0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def add_channel(self, name: str) -> str:
        self.channels[name] = "C" + uuid.uuid5(uuid.NAMESPACE_DNS, name).hex[:9].upper()
        return self.channels[name]

    def delete_message(self, channel_id: str, ts: str) -> None:
        """As if someone deleted a message: replies to it now get ``thread_not_found``."""
        with self._lock:
            self._messages.discard((channel_id, ts))

    @property
    def posted(self) -> list[Request]:
        """Messages Slack accepted (``ok: true``)."""
        return [
            r
            for r in self.requests
            if r.status == 200 and isinstance(r.answer, dict) and r.answer.get("ok")
        ]

    def _channel_id(self, channel: str) -> str | None:
        if channel in self.channels:
            return self.channels[channel]
        if channel in self.channels.values():
            return channel
        return None

    def _handle(
        self, path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, Any, dict[str, str]]:
        body = _parse(headers, raw)
        fault = self._next_fault()
        if fault is not None:
            answer = (
                fault.body
                if fault.body is not None
                else (
                    {"ok": False, "error": "ratelimited"}
                    if fault.status == 429
                    else b"<html><body>upstream error</body></html>"
                )
            )
            self._log(path, body, fault.status, answer if isinstance(answer, dict) else None)
            return fault.status, answer, fault.headers
        status, answer, extra = self._answer(path, headers, body)
        self._log(path, body, status, answer)
        return status, answer, extra

    def _answer(
        self, path: str, headers: dict[str, str], body: dict[str, Any]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        if not path.startswith("/api/"):
            return 404, {"ok": False, "error": "unknown_method"}, {}
        method = path.removeprefix("/api/").split("?")[0]
        auth = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
        token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else None
        if not token:
            return 200, {"ok": False, "error": "not_authed"}, {}
        if token in self.revoked:
            return 200, {"ok": False, "error": "token_revoked"}, {}
        if token not in self.tokens:
            return 200, {"ok": False, "error": "invalid_auth"}, {}
        if method != "chat.postMessage":
            return 200, {"ok": False, "error": "unknown_method"}, {}
        if body.get("__invalid__"):
            return 200, {"ok": False, "error": "invalid_json"}, {}
        channel_id = self._channel_id(str(body.get("channel") or ""))
        if channel_id is None:
            return 200, {"ok": False, "error": "channel_not_found"}, {}
        text, blocks = body.get("text"), body.get("blocks")
        if not text and not blocks:
            return 200, {"ok": False, "error": "no_text"}, {}
        if text and len(text) > 40_000:
            return 200, {"ok": False, "error": "msg_too_long"}, {}
        if blocks is not None:
            problem = _blocks_problem(blocks)
            if problem:
                return 200, {"ok": False, "error": "invalid_blocks", "errors": [problem]}, {}
        thread_ts = body.get("thread_ts")
        if thread_ts and (channel_id, str(thread_ts)) not in self._messages:
            return 200, {"ok": False, "error": "thread_not_found"}, {}
        now = self.clock()
        with self._lock:
            last = self._last_post.get(channel_id)
            if (
                self.rate_limit_seconds is not None
                and last is not None
                and now - last < self.rate_limit_seconds
            ):
                return (
                    429,
                    {"ok": False, "error": "ratelimited"},
                    {"Retry-After": f"{self.retry_after:g}"},
                )
            self._last_post[channel_id] = now
            self._ts += 1
            ts = f"{self._ts:.6f}"
            self._messages.add((channel_id, ts))
        return 200, {"ok": True, "channel": channel_id, "ts": ts, "message": {"text": text}}, {}


_PD_ACTIONS = ("trigger", "acknowledge", "resolve")
_PD_SEVERITIES = ("critical", "error", "warning", "info")


class FakePagerDuty(_Server):
    """PagerDuty's Events API v2 (``/v2/enqueue``)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(clock)
        self.incidents: dict[str, str] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v2/enqueue"

    @property
    def accepted(self) -> list[Request]:
        return [r for r in self.requests if r.status == 202]

    def _handle(
        self, path: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, Any, dict[str, str]]:
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            body = None
        fault = self._next_fault()
        logged = body if isinstance(body, dict) else {}
        if fault is not None:
            answer = (
                fault.body
                if fault.body is not None
                else (
                    {
                        "status": "throttle event",
                        "message": "Requests for this service are "
                        "arriving too quickly. Please retry later.",
                    }
                    if fault.status == 429
                    else {"status": "error", "message": "internal error"}
                )
            )
            self._log(path, logged, fault.status, answer)
            return fault.status, answer, fault.headers
        if path.split("?")[0] != "/v2/enqueue":
            self._log(path, logged, 404, None)
            return 404, {"status": "not found"}, {}
        errors = self._validate(body)
        if errors:
            answer = {
                "status": "invalid event",
                "message": "Event object is invalid",
                "errors": errors,
            }
            self._log(path, logged, 400, answer)
            return 400, answer, {}
        if not isinstance(body, dict):  # _validate refused it already; for the type checker
            return 400, {"status": "invalid event"}, {}
        dedup = body.get("dedup_key") or uuid.uuid4().hex
        action = body["event_action"]
        with self._lock:
            if action == "trigger":
                self.incidents[dedup] = "triggered"
            elif dedup in self.incidents:
                self.incidents[dedup] = "resolved" if action == "resolve" else "acknowledged"
        answer = {"status": "success", "message": "Event processed", "dedup_key": dedup}
        self._log(path, logged, 202, answer)
        return 202, answer, {}

    @staticmethod
    def _validate(body: Any) -> list[str]:
        if not isinstance(body, dict):
            return ["Event object must be a JSON object"]
        errors: list[str] = []
        key = body.get("routing_key")
        if not isinstance(key, str) or len(key) != 32:
            errors.append("'routing_key' must be a 32 character string")
        action = body.get("event_action")
        if action not in _PD_ACTIONS:
            errors.append("'event_action' must be one of trigger, acknowledge, resolve")
        dedup = body.get("dedup_key")
        if dedup is not None and (not isinstance(dedup, str) or len(dedup) > 255):
            errors.append("'dedup_key' must be a string of at most 255 characters")
        if action in ("acknowledge", "resolve") and not dedup:
            errors.append("'dedup_key' is required for acknowledge and resolve events")
        if action == "trigger":
            payload = body.get("payload")
            if not isinstance(payload, dict):
                errors.append("'payload' is missing or not an object")
            else:
                summary = payload.get("summary")
                if not isinstance(summary, str) or not summary:
                    errors.append("'payload.summary' is missing or blank")
                elif len(summary) > 1024:
                    errors.append("'payload.summary' must be at most 1024 characters")
                if not isinstance(payload.get("source"), str) or not payload.get("source"):
                    errors.append("'payload.source' is missing or blank")
                if payload.get("severity") not in _PD_SEVERITIES:
                    errors.append(
                        "'payload.severity' must be one of critical, error, warning, info"
                    )
        return errors
