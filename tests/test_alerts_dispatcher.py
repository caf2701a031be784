"""The dispatcher end to end: outages, restarts, crashes, concurrency and the audit ledger."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from _alerts import (
    CHANNELS,
    TOKEN,
    FakeClock,
    ListLedger,
    fraud_policy,
    make_alert,
    make_dispatcher,
)

from modelsteward.alerts import AlertDispatcher
from modelsteward.alerts.fakes import FakePagerDuty, FakeSlack


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def servers(clock: FakeClock) -> Iterator[tuple[FakeSlack, FakePagerDuty]]:
    with (
        FakeSlack(channels=CHANNELS, clock=clock.monotonic) as slack,
        FakePagerDuty(clock=clock.monotonic) as pagerduty,
    ):
        yield slack, pagerduty


def burst(n: int) -> list:
    return [
        make_alert(
            severity="critical" if i % 2 else "warning",
            signal=f"col{i}",
            idempotency_key=f"run-{i}",
        )
        for i in range(n)
    ]


def test_outage_queues_and_each_alert_is_delivered_exactly_once_after_it(
    tmp_path: Path, servers: tuple[FakeSlack, FakePagerDuty], clock: FakeClock
) -> None:
    slack, pagerduty = servers
    slack.stop()
    pagerduty.stop()
    dispatcher, _ = make_dispatcher(tmp_path, clock=clock, slack=slack, pagerduty=pagerduty)
    alerts = burst(10)
    for alert in alerts:
        dispatcher.enqueue(alert, fraud_policy())
    total = len(dispatcher.pending())
    # warnings: Operator and Owner; criticals: all three channels and a page
    assert total == 5 * 2 + 5 * 4

    during = dispatcher.deliver_pending()
    assert during.delivered == [] and during.failed == []
    assert during.still_pending == total
    dispatcher.close()  # the process goes away during the outage

    slack.start()
    pagerduty.start()  # back on the same ports
    clock.advance(60)
    restarted, _ = make_dispatcher(tmp_path, clock=clock, slack=slack, pagerduty=pagerduty)
    after = restarted.deliver_pending()
    assert len(after.delivered) == total and restarted.pending() == []
    assert restarted.deliver_pending().delivered == []

    # every alert reached each channel once (coalesced into one digest per channel) ...
    per_channel = Counter(r.channel for r in slack.posted)
    assert per_channel == {"#mlops-alerts": 1, "#payments-risk": 1, "#ai-security": 1}
    for message in slack.posted:
        text = str(message.body["blocks"])
        expected = range(1, 10, 2) if message.channel == "#ai-security" else range(10)
        assert all(text.count(f"col{i} ") == 1 for i in expected)
        assert sum(text.count(f"col{i} ") for i in range(10)) == len(expected)
    # ... and every page once
    keys = [r.body["dedup_key"] for r in pagerduty.accepted]
    assert sorted(keys) == sorted(a.incident_key for a in alerts if a.severity == "critical")


def test_crash_between_send_and_mark_is_resent_once_after_the_lease(
    tmp_path: Path, servers: tuple[FakeSlack, FakePagerDuty], clock: FakeClock
) -> None:
    slack, pagerduty = servers
    dispatcher, _ = make_dispatcher(
        tmp_path, clock=clock, slack=slack, pagerduty=pagerduty, lease_seconds=300
    )
    entries = dispatcher.enqueue(make_alert(), fraud_policy())
    # a process claims everything and dies before it could send or mark anything
    dispatcher.outbox.claim([e.id for e in entries], now=clock.time(), lease_seconds=300)
    assert dispatcher.deliver_pending().delivered == []  # still leased to the dead process
    clock.advance(301)
    report = dispatcher.deliver_pending()
    assert len(report.delivered) == len(entries)
    assert len(slack.posted) == 3 and len(pagerduty.accepted) == 1


def test_two_deliverers_at_once_send_each_alert_once(
    tmp_path: Path, servers: tuple[FakeSlack, FakePagerDuty], clock: FakeClock
) -> None:
    slack, pagerduty = servers
    first, _ = make_dispatcher(tmp_path, clock=clock, slack=slack, pagerduty=pagerduty)
    second, _ = make_dispatcher(tmp_path, clock=clock, slack=slack, pagerduty=pagerduty)
    for alert in burst(6):
        first.enqueue(alert, fraud_policy())
    threads = [threading.Thread(target=d.deliver_pending) for d in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert first.pending() == []
    assert len(slack.posted) == 3 and len(pagerduty.accepted) == 3


def test_ledger_outage_is_caught_up_on_the_next_call(
    tmp_path: Path, servers: tuple[FakeSlack, FakePagerDuty], clock: FakeClock
) -> None:
    slack, pagerduty = servers
    ledger = ListLedger(fail_times=5)  # every append of the first call
    dispatcher, _ = make_dispatcher(
        tmp_path, clock=clock, slack=slack, pagerduty=pagerduty, ledger=ledger
    )
    entries = dispatcher.enqueue(make_alert(), fraud_policy())
    dispatcher.deliver_pending()
    assert ledger.records == []
    dispatcher.deliver_pending()
    assert sorted(r["details"]["entry"] for r in ledger.records) == sorted(e.id for e in entries)
    assert {r["action"] for r in ledger.records} == {"alert.sent"}
    assert {r["role"] for r in ledger.records} == {"system"}
    assert all(r["model"] == "fraud-detector" and r["version"] == "3" for r in ledger.records)


def test_every_delivery_and_failure_lands_in_the_real_ledger(
    steward_home: Path, monkeypatch: pytest.MonkeyPatch, clock: FakeClock
) -> None:
    from modelsteward.audit import AuditAction, Ledger
    from modelsteward.settings import load_settings

    with FakeSlack(channels=("#mlops-alerts", "#payments-risk")) as slack:
        monkeypatch.setenv("STEWARD_SLACK_BOT_TOKEN", TOKEN)
        monkeypatch.setenv("STEWARD_SLACK_API_URL", slack.base_url)
        monkeypatch.delenv("PD_ROUTING_KEY_FRAUD", raising=False)
        settings = load_settings()
        settings.ensure_home()
        with AlertDispatcher.from_settings(settings, console=None) as dispatcher:
            dispatcher.enqueue(make_alert(), fraud_policy())  # #ai-security does not exist
            report = dispatcher.deliver_pending()
        assert len(report.delivered) == 3 and len(report.failed) == 1
    with Ledger.from_settings(settings) as ledger:
        sent = list(ledger.records(model="fraud-detector", action=AuditAction.ALERT_SENT))
        failed = list(ledger.records(action=AuditAction.ALERT_FAILED))
    assert sorted(r.details["via"] for r in sent) == ["outbox-only", "slack", "slack"]
    assert [r.details["target"] for r in failed] == ["#ai-security"]
    assert "channel_not_found" in failed[0].details["error"]
    assert all(r.role == "system" and r.version == "3" for r in [*sent, *failed])


def test_from_settings_without_a_token_is_outbox_only(
    steward_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from modelsteward.settings import load_settings

    settings = load_settings()
    with AlertDispatcher.from_settings(settings, ledger=None) as dispatcher:
        assert dispatcher.slack is None
        dispatcher.enqueue(make_alert(kind="kill_notice", severity="info"), fraud_policy())
        report = dispatcher.deliver_pending()
    assert len(report.outbox_only) == 3
    assert (settings.outbox_dir / "alerts.jsonl").exists()
    assert capsys.readouterr().err.count("ALERT slack:") == 3


def test_the_at_least_once_window_a_crash_after_sending_before_marking(
    tmp_path: Path, servers: tuple[FakeSlack, FakePagerDuty], clock: FakeClock
) -> None:
    """The one duplicate the design allows: the process dies between the provider's answer and
    the outbox commit. PagerDuty folds the repeat into the same incident (same dedup_key)."""
    slack, pagerduty = servers
    dispatcher, _ = make_dispatcher(tmp_path, clock=clock, slack=slack, pagerduty=pagerduty)
    dispatcher.enqueue(make_alert(kind="performance", signal="f1"), fraud_policy())

    def die(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt("killed between send and mark")

    dispatcher.outbox.mark_delivered = die  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt, match="killed between send and mark"):
        dispatcher.deliver_pending()
    dispatcher.close()
    sent_before_crash = len(slack.posted) + len(pagerduty.accepted)
    assert sent_before_crash == 1

    clock.advance(301)  # the lease of the dead process runs out
    restarted, _ = make_dispatcher(tmp_path, clock=clock, slack=slack, pagerduty=pagerduty)
    report = restarted.deliver_pending()
    assert len(report.delivered) == 4 and restarted.pending() == []
    duplicates = len(slack.posted) + len(pagerduty.accepted) - 4
    assert duplicates == 1  # exactly the message in flight at the crash, never more
    assert len(pagerduty.incidents) == 1


def test_prune_forgets_finished_rows_but_keeps_open_incidents(
    tmp_path: Path, servers: tuple[FakeSlack, FakePagerDuty], clock: FakeClock
) -> None:
    slack, pagerduty = servers
    ledger = ListLedger()
    dispatcher, _ = make_dispatcher(
        tmp_path, clock=clock, slack=slack, pagerduty=pagerduty, ledger=ledger
    )
    open_incident = make_alert(idempotency_key="x1")
    dispatcher.enqueue(open_incident, fraud_policy())
    dispatcher.deliver_pending()
    clock.advance(5)
    dispatcher.enqueue(make_alert(idempotency_key="x2"), fraud_policy())
    dispatcher.enqueue(make_alert(signal="f1", kind="performance"), fraud_policy())
    dispatcher.deliver_pending()
    dispatcher.resolve("fraud-detector", "3", "f1")
    dispatcher.deliver_pending()
    clock.advance(3600)
    dispatcher.enqueue(make_alert(signal="late", idempotency_key="late"), fraud_policy())
    slack.stop()  # the late alert's Slack rows stay pending
    pagerduty.stop()
    dispatcher.deliver_pending()
    before = {e.id: e for e in dispatcher.outbox.entries()}

    assert dispatcher.prune(older_than_days=30) == 0  # nothing is old enough
    clock.advance(31 * 86_400)
    removed = dispatcher.prune(older_than_days=30)
    kept = {e.id: e for e in dispatcher.outbox.entries()}
    assert removed == len(before) - len(kept)
    # the first alert of the open incident is gone, its newest rows stay for resolve()
    assert not any(e.alert_key == open_incident.key for e in kept.values())
    assert {e.alert_key for e in kept.values() if e.incident_key == open_incident.incident_key}
    # the resolved incident is forgotten entirely, threads included
    assert not [e for e in kept.values() if e.incident_key.endswith(":f1")]
    assert dispatcher.outbox.threads("steward:fraud-detector:3:f1") == []
    # unfinished rows are never pruned
    assert {e.id for e in before.values() if e.status == "pending"} <= set(kept)
    # and the open incident can still be resolved
    assert len(dispatcher.resolve("fraud-detector", "3", "drift_share")) == 4
