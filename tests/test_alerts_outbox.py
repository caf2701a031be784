"""The Alert model and the durable outbox: idempotent, restart-safe, claimed exclusively."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from _alerts import FakeClock, ListLedger, fraud_policy, make_alert, make_dispatcher

from modelsteward.alerts import Alert, Outbox, incident_key
from modelsteward.errors import DataError


def test_alert_defaults_incident_key_from_model_version_signal() -> None:
    alert = make_alert()
    assert alert.incident_key == "steward:fraud-detector:3:drift_share"
    assert incident_key("m", "1", "f1") == "steward:m:1:f1"
    assert make_alert(signal=None).incident_key == "steward:fraud-detector:3:drift"


def test_alert_key_is_stable_for_a_caller_key_and_content_otherwise() -> None:
    first = make_alert(idempotency_key="run-1")
    again = make_alert(idempotency_key="run-1", summary="reworded")
    assert first.key == again.key
    assert make_alert(idempotency_key="run-2").key != first.key
    stamp = datetime.fromisoformat("2026-11-25T21:00:00+00:00")
    assert make_alert(occurred_at=stamp).key == make_alert(occurred_at=stamp).key
    assert make_alert(occurred_at=stamp, value=0.7).key != make_alert(occurred_at=stamp).key


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"summary": None}, r"alert field summary: .*needs model, version, kind"),
        ({"kind": "outage"}, r"alert field kind: Input should be 'data_quality'"),
        ({"model": "Fraud Detector"}, r"alert field model: String should match pattern"),
        ({"links": {"report": "javascript:alert(1)"}}, r"links.report: got 'javascript"),
        ({"occurred_at": datetime(2026, 1, 1)}, r"occurred_at must be timezone-aware"),
    ],
)
def test_bad_alert_is_one_clear_error(change: dict[str, object], message: str) -> None:
    data = make_alert().model_dump()
    data.update(change)
    if data["summary"] is None:
        data.pop("summary")
    with pytest.raises(DataError, match=message):
        Alert.build(**data)


def test_enqueue_is_durable_and_idempotent_across_restarts(tmp_path: Path) -> None:
    clock = FakeClock()
    dispatcher, _ = make_dispatcher(tmp_path, clock=clock)
    alert = make_alert(idempotency_key="flow-run-1")
    first = dispatcher.enqueue(alert, fraud_policy())
    assert len(first) == 4 and all(e.status == "pending" for e in first)
    assert dispatcher.enqueue(alert, fraud_policy()) == first
    dispatcher.close()

    reopened = Outbox(tmp_path / "outbox.db")
    assert [e.id for e in reopened.undelivered()] == [e.id for e in first]
    assert reopened.undelivered()[0].payload["alert"]["title"] == alert.title
    assert all("R0UT1NG" not in json.dumps(e.payload) for e in reopened.entries())


def test_enqueue_refuses_an_alert_for_another_model(tmp_path: Path) -> None:
    dispatcher, _ = make_dispatcher(tmp_path, clock=FakeClock())
    with pytest.raises(ValueError, match="alert is for model 'other' but the policy is for"):
        dispatcher.enqueue(make_alert(model="other"), fraud_policy())


def test_claim_is_exclusive_between_processes(tmp_path: Path) -> None:
    clock = FakeClock()
    dispatcher, _ = make_dispatcher(tmp_path, clock=clock)
    ids = [e.id for e in dispatcher.enqueue(make_alert(), fraud_policy())]
    one, two = Outbox(tmp_path / "outbox.db"), Outbox(tmp_path / "outbox.db")
    assert len(one.claim(ids, now=clock.time(), lease_seconds=300)) == 4
    assert two.claim(ids, now=clock.time(), lease_seconds=300) == []
    # after the lease a crashed claim is taken over (the at-least-once window)
    assert len(two.claim(ids, now=clock.time() + 301, lease_seconds=300)) == 4


def test_no_token_no_key_means_outbox_only_console_and_jsonl(tmp_path: Path) -> None:
    ledger = ListLedger()
    dispatcher, console = make_dispatcher(tmp_path, clock=FakeClock(), env={}, ledger=ledger)
    dispatcher.enqueue(make_alert(), fraud_policy())
    report = dispatcher.deliver_pending()
    assert len(report.delivered) == len(report.outbox_only) == 4
    assert report.slack_messages == 0 and dispatcher.pending() == []
    lines = [json.loads(line) for line in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    assert {(r["channel"], r["status"]) for r in lines} == {
        ("slack", "outbox-only"),
        ("pagerduty", "outbox-only"),
    }
    assert any("PD_ROUTING_KEY_FRAUD is not set" in r["reason"] for r in lines)
    assert console.getvalue().count("ALERT slack:") == 3
    assert "[CRITICAL] fraud-detector v3: Data drift" in console.getvalue()
    assert [r["action"] for r in ledger.records] == ["alert.sent"] * 4
    assert {r["details"]["via"] for r in ledger.records} == {"outbox-only"}
    # delivered is final: nothing is written twice
    assert dispatcher.deliver_pending().delivered == []
    assert len((tmp_path / "alerts.jsonl").read_text().splitlines()) == 4


def test_email_targets_are_handed_off_in_the_jsonl_file(tmp_path: Path) -> None:
    import yaml
    from _alerts import FRAUD

    from modelsteward.policy import parse_policy

    data = yaml.safe_load(FRAUD.read_text())
    data["roles"]["owner"].pop("slack")
    dispatcher, _console = make_dispatcher(tmp_path, clock=FakeClock(), env={})
    dispatcher.enqueue(make_alert(severity="warning"), parse_policy(data))
    dispatcher.deliver_pending()
    records = [json.loads(x) for x in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    (email,) = [r for r in records if r["channel"] == "email"]
    assert email["target"] == "dana.whitfield@example.com"
    assert email["reason"].startswith("no mail transport")


def test_requeue_failed_gives_fresh_attempts(tmp_path: Path) -> None:
    clock = FakeClock()
    dispatcher, _ = make_dispatcher(tmp_path, clock=clock)
    entries = dispatcher.enqueue(make_alert(kind="approval_request"), fraud_policy())
    outbox = dispatcher.outbox
    outbox.claim([entries[0].id], now=clock.time(), lease_seconds=300)
    outbox.mark_failed([entries[0].id], error="channel_not_found", via="slack", now=clock.time())
    assert [e.status for e in dispatcher.pending()] == ["failed"]
    assert dispatcher.requeue_failed() == 1
    (entry,) = dispatcher.pending()
    assert (entry.status, entry.attempts) == ("pending", 0)
