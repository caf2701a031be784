"""``kill-model``: stop a model now, then tidy up everywhere else.

kill switch off (first, always) → MLflow: remove the ``champion`` alias remembering where it
pointed, tag that version disabled → ledger → kill notice to Owner, Operator and Guardian →
markdown artifact.

Who started it does not matter to the order: the Prefect UI or CLI, the
``steward.kill.requested`` event trigger (:func:`deployments.triggers.kill_trigger`), the
HTTP service after a PagerDuty webhook (it has flipped the switch and audited already and
passes ``switch_revision``), or a severe evaluation.

A follow-up that carries ``switch_revision`` and finds the model re-enabled at a later
revision does nothing (``superseded``): a late run never undoes a Guardian's re-enable.

Idempotent. A switch that is already off is left alone and not audited again (whoever turned
it off recorded ``model.disabled``); the follow-up steps are recorded as ``model.disabled``
with ``details.step`` = ``"registry"`` only when they changed something; the kill notice has a
key per switch revision, so a re-run sends nothing twice.

Failure semantics (decided): once the switch is off the model is stopped, and that part never
waits for MLflow or Slack. When a follow-up step cannot finish (MLflow down after the task's
retries, notices not delivered), the run writes its artifact listing what is pending and then
**fails** with :class:`~modelsteward.errors.ExternalServiceError`, so the UI shows it red and
Prefect retries the whole (idempotent) flow after ``retry_delay_seconds``; each retry only
finishes what is left. A Completed run means everything is done.
"""

from __future__ import annotations

from typing import Any, Literal

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.context import get_run_context
from pydantic import BaseModel, Field, field_validator

from modelsteward.errors import ExternalServiceError, NotFoundError, StewardError
from modelsteward.killswitch import validate_model_name
from modelsteward.registry import CHAMPION
from modelsteward.settings import StewardSettings, load_settings
from tasks import killswitch as killswitch_tasks
from tasks import serving as serving_tasks

__all__ = ["KillParameters", "KillResult", "kill_model"]

FLOW_NAME = "kill-model"
FLOW_ACTOR = "kill-model"

KillRole = Literal["guardian", "operator", "owner", "system", "pagerduty"]


class KillParameters(BaseModel):
    """Parameters of ``kill-model`` (a form in the Prefect UI). The HTTP service sends
    ``{"request": {model, reason, actor, role, source, switch_revision}}``."""

    model: str = Field(
        min_length=1, max_length=128, description="Registered model name, e.g. fraud-detector."
    )
    reason: str = Field(min_length=1, max_length=2000, description="Why it must stop.")
    actor: str = Field(min_length=1, max_length=256, description="Who asks (e-mail or service).")
    role: KillRole = Field(default="operator", description="The actor's role.")
    version: str | None = Field(
        default=None, description="Version to tag disabled (default: where champion pointed)."
    )
    source: str = Field(
        default="manual", max_length=64, description="ui, cli, event, pagerduty, api, evaluation."
    )
    incident: str | None = Field(
        default=None, max_length=256, description="Incident key or URL (PagerDuty, ticket)."
    )
    switch_revision: int | None = Field(
        default=None,
        ge=0,
        description="Store revision of a switch flip already made and audited by the caller.",
    )

    _model_name = field_validator("model")(validate_model_name)


class KillResult(BaseModel):
    model: str
    version: str | None = None
    switch_changed: bool
    switch_revision: int
    switched_off_by: str | None = None
    alias_removed_from: str | None = None
    remembered_version: str | None = None
    registry: dict[str, Any] | None = None
    notices: dict[str, Any] | None = None
    pending: list[str] = Field(default_factory=list)
    superseded: bool = False
    flow_run_id: str | None = None


def _audit(
    settings: StewardSettings,
    *,
    action: str,
    actor: str,
    role: str,
    model: str,
    version: str | None,
    details: dict[str, Any],
) -> None:
    from modelsteward.audit import Ledger

    with Ledger.from_settings(settings) as ledger:
        ledger.append(
            action=action, actor=actor, role=role, model=model, version=version, details=details
        )


def _policy(settings: StewardSettings, model: str) -> Any:
    from modelsteward.policy import load_policy

    path = settings.policy_dir / f"{model}.yaml"
    if not path.is_file():
        return None
    return load_policy(path)


@flow(name=FLOW_NAME, retries=2, retry_delay_seconds=60, validate_parameters=True)
def kill_model(request: KillParameters) -> KillResult:
    """Kill switch off first; then MLflow, ledger and notices (see the module docstring)."""
    logger = get_run_logger()
    context = get_run_context()
    run_id = str(context.flow_run.id) if getattr(context, "flow_run", None) else None  # type: ignore[union-attr]
    settings = load_settings()
    settings.ensure_home()
    model = request.model

    # 0. a follow-up of a flip made elsewhere that a Guardian has re-enabled since: stale
    if request.switch_revision is not None:
        current = killswitch_tasks.read_switch(settings, model)
        if current["active"] and int(current["revision"]) > request.switch_revision:
            return _superseded(request, current, run_id)

    # 1. the switch: nothing else may delay this
    state, changed = killswitch_tasks.switch_off(
        settings,
        model,
        actor=request.actor,
        role=request.role,
        reason=request.reason,
        source=request.source,
        details={"flow_run_id": run_id, "incident": request.incident, "step": "switch"},
    )
    logger.info("event=switch_off model=%s changed=%s revision=%d", model, changed, state.revision)
    result = KillResult(
        model=model,
        version=request.version or state.version,
        switch_changed=changed,
        switch_revision=state.revision,
        switched_off_by=state.actor,
        flow_run_id=run_id,
    )

    # 2. MLflow: take the version out of serving
    try:
        registry = serving_tasks.withdraw_serving_version(
            settings, model, version=request.version, reason=request.reason, actor=request.actor
        )
    except NotFoundError as err:  # never registered: nothing to withdraw
        result.registry = {"skipped": str(err)}
        logger.warning("event=registry_skipped model=%s error=%s", model, err)
    except Exception as err:
        result.pending.append(f"registry: {type(err).__name__}: {err}"[:500])
        logger.error("event=registry_pending model=%s error=%s", model, err)
    else:
        result.registry = registry
        result.alias_removed_from = registry["alias_removed_from"]
        result.remembered_version = registry["remembered_version"]
        result.version = registry["version"] or result.version
        if registry["changed"]:
            _audit(
                settings,
                action="model.disabled",
                actor=request.actor,
                role=request.role,
                model=model,
                version=result.version,
                details={
                    "step": "registry",
                    "alias": CHAMPION,
                    "alias_removed_from": registry["alias_removed_from"],
                    "tagged_disabled": registry["tagged"],
                    "reason": request.reason,
                    "switch_revision": state.revision,
                    "flow_run_id": run_id,
                },
            )

    # 3. tell Owner, Operator and Guardian (durable outbox; delivery may lag)
    _notify(settings, request, result)

    _summary(request, result)
    if result.pending:
        raise ExternalServiceError(
            f"{model} is disabled (kill switch off, revision {state.revision}) but the kill is "
            f"incomplete; pending: {'; '.join(result.pending)}. The flow retries these "
            "steps; re-running kill-model finishes them too."
        )
    return result


def _superseded(request: KillParameters, current: dict[str, Any], run_id: str | None) -> KillResult:
    """Leave a model alone that was re-enabled after the kill this run follows up on."""
    get_run_logger().warning(
        "event=kill_superseded model=%s kill_revision=%d enabled_revision=%s by=%s",
        request.model,
        request.switch_revision,
        current["revision"],
        current["changed_by"],
    )
    result = KillResult(
        model=request.model,
        version=current["version"],
        switch_changed=False,
        switch_revision=int(current["revision"]),
        superseded=True,
        flow_run_id=run_id,
    )
    _publish(
        request.model,
        [
            f"# Kill of `{request.model}`: superseded, nothing done",
            "",
            f"- this run follows up the kill at switch revision {request.switch_revision} "
            f"({request.source}: {request.reason})",
            f"- the model was re-enabled since (revision {current['revision']}, by "
            f"{current['changed_by']}: {current['reason']}); the switch and the "
            f"`{CHAMPION}` alias are left as they are",
        ],
    )
    return result


def _notify(settings: StewardSettings, request: KillParameters, result: KillResult) -> None:
    logger = get_run_logger()
    try:
        policy = _policy(settings, request.model)
    except StewardError as err:
        result.pending.append(f"notices: policy unreadable: {err}"[:500])
        return
    if policy is None:
        result.notices = {"skipped": f"no policy {request.model}.yaml in {settings.policy_dir}"}
        logger.warning("event=notices_skipped model=%s reason=no_policy", request.model)
        return
    from modelsteward.alerts import Alert

    fields: dict[str, Any] = {
        "actor": request.actor,
        "role": request.role,
        "source": request.source,
        "switch revision": result.switch_revision,
    }
    if result.alias_removed_from or result.remembered_version:
        fields["alias removed from"] = result.alias_removed_from or result.remembered_version
    if request.incident:
        fields["incident"] = request.incident
    alert = Alert(
        model=request.model,
        version=result.version or "unknown",
        kind="kill_notice",
        severity="critical",
        title=f"{request.model} was stopped (kill switch off)"[:140],
        summary=(
            f"{request.actor} ({request.role}) stopped {request.model}: {request.reason}. "
            f"Re-enabling needs the Guardian's approval (reenable-model)."
        )[:2000],
        fields=fields,
        idempotency_key=f"kill:{request.model}:{result.switch_revision}",
    )
    try:
        report = killswitch_tasks.send_notices([alert], policy, settings, wait_seconds=10.0)
    except Exception as err:
        result.pending.append(f"notices: {type(err).__name__}: {err}"[:500])
        logger.error("event=notices_pending model=%s error=%s", request.model, err)
        return
    result.notices = report
    if report["undelivered"]:
        errors = "; ".join(f"{t['target']}: {t['error']}" for t in report["targets"] if t["error"])[
            :300
        ]
        result.pending.append(
            f"notices: {report['undelivered']} not delivered yet, kept in the outbox ({errors})"
        )


def _summary(request: KillParameters, result: KillResult) -> None:
    done = "**incomplete**" if result.pending else "done"
    switch = (
        f"turned off now (revision {result.switch_revision})"
        if result.switch_changed
        else f"already off (revision {result.switch_revision}, by {result.switched_off_by})"
    )
    lines = [
        f"# Kill of `{result.model}`: {done}",
        "",
        f"- requested by {request.actor} ({request.role}) via {request.source}: {request.reason}",
        f"- kill switch: {switch}",
    ]
    if request.incident:
        lines.append(f"- incident: {request.incident}")
    if result.registry is not None and "skipped" in result.registry:
        lines.append(f"- MLflow: skipped ({result.registry['skipped']})")
    elif result.registry is not None:
        alias = result.alias_removed_from
        lines.append(
            f"- MLflow: alias `{CHAMPION}` "
            + (
                f"removed from v{alias}"
                if alias
                else f"already removed (was v{result.remembered_version})"
            )
            + (f"; v{result.version} tagged disabled" if result.registry.get("tagged") else "")
        )
    if result.notices is not None and "targets" in result.notices:
        lines += ["", "| notice to | roles | status |", "|---|---|---|"]
        lines += [
            f"| {t['target']} | {', '.join(t['roles'])} | {t['status']} |"
            for t in result.notices["targets"]
        ]
    elif result.notices is not None:
        lines.append(f"- kill notice: {result.notices}")
    if result.pending:
        lines += ["", "## Pending (the flow retries; re-running kill-model finishes them)", ""]
        lines += [f"- {item}" for item in result.pending]
    _publish(result.model, lines)


def _publish(model: str, lines: list[str]) -> None:
    try:
        create_markdown_artifact(
            markdown="\n".join(lines),
            key=f"kill-{model}".lower().replace("_", "-").replace(".", "-"),
            description=f"Kill of {model}",
        )
    except Exception as err:  # the artifact is a view; never fail the kill for it
        get_run_logger().warning("event=artifact_failed error=%s", err)
