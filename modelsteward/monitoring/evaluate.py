"""One evaluation of one model version: quality, drift, performance, severity, one result.

:func:`evaluate` is the core call of the ``evaluate-model`` flow; it reads nothing and writes
nothing but the optional HTML report, so the flow decides where results go (ledger, MLflow,
alerts, S3, kill switch). It never raises on bad *data*: an empty batch, missing or extra
columns, wrong types and all-null columns are data-quality failures; a batch smaller than
``data_contract.min_rows`` is "not enough data"; both leave drift unevaluated and the
severity at least warning. A broken *policy* (an unknown stat test) raises
:class:`~modelsteward.errors.PolicyError`.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelsteward.monitoring.drift import REPORT_SAMPLE_ROWS, drift_report_html, evaluate_drift
from modelsteward.monitoring.performance import evaluate_performance
from modelsteward.monitoring.quality import check_quality
from modelsteward.monitoring.result import DriftResult, EvaluationResult, PerformanceResult
from modelsteward.monitoring.severity import assess_severity

if TYPE_CHECKING:
    import os

    import pandas as pd

    from modelsteward.policy import Policy

__all__ = ["evaluate"]

log = logging.getLogger(__name__)


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("evidently", "great-expectations"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:  # pragma: no cover
            found[name] = "unknown"
    return found


def evaluate(
    policy: Policy,
    current: pd.DataFrame,
    reference: pd.DataFrame,
    *,
    version: str,
    baseline: dict[str, float] | None = None,
    report_path: str | os.PathLike[str] | None = None,
    report_sample_rows: int = REPORT_SAMPLE_ROWS,
    score_column: str | None = None,
    workers: int | None = None,
) -> EvaluationResult:
    """Evaluate the ``current`` batch of ``policy.model`` ``version`` against ``reference``.

    ``baseline`` is the onboarding metrics (``Baseline.metrics``); ``report_path``, when
    given, receives Evidently's HTML drift report on a sample of ``report_sample_rows``.
    """
    started = time.perf_counter()
    contract, monitoring = policy.data_contract, policy.monitoring
    timings: dict[str, float] = {}
    not_enough: list[str] = []
    evidence: dict[str, Any] = {
        "policy_digest": policy.digest,
        "policy_source": policy.source,
        "reference_rows": len(reference),
        "current_rows": len(current),
        "stattest_override": monitoring.stattest,
        "stattest_threshold_override": monitoring.stattest_threshold,
        "min_rows": contract.min_rows,
        "libraries": _versions(),
    }

    quality = check_quality(current, contract)
    timings["quality"] = quality.seconds
    drift: DriftResult
    performance: PerformanceResult
    report: Path | None = None
    if not quality.passed:
        reason = "data quality failed: " + quality.summary()
        drift = DriftResult(
            evaluated=False, reason=reason, reference_rows=len(reference), current_rows=len(current)
        )
        performance = PerformanceResult(evaluated=False, reason=reason)
    elif len(current) < contract.min_rows:
        reason = (
            f"not enough data: {len(current)} rows, the policy needs {contract.min_rows} "
            "(data_contract.min_rows)"
        )
        not_enough.append(reason)
        drift = DriftResult(
            evaluated=False, reason=reason, reference_rows=len(reference), current_rows=len(current)
        )
        performance = PerformanceResult(evaluated=False, reason=reason)
    else:
        drift = evaluate_drift(reference, current, contract, monitoring, workers=workers)
        timings["drift"] = drift.seconds
        if drift.reason:  # nothing testable, or columns missing from the reference
            not_enough.append(f"drift: {drift.reason}")
        for column in (*drift.columns, *([drift.prediction] if drift.prediction else [])):
            if column.drifted is None:
                not_enough.append(f"drift of {column.column!r}: {column.reason}")
        performance = evaluate_performance(
            current, contract, monitoring, baseline, score_column=score_column
        )
        timings["performance"] = performance.seconds
        if not performance.evaluated and performance.reason:
            not_enough.append(f"performance: {performance.reason}")
        if report_path is not None and drift.evaluated:
            report_started = time.perf_counter()
            try:
                report = drift_report_html(
                    reference,
                    current,
                    contract,
                    report_path,
                    monitoring,
                    sample_rows=report_sample_rows,
                )
            except (ValueError, TypeError, KeyError) as err:
                log.warning("event=drift_report_failed error=%s", err)
                evidence["report_error"] = str(err)
            timings["report"] = round(time.perf_counter() - report_started, 4)
    severity, reasons = assess_severity(monitoring, quality, drift, performance)
    timings["total"] = round(time.perf_counter() - started, 4)
    if report is not None:
        evidence["report_sample_rows"] = report_sample_rows
    result = EvaluationResult(
        model=policy.model,
        version=str(version),
        severity=severity,
        severity_reasons=reasons,
        rows=len(current),
        quality=quality,
        drift=drift,
        performance=performance,
        not_enough_data=tuple(not_enough),
        report_path=str(report) if report else None,
        evidence=evidence,
        timings=timings,
    )
    log.info(
        "event=model_evaluated model=%s version=%s severity=%s seconds=%.3f",
        policy.model,
        version,
        severity.value,
        timings["total"],
    )
    return result
