"""``evaluate-fleet``: evaluate many models in one run, concurrently, by task mapping.

Each entry of :class:`FleetRequest` is an ``evaluate-model`` request. The CPU-bound part
(read batch and reference, data quality, drift, performance, severity) is one mapped task,
``evaluate-files``, per model; the follow-ups of each result (S3 report, MLflow, ledger,
metrics, alerts, kill) are :func:`flows.evaluate_model.follow_up`, the same code as a single
evaluation. A model whose policy, baseline or batch is broken fails alone: the others are
still evaluated and the run lists the failure.

Scaling out: the mapped task receives only paths, the policy and numbers, never DataFrames,
so moving from one machine to a cluster is a task-runner swap, not a code change::

    from prefect_dask import DaskTaskRunner
    evaluate_fleet.with_options(task_runner=DaskTaskRunner(address="tcp://scheduler:8786"))

(``pip install prefect-dask``; the batches must then sit where the workers can read them,
e.g. S3 paths). Within one machine the default thread pool runs models side by side; numpy
and pandas release the GIL in the heavy parts, and ``max_concurrency`` bounds memory (each
evaluation holds its batch and reference in memory): models are mapped in chunks of that
size.
"""

from __future__ import annotations

import uuid
from typing import Any

from prefect import flow, get_run_logger
from prefect.task_runners import ThreadPoolTaskRunner
from pydantic import BaseModel, Field

from flows.evaluate_model import EvaluateRequest, follow_up, prepare
from modelsteward.errors import StewardError
from modelsteward.settings import load_settings
from tasks import monitoring as monitoring_tasks

__all__ = ["FleetRequest", "evaluate_fleet"]

FLOW_NAME = "evaluate-fleet"


class FleetRequest(BaseModel):
    """Parameters of ``evaluate-fleet``: one evaluate-model request per model."""

    batches: list[EvaluateRequest] = Field(min_length=1, description="One entry per model.")
    max_concurrency: int = Field(
        default=4,
        ge=1,
        le=64,
        description="Models evaluated at the same time (also bounded by the task runner).",
    )


@flow(name=FLOW_NAME, task_runner=ThreadPoolTaskRunner(max_workers=4), validate_parameters=True)
def evaluate_fleet(request: FleetRequest) -> list[dict[str, Any]]:
    """Evaluate every batch of ``request``; one summary per model (or its error)."""
    logger = get_run_logger()
    settings = load_settings()
    summaries: list[dict[str, Any]] = []
    ready = []
    for entry in request.batches:
        try:
            policy, version, baseline, reference = prepare(settings, entry)
        except StewardError as err:
            logger.error("event=fleet_prepare_failed model=%s error=%s", entry.model, err)
            summaries.append({"model": entry.model, "error": str(err)})
            continue
        name = f"drift-{uuid.uuid4().hex[:12]}.html"
        report = settings.reports_dir / policy.model / f"v{version}" / name
        ready.append((entry, policy, version, baseline, reference, str(report)))
    step = request.max_concurrency
    for start in range(0, len(ready), step):
        chunk = ready[start : start + step]
        futures = monitoring_tasks.evaluate_files.map(
            policy=[r[1] for r in chunk],
            current_path=[r[0].current_path for r in chunk],
            reference_path=[r[4] for r in chunk],
            version=[r[2] for r in chunk],
            baseline=[r[3] for r in chunk],
            report_path=[r[5] for r in chunk],
            report_sample_rows=[r[0].report_sample_rows for r in chunk],
        )
        futures.wait()
        for (entry, policy, *_), future in zip(chunk, futures, strict=True):
            if not future.state.is_completed():
                error = future.state.result(raise_on_failure=False)
                logger.error("event=fleet_evaluation_failed model=%s error=%s", entry.model, error)
                summaries.append({"model": entry.model, "error": str(error)})
                continue
            result = future.result()
            outcome = follow_up(
                settings,
                policy,
                result,
                store_report=entry.store_report,
                log_to_mlflow=entry.log_to_mlflow,
            )
            summaries.append(
                {
                    "model": result.model,
                    "version": result.version,
                    "severity": result.severity.value,
                    "summary": result.summary(),
                    "report_uri": outcome.report_uri,
                    "killed": outcome.killed,
                }
            )
    return summaries
