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
    policy = policy_copy(tmp_path)
    monkeypatch.setenv("STEWARD_POLICY_DIR", str(policy.parent))  # the governed policies
    return {
        "settings": settings,
        "policy": policy,
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


def test_steward_approve_from_another_process(env: dict[str, Any]) -> None:
    """The Guardian answers from another shell: `steward approve RUN_ID --as EMAIL`."""
    import contextvars
    import subprocess
    import sys
    import threading

    from prefect import tags
    from prefect.settings import PREFECT_API_URL

    from flows._approval import paused_run_with_tag
    from flows.onboard_model import OnboardRequest, onboard_model

    tag = "approve-cli-test"
    outcome: dict[str, Any] = {}
    stop = threading.Event()
    child_env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}

    def guardian() -> None:
        while not stop.is_set():
            run_id = paused_run_with_tag(tag)
            if run_id:
                outcome["cli"] = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "modelsteward.cli",
                        "approve",
                        run_id,
                        "--as",
                        "ai-security@example.com",
                        "--risk-assessment",
                        "approved from the shell",
                    ],
                    capture_output=True,
                    text=True,
                    env=child_env,
                    timeout=120,
                )
                return
            stop.wait(0.2)

    thread = threading.Thread(target=contextvars.copy_context().run, args=(guardian,))
    thread.start()
    request = OnboardRequest(
        policy_path=str(env["policy"]), model_uri=str(env["model"]), approval_poll_seconds=0.3
    )
    try:
        with tags(tag):
            result = onboard_model(request)
    finally:
        stop.set()
        thread.join(130)
    cli = outcome["cli"]
    assert cli.returncode == 0, cli.stderr
    assert "approved as ai-security@example.com" in cli.stdout
    assert result.status == "promoted"
    assert result.approver == "ai-security@example.com"
