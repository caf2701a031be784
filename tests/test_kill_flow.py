"""The kill-model flow: switch first, MLflow alias and tags, ledger, notices; idempotent;
disables with MLflow down and reports the pending step. Prefect's harness, MLflow on SQLite,
moto S3, the real ledger and kill-switch store."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from _killflow import (
    GUARDIAN,
    MODEL,
    OPERATOR,
    alias,
    promote_directly,
    records,
    shared_model,
    switch,
)
from _onboarding import mlflow_template, use_mlflow_template

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared_model(tmp_path_factory)


@pytest.fixture
def promoted(
    settings, prefect_harness, tmp_path: Path, model_cache: Path, monkeypatch
) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    use_mlflow_template(mlflow_template(model_cache.parent), settings.home)
    monkeypatch.setenv("STEWARD_ALERT_MIN_INTERVAL_SECONDS", "0")
    return {"settings": settings, **promote_directly(settings, model_cache, tmp_path)}


def _params(**overrides: Any) -> Any:
    from flows.kill_model import KillParameters

    values = {
        "model": MODEL,
        "reason": "drift beyond the critical threshold",
        "actor": OPERATOR,
        "role": "operator",
        "source": "test",
        **overrides,
    }
    return KillParameters(**values)


def _artifact(key: str) -> str:
    from prefect.artifacts import Artifact

    artifact = Artifact.get(key)
    assert artifact is not None, f"no artifact {key}"
    return str(artifact.data)


def _kill() -> Any:
    from flows.kill_model import kill_model

    return kill_model.with_options(retries=0)


def test_kill_turns_switch_off_removes_alias_and_is_idempotent(
    promoted: dict[str, Any], capfd: pytest.CaptureFixture[str]
) -> None:
    from modelsteward.registry import ModelRegistry

    settings = promoted["settings"]
    version = promoted["version"]
    result = _kill()(_params())
    assert result.pending == []
    assert result.switch_changed is True
    assert result.alias_removed_from == version
    state = switch(settings)
    assert (state.active, state.actor, state.role) == (False, OPERATOR, "operator")
    assert state.version == version
    assert alias(settings) is None
    registry = ModelRegistry.from_settings(settings)
    assert registry.removed_alias_version(MODEL) == version
    tags = registry.version_tags(MODEL, version)
    assert tags["steward.disabled"] == "true"
    assert tags["steward.disabled_by"] == OPERATOR
    disabled = records(settings, "model.disabled")
    assert [r.details.get("step") for r in disabled] == ["switch", "registry"]
    assert disabled[1].details["alias_removed_from"] == version
    assert result.notices is not None and result.notices["undelivered"] == 0
    roles = {role for target in result.notices["targets"] for role in target["roles"]}
    assert roles >= {"owner", "guardian", "operator"}
    notices = capfd.readouterr().err  # no Slack token: the console channel shows each notice
    for role in ("owner", "guardian", "operator"):
        assert f"was stopped (kill switch off) for {role}" in notices

    summary = _artifact("kill-fraud-detector")
    assert "turned off now" in summary and f"removed from v{version}" in summary

    revision = state.revision
    again = _kill()(_params(reason="second request"))
    assert again.pending == []
    assert again.switch_changed is False
    assert again.switch_revision == revision
    assert again.alias_removed_from is None
    assert again.remembered_version == version
    assert switch(settings).revision == revision
    assert switch(settings).reason == "drift beyond the critical threshold"  # the first kill's
    assert len(records(settings, "model.disabled")) == 2  # nothing recorded twice
    assert again.notices is not None and again.notices["delivered"] == 0  # same notice key
    assert "already off" in _artifact("kill-fraud-detector")


def test_switch_already_flipped_by_the_service_is_not_audited_again(
    promoted: dict[str, Any],
) -> None:
    from modelsteward.killswitch import open_store
    from modelsteward.killswitch.control import disable_model, ledger_sink

    settings = promoted["settings"]
    sink = ledger_sink(settings)
    with open_store(settings.killswitch) as store:
        state, _ = disable_model(
            store,
            sink,
            model=MODEL,
            actor="pagerduty",
            role="pagerduty",
            reason="incident triggered",
            source="pagerduty",
        )
    sink.__self__.close()  # type: ignore[attr-defined]
    result = _kill()(
        _params(
            actor="pagerduty",
            role="pagerduty",
            reason="incident triggered",
            source="pagerduty",
            switch_revision=state.revision,
            incident="steward:fraud-detector:drift",
        )
    )
    assert result.switch_changed is False and result.pending == []
    assert alias(settings) is None
    disabled = records(settings, "model.disabled")
    assert [r.details.get("source") or r.details.get("step") for r in disabled] == [
        "pagerduty",
        "registry",
    ]


def test_late_follow_up_does_not_undo_a_reenable(promoted: dict[str, Any]) -> None:
    from modelsteward.killswitch import open_store
    from modelsteward.killswitch.control import disable_model, enable_model, ledger_sink

    settings = promoted["settings"]
    sink = ledger_sink(settings)
    with open_store(settings.killswitch) as store:
        killed, _ = disable_model(
            store,
            sink,
            model=MODEL,
            actor="pagerduty",
            role="pagerduty",
            reason="p1",
            source="pagerduty",
        )
        enabled = enable_model(
            store,
            sink,
            model=MODEL,
            actor="ai-security@example.com",
            role="guardian",
            reason="false alarm",
            source="cli",
        )
    sink.__self__.close()  # type: ignore[attr-defined]
    count = len(records(settings))
    result = _kill()(
        _params(
            actor="pagerduty", role="pagerduty", source="pagerduty", switch_revision=killed.revision
        )
    )
    assert result.superseded is True and result.pending == []
    assert switch(settings).active is True and switch(settings).revision == enabled.revision
    assert alias(settings) == promoted["version"]
    assert len(records(settings)) == count
    assert "superseded" in _artifact("kill-fraud-detector")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_mlflow_down_still_disables_and_reports_the_pending_step(
    promoted: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    import tasks.serving
    from modelsteward.errors import ExternalServiceError

    settings = promoted["settings"]
    sqlite_uri = settings.tracking_uri
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{_free_port()}")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    fast = tasks.serving.withdraw_serving_version.with_options(retry_delay_seconds=0)
    monkeypatch.setattr(tasks.serving, "withdraw_serving_version", fast)

    state = _kill()(_params(), return_state=True)
    assert state.is_failed()
    with pytest.raises(ExternalServiceError, match=r"pending: registry: ExternalServiceError"):
        state.result()
    assert switch(settings).active is False  # disabled all the same
    assert "## Pending" in _artifact("kill-fraud-detector")
    assert [r.details.get("step") for r in records(settings, "model.disabled")] == ["switch"]

    # MLflow is back: running again finishes the registry step, the switch is left alone
    monkeypatch.setenv("MLFLOW_TRACKING_URI", sqlite_uri)
    revision = switch(settings).revision
    result = _kill()(_params())
    assert result.pending == [] and result.switch_changed is False
    assert result.alias_removed_from == promoted["version"]
    assert alias(settings) is None
    assert switch(settings).revision == revision
    assert [r.details.get("step") for r in records(settings, "model.disabled")] == [
        "switch",
        "registry",
    ]


def test_slack_down_still_disables_and_keeps_the_notices_pending(
    promoted: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelsteward.errors import ExternalServiceError

    port = _free_port()
    monkeypatch.setenv("STEWARD_SLACK_BOT_TOKEN", "xoxb-test-token")
    monkeypatch.setenv("STEWARD_SLACK_API_URL", f"http://127.0.0.1:{port}/api/")
    monkeypatch.setenv("STEWARD_PAGERDUTY_EVENTS_URL", f"http://127.0.0.1:{port}/v2/enqueue")
    monkeypatch.setenv("PD_ROUTING_KEY_FRAUD", "R0UT1NGKEY0123456789abcdefABCDEF")
    settings = promoted["settings"]
    state = _kill()(_params(), return_state=True)
    assert state.is_failed()
    with pytest.raises(
        ExternalServiceError, match=r"pending: notices: \d+ not delivered yet, kept in the outbox"
    ):
        state.result()
    assert switch(settings).active is False
    assert alias(settings) is None  # MLflow was up: that step is done


def test_unregistered_model_is_still_disabled(promoted: dict[str, Any]) -> None:
    result = _kill()(_params(model="shadow-model"))
    assert result.pending == []
    assert result.registry is not None and "skipped" in result.registry
    assert result.notices is not None and "skipped" in result.notices
    from modelsteward.killswitch import open_store

    with open_store(promoted["settings"].killswitch) as store:
        assert store.get_state("shadow-model").active is False  # type: ignore[union-attr]


def test_a_flip_whose_record_was_lost_is_recorded_on_retry(settings) -> None:  # type: ignore[no-untyped-def]
    """The switch is written before the ledger: when the ledger write failed, a retry of
    switch_off records the flip (in the name of whoever made it) instead of skipping it."""
    from modelsteward.audit import Ledger
    from modelsteward.killswitch import open_store
    from tasks.killswitch import switch_off

    with open_store(settings.killswitch) as store:
        store.set_state(MODEL, active=True, actor=GUARDIAN, role="guardian", reason="ok")
        flipped = store.set_state(
            MODEL, active=False, actor=OPERATOR, role="operator", reason="drift"
        )  # ... and then the ledger append failed
    for _ in range(2):  # the retry, then one more: recorded once
        state, changed = switch_off.fn(
            settings, MODEL, actor="kill-model", role="system", reason="x", source="manual"
        )
        assert (state.revision, changed) == (flipped.revision, False)
    with Ledger.from_settings(settings) as ledger:
        records = list(ledger.records(model=MODEL, action="model.disabled"))
    assert len(records) == 1
    assert (records[0].actor, str(records[0].role)) == (OPERATOR, "operator")
    assert records[0].details["recorded_late"] is True
    assert records[0].details["switch_revision"] == flipped.revision
