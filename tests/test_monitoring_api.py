"""The monitoring package's public API is pinned, and importing it stays cheap."""

from __future__ import annotations

import subprocess
import sys

import modelsteward.monitoring as monitoring

EXPECTED = {
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
}


def test_exported_members() -> None:
    assert set(monitoring.__all__) == EXPECTED
    for name in EXPECTED:
        assert getattr(monitoring, name) is not None


def test_import_loads_no_data_stack() -> None:
    heavy = ("pandas", "numpy", "evidently", "great_expectations", "sklearn", "prefect")
    code = (
        "import sys, modelsteward.monitoring\n"
        f"print(','.join(m for m in {heavy!r} if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""
