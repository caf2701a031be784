"""Alerts: the right person, the right channel, never lost.

An :class:`Alert` (one finding about one model version) is routed by the model's policy
(:func:`route`: kind and severity → roles → their Slack channel, e-mail, PagerDuty service),
written to a durable SQLite :class:`Outbox` with an idempotency key *before* anything is sent,
and delivered by :class:`AlertDispatcher`: Block Kit messages through the real ``slack_sdk``
client (threaded per incident, at most one message per second per channel, bursts coalesced
into digests, ``Retry-After`` honoured) and PagerDuty Events API v2 (``dedup_key``
``steward:<model>:<version>:<signal>``, trigger and resolve). Failed sends are retried with
backoff across runs and restarts; final failures and every delivery go to the audit ledger.
With no Slack token or routing key, alerts are "outbox-only": printed and appended to
``alerts.jsonl``, so nothing is lost on a laptop.

Delivery is at-least-once with a narrow window: a process that dies after Slack or PagerDuty
accepted a message but before the outbox marked it delivered will send that message again
once its lease (``lease_seconds``) expires. PagerDuty folds the repeat into the same incident
(same ``dedup_key``); Slack shows it twice. Nothing else is ever sent twice: claiming and
marking are atomic, and only one process delivers at a time.

Modules: :mod:`~modelsteward.alerts.model` (Alert), :mod:`~modelsteward.alerts.routing` (pure
rules), :mod:`~modelsteward.alerts.outbox` (SQLite), :mod:`~modelsteward.alerts.render` (Block
Kit), :mod:`~modelsteward.alerts.senders` (one request, classified),
:mod:`~modelsteward.alerts.dispatcher` (pacing, coalescing, retry, audit),
:mod:`~modelsteward.alerts.fakes` (loopback Slack and PagerDuty servers for tests and demos).
"""

from modelsteward.alerts.dispatcher import AlertDispatcher, DeliveryReport, LedgerLike
from modelsteward.alerts.model import (
    KINDS,
    SEVERITIES,
    Alert,
    AlertKind,
    AlertSeverity,
    incident_key,
)
from modelsteward.alerts.outbox import NewEntry, Outbox, OutboxEntry
from modelsteward.alerts.routing import Delivery, Recipient, Routing, route
from modelsteward.alerts.senders import PagerDutySender, SendResult, SlackSender

__all__ = [
    "KINDS",
    "SEVERITIES",
    "Alert",
    "AlertDispatcher",
    "AlertKind",
    "AlertSeverity",
    "Delivery",
    "DeliveryReport",
    "LedgerLike",
    "NewEntry",
    "Outbox",
    "OutboxEntry",
    "PagerDutySender",
    "Recipient",
    "Routing",
    "SendResult",
    "SlackSender",
    "incident_key",
    "route",
]
