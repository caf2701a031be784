"""What an :class:`~.result.EvaluationResult` becomes: ledger records, alerts, MLflow metrics.

Pure functions, so the ``evaluate-model`` flow stays wiring and these rules are tested
without Prefect:

- :func:`audit_entries` - ``quality.checked`` always; ``drift.evaluated`` always (with
  ``evaluated: false`` and the reason when it could not run, so a blind run is on record);
  ``performance.evaluated`` when labels allowed it. Details stay within the ledger's limits
  (strings cut to 240 characters, at most 50 columns listed).
- :func:`alerts_for` - one alert per kind that reached a severity: ``data_quality`` (the
  failed expectations), ``drift`` (drift share and prediction drift, or the blind spot),
  ``performance`` (the metrics that dropped). Routing to people is the alerts module's job.
- :func:`mlflow_metrics` - flat numeric metrics for the MLflow run of the evaluation.
"""

from __future__ import annotations

from typing import Any

from modelsteward.monitoring.result import EvaluationResult
from modelsteward.monitoring.severity import RANK
from modelsteward.policy import Severity

__all__ = ["alerts_for", "audit_entries", "mlflow_metrics"]

_TEXT = 240
_COLUMNS = 50


def _cut(text: str | None) -> str | None:
    if text is None or len(text) <= _TEXT:
        return text
    return text[: _TEXT - 3] + "..."


def _finite(value: float | None) -> float | None:
    if value is None or value != value or value in (float("inf"), float("-inf")):
        return None
    return round(float(value), 6)


def audit_entries(result: EvaluationResult, report_uri: str | None = None) -> list[dict[str, Any]]:
    """``[{"action", "details"}, ...]`` for ``Ledger.append`` (model/version from the result)."""
    quality = result.quality
    entries: list[dict[str, Any]] = [
        {
            "action": "quality.checked",
            "details": {
                "passed": quality.passed,
                "rows": quality.rows,
                "expectations": quality.expectations,
                "failures": [_cut(f.message) for f in quality.failures[:_COLUMNS]],
                "severity": result.severity.value,
            },
        }
    ]
    drift = result.drift
    drifted = [c.column for c in drift.columns if c.drifted][:_COLUMNS]
    entries.append(
        {
            "action": "drift.evaluated",
            "details": {
                "evaluated": drift.evaluated,
                "reason": _cut(drift.reason),
                "drift_share": _finite(drift.drift_share),
                "drifted_columns": drifted,
                "evaluated_columns": drift.evaluated_columns,
                "prediction_drift": drift.prediction_drift,
                "severity": result.severity.value,
                "severity_reasons": [_cut(r) for r in result.severity_reasons[:_COLUMNS]],
                "report": report_uri,
                "policy_digest": result.evidence.get("policy_digest"),
                "current_rows": result.rows,
            },
        }
    )
    performance = result.performance
    if performance.evaluated:
        entries.append(
            {
                "action": "performance.evaluated",
                "details": {
                    "rows": performance.rows,
                    "metrics": {m.metric: _finite(m.current) for m in performance.metrics},
                    "drops": {
                        m.metric: _finite(m.drop) for m in performance.metrics if m.drop is not None
                    },
                    "severity": max(
                        (m.severity for m in performance.metrics),
                        key=RANK.__getitem__,
                        default=Severity.NONE,
                    ).value,
                },
            }
        )
    return entries


def _alert_severity(severity: Severity) -> str:
    return "critical" if severity is Severity.CRITICAL else "warning"


def alerts_for(
    result: EvaluationResult,
    *,
    report_url: str | None = None,
    run_url: str | None = None,
    idempotency_prefix: str | None = None,
) -> list[Any]:
    """The :class:`~modelsteward.alerts.Alert` objects of ``result`` (none when all is well)."""
    from modelsteward.alerts import Alert

    if result.severity is Severity.NONE:
        return []
    links = {
        label: url
        for label, url in (("report", report_url), ("flow_run", run_url))
        if url and url.startswith(("http://", "https://", "file://"))
    }
    common: dict[str, Any] = {"model": result.model, "version": result.version, "links": links}
    alerts = []

    def key(signal: str) -> str | None:
        return f"{idempotency_prefix}:{signal}" if idempotency_prefix else None

    if not result.quality.passed:
        failures = result.quality.failures
        alerts.append(
            Alert.build(
                **common,
                kind="data_quality",
                severity="warning",
                title=f"{result.model} v{result.version}: batch failed its data contract",
                summary=_cut_summary(
                    f"{len(failures)} expectation(s) failed; drift was not evaluated. "
                    + "; ".join(f.message for f in failures[:10])
                ),
                signal="data_quality",
                value=len(failures),
                fields={"rows": result.rows},
                idempotency_key=key("data_quality"),
            )
        )
    drift = result.drift
    drift_reasons = [
        r for r in result.severity_reasons if r.startswith(("drift", "prediction drift"))
    ]
    if drift_reasons:
        drift_severity = (
            result.severity
            if any(r.startswith(("drift share", "prediction drift")) for r in drift_reasons)
            else Severity.WARNING
        )
        drifted = [c.column for c in drift.columns if c.drifted]
        alerts.append(
            Alert.build(
                **common,
                kind="drift",
                severity=_alert_severity(drift_severity),
                title=f"{result.model} v{result.version}: "
                + (
                    f"drift in {len(drifted)} of {drift.evaluated_columns} columns"
                    if drift.evaluated
                    else "drift could not be evaluated"
                ),
                summary=_cut_summary(
                    "; ".join(drift_reasons)
                    + (f". Drifted: {', '.join(drifted[:20])}" if drifted else "")
                ),
                signal="drift_share",
                value=_finite(drift.drift_share),
                fields={
                    "prediction_drift": drift.prediction_drift,
                    "rows": result.rows,
                },
                idempotency_key=key("drift"),
            )
        )
    dropped = [m for m in result.performance.metrics if m.severity is not Severity.NONE]
    if dropped:
        worst = max(dropped, key=lambda m: (RANK[m.severity], m.drop or 0.0))
        alerts.append(
            Alert.build(
                **common,
                kind="performance",
                severity=_alert_severity(worst.severity),
                title=f"{result.model} v{result.version}: {worst.metric} dropped "
                f"{worst.drop:.3f} below its baseline",
                summary=_cut_summary(
                    "; ".join(
                        f"{m.metric} {m.baseline:.3f} -> {m.current:.3f} (drop {m.drop:.3f})"
                        for m in dropped
                    )
                ),
                signal=worst.metric,
                value=_finite(worst.current),
                threshold=_finite(worst.baseline),
                fields={"labelled_rows": result.performance.rows},
                idempotency_key=key("performance"),
            )
        )
    return alerts


def _cut_summary(text: str) -> str:
    return text if len(text) <= 1990 else text[:1987] + "..."


def mlflow_metrics(result: EvaluationResult) -> dict[str, float]:
    """Flat metrics for MLflow (names are MLflow-safe: letters, digits, ``_ . - /``)."""
    metrics: dict[str, float] = {
        "severity": float(RANK[result.severity]),
        "quality_passed": 1.0 if result.quality.passed else 0.0,
        "quality_failures": float(len(result.quality.failures)),
        "rows": float(result.rows),
        "drift_evaluated": 1.0 if result.drift.evaluated else 0.0,
    }
    drift = result.drift
    if drift.drift_share is not None:
        metrics["drift_share"] = drift.drift_share
        metrics["drifted_columns"] = float(drift.drifted_columns)
    for column in drift.columns:
        score = _finite(column.score)
        if score is not None:
            metrics[f"drift_score/{_safe(column.column)}"] = score
    if drift.prediction is not None and drift.prediction.drifted is not None:
        metrics["prediction_drift"] = 1.0 if drift.prediction.drifted else 0.0
        score = _finite(drift.prediction.score)
        if score is not None:
            metrics["prediction_drift_score"] = score
    for change in result.performance.metrics:
        metrics[f"perf/{change.metric}"] = change.current
        if change.drop is not None:
            metrics[f"perf_drop/{change.metric}"] = change.drop
    for stage, seconds in result.timings.items():
        metrics[f"seconds/{stage}"] = seconds
    return metrics


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "_-. /" else "_" for ch in name)
