"""Prefect tasks of monitoring, each a thin wrapper of one core call.

- ``load-batch``: a CSV or Parquet file as a DataFrame (a missing or unreadable file is a
  :class:`~modelsteward.errors.DataError`, never retried);
- ``evaluate-batch``: :func:`modelsteward.monitoring.evaluate` (quality, drift, performance,
  severity, optional HTML report); pure CPU, no retries;
- ``evaluate-files``: read both files and evaluate in one task (what ``evaluate-fleet`` maps);
- ``store-drift-report``: the HTML report into the Object Lock bucket (network retries);
- ``log-evaluation-run``: the key numbers, the result JSON and the report to an MLflow run
  tagged with the model version (network retries);
- ``record-evaluation``: the ledger records of
  :func:`~modelsteward.monitoring.followup.audit_entries`;
- ``publish-metrics``: Prometheus gauges in this process, pushed to the Pushgateway when
  ``STEWARD_PUSHGATEWAY_URL`` is set (network retries).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from modelsteward.errors import DataError
from modelsteward.monitoring import EvaluationResult, evaluate, metrics_registry, push_metrics
from modelsteward.monitoring.followup import audit_entries, mlflow_metrics
from modelsteward.policy import Policy
from modelsteward.settings import StewardSettings
from tasks._network import NETWORK_RETRIES, NETWORK_RETRY_DELAYS, network_error

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "evaluate_batch",
    "evaluate_files",
    "load_batch",
    "log_evaluation_run",
    "publish_metrics",
    "read_batch",
    "record_evaluation",
    "store_drift_report",
]

_NETWORK = {
    "retries": NETWORK_RETRIES,
    "retry_delay_seconds": NETWORK_RETRY_DELAYS,
    "retry_condition_fn": network_error,
    "cache_policy": NO_CACHE,
}


def read_batch(path: str | Path) -> pd.DataFrame:
    """Read a CSV or Parquet batch; a clear :class:`DataError` otherwise."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise DataError(f"batch {path} does not exist; pass a CSV or Parquet file")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if path.suffix.lower() in (".csv", ".txt", ".gz"):
            return pd.read_csv(path)
    except (ValueError, OSError) as err:
        raise DataError(f"batch {path} could not be read: {err}") from err
    raise DataError(f"batch {path}: unknown format {path.suffix!r}; expected .csv or .parquet")


@task(name="load-batch", cache_policy=NO_CACHE)
def load_batch(path: str) -> pd.DataFrame:
    return read_batch(path)


@task(name="evaluate-batch", cache_policy=NO_CACHE)
def evaluate_batch(
    policy: Policy,
    current: pd.DataFrame,
    reference: pd.DataFrame,
    *,
    version: str,
    baseline: dict[str, float] | None,
    report_path: str | None,
    report_sample_rows: int,
) -> EvaluationResult:
    return evaluate(
        policy,
        current,
        reference,
        version=version,
        baseline=baseline,
        report_path=report_path,
        report_sample_rows=report_sample_rows,
    )


@task(name="evaluate-files", cache_policy=NO_CACHE)
def evaluate_files(
    policy: Policy,
    current_path: str,
    reference_path: str,
    *,
    version: str,
    baseline: dict[str, float] | None,
    report_path: str | None,
    report_sample_rows: int,
) -> EvaluationResult:
    """Read both files and evaluate, in one task: what a fleet maps over. Only paths travel
    to the worker, so it runs unchanged on a distributed task runner (prefect-dask)."""
    return evaluate(
        policy,
        read_batch(current_path),
        read_batch(reference_path),
        version=version,
        baseline=baseline,
        report_path=report_path,
        report_sample_rows=report_sample_rows,
    )


@task(name="store-drift-report", **_NETWORK)  # type: ignore[call-overload]
def store_drift_report(settings: StewardSettings, result: EvaluationResult) -> str | None:
    """Put the HTML report under ``reports/<model>/v<version>/`` with Object Lock; its URI."""
    from modelsteward.objectstore import LockedBucket

    if result.report_path is None:
        return None
    path = Path(result.report_path)
    stamp = result.evaluated_at.strftime("%Y%m%dT%H%M%SZ")
    key = f"reports/{result.model}/v{result.version}/drift-{stamp}.html"
    stored = (
        LockedBucket.from_settings(settings)
        .ensure()
        .put(
            key,
            path.read_bytes(),
            content_type="text/html",
            metadata={"model": result.model, "version": result.version},
        )
    )
    return str(stored.uri)


@task(name="log-evaluation-run", **_NETWORK)  # type: ignore[call-overload]
def log_evaluation_run(
    settings: StewardSettings, result: EvaluationResult, report_uri: str | None = None
) -> str:
    """An MLflow run with the evaluation's metrics, the result JSON and the HTML report."""
    from modelsteward.registry import ModelRegistry

    registry = ModelRegistry.from_settings(settings)
    experiment_id = registry.ensure_experiment(settings.mlflow_experiment)
    with registry._errors(f"logging the evaluation of {result.model} v{result.version}"):
        client = registry.client
        run = client.create_run(
            experiment_id,
            run_name=f"evaluate-{result.model}-v{result.version}",
            tags={
                "steward.kind": "evaluation",
                "steward.model": result.model,
                "steward.version": result.version,
                "steward.severity": result.severity.value,
                **({"steward.report": report_uri} if report_uri else {}),
            },
        )
        run_id = str(run.info.run_id)
        for name, value in mlflow_metrics(result).items():
            client.log_metric(run_id, name, value)
        with tempfile.TemporaryDirectory() as scratch:
            target = Path(scratch) / "evaluation.json"
            target.write_text(json.dumps(result.model_dump(mode="json"), indent=2))
            client.log_artifact(run_id, str(target), "evaluation")
            if result.report_path and Path(result.report_path).is_file():
                client.log_artifact(run_id, result.report_path, "evaluation")
        client.set_terminated(run_id)
    return run_id


@task(name="record-evaluation", **_NETWORK)  # type: ignore[call-overload]
def record_evaluation(
    settings: StewardSettings,
    result: EvaluationResult,
    report_uri: str | None = None,
    actor: str = "evaluate-model",
) -> list[int]:
    """Append quality.checked, drift.evaluated (and performance.evaluated); their seqs."""
    from modelsteward.audit import Ledger

    ledger = Ledger.from_settings(settings)
    try:
        seqs = []
        for entry in audit_entries(result, report_uri):
            record = ledger.append(
                action=entry["action"],
                actor=actor,
                role="system",
                model=result.model,
                version=result.version,
                details=entry["details"],
            )
            seqs.append(int(record.seq))
        return seqs
    finally:
        ledger.close()


@task(name="publish-metrics", **_NETWORK)  # type: ignore[call-overload]
def publish_metrics(settings: StewardSettings, result: EvaluationResult) -> dict[str, Any]:
    from modelsteward.monitoring.metrics import save_latest

    metrics_registry().record(result)
    save_latest(result, settings.home / "metrics" / "latest")
    pushed = push_metrics(result, settings.pushgateway_url)
    return {"pushed": pushed, "gateway": settings.pushgateway_url}
