"""The one result object of an evaluation, and its parts.

:class:`EvaluationResult` is what the ``evaluate-model`` flow writes to the ledger, hands to
alert routing and, when the policy says so, to ``kill-model``. Every part is a frozen pydantic
model, so ``result.model_dump(mode="json")`` is the ledger's ``details`` and
``EvaluationResult.model_validate_json`` reads it back.

A check that could not run is never reported as a clean one: ``evaluated`` is ``False`` and
``reason`` says why (data-quality failure, not enough data, labels missing).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from modelsteward.policy import Severity

__all__ = [
    "ColumnDrift",
    "DriftResult",
    "EvaluationResult",
    "FailedExpectation",
    "MetricChange",
    "PerformanceResult",
    "QualityResult",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FailedExpectation(_Frozen):
    """One Great Expectations expectation the batch did not meet, in plain words."""

    expectation: str = Field(description="GE expectation type, e.g. expect_column_to_exist.")
    column: str | None = None
    message: str = Field(description="What was expected and what was found.")
    observed: Any = None


class QualityResult(_Frozen):
    """Data-quality verdict of one batch against the policy's data contract."""

    passed: bool
    rows: int
    expectations: int = Field(description="Number of expectations evaluated.")
    failures: tuple[FailedExpectation, ...] = ()
    seconds: float = 0.0

    def summary(self) -> str:
        if self.passed:
            return f"{self.expectations} expectations met on {self.rows} rows"
        return "; ".join(f.message for f in self.failures)


class ColumnDrift(_Frozen):
    """Drift of one column: Evidently's stat test, its score and threshold, the verdict.

    ``drifted`` is ``None`` when the column could not be tested (``reason`` says why).
    """

    column: str
    column_type: str = Field(description="Evidently column type: num or cat.")
    stattest: str = Field(description="Evidently stat test name, e.g. wasserstein.")
    stattest_display: str = Field(description="Evidently's display name of the test.")
    score: float | None
    threshold: float
    drifted: bool | None
    reason: str | None = None


class DriftResult(_Frozen):
    """Data drift per column, for the dataset, and prediction drift."""

    evaluated: bool
    reason: str | None = None
    columns: tuple[ColumnDrift, ...] = ()
    drifted_columns: int = 0
    evaluated_columns: int = 0
    drift_share: float | None = Field(
        default=None, description="Drifted share of the evaluated feature columns."
    )
    dataset_drift: bool | None = Field(
        default=None,
        description="Evidently's dataset verdict: drift_share at or above dataset_drift_share.",
    )
    dataset_drift_share: float = 0.5
    prediction: ColumnDrift | None = None
    reference_rows: int = 0
    current_rows: int = 0
    seconds: float = 0.0

    @property
    def prediction_drift(self) -> bool | None:
        return None if self.prediction is None else self.prediction.drifted

    def column(self, name: str) -> ColumnDrift:
        for entry in self.columns:
            if entry.column == name:
                return entry
        raise KeyError(name)


class MetricChange(_Frozen):
    """One performance metric against its baseline. ``drop`` is positive when worse."""

    metric: str
    baseline: float | None
    current: float
    drop: float | None
    severity: Severity = Severity.NONE


class PerformanceResult(_Frozen):
    """Performance of the model on the labelled batch against the onboarding baseline."""

    evaluated: bool
    reason: str | None = None
    rows: int = 0
    metrics: tuple[MetricChange, ...] = ()
    skipped: dict[str, str] = Field(default_factory=dict)
    seconds: float = 0.0

    def metric(self, name: str) -> MetricChange:
        for entry in self.metrics:
            if entry.metric == name:
                return entry
        raise KeyError(name)


class EvaluationResult(_Frozen):
    """Everything one evaluation found about one model version, and what it means."""

    model: str
    version: str
    evaluated_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    severity: Severity
    severity_reasons: tuple[str, ...] = Field(
        default=(), description="Which finding set the severity, one line each."
    )
    rows: int
    quality: QualityResult
    drift: DriftResult
    performance: PerformanceResult
    not_enough_data: tuple[str, ...] = Field(
        default=(), description="Checks that could not run for lack of data, and why."
    )
    report_path: str | None = None
    evidence: dict[str, Any] = Field(
        default_factory=dict,
        description="Inputs that make the verdict reproducible (digests, row counts, policy).",
    )
    timings: dict[str, float] = Field(default_factory=dict, description="Seconds per stage.")

    @property
    def drift_share(self) -> float | None:
        return self.drift.drift_share

    @property
    def prediction_drift(self) -> bool | None:
        return self.drift.prediction_drift

    def summary(self) -> str:
        """One line for logs, alerts and the Prefect artifact."""
        parts = [f"{self.model} v{self.version}: severity {self.severity.value}"]
        if not self.quality.passed:
            parts.append(f"data quality FAILED ({len(self.quality.failures)} expectation(s))")
        if self.drift.evaluated and self.drift.drift_share is not None:
            parts.append(
                f"drift share {self.drift.drift_share:.2f} "
                f"({self.drift.drifted_columns}/{self.drift.evaluated_columns} columns)"
            )
        if self.drift.prediction is not None and self.drift.prediction.drifted is not None:
            parts.append(f"prediction drift {'yes' if self.drift.prediction.drifted else 'no'}")
        worst = [m for m in self.performance.metrics if m.severity is not Severity.NONE]
        for change in worst:
            parts.append(f"{change.metric} dropped {change.drop:.3f}")
        parts.extend(f"not evaluated: {reason}" for reason in self.not_enough_data)
        return "; ".join(parts)

    def to_json(self) -> str:
        return self.model_dump_json()
