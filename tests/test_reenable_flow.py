"""The reenable-model flow: only the Guardian (or a delegate) re-enables, after the stored
artifact verifies again; the alias comes back where the kill removed it, then the switch.
Prefect's harness (the pause answered as ``steward approve`` does), MLflow on SQLite, moto S3
with Object Lock, the real ledger and kill-switch store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _killflow import (
    DELEGATE,
    GUARDIAN,
    MODEL,
    OPERATOR,
    OWNER,
    alias,
    promote_directly,
    records,
    shared_model,
    switch,
)
from _onboarding import mlflow_template, use_mlflow_template

from modelsteward.errors import IntegrityError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared_model(tmp_path_factory)


@pytest.fixture
def killed(
    settings, prefect_harness, tmp_path: Path, model_cache: Path, monkeypatch
) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    from flows.kill_model import KillParameters, kill_model

    use_mlflow_template(mlflow_template(model_cache.parent), settings.home)
    monkeypatch.setenv("STEWARD_ALERT_MIN_INTERVAL_SECONDS", "0")
    promoted = promote_directly(settings, model_cache, tmp_path)
    kill_model.with_options(retries=0)(
        KillParameters(model=MODEL, reason="drift", actor=OPERATOR, role="operator")
    )
    assert switch(settings).active is False and alias(settings) is None
    return {"settings": settings, **promoted}


def _params(**overrides: Any) -> Any:
    from flows.reenable_model import ReenableParameters

    values = {
        "model": MODEL,
        "requested_by": OWNER,
        "reason": "drift explained: upstream schema fix deployed",
        "approval_poll_seconds": 0.3,
        "approval_timeout_seconds": 60,
        **overrides,
    }
    return ReenableParameters(**values)


def _decision(approver: str, approve: bool = True) -> Any:
    from flows.onboard_model import ApprovalInput

    return ApprovalInput(approve=approve, approver=approver, risk_assessment="root cause fixed")


def test_guardian_reenables_restoring_alias_then_switch(killed: dict[str, Any]) -> None:
    from flows.reenable_model import run_reenable
    from modelsteward.registry import ModelRegistry

    settings = killed["settings"]
    version = killed["version"]
    result = run_reenable(_params(), decisions=[_decision(GUARDIAN)])
    assert (result.status, result.approver, result.version) == ("enabled", GUARDIAN, version)
    assert alias(settings) == version
    state = switch(settings)
    assert (state.active, state.actor, state.role, state.version) == (
        True,
        GUARDIAN,
        "guardian",
        version,
    )
    assert state.revision == result.switch_revision
    tags = ModelRegistry.from_settings(settings).version_tags(MODEL, version)
    assert tags["steward.disabled"] == "false" and tags["steward.enabled_by"] == GUARDIAN
    actions = [str(r.action) for r in records(settings)]
    assert actions[-4:] == [
        "approval.requested",
        "approval.granted",
        "artifact.verified",
        "model.enabled",
    ]
    enabled = records(settings, "model.enabled")[-1]
    assert (enabled.actor, str(enabled.role)) == (GUARDIAN, "guardian")
    assert enabled.details["signature_sha256"] == killed["stored"].signature_sha256
    assert enabled.details["risk_assessment"] == "root cause fixed"
    from prefect.artifacts import Artifact

    summary = Artifact.get("reenable-fraud-detector")
    assert summary is not None and "**enabled**" in str(summary.data)
    assert f"alias `champion` → v{version}" in str(summary.data)

    # idempotent: serving already, so nothing is asked, changed or recorded
    count = len(records(settings))
    again = run_reenable(_params())  # no decisions: it would wait if it asked
    assert (again.status, again.switch_revision) == ("enabled", state.revision)
    assert again.reason.startswith("already serving")
    assert len(records(settings)) == count


def test_operator_is_refused_and_audited_guardian_rejection_keeps_it_off(
    killed: dict[str, Any],
) -> None:
    from flows.reenable_model import run_reenable

    settings = killed["settings"]
    result = run_reenable(
        _params(), decisions=[_decision(OPERATOR), _decision(DELEGATE, approve=False)]
    )
    assert result.status == "rejected"
    assert result.refused == [OPERATOR]
    assert result.reason == f"rejected by {DELEGATE}"
    assert switch(settings).active is False and alias(settings) is None
    refused = records(settings, "access.refused")
    assert [(r.actor, str(r.role)) for r in refused] == [(OPERATOR, "operator")]
    assert refused[0].details["attempted"] == "re-enable"
    assert "model.enabled" not in [str(r.action) for r in records(settings)][-3:]


def test_tampered_artifact_is_never_reenabled(killed: dict[str, Any]) -> None:
    from flows.reenable_model import run_reenable
    from modelsteward.artifacts import ArtifactStore, artifact_prefix

    settings = killed["settings"]
    ArtifactStore.from_settings(settings).bucket.put(
        f"{artifact_prefix(MODEL, killed['version'])}files/model.pkl", b"trojan"
    )
    with pytest.raises(IntegrityError, match=r"files/model\.pkl.*uploaded over"):
        run_reenable(_params(), decisions=[_decision(GUARDIAN)])
    assert switch(settings).active is False and alias(settings) is None
    rejected = records(settings, "artifact.rejected")
    assert [r.details["step"] for r in rejected] == ["re-enable"]
    assert str(records(settings)[-1].action) == "artifact.rejected"


def test_version_without_a_stored_artifact_is_refused_before_asking(
    killed: dict[str, Any],
) -> None:
    from flows.reenable_model import run_reenable
    from modelsteward.errors import NotFoundError

    with pytest.raises(NotFoundError, match=r"v7: no artifact\.stored record"):
        run_reenable(_params(version="7"))
    assert "approval.requested" not in [str(r.action) for r in records(killed["settings"])]


def test_registry_pointed_at_another_artifact_is_refused(killed: dict[str, Any]) -> None:
    from flows.reenable_model import run_reenable
    from modelsteward.registry import ModelRegistry

    settings = killed["settings"]
    ModelRegistry.from_settings(settings).set_version_tags(
        MODEL, killed["version"], {"steward.s3.index_version_id": "forged-version-id"}
    )
    with pytest.raises(IntegrityError, match=r"index_version_id is forged-version-id"):
        run_reenable(_params(), decisions=[_decision(GUARDIAN)])
    assert switch(settings).active is False and alias(settings) is None
    assert [r.details["step"] for r in records(settings, "artifact.rejected")] == ["re-enable"]


def test_no_decision_in_time_keeps_it_off(killed: dict[str, Any]) -> None:
    from flows.reenable_model import run_reenable

    settings = killed["settings"]
    result = run_reenable(_params(approval_timeout_seconds=2), decisions=None)
    assert (result.status, result.reason) == ("rejected", "no decision in time")
    assert switch(settings).active is False and alias(settings) is None
    timeout = records(settings, "approval.rejected")[-1]
    assert (timeout.actor, timeout.details["reason"]) == ("reenable-model", "timeout")


def test_steward_enable_runs_the_full_reenable(killed: dict[str, Any]) -> None:
    """`steward enable` re-verifies and restores the alias, not just the switch."""
    from click.testing import CliRunner

    from modelsteward.cli import cli

    settings = killed["settings"]
    result = CliRunner().invoke(
        cli, ["enable", MODEL, "--as", GUARDIAN, "--reason", "root cause fixed"]
    )
    assert result.exit_code == 0, result.output
    assert "signature re-verified, alias champion restored" in result.output
    assert alias(settings) == killed["version"]
    assert switch(settings).active is True
    assert [str(r.action) for r in records(settings)][-2:] == [
        "artifact.verified",
        "model.enabled",
    ]


def test_a_kill_during_the_approval_wait_is_not_undone(killed: dict[str, Any]) -> None:
    import threading
    import time

    from prefect import tags

    from flows._approval import approve_paused_run, paused_run_with_tag
    from flows.reenable_model import reenable_model
    from modelsteward.killswitch import open_store

    settings = killed["settings"]
    results: list[Any] = []
    tag = "test-superseded-approval"

    def run() -> None:
        with tags(tag):
            results.append(reenable_model(_params()))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    run_id = None
    while run_id is None and time.monotonic() < deadline:
        run_id = paused_run_with_tag(tag)
        time.sleep(0.2)
    assert run_id is not None, "the re-enable never paused for approval"
    with open_store(settings.killswitch) as store:  # a new incident while the Guardian reads
        store.set_state(
            MODEL, active=False, actor=OPERATOR, role="operator", reason="second incident"
        )
    approve_paused_run(run_id, _decision(GUARDIAN))
    thread.join(60)
    (result,) = results
    assert result.status == "rejected"
    assert "changed while the approval waited" in result.reason
    assert switch(settings).active is False and switch(settings).reason == "second incident"
    assert alias(settings) is None
