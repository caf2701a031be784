"""What a result becomes: ledger records a real ledger accepts, alerts, MLflow metrics."""

from __future__ import annotations

import numpy as np
import pytest
from _monitoring import FEATURES, policy, shifted, split

from modelsteward.monitoring import evaluate
from modelsteward.monitoring.followup import alerts_for, audit_entries, mlflow_metrics

BASELINE = {"accuracy": 0.99, "precision": 0.99, "recall": 0.99, "f1": 0.99}


def _result(current):
    return evaluate(policy(), current, split()[0], version="2", baseline=BASELINE)


@pytest.fixture(scope="module")
def critical():
    current = shifted(split()[1], FEATURES[:3])
    flip = np.random.default_rng(3).random(len(current)) < 0.15  # and labels that decay
    current.loc[flip, "label"] = 1 - current.loc[flip, "label"]
    return _result(current)


def test_ledger_accepts_every_entry(steward_home, critical) -> None:
    from modelsteward.audit import Ledger
    from modelsteward.settings import load_settings

    broken = _result(split()[1].assign(mean_radius="x" * 400))  # long messages are cut
    ledger = Ledger.from_settings(load_settings())
    try:
        for result in (critical, broken):
            for entry in audit_entries(result, "s3://b/k?versionId=1"):
                ledger.append(
                    action=entry["action"],
                    actor="evaluate-model",
                    role="system",
                    model=result.model,
                    version=result.version,
                    details=entry["details"],
                )
        records = list(ledger.records(model="cancer-screen"))
    finally:
        ledger.close()
    assert [str(r.action) for r in records] == [
        "quality.checked",
        "drift.evaluated",
        "performance.evaluated",
        "quality.checked",
        "drift.evaluated",
    ]
    assert records[1].details["drifted_columns"] == FEATURES[:3]
    assert records[1].details["report"] == "s3://b/k?versionId=1"
    assert records[4].details["evaluated"] is False


def test_alerts_of_a_critical_result(critical) -> None:
    alerts = alerts_for(critical, report_url="file:///tmp/r.html", idempotency_prefix="run-1")
    kinds = {a.kind: a for a in alerts}
    assert set(kinds) == {"drift", "performance"}
    drift = kinds["drift"]
    assert drift.severity == "critical" and drift.value == 0.6
    assert drift.title == "cancer-screen v2: drift in 3 of 5 columns"
    assert drift.links == {"report": "file:///tmp/r.html"}
    assert drift.idempotency_key == "run-1:drift"
    assert kinds["performance"].signal in BASELINE


def test_no_alert_when_all_is_well() -> None:
    assert alerts_for(_result(split()[1]).model_copy(update={"severity": "none"})) == []


def test_data_quality_alert_names_the_failures() -> None:
    result = _result(split()[1].assign(mean_texture=np.nan))
    (alert,) = alerts_for(result)
    assert alert.kind == "data_quality" and alert.severity == "warning"
    assert "column 'mean_texture'" in alert.summary and "drift was not evaluated" in alert.summary


def test_mlflow_metrics_are_flat_numbers(critical) -> None:
    metrics = mlflow_metrics(critical)
    assert metrics["severity"] == 2.0 and metrics["drift_share"] == 0.6
    assert metrics["drift_score/mean_radius"] < 1e-6
    assert "perf/accuracy" in metrics and "seconds/total" in metrics
    assert all(isinstance(v, float) for v in metrics.values())
