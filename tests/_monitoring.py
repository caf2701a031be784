"""Helpers of the monitoring tests: sklearn's breast-cancer data under a policy contract."""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
import pandas as pd

from modelsteward.policy import Policy, parse_policy

FEATURES = ["mean_radius", "mean_texture", "mean_smoothness", "worst_area", "worst_concavity"]


@cache
def cancer() -> pd.DataFrame:
    """Breast-cancer features (5 columns), label and a logistic model's prediction/score."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    data = load_breast_cancer(as_frame=True)
    frame = data.frame.rename(columns=lambda c: c.replace(" ", "_"))[FEATURES].copy()
    frame["label"] = data.target.to_numpy()
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    model.fit(frame[FEATURES], frame["label"])
    frame["prediction"] = model.predict(frame[FEATURES])
    frame["prediction_score"] = model.predict_proba(frame[FEATURES])[:, 1]
    return frame


def split(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A random half/half split of the cancer data: reference, current."""
    frame = cancer().sample(frac=1.0, random_state=seed).reset_index(drop=True)
    half = len(frame) // 2
    return frame.iloc[:half].reset_index(drop=True), frame.iloc[half:].reset_index(drop=True)


def policy(**monitoring: Any) -> Policy:
    contact = {"name": "x", "email": "x@example.com", "slack": "#x"}
    data: dict[str, Any] = {
        "model": "cancer-screen",
        "risk_tier": "limited",
        "roles": {"owner": contact, "guardian": contact, "operator": contact},
        "data_contract": {
            "target": "label",
            "prediction": "prediction",
            "min_rows": 50,
            "columns": [
                {"name": "mean_radius", "type": "float", "min": 0, "max": 60},
                {"name": "mean_texture", "type": "float", "min": 0, "max": 80},
                {"name": "mean_smoothness", "type": "float", "min": 0, "max": 1},
                {"name": "worst_area", "type": "float", "min": 0},
                {"name": "worst_concavity", "type": "float", "min": 0, "max": 5},
            ],
        },
        "monitoring": {
            "metrics": ["accuracy", "precision", "recall", "f1", "roc_auc"],
            "drift": {
                "warning": {"drift_share": 0.3},
                "critical": {"drift_share": 0.6, "prediction_drift": True},
            },
            "performance": {"warning": {"max_drop": 0.05}, "critical": {"max_drop": 0.15}},
            **monitoring,
        },
        "actions": {"critical": {"alert": ["operator"], "kill": True}},
    }
    return parse_policy(data, source="test")


def shifted(frame: pd.DataFrame, columns: list[str], sigmas: float = 1.0) -> pd.DataFrame:
    """``frame`` with ``columns`` moved up by ``sigmas`` standard deviations."""
    out = frame.copy()
    for column in columns:
        out[column] = out[column] + sigmas * float(out[column].std())
    return out


def mixed(rows: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    """Synthetic mixed-type data: numeric, low-cardinality numeric, binary, categories."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(shift, 1.0, rows),
            "y": rng.exponential(1.0 + shift, rows),
            "few": rng.integers(0, 4 + (1 if shift else 0), rows),
            "flag": rng.integers(0, 2, rows),
            "colour": rng.choice(["red", "green", "blue"], rows, p=[0.5, 0.3, 0.2])
            if not shift
            else rng.choice(["red", "green", "blue"], rows, p=[0.3, 0.3, 0.4]),
        }
    )
