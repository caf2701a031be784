"""evaluate(): one result per batch, severity from the policy, bad input never a crash."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest
from _monitoring import FEATURES, policy, shifted, split
from hypothesis import given, settings
from hypothesis import strategies as st

from modelsteward.errors import ExternalServiceError
from modelsteward.monitoring import (
    EvaluationResult,
    MonitoringMetrics,
    evaluate,
    evaluate_performance,
    metrics_registry,
    push_metrics,
)
from modelsteward.policy import Severity

POLICY = policy()
BASELINE = {"accuracy": 0.96, "precision": 0.95, "recall": 0.98, "f1": 0.965, "roc_auc": 0.99}


def _run(current: pd.DataFrame, **kwargs) -> EvaluationResult:
    reference = split()[0]
    return evaluate(POLICY, current, reference, version="3", baseline=BASELINE, **kwargs)


def test_clean_batch_is_severity_none_with_every_part(tmp_path: Path) -> None:
    result = _run(split()[1], report_path=tmp_path / "drift.html")
    assert result.severity is Severity.NONE, result.severity_reasons
    assert result.quality.passed and result.drift.evaluated
    assert result.drift.drift_share == 0.0 and result.drift.prediction_drift is False
    assert result.performance.evaluated
    assert {m.metric for m in result.performance.metrics} == set(BASELINE)
    assert result.performance.metric("roc_auc").current > 0.95
    assert result.not_enough_data == ()
    assert result.report_path == str(tmp_path / "drift.html") and Path(result.report_path).is_file()
    assert set(result.timings) >= {"quality", "drift", "performance", "report", "total"}
    assert result.evidence["libraries"]["evidently"].startswith("0.7")


def test_result_round_trips_through_json() -> None:
    result = _run(shifted(split()[1], FEATURES[:2]))
    again = EvaluationResult.model_validate_json(result.to_json())
    assert again == result
    assert again.drift.column("mean_radius").drifted is True


@pytest.mark.parametrize(
    ("moved", "expected"),
    [
        (["mean_radius"], Severity.NONE),
        (FEATURES[:2], Severity.WARNING),
        (FEATURES[:3], Severity.CRITICAL),
    ],
)
def test_drift_share_thresholds_of_the_policy(moved: list[str], expected: Severity) -> None:
    result = _run(shifted(split()[1], moved))
    assert result.drift.drifted_columns == len(moved)
    assert result.severity is expected, result.severity_reasons


def test_prediction_drift_is_critical_when_the_policy_says_so() -> None:
    current = split()[1]
    current = current.assign(prediction=1 - current["prediction"])
    result = _run(current)
    assert result.drift.prediction_drift is True
    assert result.severity is Severity.CRITICAL
    assert any(r.startswith("prediction drift (z ") for r in result.severity_reasons)


def test_performance_decay_on_corrupted_labels() -> None:
    current = split()[1].copy()
    rng = np.random.default_rng(5)
    flip = rng.random(len(current)) < 0.12
    current.loc[flip, "label"] = 1 - current.loc[flip, "label"]
    result = _run(current)
    accuracy = result.performance.metric("accuracy")
    assert accuracy.drop is not None and accuracy.drop > 0.05
    assert result.severity in (Severity.WARNING, Severity.CRITICAL)
    assert any(r.startswith("accuracy dropped") for r in result.severity_reasons)
    assert result.drift.drift_share == 0.0  # the features did not move: decay alone


def test_error_metrics_drop_when_they_grow() -> None:
    from modelsteward.policy import parse_policy

    data = policy().model_dump(exclude={"source", "digest"})
    data["data_contract"] = {**data["data_contract"], "task": "regression"}
    data["monitoring"] = {**data["monitoring"], "metrics": ("mae",)}
    regression = parse_policy(data)
    frame = pd.DataFrame({"label": np.arange(100.0), "prediction": np.arange(100.0) + 0.5})
    result = evaluate_performance(
        frame, regression.data_contract, regression.monitoring, {"mae": 0.1, "rmse": 0.1}
    )
    assert result.metric("mae").drop == pytest.approx(0.4)
    assert result.metric("mae").severity is Severity.CRITICAL


# --- bad input: a clear result, never a crash, never "no drift" ------------------------------


def _assert_blind(result: EvaluationResult) -> None:
    assert result.drift.evaluated is False and result.drift.drift_share is None
    assert result.severity in (Severity.WARNING, Severity.CRITICAL)
    assert result.performance.evaluated is False


def test_empty_batch() -> None:
    result = _run(split()[1].iloc[0:0])
    _assert_blind(result)
    assert not result.quality.passed
    assert "the batch is empty" in result.drift.reason


def test_missing_column() -> None:
    result = _run(split()[1].drop(columns=["worst_concavity"]))
    _assert_blind(result)
    assert "column 'worst_concavity' is missing" in result.quality.summary()


def test_extra_column() -> None:
    result = _run(split()[1].assign(debug_flag=1))
    _assert_blind(result)
    assert "unexpected column(s) debug_flag" in result.quality.summary()


def test_wrong_type() -> None:
    current = split()[1].assign(worst_area=lambda f: f["worst_area"].map("{:.1f} mm2".format))
    result = _run(current)
    _assert_blind(result)
    assert result.quality.failures[0].message.startswith("column 'worst_area': expected type float")


def test_all_null_column() -> None:
    result = _run(split()[1].assign(mean_texture=np.nan))
    _assert_blind(result)
    assert "column 'mean_texture': 285 value(s) (100.00%) are null" in result.quality.summary()


def test_batch_smaller_than_min_rows_is_not_enough_data() -> None:
    result = _run(split()[1].iloc[:20])
    _assert_blind(result)
    assert result.quality.passed
    assert result.not_enough_data == (
        "not enough data: 20 rows, the policy needs 50 (data_contract.min_rows)",
    )
    assert result.severity is Severity.WARNING


def test_labels_missing_leaves_performance_unevaluated_only() -> None:
    result = _run(split()[1].drop(columns=["label"]))
    assert result.quality.passed and result.drift.evaluated
    assert result.performance.evaluated is False
    assert result.performance.reason == "labels missing: the batch has no 'label' column"
    assert "performance: labels missing: the batch has no 'label' column" in result.not_enough_data
    assert result.severity is Severity.NONE


def test_labels_all_null() -> None:
    result = _run(split()[1].assign(label=np.nan))
    assert result.performance.reason == "labels missing: every 'label' value is null"


# --- Prometheus ------------------------------------------------------------------------------


def test_gauges_per_model_and_version() -> None:
    metrics = MonitoringMetrics()
    metrics.record(_run(shifted(split()[1], FEATURES[:3])))
    text = metrics.exposition().decode()
    assert 'steward_evaluation_severity{model="cancer-screen",version="3"} 2.0' in text
    assert 'steward_drift_share{model="cancer-screen",version="3"} 0.6' in text
    assert (
        'steward_column_drifted{column="mean_radius",model="cancer-screen",'
        'stattest="ks",version="3"} 1.0' in text
    )
    assert 'steward_performance_metric{metric="accuracy",model="cancer-screen",version="3"}' in text
    assert metrics_registry() is metrics_registry()


class _Gateway(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, str, bytes]]] = []

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).received.append(("PUT", self.path, body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def gateway() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Gateway.received = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_push_to_a_pushgateway(gateway: str) -> None:
    result = _run(split()[1])
    assert push_metrics(result, gateway) is True
    ((method, path, body),) = _Gateway.received
    assert (method, path) == (
        "PUT",
        "/metrics/job/model-steward-evaluate/model/cancer-screen/version/3",
    )
    assert b"steward_data_quality_passed" in body
    assert push_metrics(result, None) is False


def test_push_to_a_gateway_that_is_down_is_an_external_service_error() -> None:
    result = _run(split()[1])
    with pytest.raises(ExternalServiceError, match=r"Pushgateway http://127.0.0.1:9 refused"):
        push_metrics(result, "http://127.0.0.1:9", timeout_seconds=2)


def test_a_reference_without_a_contract_column_is_listed_as_not_evaluated() -> None:
    reference, current = split()
    result = evaluate(POLICY, current, reference.drop(columns=["worst_area"]), version="3")
    assert "drift: columns missing from the data: worst_area" in result.not_enough_data


@settings(max_examples=40, deadline=None)
@given(
    share_a=st.floats(0, 1),
    share_b=st.floats(0, 1),
    prediction=st.sampled_from([None, False, True]),
)
def test_severity_never_falls_as_drift_grows(
    share_a: float, share_b: float, prediction: bool | None
) -> None:
    from modelsteward.monitoring import (
        DriftResult,
        PerformanceResult,
        QualityResult,
        assess_severity,
    )
    from modelsteward.monitoring.result import ColumnDrift
    from modelsteward.monitoring.severity import RANK

    quality = QualityResult(passed=True, rows=100, expectations=1)
    pred = (
        None
        if prediction is None
        else ColumnDrift(
            column="prediction",
            column_type="cat",
            stattest="z",
            stattest_display="Z-test p_value",
            score=0.01,
            threshold=0.05,
            drifted=prediction,
        )
    )

    def level(share: float) -> int:
        drift = DriftResult(
            evaluated=True, drift_share=share, evaluated_columns=10, prediction=pred
        )
        severity, _ = assess_severity(
            POLICY.monitoring, quality, drift, PerformanceResult(evaluated=False)
        )
        return RANK[severity]

    low, high = sorted((share_a, share_b))
    assert level(low) <= level(high)
    if prediction:
        assert level(low) == 2  # prediction drift is critical by this policy
