"""Severity: the policy's thresholds turn the findings into none, warning or critical.

Rules, each giving the highest severity it reaches (the result is the highest of all):

- data quality failed: at least **warning** (drift is not evaluated on a failing batch);
- drift could not be evaluated (not enough rows, no testable column): at least **warning**, so
  a blind spot is never reported as "no drift";
- drifted share of feature columns at or above ``monitoring.drift.<severity>.drift_share``
  (and above zero): that severity;
- prediction drift, where ``monitoring.drift.<severity>.prediction_drift`` is true: that
  severity;
- any performance metric dropping more than ``monitoring.performance.<severity>.max_drop``:
  that severity.

Missing labels or predictions only leave performance unevaluated (recorded, no severity).
What each severity *does* (alert whom, page, kill) is ``policy.action_for(severity)``, applied
by the flow.
"""

from __future__ import annotations

from modelsteward.monitoring.result import DriftResult, PerformanceResult, QualityResult
from modelsteward.policy import Monitoring, Severity

__all__ = ["RANK", "assess_severity"]

RANK = {Severity.NONE: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


def assess_severity(
    monitoring: Monitoring,
    quality: QualityResult,
    drift: DriftResult,
    performance: PerformanceResult,
) -> tuple[Severity, tuple[str, ...]]:
    """(severity, reasons): the highest severity any finding reaches, and each finding."""
    findings: list[tuple[Severity, str]] = []
    if not quality.passed:
        findings.append(
            (Severity.WARNING, f"data quality failed: {len(quality.failures)} expectation(s)")
        )
    elif not drift.evaluated:
        findings.append((Severity.WARNING, f"drift not evaluated: {drift.reason}"))
    if drift.evaluated and drift.drift_share is not None:
        for level in (Severity.CRITICAL, Severity.WARNING):
            threshold = monitoring.drift.get(level.value)  # type: ignore[call-overload]
            if threshold and drift.drift_share > 0 and drift.drift_share >= threshold.drift_share:
                findings.append(
                    (
                        level,
                        f"drift share {drift.drift_share:.2f} >= {level.value} threshold "
                        f"{threshold.drift_share}",
                    )
                )
                break
    if drift.prediction is not None and drift.prediction.drifted:
        for level in (Severity.CRITICAL, Severity.WARNING):
            threshold = monitoring.drift.get(level.value)  # type: ignore[call-overload]
            if threshold and threshold.prediction_drift:
                findings.append(
                    (
                        level,
                        f"prediction drift ({drift.prediction.stattest} "
                        f"{drift.prediction.score:.3g}) is {level.value} by policy",
                    )
                )
                break
    for change in performance.metrics:
        if change.severity is not Severity.NONE:
            findings.append(
                (
                    change.severity,
                    f"{change.metric} dropped {change.drop:.3f} "
                    f"({change.baseline:.3f} -> {change.current:.3f})",
                )
            )
    severity = max((level for level, _ in findings), key=RANK.__getitem__, default=Severity.NONE)
    return severity, tuple(reason for _, reason in findings)
