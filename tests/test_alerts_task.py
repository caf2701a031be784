"""The Prefect tasks: enqueue + deliver inside a flow; retries only for outside failures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _alerts import CHANNELS, TOKEN, fraud_policy, make_alert

from modelsteward.alerts.fakes import FakeSlack
from modelsteward.errors import ExternalServiceError, PolicyError


class _State:
    def __init__(self, error: BaseException):
        self.error = error

    def result(self) -> Any:
        raise self.error


@pytest.mark.parametrize(
    ("error", "retry"),
    [
        (ExternalServiceError("outbox locked"), True),
        (ConnectionError("reset"), True),
        (TimeoutError("slow"), True),
        (PolicyError("bad policy"), False),
        (ValueError("alert for another model"), False),
    ],
)
def test_tasks_retry_only_on_outside_failures(error: BaseException, retry: bool) -> None:
    from tasks.alerts import _network_error_only

    assert _network_error_only(None, None, _State(error)) is retry


@pytest.mark.slow
def test_send_and_resolve_alerts_in_a_flow(
    steward_home: Path, prefect_harness: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect import flow

    from modelsteward.settings import load_settings
    from tasks.alerts import resolve_alerts, send_alerts

    with FakeSlack(channels=CHANNELS) as slack:
        monkeypatch.setenv("STEWARD_SLACK_BOT_TOKEN", TOKEN)
        monkeypatch.setenv("STEWARD_SLACK_API_URL", slack.base_url)
        settings = load_settings()
        alerts = [make_alert(severity="warning", idempotency_key="flow-run-1")]

        @flow(name="alerts-under-test")
        def run() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
            sent = send_alerts(alerts, fraud_policy(), settings)
            again = send_alerts(alerts, fraud_policy(), settings)  # a retried run: no repeat
            resolved = resolve_alerts("fraud-detector", "3", ["drift_share"], settings)
            return sent, again, resolved

        sent, again, resolved = run()
    assert (sent["enqueued"], sent["delivered"], sent["slack_messages"]) == (2, 2, 2)
    assert (again["enqueued"], again["delivered"]) == (2, 0)
    assert resolved["resolutions"] == 2 and resolved["delivered"] == 2
    replies = [r for r in slack.posted if r.body.get("thread_ts")]
    assert len(slack.posted) == 4 and len(replies) == 2
    assert all(r.body["text"].startswith("[RESOLVED]") for r in replies)
    for channel in ("#mlops-alerts", "#payments-risk"):  # paced across task runs too
        first, reply = [
            r for r in slack.requests if r.channel in (channel, slack.channels[channel])
        ]
        assert reply.arrived - first.arrived >= 1.0
