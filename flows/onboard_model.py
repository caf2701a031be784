"""``onboard-model``: a model may serve only when its owners are on record, its artifact is
signed and locked, and a Guardian approved it.

validate policy → register the version with ownership tags → download → scan for unsafe
pickles → sign (OpenSSF model signing) → upload under S3 Object Lock → verify what was stored
→ baseline on the reference data → pause for the Guardian (:class:`ApprovalInput`, a form in
the Prefect UI; ``steward approve``) → verify again from S3 and the registry source → promote
(alias ``champion``, kill switch on) → notify.

Every step is a ledger record. A failure at any step is recorded (``onboarding.failed``, and
``artifact.rejected`` for a scanner or signature finding), leaves no alias pointing at the new
version and the kill switch untouched, and fails the run. Re-running for the same model URI
reuses the registered version and the stored artifact.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any, Literal

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.context import get_run_context
from pydantic import BaseModel, Field

from flows._approval import (
    ApprovalInput,
    FlowAudit,
    approve_paused_run,
    await_guardian,
    delivery_error,
    run_with_decisions,
)
from modelsteward.errors import (
    IntegrityError,
    PolicyError,
    StewardError,
)
from modelsteward.policy import Policy, load_policy
from modelsteward.registry import CHAMPION
from modelsteward.settings import StewardSettings, load_settings
from tasks import registry as registry_tasks
from tasks import signing as signing_tasks
from tasks import storage as storage_tasks

__all__ = [
    "ApprovalInput",
    "OnboardRequest",
    "OnboardResult",
    "approve_paused_run",
    "onboard_model",
    "run_onboarding",
]

FLOW_NAME = "onboard-model"
ACTOR = "onboard-model"


class OnboardRequest(BaseModel):
    """Parameters of ``onboard-model`` (rendered as a form in the Prefect UI)."""

    policy_path: str = Field(description="Policy file of the model (policies/<model>.yaml).")
    model_uri: str = Field(
        description="runs:/<run>/<path>, models:/<name>/<version> or a local MLflow model dir."
    )
    requested_by: str = Field(default="steward", description="Who asked for the onboarding.")
    approval_poll_seconds: float = Field(
        default=10.0, gt=0, le=300, description="How often the paused run checks for a decision."
    )


class OnboardResult(BaseModel):
    model: str
    version: str | None = None
    status: Literal["promoted", "rejected", "failed"]
    approver: str | None = None
    reason: str = ""
    signature_sha256: str | None = None
    stored: dict[str, Any] = Field(default_factory=dict)
    baseline: dict[str, float] = Field(default_factory=dict)
    flow_run_id: str | None = None


# --- ledger and notifications (core calls; the flow owns their order) ----------------------
def _notify(
    settings: StewardSettings,
    policy: Policy,
    version: str,
    title: str,
    summary: str,
    *,
    kind: str = "approval_request",
) -> None:
    """Tell the Guardian (approval requests and outcomes), or all three roles when a version
    is promoted (``deployment_notice``); never fails the onboarding."""
    logger = get_run_logger()
    try:
        from modelsteward.alerts import Alert, AlertDispatcher

        alert = Alert(
            model=policy.model,
            version=version,
            kind=kind,
            severity="info",
            title=title[:140],
            summary=summary[:2000],
            idempotency_key=f"onboard:{policy.model}:{version}:{title}"[:200],
        )
        dispatcher = AlertDispatcher.from_settings(settings)
        dispatcher.enqueue(alert, policy)
        dispatcher.deliver_pending(wait_seconds=2.0)
    except Exception as err:  # notification is best effort; the ledger is the record
        logger.warning("event=notify_failed model=%s error=%s", policy.model, err)


# --- the flow ------------------------------------------------------------------------------
def governed_policy(path: str, policy_dir: Path) -> Policy:
    """The policy at ``path``, if it is the model's governed policy (``policy_dir``).

    A run's parameters come from whoever can reach the Prefect API: a copy of the policy
    elsewhere on the worker (without its signature requirement, say) must not stand in for the
    reviewed one. A copy with the same content is accepted.
    """
    policy = load_policy(path)
    governed = policy_dir / f"{policy.model}.yaml"
    if governed.resolve() == Path(path).resolve():
        return policy
    if not governed.is_file():
        raise PolicyError(
            f"{path}: {policy.model} has no policy in STEWARD_POLICY_DIR ({policy_dir}); "
            f"onboarding runs only under the governed policy: add {governed} first",
            path=path,
        )
    if load_policy(governed).digest != policy.digest:
        raise PolicyError(
            f"{path} differs from the governed policy {governed}; onboard {policy.model} with "
            "that one (policy as code: change it there, in a reviewed change)",
            path=path,
        )
    return policy


@flow(name=FLOW_NAME, log_prints=False, validate_parameters=True)
def onboard_model(request: OnboardRequest) -> OnboardResult:
    """Onboard one model version: register, scan, sign, lock, verify, baseline, approve, promote."""
    logger = get_run_logger()
    run_id = str(get_run_context().flow_run.id)  # type: ignore[union-attr]
    settings = load_settings()
    settings.ensure_home()
    try:
        policy = governed_policy(request.policy_path, settings.policy_dir)
    except StewardError as err:
        audit = FlowAudit(settings, None, run_id, ACTOR)
        try:
            audit(
                "onboarding.failed",
                {"step": "validate-policy", "policy_path": request.policy_path, "error": str(err)},
            )
        finally:
            audit.close()
        raise
    audit = FlowAudit(settings, policy.model, run_id, ACTOR)
    state: dict[str, Any] = {"step": "register", "alias_set": False, "previous_alias": None}
    work = Path(tempfile.mkdtemp(prefix=f"onboard-{policy.model}-", dir=settings.home))
    try:
        result = _onboard(settings, policy, request, audit, state, work, run_id)
    except BaseException as err:
        _fail(settings, policy, audit, state, err)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
        audit.close()
    logger.info("event=onboarding_done model=%s status=%s", policy.model, result.status)
    return result


def _onboard(
    settings: StewardSettings,
    policy: Policy,
    request: OnboardRequest,
    audit: FlowAudit,
    state: dict[str, Any],
    work: Path,
    run_id: str,
) -> OnboardResult:
    logger = get_run_logger()
    model = policy.model

    registered = registry_tasks.register_model_version(
        settings, policy, request.model_uri, request.requested_by
    )
    version = registered.version
    audit.version = version
    state["version"] = version
    audit(
        "model.registered",
        {
            "model_uri": request.model_uri,
            "source": registered.source,
            "new_version": registered.created,
            "requested_by": request.requested_by,
            "risk_tier": str(policy.risk_tier),
            "policy_digest": policy.digest,
            "owner": str(policy.roles.owner.email),
            "guardian": str(policy.roles.guardian.email),
            "operator": str(policy.roles.operator.email),
        },
    )

    state["step"] = "download"
    model_dir = registry_tasks.download_model(settings, request.model_uri, work / "source")

    state["step"] = "scan"
    scan = signing_tasks.scan_model(model_dir)
    audit("artifact.scanned", scan)

    state["step"] = "sign"
    stored = storage_tasks.find_stored(settings, model, version)
    if stored is None:
        signed = signing_tasks.sign_model(settings, model_dir, work / "signature")
        audit(
            "artifact.signed",
            {
                "format": "openssf-model-signing/v1.0",
                "signature_sha256": signed.signature_sha256,
                "key_sha256": signed.key_fingerprint,
                "files": signed.files,
            },
        )
        state["step"] = "upload"
        stored = storage_tasks.upload_artifact(settings, signed, model, version)
        signature_sha256 = signed.signature_sha256
    else:
        # re-run: the version is signed and stored already; the source must still match it
        signature_path = storage_tasks.fetch_signature(settings, stored, work / "signature")
        signing_tasks.verify_model(settings, model_dir, signature_path)
        signature_sha256 = stored.signature_sha256
        audit(
            "artifact.signed",
            {"reused": True, "signature_sha256": signature_sha256, "files": stored.file_sha256},
        )
    registry_tasks.tag_version(settings, model, version, stored.registry_tags())
    audit("artifact.stored", {**stored.to_dict(), "lock_mode": "COMPLIANCE"})

    state["step"] = "verify-stored"
    verified = storage_tasks.verify_stored(
        settings, stored, signature_sha256, keep_in=work / "verified"
    )
    audit(
        "artifact.verified",
        {"where": "s3", "signature_sha256": signature_sha256, "files": len(verified.files)},
    )

    state["step"] = "baseline"
    baseline = _baseline(settings, policy, version, verified.model_dir)
    audit(
        "baseline.recorded",
        {
            "metrics": baseline.metrics,
            "rows": baseline.rows,
            "reference_sha256": baseline.reference_sha256,
            "mlflow_run_id": baseline.run_id,
            "skipped": baseline.skipped,
        },
    )

    state["step"] = "approval"
    decision = _await_approval(settings, policy, request, audit, version, run_id)
    result_base = {
        "model": model,
        "version": version,
        "signature_sha256": signature_sha256,
        "stored": stored.to_dict(),
        "baseline": baseline.metrics,
        "flow_run_id": run_id,
    }
    if decision is None or not decision.approve:
        reason = (
            f"no decision within {policy.approval.timeout_seconds}s (approval.timeout_seconds)"
            if decision is None
            else f"rejected by {decision.approver}"
        )
        _notify(settings, policy, version, f"{model} v{version} not deployed", reason)
        result = OnboardResult(
            status="rejected",
            approver=decision.approver if decision else None,
            reason=reason,
            **result_base,
        )
        _summary(result, policy)
        return result

    state["step"] = "re-verify"
    storage_tasks.verify_stored(settings, stored, signature_sha256)
    source_signature = storage_tasks.fetch_signature(settings, stored, work / "re-verify")
    fresh = registry_tasks.download_model(settings, request.model_uri, work / "source-again")
    signing_tasks.verify_model(settings, fresh, source_signature)
    audit(
        "artifact.verified",
        {"where": "s3+registry", "before": "promotion", "signature_sha256": signature_sha256},
    )

    state["step"] = "promote"
    _promote(settings, policy, audit, state, version, decision, signature_sha256)
    _notify(
        settings,
        policy,
        version,
        f"{model} v{version} approved and serving",
        f"Approved by {decision.approver}; alias {CHAMPION} set; kill switch on.",
        kind="deployment_notice",
    )
    result = OnboardResult(
        status="promoted", approver=decision.approver, reason="approved", **result_base
    )
    _summary(result, policy)
    logger.info("event=model_promoted model=%s version=%s", model, version)
    return result


def _baseline(settings: StewardSettings, policy: Policy, version: str, model_dir: Path) -> Any:
    from modelsteward.baseline import record_baseline

    return record_baseline(settings, policy, version=version, model_dir=model_dir)


def _await_approval(
    settings: StewardSettings,
    policy: Policy,
    request: OnboardRequest,
    audit: FlowAudit,
    version: str,
    run_id: str,
) -> ApprovalInput | None:
    """The Guardian's decision, or None on timeout. Anyone else is refused and audited, and
    the run keeps waiting for the Guardian until the policy's timeout."""
    audit(
        "approval.requested",
        {
            "guardian": str(policy.roles.guardian.email),
            "delegates": [str(d) for d in policy.roles.guardian.delegates],
            "timeout_seconds": policy.approval.timeout_seconds,
        },
    )
    _notify(
        settings,
        policy,
        version,
        f"Approve {policy.model} v{version}?",
        f"Onboarding run {run_id} waits for the Guardian: steward approve {run_id} --as EMAIL",
    )
    decision, _ = await_guardian(
        policy,
        audit,
        timeout_seconds=policy.approval.timeout_seconds,
        poll_seconds=request.approval_poll_seconds,
        key_prefix="approval",
        attempted=("approve", "reject"),
        refusal_reason="not the policy's Guardian or a delegate",
        details={"risk_tier": str(policy.risk_tier)},
    )
    return decision


def _promote(
    settings: StewardSettings,
    policy: Policy,
    audit: FlowAudit,
    state: dict[str, Any],
    version: str,
    decision: ApprovalInput,
    signature_sha256: str,
) -> None:
    from modelsteward.killswitch import open_store

    previous = registry_tasks.set_alias(settings, policy.model, version, CHAMPION)
    state["alias_set"] = True
    state["previous_alias"] = previous
    registry_tasks.tag_version(
        settings,
        policy.model,
        version,
        {
            "steward.approved_by": decision.approver,
            "steward.disabled": "false",
            "steward.onboarded_signature_sha256": signature_sha256,
        },
    )
    store = open_store(settings.killswitch)
    try:
        before = store.get_state(policy.model)
        state["switch_before"] = (
            None if before is None else {"active": before.active, "version": before.version}
        )
        switch = store.set_state(
            policy.model,
            active=True,
            actor=decision.approver,
            role="guardian",
            reason=f"onboarded version {version}, approved by {decision.approver}",
            version=version,
        )
    finally:
        close = getattr(store, "close", None)
        if callable(close):
            close()
    state["switch_set"] = True
    audit(
        "model.enabled",
        {"killswitch_revision": switch.revision, "reason": "onboarding approved"},
        actor=decision.approver,
        role="guardian",
    )
    audit(
        "model.promoted",
        {"alias": CHAMPION, "previous_version": previous, "signature_sha256": signature_sha256},
        actor=decision.approver,
        role="guardian",
    )


def _fail(
    settings: StewardSettings,
    policy: Policy,
    audit: FlowAudit,
    state: dict[str, Any],
    err: BaseException,
) -> None:
    """Undo a half-done promotion and record the failure (never raises)."""
    logger = get_run_logger()
    version = state.get("version")
    undone: list[str] = []
    if state.get("alias_set") and version:
        try:
            registry_tasks.restore_alias.fn(
                settings, policy.model, state.get("previous_alias"), CHAMPION
            )
            undone.append(f"alias {CHAMPION} restored to {state.get('previous_alias')}")
        except Exception as undo_err:
            logger.error("event=alias_restore_failed model=%s error=%s", policy.model, undo_err)
            undone.append(f"alias restore FAILED: {undo_err}")
    if state.get("switch_set"):
        undone.append(_restore_switch(settings, policy, state.get("switch_before"), err))
    try:
        if isinstance(err, IntegrityError):
            audit(
                "artifact.rejected",
                {"step": state.get("step"), "error": type(err).__name__, "message": str(err)},
            )
        audit(
            "onboarding.failed",
            {
                "step": state.get("step"),
                "error": type(err).__name__,
                "message": str(err)[:4000],
                "undone": undone,
            },
        )
    except Exception as audit_err:
        logger.error("event=audit_failed model=%s error=%s", policy.model, audit_err)
    _summary(
        OnboardResult(
            model=policy.model,
            version=version,
            status="failed",
            reason=f"{state.get('step')}: {type(err).__name__}: {err}",
        ),
        policy,
    )


def _restore_switch(
    settings: StewardSettings, policy: Policy, before: dict[str, Any] | None, err: BaseException
) -> str:
    """Put the kill switch back as it was before this run turned it on."""
    from modelsteward.killswitch import open_store

    try:
        store = open_store(settings.killswitch)
        try:
            store.set_state(
                policy.model,
                active=bool(before and before["active"]),
                actor=ACTOR,
                role="system",
                reason=f"onboarding failed after enabling ({type(err).__name__}); rolled back",
                version=before["version"] if before else None,
            )
        finally:
            getattr(store, "close", lambda: None)()
    except Exception as undo_err:
        get_run_logger().error("event=switch_restore_failed error=%s", undo_err)
        return f"kill switch restore FAILED: {undo_err}"
    return f"kill switch restored to {before or 'off'}"


def _summary(result: OnboardResult, policy: Policy) -> None:
    roles = policy.roles
    lines = [
        f"# Onboarding of `{result.model}` v{result.version or '?'}: **{result.status}**",
        "",
        f"- reason: {result.reason or '-'}",
        f"- risk tier: {policy.risk_tier}; policy digest `{(policy.digest or '')[:16]}`",
        f"- Owner {roles.owner.name} <{roles.owner.email}>; Guardian {roles.guardian.name} "
        f"<{roles.guardian.email}>; Operator {roles.operator.name} <{roles.operator.email}>",
    ]
    if result.approver:
        lines.append(f"- decided by {result.approver}")
    if result.signature_sha256:
        lines.append(f"- signature sha256 `{result.signature_sha256}`")
    if result.stored:
        stored = result.stored
        lines.append(
            f"- stored under Object Lock (COMPLIANCE): `s3://{stored.get('bucket')}/"
            f"{stored.get('prefix')}` index version `{stored.get('index_version_id')}`"
        )
    if result.baseline:
        lines += ["", "| metric | baseline |", "|---|---|"]
        lines += [f"| {name} | {value:.4f} |" for name, value in result.baseline.items()]
    try:
        create_markdown_artifact(
            markdown="\n".join(lines),
            key=f"onboarding-{result.model}".replace("_", "-").replace(".", "-"),
            description=f"Onboarding of {result.model}",
        )
    except Exception as err:  # the artifact is a view; never fail the run for it
        get_run_logger().warning("event=artifact_failed error=%s", err)


def run_onboarding(
    request: OnboardRequest,
    *,
    decisions: list[ApprovalInput] | None = None,
    key: Any = None,
) -> OnboardResult:
    """Run ``onboard-model`` here; answer its approval pause(s) with ``decisions``, in order.

    This is ``steward onboard --approve-as EMAIL``: the run pauses exactly as it does for a
    human in the UI, and a background thread resumes it with the given decision. Without
    ``decisions`` the run waits for ``steward approve`` or the UI until the policy's timeout.
    """
    result, errors = run_with_decisions(
        lambda: onboard_model(request),
        decisions=decisions,
        tag_prefix="onboarding-request",
        key=key,
    )
    if errors and result.status != "promoted":
        raise delivery_error(errors[0])
    return result
