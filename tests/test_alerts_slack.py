"""Slack delivery through the real slack_sdk WebClient against a loopback Slack Web API."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from _alerts import CHANNELS, FakeClock, ListLedger, fraud_policy, make_alert, make_dispatcher

from modelsteward.alerts.fakes import FakeSlack


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def slack(clock: FakeClock) -> Iterator[FakeSlack]:
    with FakeSlack(channels=CHANNELS, revoked=("xoxb-revoked",), clock=clock.monotonic) as server:
        yield server


def operator_alert(**overrides: object):
    """An info data-quality alert: one delivery, to #mlops-alerts."""
    data: dict[str, object] = {"kind": "data_quality", "severity": "info", "signal": "nulls"}
    data.update(overrides)
    return make_alert(**data)


def test_block_kit_message_has_text_header_fields_and_links(
    tmp_path: Path, slack: FakeSlack, clock: FakeClock
) -> None:
    dispatcher, _ = make_dispatcher(tmp_path, clock=clock, slack=slack, env={})
    dispatcher.enqueue(make_alert(severity="warning"), fraud_policy())
    report = dispatcher.deliver_pending()
    assert report.slack_messages == 2 and len(report.delivered) == 2
    message = next(r for r in slack.posted if r.channel == "#mlops-alerts")
    text = message.body["text"]
    assert text.startswith("[WARNING] fraud-detector v3: Data drift on 4 of 6 columns")
    assert "drift_share 0.67 vs 0.6" in text and "for operator" in text
    header, summary, facts, context = message.body["blocks"]
    assert header["type"] == "header"
    assert header["text"]["text"] == ":warning: Warning: Data drift on 4 of 6 columns"
    assert "critical threshold 0.6" in summary["text"]["text"]
    shown = [field["text"] for field in facts["fields"]]
    for expected in (
        "*Model*\nfraud-detector",
        "*Version*\n3",
        "*Owner*\nDana Whitfield (Head of Payments Risk)",
        "*Signal*\ndrift_share",
        "*Value vs threshold*\n0.67 vs 0.6",
    ):
        assert expected in shown
    links = context["elements"][0]["text"]
    assert "<https://reports.example.com/fraud-detector/3/drift.html|Evidently report>" in links
    assert "<http://127.0.0.1:4200/runs/flow-run/0b6f|Prefect flow run>" in links
    assert "steward:fraud-detector:3:drift_share" in context["elements"][1]["text"]


def test_follow_ups_of_an_incident_thread_under_the_first_message_across_restarts(
    tmp_path: Path, slack: FakeSlack, clock: FakeClock
) -> None:
    dispatcher, _ = make_dispatcher(tmp_path, clock=clock, slack=slack)
    dispatcher.enqueue(operator_alert(idempotency_key="run-1"), fraud_policy())
    dispatcher.deliver_pending()
    dispatcher.close()
    restarted, _ = make_dispatcher(tmp_path, clock=clock, slack=slack)
    restarted.enqueue(operator_alert(idempotency_key="run-2", value=0.4), fraud_policy())
    restarted.enqueue(operator_alert(idempotency_key="other", signal="ranges"), fraud_policy())
    restarted.deliver_pending()
    first, *later = slack.posted
    assert first.body.get("thread_ts") is None
    by_signal = {json.dumps(r.body["blocks"]).count("nulls") > 0: r for r in later}
    assert by_signal[True].body["thread_ts"] == first.answer["ts"]  # same incident: a reply
    assert by_signal[True].body["channel"] == first.answer["channel"]
    assert by_signal[False].body.get("thread_ts") is None  # another incident: a new thread


@pytest.mark.parametrize(
    ("token", "code", "hint"),
    [
        ("xoxb-wrong", "invalid_auth", "check STEWARD_SLACK_BOT_TOKEN"),
        ("xoxb-revoked", "token_revoked", "issue a new bot token"),
    ],
)
def test_bad_token_is_a_final_failure_not_retried(
    tmp_path: Path, slack: FakeSlack, clock: FakeClock, token: str, code: str, hint: str
) -> None:
    ledger = ListLedger()
    dispatcher, console = make_dispatcher(
        tmp_path, clock=clock, slack=slack, token=token, ledger=ledger
    )
    (entry,) = dispatcher.enqueue(operator_alert(), fraud_policy())
    report = dispatcher.deliver_pending()
    assert report.failed == [entry.id] and report.retrying == []
    assert any(code in e and hint in e for e in report.errors)
    clock.advance(7200)
    assert dispatcher.deliver_pending().failed == []
    assert len(slack.requests) == 1  # never retried
    (failed,) = dispatcher.pending()
    assert failed.status == "failed" and code in (failed.last_error or "")
    assert "ALERT NOT DELIVERED" in console.getvalue()
    fallback = json.loads((tmp_path / "alerts.jsonl").read_text().splitlines()[-1])
    assert fallback["status"] == "failed" and fallback["id"] == entry.id
    assert [r["action"] for r in ledger.records] == ["alert.failed"]


def test_unknown_channel_names_the_policy_fix(
    tmp_path: Path, slack: FakeSlack, clock: FakeClock
) -> None:
    slack.channels.pop("#mlops-alerts")
    dispatcher, _ = make_dispatcher(tmp_path, clock=clock, slack=slack)
    dispatcher.enqueue(operator_alert(), fraud_policy())
    report = dispatcher.deliver_pending()
    assert len(report.failed) == 1
    assert "channel_not_found" in report.errors[0]
    assert "fix the role's slack in the policy" in report.errors[0]


def test_429_waits_retry_after_and_does_not_count_as_an_attempt(
    tmp_path: Path, slack: FakeSlack, clock: FakeClock
) -> None:
    slack.fail_next(429, retry_after=1, times=2)
    dispatcher, _ = make_dispatcher(tmp_path, clock=clock, slack=slack, max_attempts=1)
    (entry,) = dispatcher.enqueue(operator_alert(), fraud_policy())
    report = dispatcher.deliver_pending(wait_seconds=10)
    assert report.delivered == [entry.id] and report.rate_limited == 2
    assert [r.status for r in slack.requests] == [429, 429, 200]
    arrivals = [r.arrived for r in slack.requests]
    assert all(b - a >= 1.0 for a, b in itertools.pairwise(arrivals))
    assert dispatcher.outbox.get_many([entry.id])[0].attempts == 1


def test_429_longer_than_the_wait_budget_is_left_for_the_next_run(
    tmp_path: Path, slack: FakeSlack, clock: FakeClock
) -> None:
    slack.fail_next(429, retry_after=120)
    dispatcher, _ = make_dispatcher(tmp_path, clock=clock, slack=slack)
    dispatcher.enqueue(operator_alert(), fraud_policy())
    report = dispatcher.deliver_pending(wait_seconds=5)
    assert report.delivered == [] and report.still_pending == 1
    assert "retry after 120s" in report.errors[0]
    clock.advance(121)
    assert len(dispatcher.deliver_pending().delivered) == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retried_with_backoff_including_502(
    tmp_path: Path, slack: FakeSlack, clock: FakeClock, status: int
) -> None:
    slack.fail_next(status, times=2)
    dispatcher, _ = make_dispatcher(tmp_path, clock=clock, slack=slack)
    (entry,) = dispatcher.enqueue(operator_alert(), fraud_policy())
    first = dispatcher.deliver_pending()
    assert first.retrying == [entry.id] and first.delivered == []
    assert f"HTTP {status}" in first.errors[0]
    pending = dispatcher.outbox.get_many([entry.id])[0]
    assert pending.next_attempt_at == pytest.approx(clock.time() + 2.0)  # base backoff
    assert dispatcher.deliver_pending().delivered == []  # backoff not over yet
    clock.advance(2.0)
    dispatcher.deliver_pending()
    clock.advance(4.0)  # doubled
    assert dispatcher.deliver_pending().delivered == [entry.id]
    assert [r.status for r in slack.requests] == [status, status, 200]


def test_refused_connection_keeps_the_alert_and_gives_up_after_max_attempts(
    tmp_path: Path, slack: FakeSlack, clock: FakeClock
) -> None:
    ledger = ListLedger()
    dispatcher, _ = make_dispatcher(
        tmp_path, clock=clock, slack=slack, max_attempts=3, ledger=ledger
    )
    slack.stop()
    (entry,) = dispatcher.enqueue(operator_alert(), fraud_policy())
    reports = []
    for _ in range(3):
        reports.append(dispatcher.deliver_pending())
        clock.advance(3600)
    assert [len(r.retrying) for r in reports] == [1, 1, 0]
    assert reports[-1].failed == [entry.id]
    assert "cannot reach" in reports[0].errors[0]
    assert [r["action"] for r in ledger.records] == ["alert.failed"]
    assert ledger.records[0]["details"]["attempts"] == 3


def test_burst_to_one_channel_is_coalesced_into_paced_digests(
    tmp_path: Path, slack: FakeSlack, clock: FakeClock
) -> None:
    dispatcher, _ = make_dispatcher(tmp_path, clock=clock, slack=slack)
    for n in range(60):
        dispatcher.enqueue(
            operator_alert(model="fraud-detector", version=str(n % 3), signal=f"col{n}"),
            fraud_policy(),
        )
    report = dispatcher.deliver_pending()
    assert len(report.delivered) == 60 and report.slack_messages == 2
    first, second = slack.posted
    assert first.body["text"].startswith("Model Steward: 50 alerts (50 info) on 1 model(s)")
    assert second.body["text"].startswith("Model Steward: 10 alerts")
    assert second.arrived - first.arrived >= 1.0
    assert all(r.status == 200 for r in slack.requests)  # the fake validated the blocks


def test_pacing_holds_between_calls_and_across_threads_of_one_channel(
    tmp_path: Path, slack: FakeSlack, clock: FakeClock
) -> None:
    slack.rate_limit_seconds = 1.0  # the fake answers 429 to anything faster
    dispatcher, _ = make_dispatcher(tmp_path, clock=clock, slack=slack)
    dispatcher.enqueue(operator_alert(idempotency_key="a"), fraud_policy())
    dispatcher.deliver_pending()
    dispatcher.enqueue(operator_alert(idempotency_key="b"), fraud_policy())  # thread reply
    dispatcher.enqueue(operator_alert(idempotency_key="c", signal="other"), fraud_policy())
    report = dispatcher.deliver_pending()
    assert report.rate_limited == 0 and len(report.delivered) == 2
    arrivals = [r.arrived for r in slack.requests]
    assert len(arrivals) == 3
    assert all(b - a >= 1.0 for a, b in itertools.pairwise(arrivals))


def test_pacing_holds_across_processes(tmp_path: Path, slack: FakeSlack, clock: FakeClock) -> None:
    slack.rate_limit_seconds = 1.0
    first, _ = make_dispatcher(tmp_path, clock=clock, slack=slack)
    first.enqueue(operator_alert(idempotency_key="a"), fraud_policy())
    first.deliver_pending()
    first.close()
    second, _ = make_dispatcher(tmp_path, clock=clock, slack=slack)  # another process
    second.enqueue(operator_alert(idempotency_key="b"), fraud_policy())
    report = second.deliver_pending()
    assert report.rate_limited == 0 and len(report.delivered) == 1
    one, two = slack.requests
    assert two.arrived - one.arrived >= 1.0


def test_a_critical_follow_up_is_broadcast_from_its_thread(
    tmp_path: Path, slack: FakeSlack, clock: FakeClock
) -> None:
    dispatcher, _ = make_dispatcher(tmp_path, clock=clock, slack=slack)
    dispatcher.enqueue(operator_alert(idempotency_key="a"), fraud_policy())
    dispatcher.deliver_pending()
    dispatcher.enqueue(operator_alert(idempotency_key="b", severity="critical"), fraud_policy())
    dispatcher.deliver_pending()
    dispatcher.enqueue(operator_alert(idempotency_key="c"), fraud_policy())
    dispatcher.deliver_pending()
    first = slack.posted[0]
    critical, info = [r for r in slack.posted if r.channel == first.answer["channel"]]
    assert critical.body["thread_ts"] == info.body["thread_ts"] == first.answer["ts"]
    assert critical.body["reply_broadcast"] is True
    assert "reply_broadcast" not in info.body


def test_slack_at_name_gets_a_user_id_hint(tmp_path: Path, slack: FakeSlack) -> None:
    from modelsteward.alerts import SlackSender

    result = SlackSender("xoxb-test-token", base_url=slack.base_url).post(
        channel="@dana", text="hello"
    )
    assert result.permanent
    assert "needs a user ID (U0123ABCD), not an @name" in (result.error or "")


def test_a_deleted_thread_root_starts_the_incident_anew(
    tmp_path: Path, slack: FakeSlack, clock: FakeClock
) -> None:
    dispatcher, _ = make_dispatcher(tmp_path, clock=clock, slack=slack)
    dispatcher.enqueue(operator_alert(idempotency_key="a"), fraud_policy())
    dispatcher.deliver_pending()
    root = slack.posted[0].answer
    slack.delete_message(root["channel"], root["ts"])
    dispatcher.enqueue(operator_alert(idempotency_key="b"), fraud_policy())
    report = dispatcher.deliver_pending()
    assert len(report.delivered) == 1 and report.failed == []
    rejected, fresh = slack.requests[1:]
    assert rejected.answer == {"ok": False, "error": "thread_not_found"}
    assert "thread_ts" not in fresh.body and fresh.status == 200
    assert fresh.arrived - rejected.arrived >= 1.0  # still paced
    dispatcher.enqueue(operator_alert(idempotency_key="c"), fraud_policy())
    dispatcher.deliver_pending()
    assert slack.requests[-1].body["thread_ts"] == fresh.answer["ts"]  # the new root
