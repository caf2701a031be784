"""Enqueue alerts durably, deliver them paced, threaded, coalesced, retried and audited.

:meth:`AlertDispatcher.enqueue` routes an alert by its policy and writes one outbox row per
delivery before anything is sent. :meth:`AlertDispatcher.deliver_pending` sends what is due:

- Slack: at most one message per ``min_interval_seconds`` per channel, measured from the
  *response* of one message to the *request* of the next, so the server never sees two
  arrivals closer than that. Everything due for one channel at once is coalesced: a single
  alert is one message, several are one digest (at most 50 lines). The first message of an
  incident in a channel starts a thread; later ones for the same incident reply in it.
- PagerDuty: one event per row (``dedup_key`` = the incident key), trigger or resolve.
- No Slack token, no routing key in the environment, or an e-mail target (no mail transport
  yet): "outbox-only" — one line on the console and one JSON object appended to
  ``alerts.jsonl`` next to the outbox, and the row counts as delivered.

Transient failures go back to pending with exponential backoff (``backoff_base_seconds``
doubled per attempt, at most ``backoff_max_seconds``), to be retried by a later call, in this
process or another; 429 waits what ``Retry-After`` says and is retried within the call when
``wait_seconds`` allows. After ``max_attempts`` or on a permanent error a row is a final
failure: written to ``alerts.jsonl`` and the console so it is not lost, and audited. Every
delivery and final failure is appended to the audit ledger when one is given; rows whose
audit append failed are retried on the next call (``audited`` flag).

Only one process delivers at a time (an ``flock`` on ``deliver.lock``), so pacing holds
across concurrent flow runs.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Protocol

from modelsteward.alerts.model import Alert, incident_key
from modelsteward.alerts.outbox import NewEntry, Outbox, OutboxEntry
from modelsteward.alerts.render import MAX_DIGEST, alert_message, digest_message, plain_line
from modelsteward.alerts.routing import Routing, route
from modelsteward.alerts.senders import PagerDutySender, SendResult, SlackSender
from modelsteward.errors import ExternalServiceError
from modelsteward.policy import Policy

__all__ = ["AlertDispatcher", "DeliveryReport", "LedgerLike"]

log = logging.getLogger(__name__)

ACTOR = "model-steward/alerts"
_AUTO: Any = object()
_PD_SEVERITY = {"critical": "critical", "warning": "warning", "info": "info"}


class LedgerLike(Protocol):
    """What the dispatcher needs of :class:`modelsteward.audit.Ledger`."""

    def append(
        self,
        *,
        action: Any,
        actor: str,
        role: str,
        model: str | None = None,
        version: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> Any: ...


@dataclass
class DeliveryReport:
    """What one :meth:`AlertDispatcher.deliver_pending` call did (entry ids)."""

    delivered: list[str] = field(default_factory=list)
    outbox_only: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    retrying: list[str] = field(default_factory=list)
    slack_messages: int = 0
    pagerduty_events: int = 0
    rate_limited: int = 0
    still_pending: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.retrying and self.still_pending == 0

    def summary(self) -> dict[str, Any]:
        return {
            "delivered": len(self.delivered),
            "outbox_only": len(self.outbox_only),
            "failed": len(self.failed),
            "retrying": len(self.retrying),
            "still_pending": self.still_pending,
            "slack_messages": self.slack_messages,
            "pagerduty_events": self.pagerduty_events,
            "rate_limited": self.rate_limited,
            "seconds": round(self.seconds, 3),
            "errors": self.errors[:20],
        }


def _digest(*parts: object) -> str:
    raw = json.dumps([str(p) for p in parts], separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


class AlertDispatcher:
    """Routes, stores and delivers alerts. See the module docstring for the guarantees."""

    def __init__(
        self,
        outbox: Outbox,
        *,
        slack: SlackSender | None = None,
        pagerduty: PagerDutySender | None = None,
        ledger: LedgerLike | None = None,
        jsonl_path: Path | None = None,
        console: IO[str] | None = None,
        env: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        min_interval_seconds: float = 1.0,
        max_attempts: int = 8,
        backoff_base_seconds: float = 2.0,
        backoff_max_seconds: float = 3600.0,
        lease_seconds: float = 300.0,
        digest_max: int = MAX_DIGEST,
        lock_timeout_seconds: float = 120.0,
    ):
        self.outbox = outbox
        self.slack = slack
        self.pagerduty = pagerduty
        self.ledger = ledger
        self.jsonl_path = jsonl_path or outbox.path.with_name("alerts.jsonl")
        self.console = console
        self._env = env
        self._clock = clock
        self._monotonic = monotonic
        self._sleep = sleep
        self.min_interval_seconds = min_interval_seconds
        self.max_attempts = max_attempts
        self.backoff_base_seconds = backoff_base_seconds
        self.backoff_max_seconds = backoff_max_seconds
        self.lease_seconds = lease_seconds
        self.digest_max = max(1, min(digest_max, MAX_DIGEST))
        self.lock_timeout_seconds = lock_timeout_seconds
        self._slack_ready: dict[str, float] = {}
        self._told_to_wait: set[str] = set()
        self._owns_ledger = False

    @classmethod
    def from_settings(
        cls, settings: Any, *, ledger: LedgerLike | None = _AUTO, **kwargs: Any
    ) -> AlertDispatcher:
        """The dispatcher of ``settings``: outbox under ``outbox_dir``, Slack when a token is
        set, PagerDuty at ``pagerduty_events_url``, the audit ledger when it is installed."""
        settings.outbox_dir.mkdir(parents=True, exist_ok=True)
        outbox = Outbox(settings.outbox_dir / "outbox.db")
        slack = None
        if settings.slack_bot_token is not None:
            slack = SlackSender(
                settings.slack_bot_token.get_secret_value(), base_url=settings.slack_api_url
            )
        owns_ledger = ledger is _AUTO
        if owns_ledger:
            ledger = _default_ledger(settings)
        kwargs.setdefault("console", sys.stderr)
        for name in ("min_interval_seconds", "max_attempts", "backoff_base_seconds"):
            value = getattr(settings, f"alert_{name}", None)
            if value is not None:
                kwargs.setdefault(name, value)
        dispatcher = cls(
            outbox,
            slack=slack,
            pagerduty=PagerDutySender(settings.pagerduty_events_url),
            ledger=ledger,
            **kwargs,
        )
        dispatcher._owns_ledger = owns_ledger
        return dispatcher

    def close(self) -> None:
        self.outbox.close()
        if self.pagerduty is not None:
            self.pagerduty.close()
        closer = getattr(self.ledger, "close", None)
        if self._owns_ledger and callable(closer):
            closer()

    def __enter__(self) -> AlertDispatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- enqueue --------------------------------------------------------------------------
    def preview(self, alert: Alert, policy: Policy) -> Routing:
        return route(policy, alert.kind, alert.severity)

    def enqueue(self, alert: Alert, policy: Policy) -> list[OutboxEntry]:
        """Route ``alert`` by ``policy`` and store one row per delivery (durable on return).

        Enqueueing the same alert again (same :attr:`Alert.key`) adds nothing and returns the
        rows already stored.
        """
        return self.enqueue_many([alert], policy)

    def enqueue_many(self, alerts: Sequence[Alert], policy: Policy) -> list[OutboxEntry]:
        """:meth:`enqueue` for several alerts of one model, in one transaction."""
        rows = [row for alert in alerts for row in self._rows(alert, policy)]
        stored = self.outbox.add(rows, now=self._clock())
        for alert in alerts:
            log.info(
                "alert.enqueued model=%s version=%s kind=%s severity=%s incident=%s",
                alert.model,
                alert.version,
                alert.kind,
                alert.severity,
                alert.incident_key,
            )
        return stored

    @staticmethod
    def _rows(alert: Alert, policy: Policy) -> list[NewEntry]:
        if alert.model != policy.model:
            raise ValueError(
                f"alert is for model {alert.model!r} but the policy is for {policy.model!r}"
            )
        routing = route(policy, alert.kind, alert.severity)
        base = {
            "alert": alert.model_dump(mode="json"),
            "owner": policy.roles.owner.name,
            "incident_key": alert.incident_key,
        }
        return [
            NewEntry(
                id=_digest(alert.key, d.channel, d.target),
                alert_key=alert.key,
                channel=d.channel,
                target=d.target,
                roles=d.roles,
                action="trigger" if d.channel == "pagerduty" else "notify",
                model=alert.model,
                version=alert.version,
                kind=alert.kind,
                severity=alert.severity,
                incident_key=alert.incident_key,
                payload={**base, "roles": list(d.roles)},
            )
            for d in routing.deliveries
        ]

    def resolve(
        self, model: str, version: str, signal: str, *, incident: str | None = None
    ) -> list[OutboxEntry]:
        """The next evaluation was clean: resolve the PagerDuty incident and say so in each
        Slack thread of the incident. Returns the rows it added: ``[]`` when there is nothing
        (left) to resolve, so calling it after every clean evaluation is safe."""
        key = incident or incident_key(model, version, signal)
        rows: list[NewEntry] = []
        trigger = self.outbox.latest(key, channel="pagerduty", action="trigger")
        if (
            trigger is not None
            and self.outbox.latest(key, channel="pagerduty", action="resolve", after=trigger.seq)
            is None
        ):
            rows.append(self._resolution(trigger, key, channel="pagerduty", action="resolve"))
        for target, _channel_id, _ts in self.outbox.threads(key):
            notice = self.outbox.latest(key, channel="slack", action="notify", target=target)
            if (
                notice is not None
                and self.outbox.latest(
                    key, channel="slack", action="resolve", target=target, after=notice.seq
                )
                is None
            ):
                rows.append(self._resolution(notice, key, channel="slack", action="resolve"))
        return self.outbox.add(rows, now=self._clock()) if rows else []

    @staticmethod
    def _resolution(source: OutboxEntry, key: str, *, channel: str, action: str) -> NewEntry:
        alert = dict(source.payload["alert"])
        signal = alert.get("signal") or alert["kind"]
        alert.update(
            title=f"Resolved: {alert['title']}"[:140],
            summary=f"The next evaluation of {alert['model']} v{alert['version']} was clean: "
            f"{signal} is back within its threshold.",
            value=None,
            threshold=None,
        )
        return NewEntry(
            id=_digest("resolve", source.id),
            alert_key=source.alert_key,
            channel=channel,
            target=source.target,
            roles=source.roles,
            action=action,
            model=source.model,
            version=source.version,
            kind=source.kind,
            severity="info",
            incident_key=key,
            payload={**source.payload, "alert": alert, "resolved": True},
        )

    # --- listing --------------------------------------------------------------------------
    def pending(self) -> list[OutboxEntry]:
        """Every row not delivered yet: pending, being sent, or failed for good."""
        return self.outbox.undelivered()

    def requeue_failed(self) -> int:
        return self.outbox.requeue_failed(now=self._clock())

    def prune(self, *, older_than_days: float = 30.0) -> int:
        """Forget finished deliveries older than ``older_than_days`` (see :meth:`Outbox.prune`).

        Rows not yet audited are kept while a ledger is attached.
        """
        before = self._clock() - older_than_days * 86_400
        return self.outbox.prune(before=before, require_audited=self.ledger is not None)

    # --- delivery -------------------------------------------------------------------------
    @contextlib.contextmanager
    def _delivery_lock(self) -> Iterator[None]:
        path = self.outbox.path.with_name("deliver.lock")
        with open(path, "a+") as handle:
            deadline = time.monotonic() + self.lock_timeout_seconds
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError as err:
                    if time.monotonic() > deadline:
                        raise ExternalServiceError(
                            f"another process has been delivering alerts from {path} for "
                            f"over {self.lock_timeout_seconds:g}s; try again later"
                        ) from err
                    time.sleep(0.05)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def deliver_pending(self, *, wait_seconds: float = 30.0) -> DeliveryReport:
        """Send everything due; wait (up to ``wait_seconds``) only for pacing and 429s.

        A row that fails transiently is not retried again within the same call: it waits for
        its backoff and a later call. Never raises for a delivery problem; see the report.
        """
        report = DeliveryReport()
        started = self._monotonic()
        with self._delivery_lock():
            self._audit_backlog()
            wall, mono = self._clock(), self._monotonic()
            for target, open_at in self.outbox.paces().items():  # another process's pacing
                opens = mono + (open_at - wall)
                if opens > self._slack_ready.get(target, float("-inf")):
                    self._slack_ready[target] = opens
            failed_here: set[str] = set()
            self._told_to_wait = set()
            while True:
                now = self._clock()
                waiting = [
                    e
                    for e in self.outbox.entries(statuses=("pending", "sending"))
                    if e.id not in failed_here
                    and (e.status == "pending" or (e.claimed_at or 0) < now - self.lease_seconds)
                ]
                if not waiting:
                    break
                ready = [e for e in waiting if e.next_attempt_at <= now]
                batches, wake = self._plan(ready)
                if not batches:
                    # wait in-call only for what the server asked for (429), never for backoff
                    later = [
                        e.next_attempt_at - now
                        for e in waiting
                        if e.next_attempt_at > now and e.id in self._told_to_wait
                    ]
                    if not later and not wake:
                        break  # the rest waits for its backoff: a later call sends it
                    pause = min([*later, *wake])
                    if self._monotonic() - started + pause > wait_seconds:
                        break
                    self._sleep(max(pause, 0.001))
                    continue
                for batch in batches:
                    self._send(batch, report, failed_here)
            report.still_pending = len(self.outbox.entries(statuses=("pending", "sending")))
            self._audit_backlog()
        report.retrying = [i for i in report.retrying if i not in set(report.failed)]
        report.seconds = self._monotonic() - started
        log.info(
            "alerts.delivered %s",
            " ".join(f"{k}={v}" for k, v in report.summary().items() if k != "errors"),
        )
        return report

    def _plan(self, ready: Sequence[OutboxEntry]) -> tuple[list[list[OutboxEntry]], list[float]]:
        """Batches to send now, and in how many seconds paced Slack channels open again."""
        batches: list[list[OutboxEntry]] = []
        by_slack_target: dict[str, list[OutboxEntry]] = {}
        # Triggers of one incident due together are one event: PagerDuty would fold them
        # into the same alert anyway (same dedup_key). Not across a pending resolve.
        resolving = {
            e.incident_key for e in ready if e.channel == "pagerduty" and e.action == "resolve"
        }
        pages: dict[tuple[str, str], list[OutboxEntry]] = {}
        for entry in ready:
            if entry.channel == "slack" and self.slack is not None:
                by_slack_target.setdefault(entry.target, []).append(entry)
            elif (
                entry.channel == "pagerduty"
                and entry.action == "trigger"
                and entry.incident_key not in resolving
            ):
                key = (entry.target, entry.incident_key)
                if key not in pages:
                    pages[key] = []
                    batches.append(pages[key])
                pages[key].append(entry)
            else:
                batches.append([entry])
        wake: list[float] = []
        mono = self._monotonic()
        for target, entries in by_slack_target.items():
            opens = self._slack_ready.get(target, 0.0)
            if opens > mono:
                wake.append(opens - mono)
                continue
            groups: dict[str | None, list[OutboxEntry]] = {}
            for entry in entries:
                thread = self.outbox.thread(target, entry.incident_key)
                groups.setdefault(thread[1] if thread else None, []).append(entry)
            first = min(groups.values(), key=lambda g: g[0].seq)
            batches.append(self._whole_incidents(first))
        return batches, wake

    def _whole_incidents(self, group: list[OutboxEntry]) -> list[OutboxEntry]:
        """At most ``digest_max`` rows, keeping each incident's rows in one message where
        possible, so the message that starts an incident's thread carries all of its burst."""
        by_incident: dict[str, list[OutboxEntry]] = {}
        for entry in group:
            by_incident.setdefault(entry.incident_key, []).append(entry)
        batch: list[OutboxEntry] = []
        for rows in by_incident.values():
            if batch and len(batch) + len(rows) > self.digest_max:
                continue
            batch.extend(rows[: self.digest_max - len(batch)])
            if len(batch) >= self.digest_max:
                break
        return batch

    def _send(self, batch: list[OutboxEntry], report: DeliveryReport, failed: set[str]) -> None:
        now = self._clock()
        claimed = self.outbox.claim(
            [e.id for e in batch], now=now, lease_seconds=self.lease_seconds
        )
        if not claimed:
            return
        head = claimed[0]
        if head.channel == "slack":
            if self.slack is not None:
                self._send_slack(self.slack, claimed, report, failed)
            else:
                self._outbox_only(claimed, report, reason="STEWARD_SLACK_BOT_TOKEN is not set")
        elif head.channel == "pagerduty":
            key = self._routing_key(head.target)
            if key and self.pagerduty is not None:
                self._send_pagerduty(self.pagerduty, claimed, key, report, failed)
            else:
                reason = f"{head.target} is not set" if not key else "no PagerDuty endpoint"
                self._outbox_only(claimed, report, reason=reason)
        else:
            self._outbox_only(claimed, report, reason="no mail transport: hand-off here")

    def _routing_key(self, env_name: str) -> str | None:
        env = self._env if self._env is not None else os.environ
        value = env.get(env_name)
        return value.strip() if value and value.strip() else None

    def _send_slack(
        self,
        slack: SlackSender,
        entries: list[OutboxEntry],
        report: DeliveryReport,
        failed: set[str],
    ) -> None:
        target = entries[0].target
        thread = self.outbox.thread(target, entries[0].incident_key)
        payloads = [e.payload for e in entries]
        if len(entries) == 1:
            text, blocks = alert_message(payloads[0])
        else:
            text, blocks = digest_message(payloads, target)
        channel = thread[0] if thread else target
        # a new critical finding in an old thread is also shown in the channel
        broadcast = thread is not None and any(
            e.severity == "critical" and e.action == "notify" for e in entries
        )
        try:
            result = slack.post(
                channel=channel,
                text=text,
                blocks=blocks,
                thread_ts=thread[1] if thread else None,
                reply_broadcast=broadcast,
            )
        finally:
            self._pace(target, self.min_interval_seconds)
        if result.ok:
            report.slack_messages += 1
            if thread is None and result.ref:
                self.outbox.remember_threads(
                    target,
                    result.channel_id or target,
                    result.ref,
                    [e.incident_key for e in entries],
                )
        if result.retry_after is not None:
            self._pace(target, max(result.retry_after, self.min_interval_seconds))
        if result.thread_gone:  # someone deleted the thread root: start the incident anew
            self.outbox.forget_threads(target, [e.incident_key for e in entries])
            self.outbox.mark_retry(
                [e.id for e in entries],
                error=result.error or "thread gone",
                next_attempt_at=self._clock(),
                count=False,
            )
            log.warning("alert.thread_gone target=%s entries=%d", target, len(entries))
            return
        self._settle(entries, result, report, failed, via="slack")

    def _pace(self, target: str, seconds: float) -> None:
        """Close ``target`` for ``seconds`` from now, here and (persisted) for other processes."""
        self._slack_ready[target] = self._monotonic() + seconds
        self.outbox.set_pace(target, self._clock() + seconds)

    def _send_pagerduty(
        self,
        pagerduty: PagerDutySender,
        entries: list[OutboxEntry],
        routing_key: str,
        report: DeliveryReport,
        failed: set[str],
    ) -> None:
        """One event for ``entries`` (one incident): the newest one's content."""
        result = pagerduty.send(_pd_event(entries[-1], routing_key))
        if result.ok:
            report.pagerduty_events += 1
        self._settle(entries, result, report, failed, via="pagerduty")

    def _settle(
        self,
        entries: list[OutboxEntry],
        result: SendResult,
        report: DeliveryReport,
        failed: set[str],
        *,
        via: str,
    ) -> None:
        now = self._clock()
        ids = [e.id for e in entries]
        if result.ok:
            self.outbox.mark_delivered(ids, via=via, remote_ref=result.ref, now=now)
            report.delivered.extend(ids)
            self._audit(self.outbox.get_many(ids))
            return
        error = result.error or "unknown error"
        if error not in report.errors:
            report.errors.append(error)
        if result.retry_after is not None:
            report.rate_limited += 1
            self._told_to_wait.update(ids)
            self.outbox.mark_retry(
                ids, error=error, next_attempt_at=now + result.retry_after, count=False
            )
            log.warning("alert.rate_limited via=%s retry_after=%s", via, result.retry_after)
            return
        final = [e for e in entries if result.permanent or e.attempts >= self.max_attempts]
        if final:
            self._fail(final, error, via=via, report=report)
        for entry in entries:
            if entry in final:
                continue
            delay = min(
                self.backoff_max_seconds, self.backoff_base_seconds * 2 ** (entry.attempts - 1)
            )
            self.outbox.mark_retry([entry.id], error=error, next_attempt_at=now + delay)
            report.retrying.append(entry.id)
            failed.add(entry.id)
            log.warning(
                "alert.retry id=%s via=%s attempts=%d next_in=%.1fs error=%s",
                entry.id,
                via,
                entry.attempts,
                delay,
                error,
            )

    def _fail(
        self, entries: list[OutboxEntry], error: str, *, via: str, report: DeliveryReport
    ) -> None:
        now = self._clock()
        ids = [e.id for e in entries]
        self.outbox.mark_failed(ids, error=error, via=via, now=now)
        report.failed.extend(ids)
        self._write_fallback(entries, status="failed", reason=error)
        log.error("alert.failed ids=%s via=%s error=%s", ",".join(ids), via, error)
        self._audit(self.outbox.get_many(ids))

    def _outbox_only(
        self, entries: list[OutboxEntry], report: DeliveryReport, *, reason: str
    ) -> None:
        self._write_fallback(entries, status="outbox-only", reason=reason)
        ids = [e.id for e in entries]
        self.outbox.mark_delivered(ids, via="outbox-only", remote_ref=None, now=self._clock())
        report.delivered.extend(ids)
        report.outbox_only.extend(ids)
        self._audit(self.outbox.get_many(ids))

    def _write_fallback(self, entries: list[OutboxEntry], *, status: str, reason: str) -> None:
        """Console line and ``alerts.jsonl`` record: what no outside system received."""
        stamp = datetime.fromtimestamp(self._clock(), UTC).isoformat()
        lines = []
        for entry in entries:
            line = plain_line(entry.payload)
            lines.append(
                json.dumps(
                    {
                        "at": stamp,
                        "status": status,
                        "reason": reason,
                        "id": entry.id,
                        "channel": entry.channel,
                        "target": entry.target,
                        "roles": list(entry.roles),
                        "action": entry.action,
                        "text": line,
                        "alert": entry.payload.get("alert"),
                    },
                    sort_keys=True,
                )
            )
            if self.console is not None:
                word = "ALERT" if status == "outbox-only" else "ALERT NOT DELIVERED"
                print(
                    f"{word} {entry.channel}:{entry.target} ({', '.join(entry.roles)}) {line}"
                    + ("" if status == "outbox-only" else f" -- {reason}"),
                    file=self.console,
                )
        self.jsonl_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.jsonl_path, "a", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    # --- audit ----------------------------------------------------------------------------
    def _audit(self, entries: Sequence[OutboxEntry]) -> None:
        if self.ledger is None or not entries:
            return
        done: list[str] = []
        try:
            for entry in entries:
                self.ledger.append(
                    action="alert.sent" if entry.status == "delivered" else "alert.failed",
                    actor=ACTOR,
                    role="system",
                    model=entry.model,
                    version=entry.version,
                    details={
                        "entry": entry.id,
                        "alert_key": entry.alert_key,
                        "kind": entry.kind,
                        "severity": entry.severity,
                        "channel": entry.channel,
                        "target": entry.target,
                        "roles": list(entry.roles),
                        "action": entry.action,
                        "via": entry.via,
                        "incident_key": entry.incident_key,
                        "remote_ref": entry.remote_ref,
                        "attempts": entry.attempts,
                        "error": entry.last_error if entry.status == "failed" else None,
                    },
                )
                done.append(entry.id)
        except Exception as err:  # the ledger is another team's service: keep the row for later
            log.warning("alert.audit_deferred error=%r pending=%d", err, len(entries) - len(done))
        finally:
            if done:
                self.outbox.mark_audited(done)

    def _audit_backlog(self) -> None:
        if self.ledger is not None:
            self._audit(self.outbox.unaudited())


def _pd_event(entry: OutboxEntry, routing_key: str) -> dict[str, Any]:
    if entry.action == "resolve":
        return {
            "routing_key": routing_key,
            "event_action": "resolve",
            "dedup_key": entry.incident_key,
        }
    alert = entry.payload["alert"]
    links = [
        {"href": url, "text": label}
        for label, url in alert.get("links", {}).items()
        if url.startswith(("http://", "https://"))
    ]
    event: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": entry.incident_key,
        "payload": {
            "summary": plain_line(entry.payload)[:1024],
            "source": f"model-steward/{alert['model']}",
            "severity": _PD_SEVERITY[alert["severity"]],
            "timestamp": alert.get("occurred_at"),
            "component": alert["model"],
            "group": f"{alert['model']}:{alert['version']}",
            "class": alert["kind"],
            "custom_details": {
                "summary": alert["summary"],
                "signal": alert.get("signal") or alert["kind"],
                "value": alert.get("value"),
                "threshold": alert.get("threshold"),
                "owner": entry.payload.get("owner"),
                **{str(k): v for k, v in alert.get("fields", {}).items()},
            },
        },
        "client": "Model Steward",
    }
    if links:
        event["links"] = links
    return event


def _default_ledger(settings: Any) -> LedgerLike | None:
    try:
        ledger_class = importlib.import_module("modelsteward.audit").Ledger
    except (ImportError, AttributeError):
        log.warning("alert.audit_unavailable reason='modelsteward.audit.Ledger is missing'")
        return None
    ledger: LedgerLike = ledger_class.from_settings(settings)
    return ledger
