"""PagerDuty Events API v2 over httpx against a loopback server that validates as documented."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from _alerts import PD_KEY, FakeClock, ListLedger, fraud_policy, make_alert, make_dispatcher

from modelsteward.alerts import PagerDutySender
from modelsteward.alerts.fakes import FakePagerDuty

INCIDENT = "steward:fraud-detector:3:drift_share"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def pagerduty(clock: FakeClock) -> Iterator[FakePagerDuty]:
    with FakePagerDuty(clock=clock.monotonic) as server:
        yield server


def test_critical_alert_triggers_with_the_steward_dedup_key(
    tmp_path: Path, pagerduty: FakePagerDuty, clock: FakeClock
) -> None:
    dispatcher, _ = make_dispatcher(tmp_path, clock=clock, pagerduty=pagerduty)
    entries = dispatcher.enqueue(make_alert(), fraud_policy())
    report = dispatcher.deliver_pending()
    assert report.pagerduty_events == 1 and len(report.outbox_only) == 3  # Slack: no client
    (event,) = pagerduty.accepted
    assert event.body["routing_key"] == PD_KEY
    assert event.body["event_action"] == "trigger"
    assert event.body["dedup_key"] == INCIDENT
    payload = event.body["payload"]
    assert payload["severity"] == "critical"
    assert payload["source"] == "model-steward/fraud-detector"
    assert payload["summary"].startswith("[CRITICAL] fraud-detector v3: Data drift")
    assert payload["custom_details"]["value"] == 0.67
    assert {
        "href": "https://reports.example.com/fraud-detector/3/drift.html",
        "text": "report",
    } in event.body["links"]
    assert pagerduty.incidents == {INCIDENT: "triggered"}
    (page,) = [
        e for e in dispatcher.outbox.get_many([x.id for x in entries]) if e.channel == "pagerduty"
    ]
    assert (page.status, page.via, page.remote_ref) == ("delivered", "pagerduty", INCIDENT)


def test_clean_evaluation_resolves_once(
    tmp_path: Path, pagerduty: FakePagerDuty, clock: FakeClock
) -> None:
    dispatcher, _ = make_dispatcher(tmp_path, clock=clock, pagerduty=pagerduty)
    assert dispatcher.resolve("fraud-detector", "3", "drift_share") == []  # nothing to resolve
    dispatcher.enqueue(make_alert(), fraud_policy())
    dispatcher.deliver_pending()
    (resolution,) = dispatcher.resolve("fraud-detector", "3", "drift_share")
    assert resolution.action == "resolve"
    assert dispatcher.resolve("fraud-detector", "3", "drift_share") == []  # already queued
    dispatcher.deliver_pending()
    assert dispatcher.resolve("fraud-detector", "3", "drift_share") == []
    assert [r.body["event_action"] for r in pagerduty.accepted] == ["trigger", "resolve"]
    assert pagerduty.accepted[1].body == {
        "routing_key": PD_KEY,
        "event_action": "resolve",
        "dedup_key": INCIDENT,
    }
    assert pagerduty.incidents == {INCIDENT: "resolved"}
    # a new trigger of the same incident can be resolved again
    dispatcher.enqueue(make_alert(idempotency_key="later-run"), fraud_policy())
    dispatcher.deliver_pending()
    assert len(dispatcher.resolve("fraud-detector", "3", "drift_share")) == 1


def test_400_is_reported_and_never_retried(
    tmp_path: Path, pagerduty: FakePagerDuty, clock: FakeClock
) -> None:
    ledger = ListLedger()
    dispatcher, console = make_dispatcher(
        tmp_path,
        clock=clock,
        pagerduty=pagerduty,
        env={"PD_ROUTING_KEY_FRAUD": "too-short"},
        ledger=ledger,
    )
    dispatcher.enqueue(make_alert(), fraud_policy())
    report = dispatcher.deliver_pending()
    assert len(report.failed) == 1 and report.retrying == []
    assert "HTTP 400" in report.errors[0]
    assert "'routing_key' must be a 32 character string" in report.errors[0]
    assert "not retried" in report.errors[0]
    clock.advance(86_400)
    dispatcher.deliver_pending()
    assert len(pagerduty.requests) == 1
    assert "ALERT NOT DELIVERED pagerduty:PD_ROUTING_KEY_FRAUD" in console.getvalue()
    assert "too-short" not in console.getvalue()  # the key itself is never printed
    failed = [r for r in ledger.records if r["action"] == "alert.failed"]
    assert len(failed) == 1 and failed[0]["details"]["channel"] == "pagerduty"


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_retried_with_backoff(
    tmp_path: Path, pagerduty: FakePagerDuty, clock: FakeClock, status: int
) -> None:
    pagerduty.fail_next(status)
    dispatcher, _ = make_dispatcher(tmp_path, clock=clock, pagerduty=pagerduty, env=None)
    dispatcher.enqueue(make_alert(kind="performance", signal="f1"), fraud_policy())
    first = dispatcher.deliver_pending()
    assert len(first.retrying) == 1 and first.failed == []
    assert f"PagerDuty error HTTP {status}" in first.errors[0]
    clock.advance(2.0)
    second = dispatcher.deliver_pending()
    assert second.pagerduty_events == 1
    assert [r.status for r in pagerduty.requests] == [status, 202]


def test_429_waits_and_retries_without_spending_an_attempt(
    tmp_path: Path, pagerduty: FakePagerDuty, clock: FakeClock
) -> None:
    pagerduty.fail_next(429, times=3)
    dispatcher, _ = make_dispatcher(tmp_path, clock=clock, pagerduty=pagerduty, max_attempts=1)
    dispatcher.enqueue(make_alert(), fraud_policy())
    report = dispatcher.deliver_pending(wait_seconds=30)
    assert report.pagerduty_events == 1 and report.rate_limited == 3 and report.failed == []
    assert [r.status for r in pagerduty.requests] == [429, 429, 429, 202]
    assert min(clock.slept) >= 2.0  # no Retry-After from PagerDuty: the 2 s default


def test_triggers_of_one_incident_due_together_are_one_event(
    tmp_path: Path, pagerduty: FakePagerDuty, clock: FakeClock
) -> None:
    dispatcher, _ = make_dispatcher(tmp_path, clock=clock, pagerduty=pagerduty)
    for run in range(5):
        dispatcher.enqueue(
            make_alert(idempotency_key=f"run-{run}", value=0.6 + run / 100), fraud_policy()
        )
    dispatcher.enqueue(make_alert(signal="prediction_drift"), fraud_policy())
    report = dispatcher.deliver_pending()
    pages = [e for e in dispatcher.outbox.entries() if e.channel == "pagerduty"]
    assert len(pages) == 6 and {e.status for e in pages} == {"delivered"}
    assert report.pagerduty_events == 2
    events = {r.body["dedup_key"]: r.body for r in pagerduty.accepted}
    assert set(events) == {INCIDENT, "steward:fraud-detector:3:prediction_drift"}
    assert events[INCIDENT]["payload"]["custom_details"]["value"] == 0.64  # the newest


def test_pagerduty_sender_validates_against_the_documented_rules(
    pagerduty: FakePagerDuty,
) -> None:
    sender = PagerDutySender(pagerduty.url, timeout=5)
    bad = sender.send({"routing_key": PD_KEY, "event_action": "trigger", "payload": {}})
    assert bad.permanent
    for field in ("payload.summary", "payload.source", "payload.severity"):
        assert field in (bad.error or "")
    wrong_action = sender.send({"routing_key": PD_KEY, "event_action": "explode"})
    assert wrong_action.permanent and "'event_action' must be one of" in (wrong_action.error or "")
    ok = sender.send(
        {
            "routing_key": PD_KEY,
            "event_action": "trigger",
            "payload": {"summary": "s", "source": "x", "severity": "error"},
        }
    )
    assert ok.ok and ok.ref  # PagerDuty makes up a dedup_key when none is given
    sender.close()
    pagerduty.stop()
    down = PagerDutySender(pagerduty.url, timeout=1).send({"event_action": "trigger"})
    assert down.transient and "cannot reach" in (down.error or "")


def test_missing_routing_key_variable_is_outbox_only(
    tmp_path: Path, pagerduty: FakePagerDuty, clock: FakeClock
) -> None:
    dispatcher, console = make_dispatcher(tmp_path, clock=clock, pagerduty=pagerduty, env={})
    dispatcher.enqueue(make_alert(), fraud_policy())
    report = dispatcher.deliver_pending()
    assert report.pagerduty_events == 0 and pagerduty.requests == []
    assert "ALERT pagerduty:PD_ROUTING_KEY_FRAUD (operator)" in console.getvalue()
    assert len(report.outbox_only) == 4
