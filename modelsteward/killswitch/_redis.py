"""Redis backend: a fleet of serving machines learns of a kill at once.

Keys (all under a prefix, default ``steward:killswitch:``): ``state:<model>`` a hash per model,
``models`` the set of model names, ``revision`` the global counter, and the pub/sub channel
``changes``. One Lua script bumps the revision, writes the hash and publishes the new revision,
atomically. Watchers block on the channel (push, under a millisecond on loopback) and read the
revision at least once per timeout (the polling fallback when a push is lost).

Durability is the server's: run Redis with ``appendonly yes`` and ``appendfsync always`` for a
change to survive a crash of the Redis host once ``set_state`` returns.

redis-py 8 closes a client's connection pool when the client object is garbage-collected, so
the store keeps its client and the pub/sub object made from it for its whole life.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis

from modelsteward.errors import ExternalServiceError
from modelsteward.killswitch._base import (
    KillSwitchStore,
    SwitchState,
    _check_change,
    utcnow,
    validate_model_name,
)

__all__ = ["DEFAULT_PREFIX", "RedisStore"]

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "steward:killswitch:"

_SET_STATE = """
local rev = redis.call('INCR', KEYS[1])
redis.call('HSET', KEYS[2], 'model', ARGV[1], 'active', ARGV[2], 'version', ARGV[3],
           'actor', ARGV[4], 'role', ARGV[5], 'reason', ARGV[6], 'changed_at', ARGV[7],
           'revision', rev)
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('PUBLISH', ARGV[8], rev .. '|' .. ARGV[9])
return rev
"""


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = f"{parts.username or ''}:***@{parts.hostname}"
        if parts.port:
            netloc += f":{parts.port}"
        parts = parts._replace(netloc=netloc)
    return urlunsplit(parts)


def _split_prefix(url: str) -> tuple[str, str | None]:
    """Take our own ``prefix`` query parameter off the URL (redis-py does not know it)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefix = next((value for key, value in query if key == "prefix"), None)
    rest = [(key, value) for key, value in query if key != "prefix"]
    return urlunsplit(parts._replace(query=urlencode(rest))), prefix


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _decode(raw: Any) -> SwitchState:
    data: dict[str, Any] = {_text(k): _text(v) for k, v in raw.items()}
    data["active"] = data["active"] == "1"
    return SwitchState.from_dict(data)


def _parse_push(data: bytes | str) -> tuple[int, SwitchState | None]:
    """``b"<revision>|<state json>"`` (or a bare revision) -> (revision, state)."""
    text = _text(data)
    revision_text, _, payload = text.partition("|")
    revision = int(revision_text)
    if not payload:
        return revision, None
    fields = json.loads(payload)
    fields["revision"] = revision
    return revision, SwitchState.from_dict(fields)


class RedisStore(KillSwitchStore):
    """Kill-switch store in Redis (``redis://HOST:PORT/DB[?prefix=...]``)."""

    supports_push = True

    def __init__(self, url: str, *, prefix: str | None = None):
        url, url_prefix = _split_prefix(url)
        self.prefix = prefix or url_prefix or DEFAULT_PREFIX
        self.url = _redact(url)
        self._revision_key = f"{self.prefix}revision"
        self._models_key = f"{self.prefix}models"
        self.channel = f"{self.prefix}changes"
        self._lock = threading.Lock()
        self._pubsub: Any = None
        try:
            # Kept for the store's whole life (see the module docstring).
            self._client = redis.Redis.from_url(
                url, socket_timeout=5, socket_connect_timeout=3, health_check_interval=30
            )
            self._script = self._client.register_script(_SET_STATE)
        except (redis.RedisError, ValueError) as err:
            raise ExternalServiceError(
                f"kill-switch store {self.url}: cannot connect ({err}); check "
                "STEWARD_KILLSWITCH_URL"
            ) from err

    def _state_key(self, model: str) -> str:
        return f"{self.prefix}state:{model}"

    def _fail(self, what: str, err: Exception) -> ExternalServiceError:
        return ExternalServiceError(
            f"kill-switch store {self.url}: {what} failed ({err}); is Redis reachable?"
        )

    def set_state(
        self,
        model: str,
        *,
        active: bool,
        actor: str,
        role: str,
        reason: str,
        version: str | None = None,
    ) -> SwitchState:
        _check_change(model, actor, role, reason, version)
        changed_at = utcnow()
        try:
            revision = int(
                self._script(
                    keys=[self._revision_key, self._state_key(model), self._models_key],
                    args=[
                        model,
                        "1" if active else "0",
                        version or "",
                        actor,
                        role,
                        reason,
                        changed_at.isoformat(),
                        self.channel,
                        # the pushed change itself: watchers apply it with no round trip
                        json.dumps(
                            {
                                "model": model,
                                "active": active,
                                "version": version,
                                "actor": actor,
                                "role": role,
                                "reason": reason,
                                "changed_at": changed_at.isoformat(),
                            },
                            separators=(",", ":"),
                        ),
                    ],
                )
            )
        except redis.RedisError as err:
            raise self._fail(f"set_state({model!r})", err) from err
        log.info(
            "event=killswitch_set model=%s active=%s revision=%d actor=%s role=%s",
            model,
            active,
            revision,
            actor,
            role,
        )
        return SwitchState(
            model=model,
            active=active,
            version=version,
            actor=actor,
            role=role,
            reason=reason,
            changed_at=changed_at,
            revision=revision,
        )

    def get_state(self, model: str) -> SwitchState | None:
        validate_model_name(model)
        try:
            raw = self._client.hgetall(self._state_key(model))
        except redis.RedisError as err:
            raise self._fail(f"get_state({model!r})", err) from err
        return _decode(raw) if raw else None

    def all_states(self) -> dict[str, SwitchState]:
        try:
            models = sorted(_text(m) for m in self._client.smembers(self._models_key))
            pipe = self._client.pipeline(transaction=False)
            for model in models:
                pipe.hgetall(self._state_key(model))
            rows = pipe.execute()
        except redis.RedisError as err:
            raise self._fail("all_states()", err) from err
        return {model: _decode(raw) for model, raw in zip(models, rows, strict=True) if raw}

    def revision(self) -> int:
        try:
            value = self._client.get(self._revision_key)
        except redis.RedisError as err:
            raise self._fail("revision()", err) from err
        return int(value or 0)

    def _subscribed(self) -> Any:
        with self._lock:
            if self._pubsub is None:
                pubsub = self._client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(self.channel)
                self._pubsub = pubsub
            return self._pubsub

    def _drop_pubsub(self) -> None:
        with self._lock:
            pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            try:
                pubsub.close()
            except redis.RedisError:  # pragma: no cover - best effort
                log.debug("event=pubsub_close_failed url=%s", self.url)

    def wait_for_change(self, known_revision: int, timeout_seconds: float) -> int:
        return self.wait_for_changes(known_revision, timeout_seconds)[0]

    def wait_for_changes(
        self, known_revision: int, timeout_seconds: float
    ) -> tuple[int, dict[str, SwitchState] | None]:
        try:
            pubsub = self._subscribed()  # subscribe first: no change slips in between
            current = self.revision()
            if current != known_revision:
                return current, None
            deadline = time.monotonic() + timeout_seconds
            while (remaining := deadline - time.monotonic()) > 0:
                message = pubsub.get_message(timeout=remaining)
                if not message or message.get("type") != "message":
                    continue
                pushed, state = _parse_push(message["data"])
                if pushed <= known_revision:
                    continue  # an old change, already applied
                if pushed == known_revision + 1 and state is not None:
                    return pushed, {state.model: state}  # exactly the next change
                return max(pushed, self.revision()), None  # a gap: reload everything
            current = self.revision()
        except (redis.RedisError, ValueError, KeyError) as err:
            self._drop_pubsub()
            raise self._fail("wait_for_change", err) from err
        return current, ({} if current == known_revision else None)

    def claim_once(self, key: str, *, ttl_seconds: float = 7 * 86400) -> bool:
        try:
            done = self._client.set(
                f"{self.prefix}claim:{key}", b"1", nx=True, px=max(1, int(ttl_seconds * 1000))
            )
        except redis.RedisError as err:
            raise self._fail("claim_once", err) from err
        return bool(done)

    def release(self, key: str) -> None:
        try:
            self._client.delete(f"{self.prefix}claim:{key}")
        except redis.RedisError as err:
            raise self._fail("release", err) from err

    def close(self) -> None:
        self._drop_pubsub()
        try:
            self._client.close()
        except redis.RedisError:  # pragma: no cover - best effort
            log.debug("event=redis_close_failed url=%s", self.url)
