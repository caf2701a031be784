"""``evaluate-model``: does the model still behave? One batch, one verdict, on record.

load the batch and the reference (the onboarding baseline's ``reference.csv`` unless given)
→ :func:`modelsteward.monitoring.evaluate` (Great Expectations data quality → Evidently-chosen
drift tests per column, dataset drift share, prediction drift → performance against the
baseline when labels exist → severity from the policy; Evidently's HTML report on a sample)
→ HTML report into the Object Lock bucket, linked from a Prefect link artifact, summary as a
markdown artifact → MLflow run with the key numbers → ledger (``quality.checked``,
``drift.evaluated``, ``performance.evaluated``) → Prometheus gauges (and Pushgateway) →
alerts routed by the policy → when ``policy.action_for(severity).kill``: kill switch off at
once (audited ``model.disabled``) and ``steward.kill.requested`` emitted so ``kill-model``
finishes the job (MLflow alias, notices).

A data-quality failure or a too-small batch is a *result* (severity at least warning, drift
"not evaluated"), not a failed run. :func:`follow_up` is shared with ``evaluate-fleet``.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_link_artifact, create_markdown_artifact
from pydantic import BaseModel, Field

from modelsteward.errors import NotFoundError, PolicyError
from modelsteward.monitoring import REPORT_SAMPLE_ROWS, EvaluationResult
from modelsteward.monitoring.followup import alerts_for
from modelsteward.policy import MODEL_NAME, Policy, Severity, find_policy, load_policy
from modelsteward.settings import StewardSettings, load_settings
from tasks import monitoring as monitoring_tasks

__all__ = [
    "EvaluateOutcome",
    "EvaluateRequest",
    "evaluate_model",
    "follow_up",
    "prepare",
    "summary_markdown",
]

FLOW_NAME = "evaluate-model"
ACTOR = "evaluate-model"


class EvaluateRequest(BaseModel):
    """Parameters of ``evaluate-model`` (a form in the Prefect UI)."""

    model: str = Field(pattern=MODEL_NAME, description="Model name (policies/<model>.yaml).")
    current_path: str = Field(description="The batch to evaluate: a CSV or Parquet file.")
    version: str | None = Field(
        default=None, description="Model version; default: the most recent baseline's."
    )
    policy_path: str | None = Field(
        default=None, description="Policy file; default $STEWARD_POLICY_DIR/<model>.yaml."
    )
    reference_path: str | None = Field(
        default=None, description="Reference data; default the baseline's reference.csv."
    )
    report_sample_rows: int = Field(
        default=REPORT_SAMPLE_ROWS,
        ge=100,
        le=1_000_000,
        description="Rows per side in Evidently's HTML report (verdicts use every row).",
    )
    store_report: bool = Field(default=True, description="Store the HTML report in S3.")
    log_to_mlflow: bool = Field(default=True, description="Log the key numbers to MLflow.")


class EvaluateOutcome(BaseModel):
    """What one evaluation produced and where it went."""

    result: EvaluationResult
    report_uri: str | None = None
    mlflow_run_id: str | None = None
    ledger_seqs: list[int] = Field(default_factory=list)
    alerts: dict[str, Any] | None = None
    killed: bool = False
    kill_event: bool = False


def prepare(
    settings: StewardSettings, request: EvaluateRequest
) -> tuple[Policy, str, dict[str, float] | None, str]:
    """(policy, version, baseline metrics, reference path) of ``request``."""
    from modelsteward.baseline import load_baseline

    policy = (
        load_policy(request.policy_path)
        if request.policy_path
        else find_policy(settings.policy_dir, request.model)
    )
    if policy.model != request.model:
        raise PolicyError(
            f"{policy.source}: the policy is for {policy.model!r}, not {request.model!r}",
            path=policy.source,
            field="model",
        )
    try:
        baseline = load_baseline(settings, request.model, request.version)
    except NotFoundError:
        if request.reference_path is None or request.version is None:
            raise
        baseline = None
    version = request.version or (baseline.version if baseline else None)
    assert version is not None  # load_baseline raised otherwise
    reference = request.reference_path or (str(baseline.reference_path) if baseline else None)
    assert reference is not None
    return policy, version, (baseline.metrics if baseline else None), reference


def summary_markdown(result: EvaluationResult, report_uri: str | None) -> str:
    """The markdown artifact: verdict, drift table, performance table, gaps."""
    lines = [
        f"# {result.model} v{result.version}: severity **{result.severity.value}**",
        "",
        result.summary(),
        "",
        f"- rows: {result.rows:,}; data quality: "
        + ("passed" if result.quality.passed else "**FAILED**"),
    ]
    if report_uri or result.report_path:
        lines.append(f"- Evidently report: `{report_uri or result.report_path}`")
    lines += [f"- {reason}" for reason in result.severity_reasons]
    if result.quality.failures:
        lines += ["", "## Failed expectations", ""]
        lines += [f"- {failure.message}" for failure in result.quality.failures]
    if result.drift.columns:
        lines += ["", "## Drift", "", "| column | test | score | threshold | drifted |"]
        lines.append("|---|---|---|---|---|")
        columns = [*result.drift.columns, result.drift.prediction]
        for column in [c for c in columns if c is not None]:
            score = "n/a" if column.score is None else f"{column.score:.4g}"
            drifted = {True: "**yes**", False: "no", None: f"n/a ({column.reason})"}[column.drifted]
            lines.append(
                f"| {column.column} | {column.stattest} | {score} | {column.threshold:g} | "
                f"{drifted} |"
            )
    if result.performance.metrics:
        lines += ["", "## Performance", "", "| metric | baseline | current | drop |"]
        lines.append("|---|---|---|---|")
        for change in result.performance.metrics:
            base = "n/a" if change.baseline is None else f"{change.baseline:.4f}"
            drop = "n/a" if change.drop is None else f"{change.drop:.4f}"
            lines.append(f"| {change.metric} | {base} | {change.current:.4f} | {drop} |")
    if result.not_enough_data:
        lines += ["", "## Not evaluated", ""]
        lines += [f"- {reason}" for reason in result.not_enough_data]
    return "\n".join(lines)


def _artifact_key(prefix: str, model: str) -> str:
    return f"{prefix}-{model}".lower().replace("_", "-").replace(".", "-")


def follow_up(
    settings: StewardSettings,
    policy: Policy,
    result: EvaluationResult,
    *,
    store_report: bool = True,
    log_to_mlflow: bool = True,
) -> EvaluateOutcome:
    """Everything after the verdict: the kill first (when the policy says so), then S3,
    MLflow, ledger, metrics, artifacts and alerts."""
    from tasks import alerts as alert_tasks
    from tasks import killswitch as killswitch_tasks

    logger = get_run_logger()
    outcome = EvaluateOutcome(result=result)
    # The kill comes first: an S3, MLflow or Slack outage in the steps below must neither
    # delay nor prevent it.
    action = policy.action_for(result.severity)
    if action.kill and result.severity is not Severity.NONE:
        reason = f"evaluate-model: severity {result.severity.value}: " + "; ".join(
            result.severity_reasons
        )
        state, changed = killswitch_tasks.switch_off(
            settings,
            result.model,
            actor=ACTOR,
            role="system",
            reason=reason[:240],
            source=FLOW_NAME,
            details={"version": result.version, "severity": result.severity.value},
        )
        outcome.killed = not state.active
        try:
            event = killswitch_tasks.request_kill_event(
                result.model,
                reason=reason[:240],
                actor=ACTOR,
                version=result.version,
                source=FLOW_NAME,
                switch_revision=state.revision,
            )
            outcome.kill_event = event is not None
        except Exception as err:  # the switch is already off; kill-model can be run by hand
            logger.warning("event=kill_event_failed model=%s error=%s", result.model, err)
        logger.info(
            "event=model_killed model=%s changed=%s kill_event=%s",
            result.model,
            changed,
            outcome.kill_event,
        )
    if store_report and result.report_path:
        outcome.report_uri = monitoring_tasks.store_drift_report(settings, result)
    if log_to_mlflow:
        outcome.mlflow_run_id = monitoring_tasks.log_evaluation_run(
            settings, result, outcome.report_uri
        )
    outcome.ledger_seqs = monitoring_tasks.record_evaluation(
        settings, result, outcome.report_uri, ACTOR
    )
    monitoring_tasks.publish_metrics(settings, result)
    try:
        create_markdown_artifact(
            markdown=summary_markdown(result, outcome.report_uri),
            key=_artifact_key("evaluation", result.model),
            description=f"Evaluation of {result.model} v{result.version}",
        )
        if outcome.report_uri or result.report_path:
            create_link_artifact(
                link=outcome.report_uri or Path(str(result.report_path)).resolve().as_uri(),
                link_text=f"Evidently drift report, {result.model} v{result.version}",
                key=_artifact_key("drift-report", result.model),
                description="Evidently DataDriftPreset report (sampled; verdicts on all rows)",
            )
    except Exception as err:  # an artifact is a view; never fail the evaluation for it
        logger.warning("event=artifact_failed error=%s", err)
    report_url = Path(result.report_path).resolve().as_uri() if result.report_path else None
    alerts = alerts_for(result, report_url=report_url, idempotency_prefix=_run_id())
    if alerts:
        outcome.alerts = alert_tasks.send_alerts(alerts, policy, settings)
    logger.info("event=evaluation_done %s", result.summary())
    return outcome


def _run_id() -> str:
    try:
        from prefect.context import get_run_context

        return str(get_run_context().flow_run.id)  # type: ignore[union-attr]
    except Exception:
        return uuid.uuid4().hex


@flow(name=FLOW_NAME, validate_parameters=True)
def evaluate_model(request: EvaluateRequest) -> EvaluateOutcome:
    """Evaluate one batch of one model (see the module docstring)."""
    settings = load_settings()
    policy, version, baseline, reference_path = prepare(settings, request)
    current = monitoring_tasks.load_batch(request.current_path)
    reference = monitoring_tasks.load_batch(reference_path)
    report_path = settings.reports_dir / policy.model / f"v{version}" / f"drift-{_run_id()}.html"
    result = monitoring_tasks.evaluate_batch(
        policy,
        current,
        reference,
        version=version,
        baseline=baseline,
        report_path=str(report_path),
        report_sample_rows=request.report_sample_rows,
    )
    return follow_up(
        settings,
        policy,
        result,
        store_report=request.store_report,
        log_to_mlflow=request.log_to_mlflow,
    )
