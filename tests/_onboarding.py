"""Helpers shared by the onboarding tests (not fixtures: each module scopes its own)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
POLICY = REPO / "policies" / "fraud-detector.yaml"


def shared_cache(factory: Any) -> Path:
    """One directory per test session for the sample model and the MLflow template."""
    cache = Path(factory.getbasetemp()) / "onboarding-cache"
    cache.mkdir(exist_ok=True)
    return cache


def sample_model(cache: Path) -> Path:
    """A saved sample MLflow model, trained once per cache directory."""
    from modelsteward.samples import save_sample_model

    model = cache / "sample-model"
    if not model.exists():
        save_sample_model(model, rows=600)
    return model


def copy_model(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def policy_copy(
    tmp: Path,
    *,
    timeout_seconds: int | None = None,
    reference: Path | None = None,
    approval_signers: dict[str, str] | None = None,
) -> Path:
    """A copy of the fraud-detector policy in ``tmp`` with a small reference dataset."""
    from modelsteward.samples import write_reference_csv

    text = POLICY.read_text()
    directory = tmp / "policies"
    directory.mkdir(parents=True, exist_ok=True)
    reference = reference or write_reference_csv(directory / "data" / "reference.csv", rows=400)
    lines = [line for line in text.splitlines() if not line.startswith("reference_data:")]
    text = "\n".join(lines) + f"\nreference_data: {reference}\n"
    if timeout_seconds is not None:
        text = text.replace("timeout_seconds: 86400", f"timeout_seconds: {timeout_seconds}")
    if approval_signers is not None:  # signed approvals required, with these keys
        listed = "".join(f"\n    {email}: {key}" for email, key in approval_signers.items())
        signed = f"  require_signature: true\n  signers:{listed}\n  timeout_seconds:"
        text = text.replace("  timeout_seconds:", signed)
    path = directory / "fraud-detector.yaml"
    path.write_text(text)
    return path


def mlflow_template(directory: Path) -> Path:
    """An empty, fully migrated MLflow SQLite database (migrating a new one takes seconds)."""
    template = directory / "mlflow-template.db"
    if not template.exists():
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=f"sqlite:///{template}")
        client.search_experiments()
        client.search_registered_models()
    return template


def use_mlflow_template(template: Path, home: Path) -> None:
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, home / "mlflow.db")
