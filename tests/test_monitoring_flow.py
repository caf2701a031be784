"""evaluate-model end to end: Prefect harness, moto S3, MLflow on SQLite, ledger, kill switch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from _monitoring import FEATURES, policy, shifted, split

from modelsteward.policy import Severity

pytestmark = pytest.mark.slow


@pytest.fixture
def staged(settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A policy dir with cancer-screen.yaml, its v1 baseline and two batches on disk."""
    from modelsteward.baseline import Baseline, baseline_dir

    policies = tmp_path / "policies"
    policies.mkdir()
    data = policy().model_dump(mode="json", exclude={"source", "digest"}, exclude_none=True)
    (policies / "cancer-screen.yaml").write_text(yaml.safe_dump(data))
    monkeypatch.setenv("STEWARD_POLICY_DIR", str(policies))
    reference, current = split()
    directory = baseline_dir(settings, "cancer-screen", "1")
    directory.mkdir(parents=True)
    reference.to_csv(directory / "reference.csv", index=False)
    baseline = Baseline(
        model="cancer-screen",
        version="1",
        metrics={"accuracy": 0.96, "precision": 0.95, "recall": 0.98, "f1": 0.965},
        rows=len(reference),
        directory=str(directory),
        reference_sha256="0" * 64,
    )
    (directory / "baseline.json").write_text(json.dumps(baseline.to_dict()))
    clean = tmp_path / "clean.csv"
    current.to_csv(clean, index=False)
    drifted = tmp_path / "drifted.parquet"
    shifted(current, FEATURES[:3]).to_parquet(drifted)
    return {"clean": clean, "drifted": drifted}


def _records(settings, model: str) -> list:
    from modelsteward.audit import Ledger

    ledger = Ledger.from_settings(settings)
    try:
        return list(ledger.records(model=model))
    finally:
        ledger.close()


def test_clean_batch_is_recorded_everywhere_and_the_model_keeps_serving(
    settings, staged, prefect_harness
) -> None:
    from flows.evaluate_model import EvaluateRequest, evaluate_model
    from modelsteward.killswitch import open_store
    from modelsteward.registry import ModelRegistry

    outcome = evaluate_model(
        EvaluateRequest(model="cancer-screen", current_path=str(staged["clean"]))
    )
    result = outcome.result
    assert result.severity is Severity.NONE and result.version == "1"
    assert outcome.report_uri and outcome.report_uri.startswith(f"s3://{settings.bucket}/reports/")
    assert outcome.alerts is None and outcome.killed is False
    actions = [str(r.action) for r in _records(settings, "cancer-screen")]
    assert actions == ["quality.checked", "drift.evaluated", "performance.evaluated"]
    run = ModelRegistry.from_settings(settings).client.get_run(outcome.mlflow_run_id)
    assert run.data.metrics["drift_share"] == 0.0
    assert run.data.tags["steward.report"] == outcome.report_uri
    assert open_store(settings.killswitch).get_state("cancer-screen") is None


def test_critical_drift_kills_the_model_and_alerts(settings, staged, prefect_harness) -> None:
    from flows.evaluate_model import EvaluateRequest, evaluate_model
    from modelsteward.killswitch import open_store

    outcome = evaluate_model(
        EvaluateRequest(
            model="cancer-screen", current_path=str(staged["drifted"]), log_to_mlflow=False
        )
    )
    assert outcome.result.severity is Severity.CRITICAL
    assert outcome.alerts is not None and outcome.alerts["enqueued"] == 1
    state = open_store(settings.killswitch).get_state("cancer-screen")
    assert state is not None and state.active is False and state.actor == "evaluate-model"
    records = _records(settings, "cancer-screen")
    drift = next(r for r in records if str(r.action) == "drift.evaluated")
    assert drift.details["drift_share"] == 0.6 and drift.details["severity"] == "critical"
    assert any(str(r.action) == "model.disabled" for r in records)


def test_a_failing_batch_is_a_result_not_a_failed_run(
    settings, staged, tmp_path: Path, prefect_harness
) -> None:
    import pandas as pd

    from flows.evaluate_model import EvaluateRequest, evaluate_model

    broken = tmp_path / "broken.csv"
    pd.read_csv(staged["clean"]).drop(columns=["mean_radius"]).to_csv(broken, index=False)
    outcome = evaluate_model(
        EvaluateRequest(model="cancer-screen", current_path=str(broken), log_to_mlflow=False)
    )
    assert outcome.result.severity is Severity.WARNING and not outcome.result.quality.passed
    assert outcome.report_uri is None and outcome.alerts is not None
    drift = next(
        r for r in _records(settings, "cancer-screen") if str(r.action) == "drift.evaluated"
    )
    assert drift.details["evaluated"] is False


def test_fleet_evaluates_models_concurrently_and_isolates_failures(
    settings, staged, tmp_path: Path, prefect_harness
) -> None:
    import shutil

    from flows.evaluate_fleet import FleetRequest, evaluate_fleet
    from flows.evaluate_model import EvaluateRequest
    from modelsteward.baseline import baseline_dir

    policies = tmp_path / "policies"
    text = (policies / "cancer-screen.yaml").read_text()
    (policies / "cancer-twin.yaml").write_text(
        text.replace("model: cancer-screen", "model: cancer-twin")
    )
    twin = baseline_dir(settings, "cancer-twin", "1")
    shutil.copytree(baseline_dir(settings, "cancer-screen", "1"), twin)
    request = FleetRequest(
        batches=[
            EvaluateRequest(
                model="cancer-screen", current_path=str(staged["clean"]), log_to_mlflow=False
            ),
            EvaluateRequest(
                model="cancer-twin", current_path=str(staged["drifted"]), log_to_mlflow=False
            ),
            EvaluateRequest(model="cancer-twin", current_path=str(tmp_path / "absent.csv")),
            EvaluateRequest(model="no-policy", current_path=str(staged["clean"])),
        ],
        max_concurrency=3,
    )
    summaries = {(s["model"], s.get("severity")): s for s in evaluate_fleet(request)}
    assert summaries[("cancer-screen", "none")]["killed"] is False
    assert summaries[("cancer-twin", "critical")]["killed"] is True
    assert "absent.csv does not exist" in summaries[("cancer-twin", None)]["error"]
    assert "no policy for model 'no-policy'" in summaries[("no-policy", None)]["error"]


def test_steward_evaluate_cli(settings, staged, prefect_harness) -> None:
    from click.testing import CliRunner

    from modelsteward.cli import cli

    runner = CliRunner()
    clean = runner.invoke(
        cli,
        [
            "evaluate",
            "cancer-screen",
            "--current",
            str(staged["clean"]),
            "--json",
            "--no-mlflow",
            "--fail-on",
            "warning",
        ],
    )
    assert clean.exit_code == 0, clean.output
    result = json.loads(clean.output[clean.output.index("{") :])
    assert result["severity"] == "none" and result["drift"]["drift_share"] == 0.0
    drifted = runner.invoke(
        cli,
        [
            "evaluate",
            "cancer-screen",
            "--current",
            str(staged["drifted"]),
            "--no-mlflow",
            "--fail-on",
            "critical",
        ],
    )
    assert drifted.exit_code == 10, drifted.output
    assert "cancer-screen v1: severity critical; drift share 0.60 (3/5 columns)" in drifted.output
    assert "cancer-screen was disabled by the policy (kill switch off)" in drifted.output
