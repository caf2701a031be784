"""Baseline: how the model performs on the policy's reference data, kept for monitoring.

:func:`compute_metrics` scores predictions against labels (accuracy, precision, recall, F1,
ROC AUC when scores exist and both classes occur; for regression MAE, RMSE, R²) plus any other
metric the policy lists in ``monitoring.metrics`` from :data:`METRICS`. An unknown name is a
:class:`~modelsteward.errors.PolicyError` naming it.

:func:`record_baseline` loads a **verified** model directory (only call it after the scan and
the signature check: loading a pickle runs code), predicts on the reference data, and keeps
the result where the monitoring flow finds it:

- ``$STEWARD_HOME/baselines/<model>/v<version>/``: ``reference.csv`` (the reference rows with a
  ``prediction`` column), ``statistics.json`` (per-column statistics) and ``baseline.json``
  (metrics, row count, model and data digests); see :func:`baseline_dir` / :func:`load_baseline`;
- an MLflow run in the ``settings.mlflow_experiment`` experiment with the metrics and those
  three files as artifacts;
- model-version tags ``steward.baseline.<metric>`` and ``steward.baseline_run_id``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelsteward.errors import DataError, NotFoundError, PolicyError

if TYPE_CHECKING:
    import pandas as pd

    from modelsteward.policy import Policy
    from modelsteward.registry import ModelRegistry
    from modelsteward.settings import StewardSettings

__all__ = [
    "METRICS",
    "Baseline",
    "baseline_dir",
    "column_statistics",
    "compute_metrics",
    "load_baseline",
    "load_reference",
    "record_baseline",
]

log = logging.getLogger(__name__)

#: metric name -> (needs scores, task); computed by :func:`_metric`.
METRICS: dict[str, tuple[bool, str]] = {
    "accuracy": (False, "classification"),
    "precision": (False, "classification"),
    "recall": (False, "classification"),
    "f1": (False, "classification"),
    "balanced_accuracy": (False, "classification"),
    "mcc": (False, "classification"),
    "roc_auc": (True, "classification"),
    "average_precision": (True, "classification"),
    "log_loss": (True, "classification"),
    "brier": (True, "classification"),
    "mae": (False, "regression"),
    "mse": (False, "regression"),
    "rmse": (False, "regression"),
    "r2": (False, "regression"),
}
_DEFAULTS = {
    "classification": ("accuracy", "precision", "recall", "f1", "roc_auc"),
    "regression": ("mae", "rmse", "r2"),
}


@dataclass(frozen=True)
class Baseline:
    """What :func:`record_baseline` measured and where it put it."""

    model: str
    version: str
    metrics: dict[str, float]
    rows: int
    directory: str
    reference_sha256: str
    run_id: str | None = None
    recorded_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def reference_path(self) -> Path:
        return Path(self.directory) / "reference.csv"

    @property
    def statistics_path(self) -> Path:
        return Path(self.directory) / "statistics.json"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def baseline_dir(settings: StewardSettings, model: str, version: str) -> Path:
    return settings.home / "baselines" / model / f"v{version}"


def load_baseline(settings: StewardSettings, model: str, version: str | None = None) -> Baseline:
    """The baseline of ``model`` ``version`` (default: the most recently recorded one)."""
    root = settings.home / "baselines" / model
    if version is None:
        candidates = sorted(root.glob("v*/baseline.json"), key=lambda p: p.stat().st_mtime)
        if not candidates:
            raise NotFoundError(
                f"no baseline for model {model!r} under {root}; onboard it first (steward onboard)"
            )
        path = candidates[-1]
    else:
        path = baseline_dir(settings, model, version) / "baseline.json"
        if not path.is_file():
            raise NotFoundError(f"no baseline for {model!r} version {version} ({path} missing)")
    return Baseline(**json.loads(path.read_text()))


def load_reference(policy: Policy, path: Path | None = None) -> pd.DataFrame:
    """The policy's reference dataset (CSV or Parquet), checked against its data contract."""
    import pandas as pd

    path = path or policy.reference_path()
    if path is None:
        raise PolicyError(
            f"{policy.source or policy.model}: reference_data is not set; a baseline needs "
            "the reference dataset (CSV or Parquet) the model is judged against",
            path=policy.source,
            field="reference_data",
        )
    if not path.is_file():
        raise DataError(
            f"reference data {path} (reference_data of {policy.source or policy.model}) "
            "does not exist"
        )
    frame = pd.read_parquet(path) if path.suffix in (".parquet", ".pq") else pd.read_csv(path)
    contract = policy.data_contract
    wanted = [*contract.feature_names, *([contract.target] if contract.target else [])]
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise DataError(
            f"reference data {path} lacks column(s) {', '.join(missing)} of the data contract "
            f"of {policy.model}"
        )
    if len(frame) < contract.min_rows:
        raise DataError(
            f"reference data {path} has {len(frame)} rows; the policy needs at least "
            f"{contract.min_rows} (data_contract.min_rows)"
        )
    return frame


def _metric(name: str, y_true: Any, y_pred: Any, scores: Any) -> float:
    from sklearn import metrics as m

    binary = len(set(y_true)) <= 2
    average = "binary" if binary else "weighted"
    table: dict[str, Callable[[], float]] = {
        "accuracy": lambda: m.accuracy_score(y_true, y_pred),
        "precision": lambda: m.precision_score(y_true, y_pred, average=average, zero_division=0),
        "recall": lambda: m.recall_score(y_true, y_pred, average=average, zero_division=0),
        "f1": lambda: m.f1_score(y_true, y_pred, average=average, zero_division=0),
        "balanced_accuracy": lambda: m.balanced_accuracy_score(y_true, y_pred),
        "mcc": lambda: m.matthews_corrcoef(y_true, y_pred),
        "roc_auc": lambda: m.roc_auc_score(y_true, scores),
        "average_precision": lambda: m.average_precision_score(y_true, scores),
        "log_loss": lambda: m.log_loss(y_true, scores),
        "brier": lambda: m.brier_score_loss(y_true, scores),
        "mae": lambda: m.mean_absolute_error(y_true, y_pred),
        "mse": lambda: m.mean_squared_error(y_true, y_pred),
        "rmse": lambda: math.sqrt(m.mean_squared_error(y_true, y_pred)),
        "r2": lambda: m.r2_score(y_true, y_pred),
    }
    return float(table[name]())


def compute_metrics(
    y_true: Any,
    y_pred: Any,
    *,
    scores: Any = None,
    names: tuple[str, ...] | list[str] | None = None,
    task: str = "classification",
) -> tuple[dict[str, float], dict[str, str]]:
    """(metrics, skipped-with-reason) for ``names`` (default: the task's standard set).

    ROC AUC and the other score-based metrics are skipped, with the reason, when there are no
    scores or only one class is present.
    """
    wanted = list(dict.fromkeys([*_DEFAULTS[task], *(names or ())]))
    unknown = [n for n in wanted if n not in METRICS]
    if unknown:
        raise PolicyError(
            f"monitoring.metrics: unknown metric(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(METRICS))}",
            field="monitoring.metrics",
        )
    metrics: dict[str, float] = {}
    skipped: dict[str, str] = {}
    classes = len(set(list(y_true)))
    for name in wanted:
        needs_scores, metric_task = METRICS[name]
        if metric_task != task:
            skipped[name] = f"a {metric_task} metric; the model is {task}"
            continue
        if needs_scores and scores is None:
            skipped[name] = "the model gives no scores (no predict_proba)"
            continue
        if needs_scores and classes < 2:
            skipped[name] = "only one class in the labels"
            continue
        value = _metric(name, y_true, y_pred, scores)
        if math.isnan(value):
            skipped[name] = "undefined on this data"
            continue
        metrics[name] = round(value, 6)
    return metrics, skipped


def column_statistics(frame: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Per-column statistics of a frame (numeric: mean, std, quantiles; others: top values)."""
    import pandas as pd

    stats: dict[str, dict[str, Any]] = {}
    for column in frame.columns:
        series = frame[column]
        entry: dict[str, Any] = {
            "dtype": str(series.dtype),
            "count": int(series.count()),
            "nulls": int(series.isna().sum()),
        }
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            described = series.describe(percentiles=[0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99])
            entry.update(
                {key: _finite(value) for key, value in described.items() if key != "count"}
            )
        else:
            entry["top"] = {str(k): int(v) for k, v in series.value_counts().head(20).items()}
        stats[str(column)] = entry
    return stats


def _finite(value: Any) -> float | None:
    number = float(value)
    return None if math.isnan(number) or math.isinf(number) else round(number, 6)


def _predict(model_dir: Path, features: pd.DataFrame) -> tuple[Any, Any]:
    """(predictions, positive-class scores or None) of the MLflow model in ``model_dir``."""
    import mlflow.pyfunc

    model = mlflow.pyfunc.load_model(str(model_dir))
    predictions = model.predict(features)
    scores = None
    try:
        raw = model.get_raw_model()
    except Exception:  # flavours without a raw model
        raw = None
    if raw is not None and hasattr(raw, "predict_proba"):
        probabilities = raw.predict_proba(features)
        if getattr(probabilities, "ndim", 1) == 2 and probabilities.shape[1] == 2:
            scores = probabilities[:, 1]
    return predictions, scores


def record_baseline(
    settings: StewardSettings,
    policy: Policy,
    *,
    version: str,
    model_dir: Path,
    registry: ModelRegistry | None = None,
    reference_path: Path | None = None,
) -> Baseline:
    """Evaluate the verified model in ``model_dir`` on the reference data and keep the result."""
    import numpy as np

    from modelsteward.registry import TAG_PREFIX, ModelRegistry

    contract = policy.data_contract
    frame = load_reference(policy, reference_path)
    source = reference_path or policy.reference_path()
    assert source is not None  # load_reference refused otherwise
    features = frame[contract.feature_names]
    predictions, scores = _predict(model_dir, features)
    predictions = np.asarray(predictions).reshape(-1)
    metrics: dict[str, float] = {}
    skipped: dict[str, str] = {}
    if contract.target:
        metrics, skipped = compute_metrics(
            frame[contract.target].to_numpy(),
            predictions,
            scores=scores,
            names=policy.monitoring.metrics,
            task=contract.task,
        )
    else:
        skipped = {"*": "the data contract names no target: no labelled metrics"}
    reference = frame.copy()
    reference[contract.prediction or "prediction"] = predictions
    directory = baseline_dir(settings, policy.model, version)
    directory.mkdir(parents=True, exist_ok=True)
    reference.to_csv(directory / "reference.csv", index=False)
    statistics = {
        "columns": column_statistics(reference),
        "rows": len(reference),
        "positive_rate": _finite(np.mean(predictions))
        if contract.task == "classification"
        else None,
    }
    (directory / "statistics.json").write_text(json.dumps(statistics, indent=2, sort_keys=True))
    baseline = Baseline(
        model=policy.model,
        version=str(version),
        metrics=metrics,
        rows=len(reference),
        directory=str(directory),
        reference_sha256=hashlib.sha256(Path(source).read_bytes()).hexdigest(),
        skipped=skipped,
    )

    registry = registry or ModelRegistry.from_settings(settings)
    run_id = _log_run(registry, settings, baseline, directory)
    baseline = Baseline(**{**baseline.to_dict(), "run_id": run_id})
    (directory / "baseline.json").write_text(json.dumps(baseline.to_dict(), indent=2))
    with registry._errors(f"logging the baseline of {policy.model} v{version}"):
        registry.client.log_artifact(run_id, str(directory / "baseline.json"), "baseline")
        registry.client.set_terminated(run_id)
    tags = {f"{TAG_PREFIX}baseline.{name}": f"{value:.6f}" for name, value in metrics.items()}
    tags[f"{TAG_PREFIX}baseline_run_id"] = run_id
    tags[f"{TAG_PREFIX}baseline_rows"] = str(baseline.rows)
    registry.set_version_tags(policy.model, str(version), tags)
    log.info(
        "event=baseline_recorded model=%s version=%s rows=%d %s",
        policy.model,
        version,
        baseline.rows,
        " ".join(f"{k}={v:.4f}" for k, v in metrics.items()),
    )
    return baseline


def _log_run(
    registry: ModelRegistry, settings: StewardSettings, baseline: Baseline, directory: Path
) -> str:
    experiment_id = registry.ensure_experiment(settings.mlflow_experiment)
    with registry._errors(f"logging the baseline of {baseline.model} v{baseline.version}"):
        run = registry.client.create_run(
            experiment_id,
            run_name=f"baseline-{baseline.model}-v{baseline.version}",
            tags={
                "steward.kind": "baseline",
                "steward.model": baseline.model,
                "steward.version": baseline.version,
            },
        )
        run_id = str(run.info.run_id)
        registry.client.log_param(run_id, "reference_rows", baseline.rows)
        registry.client.log_param(run_id, "reference_sha256", baseline.reference_sha256)
        for name, value in baseline.metrics.items():
            registry.client.log_metric(run_id, name, value)
        for name in ("reference.csv", "statistics.json"):
            registry.client.log_artifact(run_id, str(directory / name), "baseline")
    return run_id
