"""Property: whatever Slack answers, each alert ends delivered once or failed, never lost."""

from __future__ import annotations

import tempfile
from pathlib import Path

from _alerts import CHANNELS, FakeClock, fraud_policy, make_alert, make_dispatcher
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelsteward.alerts.fakes import FakeSlack

PERMANENT = {"ok": False, "error": "channel_not_found"}
fault = st.sampled_from(["429", "500", "502", "503", "permanent"])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    faults=st.lists(fault, max_size=10),
    signals=st.lists(st.sampled_from(["nulls", "ranges", "types"]), min_size=1, max_size=8),
    max_attempts=st.integers(min_value=1, max_value=4),
)
def test_each_alert_is_delivered_once_or_failed_and_never_sent(
    faults: list[str], signals: list[str], max_attempts: int
) -> None:
    clock = FakeClock()
    with (
        tempfile.TemporaryDirectory() as tmp,
        FakeSlack(channels=CHANNELS, clock=clock.monotonic) as slack,
    ):
        for name in faults:
            if name == "permanent":
                slack.fail_next(200, body=PERMANENT)
            else:
                slack.fail_next(int(name), retry_after=1 if name == "429" else None)
        dispatcher, _ = make_dispatcher(
            Path(tmp), clock=clock, slack=slack, max_attempts=max_attempts
        )
        titles = {}
        for n, signal in enumerate(signals):
            alert = make_alert(
                kind="data_quality",
                severity="info",
                signal=signal,
                title=f"finding {n:02d}:",
                idempotency_key=f"run-{n}",
            )
            (entry,) = dispatcher.enqueue(alert, fraud_policy())
            titles[entry.id] = alert.title
        for _ in range(40):
            dispatcher.deliver_pending(wait_seconds=5)
            if not [e for e in dispatcher.pending() if e.status != "failed"]:
                break
            clock.advance(3600)
        entries = dispatcher.outbox.entries()
        dispatcher.close()

    assert {e.status for e in entries} <= {"delivered", "failed"}
    accepted = [str(r.body["blocks"]) + r.body["text"] for r in slack.posted]
    for entry in entries:
        times = sum(1 for message in accepted if titles[entry.id] in message)
        assert times == (1 if entry.status == "delivered" else 0), entry
    assert len(slack.posted) <= len(entries)
