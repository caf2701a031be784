"""Prometheus metrics of evaluations, per model and version, for a time-series database.

:class:`MonitoringMetrics` owns a ``CollectorRegistry`` with the gauges below; ``record``
sets them from an :class:`~.result.EvaluationResult`. :func:`metrics_registry` is the
process-wide instance (the HTTP service or a scrape endpoint can expose its registry with
``prometheus_client.generate_latest``); :func:`push_metrics` pushes one result's metrics to a
Pushgateway (``STEWARD_PUSHGATEWAY_URL``), grouped by model and version, for batch flows that
live too briefly to be scraped; :func:`save_latest` keeps each model's latest result under
``$STEWARD_HOME/metrics/latest`` and :func:`latest_exposition` turns them into gauges for
``steward serve``'s ``/metrics``.

Gauges (labels ``model``, ``version`` and those listed):

- ``steward_evaluation_severity`` 0 none, 1 warning, 2 critical
- ``steward_data_quality_passed`` 1/0; ``steward_data_quality_failures``
- ``steward_drift_share`` drifted share of feature columns (absent when not evaluated)
- ``steward_drift_evaluated`` 1/0
- ``steward_column_drift_score`` / ``steward_column_drifted`` (``column``, ``stattest``)
- ``steward_prediction_drift`` 1/0; ``steward_prediction_drift_score`` (``stattest``)
- ``steward_performance_metric`` / ``steward_performance_drop`` (``metric``)
- ``steward_evaluation_rows``; ``steward_evaluation_seconds`` (``stage``)
- ``steward_last_evaluation_timestamp_seconds``
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelsteward.errors import ExternalServiceError
from modelsteward.monitoring.severity import RANK

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from modelsteward.monitoring.result import EvaluationResult

__all__ = [
    "MonitoringMetrics",
    "latest_exposition",
    "metrics_registry",
    "push_metrics",
    "save_latest",
]

log = logging.getLogger(__name__)
_BASE = ("model", "version")


class MonitoringMetrics:
    """The monitoring gauges in one registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        from prometheus_client import CollectorRegistry, Gauge

        self.registry = registry if registry is not None else CollectorRegistry()

        def gauge(name: str, doc: str, *extra: str) -> Any:
            return Gauge(name, doc, [*_BASE, *extra], registry=self.registry)

        self.severity = gauge("steward_evaluation_severity", "0 none, 1 warning, 2 critical")
        self.quality_passed = gauge(
            "steward_data_quality_passed", "1 if the batch met the contract"
        )
        self.quality_failures = gauge("steward_data_quality_failures", "Failed expectations")
        self.drift_evaluated = gauge("steward_drift_evaluated", "1 if drift could be evaluated")
        self.drift_share = gauge("steward_drift_share", "Drifted share of feature columns")
        self.column_score = gauge(
            "steward_column_drift_score", "Drift score of one column", "column", "stattest"
        )
        self.column_drifted = gauge(
            "steward_column_drifted", "1 if the column drifted", "column", "stattest"
        )
        self.prediction_drift = gauge("steward_prediction_drift", "1 if the prediction drifted")
        self.prediction_score = gauge(
            "steward_prediction_drift_score", "Drift score of the prediction", "stattest"
        )
        self.performance = gauge("steward_performance_metric", "Metric on the batch", "metric")
        self.performance_drop = gauge(
            "steward_performance_drop", "Drop of the metric below its baseline", "metric"
        )
        self.rows = gauge("steward_evaluation_rows", "Rows in the evaluated batch")
        self.seconds = gauge("steward_evaluation_seconds", "Seconds per stage", "stage")
        self.timestamp = gauge(
            "steward_last_evaluation_timestamp_seconds", "When the last evaluation ran"
        )
        self._lock = threading.Lock()

    def record(self, result: EvaluationResult) -> None:
        """Set every gauge of ``result.model``/``result.version`` from ``result``."""
        base = {"model": result.model, "version": result.version}
        with self._lock:
            self.severity.labels(**base).set(RANK[result.severity])
            self.quality_passed.labels(**base).set(1 if result.quality.passed else 0)
            self.quality_failures.labels(**base).set(len(result.quality.failures))
            self.drift_evaluated.labels(**base).set(1 if result.drift.evaluated else 0)
            if result.drift.drift_share is not None:
                self.drift_share.labels(**base).set(result.drift.drift_share)
            for column in result.drift.columns:
                if column.score is None or column.drifted is None:
                    continue
                labels = {**base, "column": column.column, "stattest": column.stattest}
                self.column_score.labels(**labels).set(column.score)
                self.column_drifted.labels(**labels).set(1 if column.drifted else 0)
            prediction = result.drift.prediction
            if prediction is not None and prediction.score is not None:
                self.prediction_drift.labels(**base).set(1 if prediction.drifted else 0)
                self.prediction_score.labels(**base, stattest=prediction.stattest).set(
                    prediction.score
                )
            for change in result.performance.metrics:
                self.performance.labels(**base, metric=change.metric).set(change.current)
                if change.drop is not None:
                    self.performance_drop.labels(**base, metric=change.metric).set(change.drop)
            self.rows.labels(**base).set(result.rows)
            for stage, seconds in result.timings.items():
                self.seconds.labels(**base, stage=stage).set(seconds)
            self.timestamp.labels(**base).set(result.evaluated_at.timestamp())

    def exposition(self) -> bytes:
        """The registry in Prometheus text format."""
        from prometheus_client import generate_latest

        return bytes(generate_latest(self.registry))


_default: MonitoringMetrics | None = None
_default_lock = threading.Lock()


def metrics_registry() -> MonitoringMetrics:
    """The process-wide :class:`MonitoringMetrics` (created on first use)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = MonitoringMetrics()
        return _default


def push_metrics(
    result: EvaluationResult,
    url: str | None,
    *,
    job: str = "model-steward-evaluate",
    timeout_seconds: float = 10.0,
) -> bool:
    """Push ``result``'s metrics to the Pushgateway at ``url``; ``False`` when ``url`` is unset.

    Uses a fresh registry holding only this result, grouped by model and version, so pushes
    of different models never overwrite each other. Raises
    :class:`~modelsteward.errors.ExternalServiceError` when the gateway refuses or is down.
    """
    if not url:
        return False
    from prometheus_client import push_to_gateway

    metrics = MonitoringMetrics()
    metrics.record(result)
    try:
        push_to_gateway(
            url,
            job=job,
            registry=metrics.registry,
            grouping_key={"model": result.model, "version": result.version},
            timeout=timeout_seconds,
        )
    except OSError as err:  # urllib's URLError/HTTPError are OSErrors
        raise ExternalServiceError(
            f"Pushgateway {url} refused the metrics of {result.model} v{result.version}: {err}; "
            "check STEWARD_PUSHGATEWAY_URL and that the gateway is up"
        ) from err
    log.info("event=metrics_pushed model=%s version=%s url=%s", result.model, result.version, url)
    return True


def _latest_path(directory: Path, model: str) -> Path:
    return directory / f"{model}.json"


def save_latest(result: EvaluationResult, directory: Path) -> Path:
    """Keep ``result`` as the latest evaluation of its model (atomic replace), so a long-lived
    process (``steward serve``'s ``/metrics``) can expose it after the flow run has ended."""
    import os
    import tempfile

    directory.mkdir(parents=True, exist_ok=True)
    path = _latest_path(directory, result.model)
    fd, tmp = tempfile.mkstemp(prefix=f".{result.model}.", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(result.model_dump_json())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def latest_exposition(directory: Path) -> bytes:
    """The gauges of every model's latest saved evaluation, in Prometheus text format.

    A file that does not parse is skipped with a warning (never fails a scrape).
    """
    from modelsteward.monitoring.result import EvaluationResult

    if not directory.is_dir():
        return b""
    metrics = MonitoringMetrics()
    for path in sorted(directory.glob("*.json")):
        try:
            metrics.record(EvaluationResult.model_validate_json(path.read_bytes()))
        except Exception as err:
            log.warning("event=latest_evaluation_unreadable path=%s error=%s", path, err)
    return metrics.exposition()
