"""`steward onboard ... --approve-as` and `steward approve` through the real CLI."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import pytest
from _onboarding import (
    copy_model,
    mlflow_template,
    policy_copy,
    sample_model,
    shared_cache,
    use_mlflow_template,
)
from click.testing import CliRunner

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sample_model(shared_cache(tmp_path_factory))


@pytest.fixture
def env(
    settings, prefect_harness, tmp_path: Path, model_cache: Path, monkeypatch
) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    use_mlflow_template(mlflow_template(model_cache.parent), settings.home)
    monkeypatch.setenv("STEWARD_ALERT_MIN_INTERVAL_SECONDS", "0")
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    return {
        "settings": settings,
        "policy": policy_copy(tmp_path),
        "model": copy_model(model_cache, tmp_path / "model"),
        "cwd": workdir,
    }


def test_onboard_with_approve_as_promotes(env: dict[str, Any]) -> None:
    from modelsteward.cli import cli
    from modelsteward.registry import ModelRegistry

    result = CliRunner().invoke(
        cli,
        [
            "onboard",
            "--policy",
            str(env["policy"]),
            "--model-uri",
            str(env["model"]),
            "--approve-as",
            "ai-security@example.com",
            "--risk-assessment",
            "reviewed: synthetic data only",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert "fraud-detector version 1: promoted" in result.output
    assert "baseline f1:" in result.output
    owners = ModelRegistry.from_settings(env["settings"]).ownership("fraud-detector")
    assert owners["serving_version"] == "1"
    assert owners["roles"]["guardian"]["email"] == "ai-security@example.com"
    assert os.listdir(env["cwd"]) == []  # nothing written to ./mlruns or elsewhere


def test_onboard_rejected_exits_non_zero(env: dict[str, Any]) -> None:
    from modelsteward.cli import cli

    result = CliRunner().invoke(
        cli,
        [
            "onboard",
            "--policy",
            str(env["policy"]),
            "--model-uri",
            str(env["model"]),
            "--approve-as",
            "ai-security@example.com",
            "--reject",
            "--risk-assessment",
            "unacceptable: no fairness review",
        ],
    )
    assert result.exit_code == 1, result.output
    assert "fraud-detector version 1: rejected (rejected by ai-security@example.com)" in (
        result.output
    )


def test_approve_unknown_run_is_not_found(env: dict[str, Any]) -> None:
    from modelsteward.cli import cli

    result = CliRunner().invoke(
        cli, ["approve", str(uuid.uuid4()), "--as", "ai-security@example.com"]
    )
    assert result.exit_code == 7, result.output
    assert "not found" in result.output
