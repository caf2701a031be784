"""A sample fraud model for the demo and the tests: synthetic, deterministic, small.

:func:`fraud_frame` draws transactions matching ``policies/fraud-detector.yaml``'s data
contract (amount, hour_of_day, distance_from_home_km, txn_count_24h, merchant_risk_score,
card_present; target ``is_fraud``) from a fixed seed, :func:`drifted_batch` the same with a
``mild`` or ``severe`` shift, :func:`train_fraud_model` fits a small scikit-learn pipeline,
and :func:`log_sample_model` saves it as an MLflow model (explicit ``pip_requirements``:
inferring them is slow and drags test tools in) and logs it to a run, returning a
``runs:/`` URI that ``steward onboard`` accepts.
"""

from __future__ import annotations

import logging
from importlib.metadata import version as _dist_version
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import pandas as pd

    from modelsteward.settings import StewardSettings

__all__ = [
    "FEATURES",
    "TARGET",
    "drifted_batch",
    "fraud_frame",
    "log_sample_model",
    "pip_requirements",
    "save_sample_model",
    "train_fraud_model",
    "write_reference_csv",
]

log = logging.getLogger(__name__)

FEATURES = (
    "amount",
    "hour_of_day",
    "distance_from_home_km",
    "txn_count_24h",
    "merchant_risk_score",
    "card_present",
)
TARGET = "is_fraud"
PREDICTION = "prediction"
Shift = Literal["none", "mild", "severe"]


def pip_requirements() -> list[str]:
    """Pinned requirements of the sample model: what it needs to load, nothing else."""
    return [
        f"{name}=={_dist_version(name)}"
        for name in ("mlflow-skinny", "scikit-learn", "numpy", "pandas", "cloudpickle")
        if _installed(name)
    ]


def _installed(name: str) -> bool:
    try:
        _dist_version(name)
    except Exception:
        return False
    return True


def fraud_frame(rows: int = 2000, *, seed: int = 7, shift: Shift = "none") -> pd.DataFrame:
    """Synthetic card transactions with a fraud label; the same ``seed`` gives the same rows.

    ``shift`` moves the feature distributions: ``mild`` a little (a few columns drift),
    ``severe`` a lot (most columns drift and the label relation changes).
    """
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    amount = rng.lognormal(mean=3.6, sigma=1.0, size=rows)
    hour = rng.integers(0, 24, size=rows)
    distance = rng.exponential(scale=15.0, size=rows)
    txn_count = rng.poisson(lam=3.0, size=rows)
    merchant_risk = rng.beta(2.0, 8.0, size=rows)
    card_present = (rng.random(rows) < 0.7).astype(int)
    if shift == "mild":
        amount = amount * 1.6
        distance = distance * 1.8
    elif shift == "severe":
        amount = amount * 4.0 + 300.0
        hour = rng.choice([0, 1, 2, 3, 4], size=rows)
        distance = distance * 6.0 + 50.0
        txn_count = rng.poisson(lam=12.0, size=rows)
        merchant_risk = rng.beta(6.0, 3.0, size=rows)
        card_present = (rng.random(rows) < 0.2).astype(int)
    logit = (
        -6.0
        + 0.9 * np.log1p(amount) / 2
        + 0.03 * distance
        + 0.25 * txn_count
        + 4.0 * merchant_risk
        - 1.2 * card_present
        + 0.6 * ((hour < 6) | (hour > 22))
    )
    if shift == "severe":
        logit = -logit - 4.0  # the label relation flips: the model's performance collapses
    probability = 1.0 / (1.0 + np.exp(-logit))
    is_fraud = (rng.random(rows) < probability).astype(int)
    frame = pd.DataFrame(
        {
            "amount": np.clip(amount, 0, 50_000).round(2),
            "hour_of_day": hour.astype(int),
            "distance_from_home_km": np.clip(distance, 0, 20_000).round(3),
            "txn_count_24h": np.clip(txn_count, 0, 500).astype(int),
            "merchant_risk_score": np.clip(merchant_risk, 0, 1).round(4),
            "card_present": card_present.astype(int),
            TARGET: is_fraud,
        }
    )
    return frame


def drifted_batch(
    rows: int = 500,
    *,
    severity: Literal["mild", "severe"] = "mild",
    seed: int = 11,
    model: Any = None,
) -> pd.DataFrame:
    """A current batch shifted ``mild``-ly or ``severe``-ly; with ``model``, plus predictions."""
    frame = fraud_frame(rows, seed=seed, shift=severity)
    if model is not None:
        frame[PREDICTION] = model.predict(frame[list(FEATURES)])
    return frame


def train_fraud_model(frame: pd.DataFrame | None = None, *, seed: int = 7) -> Any:
    """A small, fast scikit-learn classifier (scaling + logistic regression)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    frame = fraud_frame(seed=seed) if frame is None else frame
    model = make_pipeline(
        StandardScaler(), LogisticRegression(max_iter=500, class_weight="balanced")
    )
    model.fit(frame[list(FEATURES)], frame[TARGET])
    return model


def save_sample_model(path: Path, *, rows: int = 2000, seed: int = 7) -> Path:
    """Train the sample model and save it as an MLflow model directory at ``path``."""
    import warnings

    import mlflow.sklearn
    from mlflow.models import infer_signature

    frame = fraud_frame(rows, seed=seed)
    model = train_fraud_model(frame)
    features = frame[list(FEATURES)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "integer columns cannot hold NaN"
        signature = infer_signature(features, model.predict(features))
    mlflow.sklearn.save_model(
        model,
        str(path),
        pip_requirements=pip_requirements(),
        signature=signature,
        serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_PICKLE,
    )
    return path


def log_sample_model(
    settings: StewardSettings,
    *,
    rows: int = 2000,
    seed: int = 7,
    artifact_path: str = "model",
) -> str:
    """Train, save and log the sample model to a run; returns its ``runs:/`` URI."""
    import tempfile

    from modelsteward.registry import ModelRegistry

    registry = ModelRegistry.from_settings(settings)
    experiment_id = registry.ensure_experiment(settings.mlflow_experiment)
    run = registry.client.create_run(
        experiment_id, run_name="sample-fraud-model", tags={"steward.sample": "true"}
    )
    run_id = run.info.run_id
    with tempfile.TemporaryDirectory(prefix="steward-sample-") as tmp:
        saved = save_sample_model(Path(tmp) / artifact_path, rows=rows, seed=seed)
        registry.client.log_param(run_id, "rows", rows)
        registry.client.log_param(run_id, "seed", seed)
        registry.client.log_artifacts(run_id, str(saved), artifact_path)
    registry.client.set_terminated(run_id)
    uri = f"runs:/{run_id}/{artifact_path}"
    log.info("event=sample_model_logged uri=%s", uri)
    return uri


def write_reference_csv(path: Path, *, rows: int = 2000, seed: int = 7) -> Path:
    """Write the reference dataset (features and label, no prediction) to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fraud_frame(rows, seed=seed + 1000).to_csv(path, index=False)
    return path


# --- the second sample: scikit-learn's breast-cancer data (policies/tumor-classifier.yaml) ------

TUMOR_COLUMNS = {
    "mean radius": "mean_radius",
    "mean texture": "mean_texture",
    "mean perimeter": "mean_perimeter",
    "mean area": "mean_area",
    "mean smoothness": "mean_smoothness",
    "mean concavity": "mean_concavity",
    "worst area": "worst_area",
}
TUMOR_TARGET = "benign"


def tumor_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, hold-out) of scikit-learn's bundled breast-cancer data, renamed to the policy's
    columns; the hold-out is ``policies/data/tumor-classifier-reference.csv``."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split

    frame = load_breast_cancer(as_frame=True).frame
    frame = frame[[*TUMOR_COLUMNS, "target"]].rename(
        columns={**TUMOR_COLUMNS, "target": TUMOR_TARGET}
    )
    train, holdout = train_test_split(
        frame, test_size=0.4, random_state=0, stratify=frame[TUMOR_TARGET]
    )
    return train, holdout


def log_tumor_model(settings: StewardSettings, *, artifact_path: str = "model") -> str:
    """Train a classifier on the breast-cancer training split, log it; returns ``runs:/``."""
    import tempfile
    import warnings

    import mlflow.sklearn
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from modelsteward.registry import ModelRegistry

    train, _ = tumor_frames()
    features = train[list(TUMOR_COLUMNS.values())]
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    model.fit(features, train[TUMOR_TARGET])
    registry = ModelRegistry.from_settings(settings)
    experiment_id = registry.ensure_experiment(settings.mlflow_experiment)
    run_id = registry.client.create_run(
        experiment_id, run_name="tumor-classifier", tags={"steward.sample": "true"}
    ).info.run_id
    with tempfile.TemporaryDirectory(prefix="steward-sample-") as tmp:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            signature = infer_signature(features, model.predict(features))
        mlflow.sklearn.save_model(
            model,
            str(Path(tmp) / artifact_path),
            pip_requirements=pip_requirements(),
            signature=signature,
            serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_PICKLE,
        )
        registry.client.log_artifacts(run_id, str(Path(tmp) / artifact_path), artifact_path)
    registry.client.set_terminated(run_id)
    return f"runs:/{run_id}/{artifact_path}"
