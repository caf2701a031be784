"""``reenable-model``: a killed model serves again only with its Guardian's approval and an
artifact that still verifies.

which version (where ``champion`` pointed when the kill removed it, unless given) → the
artifact recorded for it in the ledger (``artifact.stored``) → pause for the Guardian
(:class:`~flows.onboard_model.ApprovalInput`, answered in the Prefect UI or with
``steward approve RUN_ID --as EMAIL``) → re-verify the stored artifact from S3 (no newer object
version over any recorded one, signature digest as recorded, files against the signature) and
that the registry still points at the same stored index → restore ``champion`` → kill switch
on (``model.enabled``) → notices → markdown artifact.

Only the policy's Guardian or a delegate may approve; anyone else (an Operator never
re-enables) is refused, recorded as ``access.refused``, and the run keeps waiting for the
Guardian until the approval timeout. A tampered artifact is recorded as ``artifact.rejected``
and fails the run with the switch still off. No flow retries: a retry would ask again.
"""

from __future__ import annotations

from typing import Any, Literal

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.context import get_run_context
from pydantic import BaseModel, Field, field_validator

from flows._approval import (
    ApprovalInput,
    FlowAudit,
    await_guardian,
    role_of,
    run_with_decisions,
)
from modelsteward.artifacts import StoredArtifact
from modelsteward.errors import (
    AuthorizationError,
    IntegrityError,
    NotFoundError,
    PolicyError,
)
from modelsteward.killswitch import validate_model_name
from modelsteward.policy import Policy, load_policy
from modelsteward.registry import CHAMPION
from modelsteward.settings import StewardSettings, load_settings
from tasks import killswitch as killswitch_tasks
from tasks import serving as serving_tasks
from tasks import storage as storage_tasks

__all__ = ["ReenableParameters", "ReenableResult", "reenable_model", "run_reenable"]

FLOW_NAME = "reenable-model"
FLOW_ACTOR = "reenable-model"
_STORED_FIELDS = set(StoredArtifact.__dataclass_fields__)


class ReenableParameters(BaseModel):
    """Parameters of ``reenable-model`` (a form in the Prefect UI)."""

    model: str = Field(min_length=1, max_length=128, description="Registered model name.")
    requested_by: str = Field(
        min_length=1, max_length=256, description="Who asks for the re-enable (e-mail)."
    )
    reason: str = Field(
        default="re-enabled after review", max_length=2000, description="Why it may serve again."
    )
    version: str | None = Field(
        default=None, description="Version to serve (default: where champion pointed at the kill)."
    )
    approval_poll_seconds: float = Field(
        default=10.0, gt=0, le=300, description="How often the paused run checks for a decision."
    )
    approval_timeout_seconds: int | None = Field(
        default=None, ge=1, description="Default: the policy's approval.timeout_seconds."
    )

    _model_name = field_validator("model")(validate_model_name)


class ReenableResult(BaseModel):
    model: str
    version: str | None = None
    status: Literal["enabled", "rejected"]
    approver: str | None = None
    reason: str = ""
    switch_revision: int | None = None
    signature_sha256: str | None = None
    refused: list[str] = Field(default_factory=list)
    flow_run_id: str | None = None


class _Audit(FlowAudit):
    """The flow's ledger writer, plus what re-enabling reads back from the ledger."""

    def __init__(self, settings: StewardSettings, model: str, run_id: str | None) -> None:
        super().__init__(settings, model, run_id, FLOW_ACTOR)

    def recorded_artifact(self, version: str) -> StoredArtifact:
        """The artifact the ledger recorded as stored for ``version`` (the last record)."""
        last = None
        for record in self.ledger.records(model=self.model, action="artifact.stored"):
            if record.version == version:
                last = record
        if last is None:
            raise NotFoundError(
                f"{self.model} v{version}: no artifact.stored record in the ledger; only a "
                "version onboarded with onboard-model can be re-enabled"
            )
        details = {k: v for k, v in last.details.items() if k in _STORED_FIELDS}
        try:
            return StoredArtifact.from_dict(details)
        except TypeError as err:
            raise IntegrityError(
                f"{self.model} v{version}: the artifact.stored record (seq {last.seq}) lacks "
                f"fields: {err}"
            ) from err

    def close(self) -> None:
        self.ledger.close()


def _load_policy(settings: StewardSettings, model: str) -> Policy:
    path = settings.policy_dir / f"{model}.yaml"
    if not path.is_file():
        raise PolicyError(
            f"no policy for {model!r} at {path}: cannot tell who its Guardian is; add "
            "policies/<model>.yaml (STEWARD_POLICY_DIR)",
            path=str(path),
        )
    return load_policy(path)


@flow(name=FLOW_NAME, log_prints=False, validate_parameters=True)
def reenable_model(request: ReenableParameters) -> ReenableResult:
    """Guardian approval → re-verify → restore alias → switch on → ledger → notices."""
    logger = get_run_logger()
    context = get_run_context()
    run_id = str(context.flow_run.id) if getattr(context, "flow_run", None) else None  # type: ignore[union-attr]
    settings = load_settings()
    settings.ensure_home()
    policy = _load_policy(settings, request.model)
    audit = _Audit(settings, request.model, run_id)
    try:
        version = _version_to_serve(settings, request)
        audit.version = version
        already = _already_serving(settings, request.model, version)
        if already is not None:
            result = ReenableResult(
                model=request.model,
                version=version,
                status="enabled",
                reason="already serving: kill switch on and champion on this version",
                switch_revision=already,
                flow_run_id=run_id,
            )
            _summary(result, request)
            return result
        stored = audit.recorded_artifact(version)
        before = killswitch_tasks.read_switch(settings, request.model)
        decision, refused = _await_approval(settings, policy, request, audit, version, run_id)
        base = {
            "model": request.model,
            "version": version,
            "refused": refused,
            "flow_run_id": run_id,
            "signature_sha256": stored.signature_sha256,
        }
        if decision is None or not decision.approve:
            reason = (
                "no decision in time" if decision is None else f"rejected by {decision.approver}"
            )
            result = ReenableResult(
                status="rejected",
                approver=decision.approver if decision else None,
                reason=reason,
                **base,
            )
            _notify(settings, policy, result, request)
            _summary(result, request)
            return result

        now = killswitch_tasks.read_switch(settings, request.model)
        if now.get("revision") != before.get("revision"):
            # killed again (or changed) while the approval waited: that approval was for a
            # state that no longer holds, and must not undo the newer kill
            result = ReenableResult(
                status="rejected",
                approver=decision.approver,
                reason=(
                    f"the kill switch changed while the approval waited (revision "
                    f"{before.get('revision')} -> {now.get('revision')}, by "
                    f"{now.get('changed_by')}: {now.get('reason')}); ask for a new approval"
                ),
                **base,
            )
            audit(
                "approval.rejected",
                {"reason": result.reason, "superseded_by_revision": now.get("revision")},
                actor=FLOW_ACTOR,
                role="system",
            )
            _notify(settings, policy, result, request)
            _summary(result, request)
            return result
        _reverify(settings, request.model, version, stored, audit)
        serving = serving_tasks.restore_serving_version(
            settings, request.model, version, actor=decision.approver
        )
        state = killswitch_tasks.switch_on(
            settings,
            request.model,
            actor=decision.approver,
            role="guardian",
            reason=request.reason,
            source="reenable-model",
            version=version,
            details={
                "flow_run_id": run_id,
                "requested_by": request.requested_by,
                "alias": CHAMPION,
                "previous_alias_version": serving["previous_alias_version"],
                "signature_sha256": stored.signature_sha256,
                "risk_assessment": decision.risk_assessment,
            },
        )
        result = ReenableResult(
            status="enabled",
            approver=decision.approver,
            reason=request.reason,
            switch_revision=state.revision,
            **base,
        )
    finally:
        audit.close()
    _notify(settings, policy, result, request)
    _summary(result, request)
    logger.info(
        "event=model_reenabled model=%s version=%s approver=%s",
        request.model,
        result.version,
        result.approver,
    )
    return result


def _version_to_serve(settings: StewardSettings, request: ReenableParameters) -> str:
    if request.version:
        return request.version
    where = serving_tasks.remembered_version(settings, request.model)
    # the alias still set (a kill whose MLflow step is pending) wins over the remembered one
    version = where["current"] or where["removed"]
    if version is None:
        switch = killswitch_tasks.read_switch(settings, request.model)
        version = switch.get("version")
    if version is None:
        raise NotFoundError(
            f"{request.model}: no remembered serving version (no champion alias, no "
            "alias.champion.removed_version tag, no version in the kill switch); pass version"
        )
    return str(version)


def _already_serving(settings: StewardSettings, model: str, version: str) -> int | None:
    """The switch revision when ``model`` serves ``version`` already (nothing to do)."""
    switch = killswitch_tasks.read_switch(settings, model)
    if not switch["active"] or str(switch.get("version")) != version:
        return None
    where = serving_tasks.remembered_version(settings, model)
    return int(switch["revision"]) if where["current"] == version else None


def _await_approval(
    settings: StewardSettings,
    policy: Policy,
    request: ReenableParameters,
    audit: _Audit,
    version: str,
    run_id: str | None,
) -> tuple[ApprovalInput | None, list[str]]:
    """The Guardian's decision (or None on timeout) and who was refused before it."""
    timeout = request.approval_timeout_seconds or policy.approval.timeout_seconds
    audit(
        "approval.requested",
        {
            "for": "re-enable",
            "requested_by": request.requested_by,
            "guardian": str(policy.roles.guardian.email),
            "delegates": [str(d) for d in policy.roles.guardian.delegates],
            "timeout_seconds": timeout,
        },
        actor=request.requested_by,
        role=role_of(policy, request.requested_by),
    )
    _alert(
        settings,
        policy,
        version,
        kind="approval_request",
        severity="warning",
        title=f"Re-enable {policy.model} v{version}?",
        summary=(
            f"{request.requested_by} asks to re-enable {policy.model} v{version}: "
            f"{request.reason}. Run {run_id} waits for the Guardian: steward approve {run_id} "
            "--as EMAIL"
        ),
        key=f"reenable:{policy.model}:{run_id}:request",
    )
    return await_guardian(
        policy,
        audit,
        timeout_seconds=timeout,
        poll_seconds=request.approval_poll_seconds,
        key_prefix="reenable-approval",
        attempted=("re-enable", "reject re-enable"),
        refusal_reason="only the policy's Guardian or a delegate may re-enable",
        details={"for": "re-enable"},
    )


def _reverify(
    settings: StewardSettings, model: str, version: str, stored: StoredArtifact, audit: _Audit
) -> None:
    """Verify what S3 holds against the ledger's record; refuse (and record) any difference."""
    from modelsteward.registry import ModelRegistry

    try:
        tags = ModelRegistry.from_settings(settings).version_tags(model, version)
        tagged = tags.get("steward.s3.index_version_id")
        if tagged is not None and tagged != stored.index_version_id:
            raise IntegrityError(
                f"{model} v{version}: the registry tag steward.s3.index_version_id is {tagged}, "
                f"but the ledger recorded {stored.index_version_id}: the registry was pointed at "
                "another artifact. Investigate before re-enabling"
            )
        storage_tasks.verify_stored(settings, stored, stored.signature_sha256)
    except IntegrityError as err:
        audit(
            "artifact.rejected",
            {"step": "re-enable", "error": type(err).__name__, "message": str(err)[:4000]},
        )
        raise
    audit(
        "artifact.verified",
        {
            "where": "s3+registry",
            "before": "re-enable",
            "signature_sha256": stored.signature_sha256,
        },
    )


def _alert(
    settings: StewardSettings,
    policy: Policy,
    version: str,
    *,
    kind: str,
    severity: str,
    title: str,
    summary: str,
    key: str,
) -> None:
    """Best effort: the ledger is the record, and the outbox keeps what is not delivered."""
    try:
        from modelsteward.alerts import Alert
        from tasks.alerts import send_alerts

        alert = Alert(
            model=policy.model,
            version=version,
            kind=kind,
            severity=severity,
            title=title[:140],
            summary=summary[:2000],
            idempotency_key=key[:200],
        )
        send_alerts.with_options(retries=0)([alert], policy, settings, wait_seconds=5.0)
    except Exception as err:
        get_run_logger().warning("event=notify_failed model=%s error=%s", policy.model, err)


def _notify(
    settings: StewardSettings, policy: Policy, result: ReenableResult, request: ReenableParameters
) -> None:
    if result.status == "enabled":
        title = f"{result.model} v{result.version} serves again"
        summary = f"Re-enabled by {result.approver} (Guardian): {request.reason}."
    else:
        title = f"{result.model} stays disabled"
        summary = f"Re-enable requested by {request.requested_by} not approved: {result.reason}."
    _alert(
        settings,
        policy,
        result.version or "unknown",
        kind="kill_notice",
        severity="info",
        title=title,
        summary=summary,
        key=f"reenable:{result.model}:{result.flow_run_id}:{result.status}",
    )


def _summary(result: ReenableResult, request: ReenableParameters) -> None:
    lines = [
        f"# Re-enable of `{result.model}` v{result.version or '?'}: **{result.status}**",
        "",
        f"- requested by {request.requested_by}: {request.reason}",
        f"- decision: {result.reason if result.status == 'rejected' else 'approved'}"
        + (f" by {result.approver}" if result.approver else ""),
    ]
    if result.refused:
        lines.append(f"- refused (not the Guardian): {', '.join(result.refused)}")
    if result.status == "enabled":
        lines.append(
            f"- artifact re-verified from S3 (signature sha256 `{result.signature_sha256}`); "
            f"alias `{CHAMPION}` → v{result.version}; kill switch on (revision "
            f"{result.switch_revision})"
        )
    try:
        create_markdown_artifact(
            markdown="\n".join(lines),
            key=f"reenable-{result.model}".lower().replace("_", "-").replace(".", "-"),
            description=f"Re-enable of {result.model}",
        )
    except Exception as err:  # the artifact is a view
        get_run_logger().warning("event=artifact_failed error=%s", err)


def run_reenable(
    request: ReenableParameters,
    *,
    decisions: list[ApprovalInput] | None = None,
    key: Any = None,
) -> ReenableResult:
    """Run ``reenable-model`` here, answering its approval pause(s) with ``decisions``.

    The same mechanism as :func:`flows.onboard_model.run_onboarding`: the run pauses as for
    a human in the UI and a background thread resumes it (``steward approve`` does the same).
    """
    result, errors = run_with_decisions(
        lambda: reenable_model(request),
        decisions=decisions,
        tag_prefix="reenable-request",
        key=key,
    )
    if errors:
        raise AuthorizationError(f"the approval could not be delivered: {errors[0]}")
    return result
