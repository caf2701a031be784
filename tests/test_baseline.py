"""Baseline metrics on the reference data, where monitoring finds them; the sample model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from _onboarding import (
    POLICY,
    mlflow_template,
    policy_copy,
    sample_model,
    shared_cache,
    use_mlflow_template,
)

from modelsteward.baseline import (
    compute_metrics,
    load_baseline,
    load_reference,
    record_baseline,
)
from modelsteward.errors import DataError, NotFoundError, PolicyError
from modelsteward.policy import load_policy
from modelsteward.samples import FEATURES, TARGET, drifted_batch, fraud_frame, train_fraud_model


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sample_model(shared_cache(tmp_path_factory))


def test_classification_metrics_default_and_custom() -> None:
    y_true = np.array([0, 0, 1, 1, 1, 0])
    y_pred = np.array([0, 1, 1, 1, 0, 0])
    scores = np.array([0.1, 0.6, 0.8, 0.9, 0.4, 0.2])
    metrics, skipped = compute_metrics(
        y_true, y_pred, scores=scores, names=["f1", "balanced_accuracy", "mcc"]
    )
    assert metrics["accuracy"] == pytest.approx(4 / 6, abs=1e-6)
    assert metrics["precision"] == pytest.approx(2 / 3, abs=1e-6)
    assert metrics["recall"] == pytest.approx(2 / 3, abs=1e-6)
    assert metrics["roc_auc"] == pytest.approx(8 / 9, abs=1e-6)
    assert {"balanced_accuracy", "mcc"} <= set(metrics)
    assert skipped == {}


def test_score_metrics_skipped_with_reason() -> None:
    metrics, skipped = compute_metrics([0, 1, 1], [0, 1, 0])
    assert "roc_auc" not in metrics
    assert skipped["roc_auc"].startswith("the model gives no scores")
    _, one_class = compute_metrics([1, 1, 1], [1, 0, 1], scores=[0.9, 0.2, 0.8])
    assert one_class["roc_auc"] == "only one class in the labels"


def test_regression_metrics() -> None:
    metrics, skipped = compute_metrics(
        [1.0, 2.0, 3.0], [1.0, 2.5, 2.0], names=["f1"], task="regression"
    )
    assert metrics["mae"] == pytest.approx(0.5)
    assert metrics["rmse"] == pytest.approx(np.sqrt((0.25 + 1.0) / 3), abs=1e-6)
    assert "r2" in metrics
    assert skipped["f1"].startswith("a classification metric")


def test_unknown_metric_is_a_policy_error() -> None:
    with pytest.raises(PolicyError, match=r"unknown metric\(s\) profit_uplift"):
        compute_metrics([0, 1], [0, 1], names=["profit_uplift"])


def test_reference_data_problems(tmp_path: Path) -> None:
    policy = load_policy(POLICY)
    no_reference = policy.model_copy(update={"reference_data": None})
    with pytest.raises(PolicyError, match="reference_data is not set"):
        load_reference(no_reference)
    with pytest.raises(DataError, match="does not exist"):
        load_reference(policy, tmp_path / "nope.csv")
    frame = fraud_frame(300)
    frame.drop(columns=["amount"]).to_csv(tmp_path / "cols.csv", index=False)
    with pytest.raises(DataError, match="lacks column"):
        load_reference(policy, tmp_path / "cols.csv")
    frame.head(10).to_csv(tmp_path / "small.csv", index=False)
    with pytest.raises(DataError, match="has 10 rows"):
        load_reference(policy, tmp_path / "small.csv")


def test_shipped_reference_data_fits_the_contract() -> None:
    frame = load_reference(load_policy(POLICY))
    assert len(frame) == 2000
    assert 0.02 < frame[TARGET].mean() < 0.3


def test_record_baseline_where_monitoring_finds_it(
    steward_home: Path, model_cache: Path, tmp_path: Path
) -> None:
    from modelsteward.registry import ModelRegistry
    from modelsteward.settings import load_settings

    use_mlflow_template(mlflow_template(model_cache.parent), steward_home)
    settings = load_settings()
    policy = load_policy(policy_copy(tmp_path))
    registry = ModelRegistry.from_settings(settings)
    version = registry.register_version(policy.model, str(model_cache)).version
    with pytest.raises(NotFoundError, match="no baseline"):
        load_baseline(settings, policy.model)
    baseline = record_baseline(
        settings, policy, version=version, model_dir=model_cache, registry=registry
    )
    assert set(baseline.metrics) == {"accuracy", "precision", "recall", "f1", "roc_auc"}
    assert 0.6 < baseline.metrics["roc_auc"] <= 1.0
    assert load_baseline(settings, policy.model) == baseline
    assert load_baseline(settings, policy.model, version) == baseline
    reference = baseline.reference_path.read_text().splitlines()
    assert reference[0].split(",") == [*FEATURES, TARGET, "prediction"]
    statistics = json.loads(baseline.statistics_path.read_text())
    assert statistics["rows"] == 400
    assert statistics["columns"]["amount"]["min"] >= 0
    tags = registry.version_tags(policy.model, version)
    assert float(tags["steward.baseline.roc_auc"]) == pytest.approx(baseline.metrics["roc_auc"])
    run = registry.client.get_run(baseline.run_id)
    assert run.data.metrics["f1"] == pytest.approx(baseline.metrics["f1"])
    artifacts = [a.path for a in registry.client.list_artifacts(baseline.run_id, "baseline")]
    assert sorted(artifacts) == [
        "baseline/baseline.json",
        "baseline/reference.csv",
        "baseline/statistics.json",
    ]


def test_samples_are_deterministic_and_drift_hurts() -> None:
    assert fraud_frame(200, seed=3).equals(fraud_frame(200, seed=3))
    assert not fraud_frame(200, seed=3).equals(fraud_frame(200, seed=4))
    model = train_fraud_model(fraud_frame(1500))
    clean = fraud_frame(800, seed=21)
    severe = drifted_batch(800, severity="severe", model=model)
    mild = drifted_batch(800, severity="mild")
    assert mild["amount"].median() > clean["amount"].median() * 1.3
    clean_accuracy = (model.predict(clean[list(FEATURES)]) == clean[TARGET]).mean()
    severe_accuracy = (severe["prediction"] == severe[TARGET]).mean()
    assert severe_accuracy < clean_accuracy - 0.15
