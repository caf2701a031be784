"""Helpers of the alert tests: a fake clock, the sample policy, alerts, dispatchers."""

from __future__ import annotations

import io
import threading
from pathlib import Path
from typing import Any

from modelsteward.alerts import Alert, AlertDispatcher, Outbox, PagerDutySender, SlackSender
from modelsteward.alerts.fakes import FakePagerDuty, FakeSlack
from modelsteward.policy import Policy, load_policy

REPO = Path(__file__).resolve().parent.parent
FRAUD = REPO / "policies" / "fraud-detector.yaml"
CHANNELS = ("#payments-risk", "#ai-security", "#mlops-alerts")
TOKEN = "xoxb-test-token"
PD_KEY = "R0UT1NGKEY0123456789abcdefABCDEF"  # 32 characters, as PagerDuty requires
PD_ENV = {"PD_ROUTING_KEY_FRAUD": PD_KEY}


class FakeClock:
    """Wall and monotonic time that only move when someone sleeps (thread-safe)."""

    def __init__(self, start: float = 1_800_000_000.0):
        self._now = start
        self._lock = threading.Lock()
        self.slept: list[float] = []

    def time(self) -> float:
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        return self.time()

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.slept.append(seconds)
            self._now += seconds

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds


def fraud_policy() -> Policy:
    return load_policy(FRAUD)


def make_alert(**overrides: Any) -> Alert:
    data: dict[str, Any] = {
        "model": "fraud-detector",
        "version": "3",
        "kind": "drift",
        "severity": "critical",
        "title": "Data drift on 4 of 6 columns",
        "summary": "Share of drifted columns 0.67 is at or above the critical threshold 0.6.",
        "signal": "drift_share",
        "value": 0.67,
        "threshold": 0.6,
        "fields": {"drifted columns": "amount, hour_of_day, card_present, txn_count_24h"},
        "links": {
            "report": "https://reports.example.com/fraud-detector/3/drift.html",
            "flow_run": "http://127.0.0.1:4200/runs/flow-run/0b6f",
        },
    }
    data.update(overrides)
    return Alert(**data)


def make_dispatcher(
    path: Path,
    *,
    clock: FakeClock,
    slack: FakeSlack | None = None,
    pagerduty: FakePagerDuty | None = None,
    token: str = TOKEN,
    env: dict[str, str] | None = None,
    ledger: Any = None,
    **kwargs: Any,
) -> tuple[AlertDispatcher, io.StringIO]:
    console = io.StringIO()
    dispatcher = AlertDispatcher(
        Outbox(path / "outbox.db"),
        slack=SlackSender(token, base_url=slack.base_url, timeout=5) if slack else None,
        pagerduty=PagerDutySender(pagerduty.url, timeout=5) if pagerduty else None,
        ledger=ledger,
        console=console,
        env=PD_ENV if env is None else env,
        clock=clock.time,
        monotonic=clock.monotonic,
        sleep=clock.sleep,
        **kwargs,
    )
    return dispatcher, console


class ListLedger:
    """A ledger that keeps its records in a list (the interface of modelsteward.audit)."""

    def __init__(self, fail_times: int = 0):
        self.records: list[dict[str, Any]] = []
        self.fail_times = fail_times

    def append(self, **record: Any) -> dict[str, Any]:
        if self.fail_times:
            self.fail_times -= 1
            raise OSError("ledger disk is full")
        self.records.append(record)
        return record
