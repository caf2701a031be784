"""``steward alerts preview | pending | deliver``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _alerts import CHANNELS, TOKEN, fraud_policy, make_alert
from click.testing import CliRunner

from modelsteward.alerts import AlertDispatcher
from modelsteward.alerts.fakes import FakeSlack
from modelsteward.cli import cli


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_preview_shows_roles_channels_and_the_page(
    steward_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PD_ROUTING_KEY_FRAUD", raising=False)
    code, out, _ = invoke("alerts", "preview", "fraud-detector", "--severity", "critical")
    assert code == 0, out
    assert out.splitlines()[0] == "fraud-detector: drift at critical -> operator, owner, guardian"
    assert "#mlops-alerts" in out and "outbox-only (STEWARD_SLACK_BOT_TOKEN unset)" in out
    assert "PD_ROUTING_KEY_FRAUD" in out and "page: yes" in out

    monkeypatch.setenv("PD_ROUTING_KEY_FRAUD", "x" * 32)
    code, out, _ = invoke(
        "alerts",
        "preview",
        "fraud-detector",
        "--severity",
        "warning",
        "--kind",
        "security",
        "--json",
    )
    assert code == 0
    shown = json.loads(out)
    assert shown["roles"] == ["operator", "owner", "guardian"] and shown["page"] is False
    assert "x" * 32 not in out


def test_preview_of_an_unknown_model_is_one_line_exit_7(steward_home: Path) -> None:
    code, _, err = invoke("alerts", "preview", "no-such-model")
    assert code == 7
    assert len(err.strip().splitlines()) == 1
    assert "no policy for model 'no-such-model'" in err and "Traceback" not in err


def test_pending_and_deliver_on_a_laptop_without_slack(steward_home: Path) -> None:
    assert invoke("alerts", "pending", "--json")[1].strip() == "[]"
    assert invoke("alerts", "pending")[1].strip() == "nothing pending"
    from modelsteward.settings import load_settings

    with AlertDispatcher.from_settings(load_settings(), ledger=None) as dispatcher:
        dispatcher.enqueue(make_alert(severity="warning"), fraud_policy())
    code, out, _ = invoke("alerts", "pending", "--json")
    rows = json.loads(out)
    assert code == 0 and len(rows) == 2
    assert {r["target"] for r in rows} == {"#mlops-alerts", "#payments-risk"}
    assert all(r["status"] == "pending" and r["title"] for r in rows)
    code, out, err = invoke("alerts", "deliver", "--json")
    assert code == 0, err
    assert json.loads(out)["outbox_only"] == 2
    assert "ALERT slack:#mlops-alerts (operator)" in err
    assert json.loads(invoke("alerts", "pending", "--json")[1]) == []


def test_deliver_to_slack_and_exit_6_on_a_final_failure(
    steward_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelsteward.settings import load_settings

    with FakeSlack(channels=CHANNELS[:2]) as slack:  # no #mlops-alerts
        monkeypatch.setenv("STEWARD_SLACK_BOT_TOKEN", TOKEN)
        monkeypatch.setenv("STEWARD_SLACK_API_URL", slack.base_url)
        with AlertDispatcher.from_settings(load_settings(), ledger=None) as dispatcher:
            dispatcher.enqueue(make_alert(severity="warning"), fraud_policy())
        code, out, err = invoke("alerts", "deliver")
        assert code == 6
        assert out.startswith("delivered 1 (0 outbox-only), failed 1")
        assert "channel_not_found" in err
        assert len(slack.posted) == 1
        slack.add_channel("#mlops-alerts")
        code, out, _ = invoke("alerts", "deliver", "--retry-failed", "--json")
        assert code == 0 and json.loads(out)["requeued"] == 1
        assert len(slack.posted) == 2


def test_resolve_command_resolves_once(steward_home: Path) -> None:
    from modelsteward.settings import load_settings

    code, out, _ = invoke("alerts", "resolve", "fraud-detector", "3", "drift_share")
    assert code == 0 and "nothing to resolve" in out
    with AlertDispatcher.from_settings(load_settings(), ledger=None) as dispatcher:
        dispatcher.enqueue(make_alert(), fraud_policy())
        dispatcher.deliver_pending()  # outbox-only: no token, no routing key
    code, out, _ = invoke("alerts", "resolve", "fraud-detector", "3", "drift_share")
    assert code == 0, out
    assert out.startswith("steward:fraud-detector:3:drift_share: resolution to pagerduty:")
    assert (
        "nothing to resolve" in invoke("alerts", "resolve", "fraud-detector", "3", "drift_share")[1]
    )


def test_settings_tune_the_dispatcher(steward_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from modelsteward.settings import load_settings

    monkeypatch.setenv("STEWARD_ALERT_MAX_ATTEMPTS", "3")
    monkeypatch.setenv("STEWARD_ALERT_MIN_INTERVAL_SECONDS", "1.5")
    monkeypatch.setenv("STEWARD_ALERT_BACKOFF_BASE_SECONDS", "10")
    with AlertDispatcher.from_settings(load_settings(), ledger=None) as dispatcher:
        assert dispatcher.max_attempts == 3
        assert dispatcher.min_interval_seconds == 1.5
        assert dispatcher.backoff_base_seconds == 10


def test_prune_command(steward_home: Path) -> None:
    code, out, _ = invoke("alerts", "prune", "--older-than-days", "0")
    assert code == 0 and out.strip() == "pruned 0 finished deliveries older than 0 days"
