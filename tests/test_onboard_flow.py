"""The onboard-model flow end to end: MLflow on SQLite, moto S3 with Object Lock, Prefect's
test harness, the real ledger and kill-switch store."""

from __future__ import annotations

import pickle
import threading
from pathlib import Path
from typing import Any

import pytest
from _onboarding import (
    copy_model,
    mlflow_template,
    policy_copy,
    sample_model,
    shared_cache,
    use_mlflow_template,
)

from modelsteward.errors import IntegrityError, PolicyError, SignatureError, UnsafeArtifactError

pytestmark = pytest.mark.slow

GUARDIAN = "ai-security@example.com"
DELEGATE = "ciso@example.com"


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sample_model(shared_cache(tmp_path_factory))


@pytest.fixture
def env(
    settings, prefect_harness, tmp_path: Path, model_cache: Path, monkeypatch
) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    use_mlflow_template(mlflow_template(model_cache.parent), settings.home)
    monkeypatch.setenv("STEWARD_ALERT_MIN_INTERVAL_SECONDS", "0")
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    policy = policy_copy(tmp_path)
    monkeypatch.setenv("STEWARD_POLICY_DIR", str(policy.parent))  # the governed policies
    return {
        "settings": settings,
        "policy": policy,
        "model": copy_model(model_cache, tmp_path / "model"),
        "monkeypatch": monkeypatch,
    }


def _govern(env: dict[str, Any], policy: Path) -> Path:
    """Make ``policy`` the governed policy of its model (STEWARD_POLICY_DIR)."""
    env["monkeypatch"].setenv("STEWARD_POLICY_DIR", str(policy.parent))
    return policy


def _request(env: dict[str, Any], **overrides: Any) -> Any:
    from flows.onboard_model import OnboardRequest

    values = {
        "policy_path": str(env["policy"]),
        "model_uri": str(env["model"]),
        "requested_by": "dana.whitfield@example.com",
        "approval_poll_seconds": 0.3,
        **overrides,
    }
    return OnboardRequest(**values)


def _decision(approver: str, approve: bool = True) -> Any:
    from flows.onboard_model import ApprovalInput

    return ApprovalInput(
        approve=approve, approver=approver, risk_assessment="low residual risk", comment="ok"
    )


def _actions(settings: Any) -> list[str]:
    from modelsteward.audit import Ledger

    with Ledger.from_settings(settings) as ledger:
        records = ledger.records(model="fraud-detector")
        return [str(r.action) for r in records if not str(r.action).startswith("alert.")]


def _records(settings: Any, action: str) -> list[Any]:
    from modelsteward.audit import Ledger

    with Ledger.from_settings(settings) as ledger:
        return list(ledger.records(model="fraud-detector", action=action))


def _serving(settings: Any) -> tuple[str | None, Any]:
    from modelsteward.killswitch import open_store
    from modelsteward.registry import ModelRegistry

    alias = ModelRegistry.from_settings(settings).alias_version("fraud-detector")
    store = open_store(settings.killswitch)
    try:
        return alias, store.get_state("fraud-detector")
    finally:
        getattr(store, "close", lambda: None)()


def test_approved_onboarding_promotes_and_rerun_is_idempotent(env: dict[str, Any]) -> None:
    from flows.onboard_model import run_onboarding
    from modelsteward.baseline import load_baseline
    from modelsteward.registry import ModelRegistry

    settings = env["settings"]
    result = run_onboarding(_request(env), decisions=[_decision(GUARDIAN)])
    assert result.status == "promoted", result.reason
    assert result.approver == GUARDIAN
    assert set(result.baseline) >= {"accuracy", "precision", "recall", "f1", "roc_auc"}
    alias, switch = _serving(settings)
    assert alias == result.version == "1"
    assert switch.active and switch.version == "1" and switch.actor == GUARDIAN
    tags = ModelRegistry.from_settings(settings).version_tags("fraud-detector", "1")
    assert tags["steward.s3.index_version_id"] == result.stored["index_version_id"]
    assert tags["steward.guardian.email"] == GUARDIAN
    assert tags["steward.approved_by"] == GUARDIAN
    assert float(tags["steward.baseline.f1"]) == pytest.approx(result.baseline["f1"], abs=1e-6)
    assert load_baseline(settings, "fraud-detector", "1").reference_path.is_file()
    actions = _actions(settings)
    assert actions == [
        "model.registered",
        "artifact.scanned",
        "artifact.signed",
        "artifact.stored",
        "artifact.verified",
        "baseline.recorded",
        "approval.requested",
        "approval.granted",
        "artifact.verified",
        "model.enabled",
        "model.promoted",
    ]
    granted = _records(settings, "approval.granted")[0]
    assert (granted.actor, str(granted.role)) == (GUARDIAN, "guardian")
    assert granted.details["risk_assessment"] == "low residual risk"
    stored = _records(settings, "artifact.stored")[0]
    assert stored.details["index_version_id"] == result.stored["index_version_id"]

    from modelsteward.artifacts import verify_version

    assert verify_version(settings, "fraud-detector", "1").files.keys() >= {"MLmodel", "model.pkl"}

    again = run_onboarding(_request(env), decisions=[_decision(GUARDIAN)])
    assert again.status == "promoted"
    assert again.version == "1"
    assert again.stored == result.stored  # nothing uploaded twice
    assert again.signature_sha256 == result.signature_sha256
    versions = ModelRegistry.from_settings(settings).client.search_model_versions(
        "name = 'fraud-detector'"
    )
    assert len(versions) == 1


def test_rejection_leaves_nothing_serving(env: dict[str, Any]) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    from flows.onboard_model import run_onboarding

    result = run_onboarding(_request(env), decisions=[_decision(GUARDIAN, approve=False)])
    assert result.status == "rejected"
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[result.flow_run_id])
            )
        )
    summary = [a for a in artifacts if a.key == "onboarding-fraud-detector"]
    assert summary and "**rejected**" in str(summary[0].data)
    assert result.reason == f"rejected by {GUARDIAN}"
    assert _serving(env["settings"]) == (None, None)
    rejected = _records(env["settings"], "approval.rejected")
    assert [r.actor for r in rejected] == [GUARDIAN]
    assert "model.promoted" not in _actions(env["settings"])


def test_wrong_approver_is_refused_and_audited_then_delegate_approves(
    env: dict[str, Any],
) -> None:
    from flows.onboard_model import run_onboarding

    result = run_onboarding(
        _request(env), decisions=[_decision("mallory@example.com"), _decision(DELEGATE)]
    )
    assert result.status == "promoted"
    assert result.approver == DELEGATE
    refused = _records(env["settings"], "access.refused")
    assert [r.actor for r in refused] == ["mallory@example.com"]
    assert str(refused[0].role) == "system"  # not recorded as a Guardian action
    assert refused[0].details["reason"] == "not the policy's Guardian or a delegate"


def test_timeout_rejects(env: dict[str, Any], tmp_path: Path) -> None:
    from flows.onboard_model import run_onboarding

    policy = _govern(env, policy_copy(tmp_path / "short", timeout_seconds=2))
    result = run_onboarding(_request(env, policy_path=str(policy)), decisions=None)
    assert result.status == "rejected"
    assert "no decision within 2s" in result.reason
    assert _serving(env["settings"]) == (None, None)
    timeout = _records(env["settings"], "approval.rejected")[0]
    assert (timeout.actor, timeout.details["reason"]) == ("onboard-model", "timeout")


def _run_with_tamper(env: dict[str, Any], tamper) -> BaseException:  # type: ignore[no-untyped-def]
    """Run the flow; while it waits for approval, ``tamper()``, then approve."""
    from prefect import tags

    from flows._approval import paused_run_with_tag
    from flows.onboard_model import approve_paused_run, onboard_model

    tag = "tamper-test"
    stop = threading.Event()

    def approver() -> None:
        while not stop.is_set():
            run_id = paused_run_with_tag(tag)
            if run_id:
                tamper()
                approve_paused_run(run_id, _decision(GUARDIAN))
                return
            stop.wait(0.2)

    import contextvars

    thread = threading.Thread(target=contextvars.copy_context().run, args=(approver,))
    thread.start()
    try:
        with tags(tag), pytest.raises(IntegrityError) as caught:
            onboard_model(_request(env))
    finally:
        stop.set()
        thread.join(10)
    return caught.value


def test_object_uploaded_over_the_stored_artifact_blocks_promotion(env: dict[str, Any]) -> None:
    from modelsteward.artifacts import ArtifactStore, artifact_prefix

    settings = env["settings"]

    def tamper() -> None:
        store = ArtifactStore.from_settings(settings)
        store.bucket.put(f"{artifact_prefix('fraud-detector', '1')}files/model.pkl", b"trojan")

    error = _run_with_tamper(env, tamper)
    assert "files/model.pkl" in str(error) and "uploaded over" in str(error)
    from modelsteward.artifacts import verify_version

    with pytest.raises(IntegrityError, match="uploaded over"):
        verify_version(settings, "fraud-detector", "1")
    assert _serving(settings) == (None, None)
    actions = _actions(settings)
    assert actions[-2:] == ["artifact.rejected", "onboarding.failed"]
    failed = _records(settings, "onboarding.failed")[0]
    assert failed.details["step"] == "re-verify"


def test_source_changed_after_signing_blocks_promotion(env: dict[str, Any]) -> None:
    def tamper() -> None:
        (env["model"] / "MLmodel").write_text((env["model"] / "MLmodel").read_text() + "\n#x\n")

    error = _run_with_tamper(env, tamper)
    assert isinstance(error, SignatureError)
    assert "MLmodel changed" in str(error)
    assert _serving(env["settings"]) == (None, None)


def test_malicious_pickle_is_rejected_before_signing(env: dict[str, Any]) -> None:
    import os

    from flows.onboard_model import run_onboarding
    from modelsteward.objectstore import LockedBucket

    class Exploit:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (os.system, ("echo owned",))

    (env["model"] / "model.pkl").write_bytes(pickle.dumps(Exploit()))
    with pytest.raises(UnsafeArtifactError, match=r"model\.pkl imports posix\.system"):
        run_onboarding(_request(env), decisions=[_decision(GUARDIAN)])
    settings = env["settings"]
    assert _actions(settings)[-3:] == ["model.registered", "artifact.rejected", "onboarding.failed"]
    assert LockedBucket.from_settings(settings).ensure().list_keys("models/") == []
    assert _serving(settings) == (None, None)


def test_invalid_policy_fails_and_is_audited(env: dict[str, Any], tmp_path: Path) -> None:
    from flows.onboard_model import run_onboarding
    from modelsteward.audit import Ledger

    bad = tmp_path / "bad" / "fraud-detector.yaml"
    bad.parent.mkdir()
    bad.write_text(env["policy"].read_text().replace("risk_tier: high", "risk_tier: extreme"))
    with pytest.raises(PolicyError, match="risk_tier"):
        run_onboarding(_request(env, policy_path=str(bad)))
    with Ledger.from_settings(env["settings"]) as ledger:
        failed = list(ledger.records(action="onboarding.failed"))
    assert failed[0].details["step"] == "validate-policy"


def test_missing_reference_data_stops_before_approval(env: dict[str, Any], tmp_path: Path) -> None:
    from flows.onboard_model import run_onboarding
    from modelsteward.errors import DataError

    policy = _govern(env, policy_copy(tmp_path / "noref", reference=tmp_path / "gone.csv"))
    with pytest.raises(DataError, match=r"gone\.csv .* does not exist"):
        run_onboarding(_request(env, policy_path=str(policy)), decisions=[_decision(GUARDIAN)])
    failed = _records(env["settings"], "onboarding.failed")
    assert failed[0].details["step"] == "baseline"
    assert "approval.requested" not in _actions(env["settings"])
    assert _serving(env["settings"]) == (None, None)


def test_kill_switch_store_down_at_promotion_rolls_the_alias_back(
    env: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.onboard_model import run_onboarding
    from modelsteward.errors import ExternalServiceError
    from modelsteward.registry import ModelRegistry

    monkeypatch.setenv("STEWARD_KILLSWITCH_URL", "redis://127.0.0.1:1/0")
    with pytest.raises(ExternalServiceError):
        run_onboarding(_request(env), decisions=[_decision(GUARDIAN)])
    assert ModelRegistry.from_settings(env["settings"]).alias_version("fraud-detector") is None
    failed = _records(env["settings"], "onboarding.failed")[0]
    assert failed.details["step"] == "promote"
    assert failed.details["undone"] == ["alias champion restored to None"]
    assert "model.promoted" not in _actions(env["settings"])


def test_a_policy_requiring_signed_approvals_refuses_unsigned_and_forged_ones(
    env: dict[str, Any], tmp_path: Path
) -> None:
    from prefect import tags

    from flows._approval import paused_run_with_tag
    from flows.onboard_model import OnboardResult, approve_paused_run, onboard_model
    from modelsteward.approvals import create_approver_key, public_key_text

    key = create_approver_key(tmp_path / "keys" / "guardian.pem")
    stranger = create_approver_key(tmp_path / "keys" / "stranger.pem")
    policy = _govern(
        env,
        policy_copy(
            tmp_path / "signed", approval_signers={GUARDIAN: public_key_text(key.public_key())}
        ),
    )
    tag = "signed-approval-test"
    stop = threading.Event()
    errors: list[BaseException] = []

    def approver() -> None:
        try:
            while not stop.is_set():
                run_id = paused_run_with_tag(tag)
                if run_id:
                    approve_paused_run(run_id, _decision(GUARDIAN))  # the UI form: unsigned
                    approve_paused_run(run_id, _decision(GUARDIAN), key=stranger)  # forged
                    approve_paused_run(run_id, _decision(GUARDIAN), key=key)
                    return
                stop.wait(0.2)
        except BaseException as err:  # reported below
            errors.append(err)

    import contextvars

    thread = threading.Thread(target=contextvars.copy_context().run, args=(approver,))
    thread.start()
    try:
        with tags(tag):
            result: OnboardResult = onboard_model(_request(env, policy_path=str(policy)))
    finally:
        stop.set()
        thread.join(30)
    assert errors == []
    assert result.status == "promoted" and result.approver == GUARDIAN
    refused = _records(env["settings"], "access.refused")
    assert [r.actor for r in refused] == [GUARDIAN, GUARDIAN]
    assert "requires signed approvals" in refused[0].details["reason"]
    assert "does not verify" in refused[1].details["reason"]
    granted = _records(env["settings"], "approval.granted")[0]
    assert granted.details["signed"] is True
    assert len(granted.details["approver_key_id"]) == 16
    # the ledger alone lets an auditor re-check the signature against the policy's key
    from modelsteward.approvals import check_approval

    again = check_approval(
        keys={GUARDIAN: public_key_text(key.public_key())},
        require_signature=True,
        flow_run_id=granted.details["flow_run_id"],
        approve=True,
        approver=granted.details["approver"],
        risk_assessment=granted.details["risk_assessment"],
        comment=granted.details["comment"],
        signature=granted.details["signature"],
    )
    assert again.accepted


def test_onboarding_runs_only_under_the_governed_policy(
    env: dict[str, Any], tmp_path: Path
) -> None:
    from flows.onboard_model import run_onboarding

    # an unreviewed copy elsewhere on the worker (here: one that waits only 2 s)
    other = policy_copy(tmp_path / "elsewhere", timeout_seconds=2)
    with pytest.raises(PolicyError, match="differs from the governed policy"):
        run_onboarding(_request(env, policy_path=str(other)), decisions=[_decision(GUARDIAN)])
    from modelsteward.audit import Ledger

    with Ledger.from_settings(env["settings"]) as ledger:
        failed = list(ledger.records(action="onboarding.failed"))
    assert failed and failed[-1].details["step"] == "validate-policy"
    assert "differs from the governed policy" in failed[-1].details["error"]
    assert _serving(env["settings"]) == (None, None)
