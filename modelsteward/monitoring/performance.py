"""Performance decay: the model's metrics on a labelled batch against its baseline.

The metrics are those of :func:`modelsteward.baseline.compute_metrics` (the same code that
recorded the baseline at onboarding), for the names in ``monitoring.metrics``. A metric's
``drop`` is how much worse it got: ``baseline - current`` for scores where higher is better,
``current - baseline`` for errors (MAE, MSE, RMSE, log loss, Brier). The policy's
``monitoring.performance.<severity>.max_drop`` turns a drop into a severity: a drop larger than
``max_drop`` reaches that severity.

ROC AUC and other score-based metrics need scores: a ``<prediction>_score`` column (or the
``score_column`` given) holding the positive-class probability. Without labels, predictions
or enough labelled rows the result is ``evaluated=False`` with the reason.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from modelsteward.monitoring.result import MetricChange, PerformanceResult
from modelsteward.policy import Severity

if TYPE_CHECKING:
    import pandas as pd

    from modelsteward.policy import DataContract, Monitoring

__all__ = ["LOWER_IS_BETTER", "evaluate_performance", "metric_severity"]

log = logging.getLogger(__name__)

LOWER_IS_BETTER = frozenset({"mae", "mse", "rmse", "log_loss", "brier"})


def metric_severity(drop: float | None, monitoring: Monitoring) -> Severity:
    """The severity a metric drop reaches under the policy's ``max_drop`` thresholds."""
    if drop is None:
        return Severity.NONE
    critical = monitoring.performance.get("critical")
    warning = monitoring.performance.get("warning")
    if critical is not None and drop > critical.max_drop:
        return Severity.CRITICAL
    if warning is not None and drop > warning.max_drop:
        return Severity.WARNING
    return Severity.NONE


def _not_evaluated(reason: str, rows: int, started: float) -> PerformanceResult:
    log.info("event=performance_skipped reason=%r", reason)
    return PerformanceResult(
        evaluated=False, reason=reason, rows=rows, seconds=round(time.perf_counter() - started, 4)
    )


def evaluate_performance(
    frame: pd.DataFrame,
    contract: DataContract,
    monitoring: Monitoring,
    baseline: dict[str, float] | None,
    *,
    score_column: str | None = None,
) -> PerformanceResult:
    """Metrics of the labelled rows of ``frame`` against ``baseline`` (metric -> value)."""
    from modelsteward.baseline import compute_metrics

    started = time.perf_counter()
    target, prediction = contract.target, contract.prediction
    if target is None:
        return _not_evaluated("the data contract names no target column", 0, started)
    if target not in frame.columns:
        return _not_evaluated(f"labels missing: the batch has no {target!r} column", 0, started)
    if prediction is None or prediction not in frame.columns:
        return _not_evaluated(
            f"predictions missing: the batch has no {prediction or 'prediction'!r} column",
            0,
            started,
        )
    score_column = score_column or f"{prediction}_score"
    wanted = [target, prediction] + ([score_column] if score_column in frame.columns else [])
    labelled = frame[wanted].dropna(subset=[target, prediction])
    if labelled.empty:
        return _not_evaluated(f"labels missing: every {target!r} value is null", 0, started)
    if len(labelled) < contract.min_rows:
        return _not_evaluated(
            f"not enough data: {len(labelled)} labelled rows, the policy needs "
            f"{contract.min_rows} (data_contract.min_rows)",
            len(labelled),
            started,
        )
    scores = None
    if score_column in labelled.columns and labelled[score_column].notna().all():
        scores = labelled[score_column].to_numpy()
    try:
        current, skipped = compute_metrics(
            labelled[target].to_numpy(),
            labelled[prediction].to_numpy(),
            scores=scores,
            names=monitoring.metrics,
            task=contract.task,
        )
    except (ValueError, TypeError) as err:
        return _not_evaluated(f"metrics could not be computed: {err}", len(labelled), started)
    changes = []
    for name, value in current.items():
        base = (baseline or {}).get(name)
        drop = None
        if base is not None:
            drop = value - base if name in LOWER_IS_BETTER else base - value
            drop = round(drop, 6)
        changes.append(
            MetricChange(
                metric=name,
                baseline=base,
                current=value,
                drop=drop,
                severity=metric_severity(drop, monitoring),
            )
        )
    if not baseline:
        skipped = {**skipped, "baseline": "no baseline metrics: decay cannot be judged"}
    result = PerformanceResult(
        evaluated=True,
        rows=len(labelled),
        metrics=tuple(changes),
        skipped=skipped,
        seconds=round(time.perf_counter() - started, 4),
    )
    log.info(
        "event=performance_evaluated rows=%d %s",
        len(labelled),
        " ".join(f"{c.metric}={c.current:.4f}" for c in changes),
    )
    return result
