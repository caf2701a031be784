"""Monitoring: data quality, drift and performance decay of one batch, as one result.

The ``evaluate-model`` flow calls :func:`evaluate` with the policy, the current batch and the
reference data (and the onboarding baseline metrics). It runs, in order:

1. :func:`check_quality` - the policy's data contract as a Great Expectations suite in an
   ephemeral context (:mod:`.quality`); a failing batch stops here;
2. :func:`evaluate_drift` - per-column drift with Evidently's own choice of stat test and
   thresholds, computed without building its report (:mod:`.stattests`, :mod:`.drift`), the
   drifted share of columns and prediction drift; :func:`drift_report_html` renders
   Evidently's ``DataDriftPreset`` HTML report on a documented sample;
3. :func:`evaluate_performance` - the metrics on labelled rows against the baseline;
4. :func:`assess_severity` - the policy's thresholds make it none / warning / critical.

The answer is one :class:`EvaluationResult` (JSON for the ledger and alert routing).
:mod:`.metrics` exposes it as Prometheus gauges and pushes to a Pushgateway. Importing this
package loads pydantic only; pandas, Great Expectations, Evidently, scikit-learn and
prometheus-client are imported inside the functions that use them.
"""

from modelsteward.monitoring.drift import (
    DATASET_DRIFT_SHARE,
    REPORT_SAMPLE_ROWS,
    column_drift,
    column_types,
    drift_report_html,
    evaluate_drift,
)
from modelsteward.monitoring.evaluate import evaluate
from modelsteward.monitoring.metrics import MonitoringMetrics, metrics_registry, push_metrics
from modelsteward.monitoring.performance import evaluate_performance
from modelsteward.monitoring.quality import check_quality, expectations_for
from modelsteward.monitoring.result import (
    ColumnDrift,
    DriftResult,
    EvaluationResult,
    FailedExpectation,
    MetricChange,
    PerformanceResult,
    QualityResult,
)
from modelsteward.monitoring.severity import assess_severity

__all__ = [
    "DATASET_DRIFT_SHARE",
    "REPORT_SAMPLE_ROWS",
    "ColumnDrift",
    "DriftResult",
    "EvaluationResult",
    "FailedExpectation",
    "MetricChange",
    "MonitoringMetrics",
    "PerformanceResult",
    "QualityResult",
    "assess_severity",
    "check_quality",
    "column_drift",
    "column_types",
    "drift_report_html",
    "evaluate",
    "evaluate_drift",
    "evaluate_performance",
    "expectations_for",
    "metrics_registry",
    "push_metrics",
]
