"""The MLflow adapter: registration from each URI kind, ownership tags, aliases, errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from _onboarding import (
    POLICY,
    copy_model,
    mlflow_template,
    sample_model,
    shared_cache,
    use_mlflow_template,
)

from modelsteward.errors import ExternalServiceError, NotFoundError
from modelsteward.policy import load_policy
from modelsteward.registry import CHAMPION, ModelRegistry, ownership_tags

NAME = "fraud-detector"


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sample_model(shared_cache(tmp_path_factory))


@pytest.fixture(params=["sqlite", "postgresql"])
def registry(
    request: pytest.FixtureRequest,
    steward_home: Path,
    model_cache: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> ModelRegistry:
    """The embedded default (SQLite) and the production store (PostgreSQL)."""
    from modelsteward.settings import load_settings

    if request.param == "postgresql":
        monkeypatch.setenv("MLFLOW_TRACKING_URI", request.getfixturevalue("mlflow_postgres_uri"))
    else:
        use_mlflow_template(mlflow_template(model_cache.parent), steward_home)
    registry = ModelRegistry.from_settings(load_settings())
    assert registry.tracking_uri.startswith(request.param)
    return registry


def test_local_directory_registration_is_idempotent(
    registry: ModelRegistry, model_cache: Path, tmp_path: Path
) -> None:
    model = copy_model(model_cache, tmp_path / "m")
    first = registry.register_version(NAME, str(model))
    again = registry.register_version(NAME, str(model), tags={"x": "1"})
    assert first.created and not again.created
    assert (first.version, again.version) == ("1", "1")
    assert registry.version_tags(NAME, "1")["x"] == "1"
    other = registry.register_version(NAME, str(copy_model(model_cache, tmp_path / "m2")))
    assert other.version == "2"


def test_runs_uri_and_models_uri(
    registry: ModelRegistry, model_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    experiment = registry.ensure_experiment("model-steward")
    run = registry.client.create_run(experiment)
    registry.client.log_artifacts(run.info.run_id, str(model_cache), "model")
    uri = f"runs:/{run.info.run_id}/model"
    version = registry.register_version(NAME, uri)
    assert version.run_id == run.info.run_id
    assert version.source.endswith("/model")
    downloaded = registry.download(version.uri, tmp_path / "dl")
    assert (downloaded / "MLmodel").is_file()
    from_run = registry.download(uri, tmp_path / "dl2")
    assert sorted(p.name for p in from_run.iterdir()) == sorted(
        p.name for p in downloaded.iterdir()
    )
    by_models_uri = registry.register_version("fraud-copy", version.uri)
    assert by_models_uri.source == version.source
    assert os.listdir(workdir) == []  # no ./mlruns, no ./mlflow.db


def test_unknown_uris_are_not_found(registry: ModelRegistry, tmp_path: Path) -> None:
    registry.ensure_experiment("model-steward")
    with pytest.raises(NotFoundError, match="run deadbeef"):
        registry.register_version(NAME, "runs:/deadbeef/model")
    with pytest.raises(NotFoundError, match="nope"):
        registry.register_version(NAME, "models:/nope/1")
    with pytest.raises(NotFoundError, match="no MLmodel file"):
        registry.register_version(NAME, str(tmp_path))


def test_ownership_tags_on_model_and_version(
    registry: ModelRegistry, model_cache: Path, tmp_path: Path
) -> None:
    policy = load_policy(POLICY)
    version = registry.register_version(NAME, str(copy_model(model_cache, tmp_path / "m")))
    tags = registry.set_ownership(NAME, version.version, policy)
    assert tags == ownership_tags(policy)
    owners = registry.ownership(NAME)
    assert owners["roles"]["guardian"]["email"] == "ai-security@example.com"
    assert owners["roles"]["guardian"]["delegates"] == "ciso@example.com"
    assert owners["roles"]["operator"]["pagerduty"] == "PFRAUD1"
    assert owners["roles"]["owner"]["slack"] == "#payments-risk"
    assert owners["risk_tier"] == "high"
    assert owners["policy_digest"] == policy.digest
    assert registry.version_tags(NAME, version.version)["steward.owner.email"] == (
        "dana.whitfield@example.com"
    )
    # a contact removed from the policy does not linger
    registry.set_model_tags(NAME, {"steward.owner.phone": "123"})
    registry.set_ownership(NAME, version.version, policy)
    assert "phone" not in registry.ownership(NAME)["roles"]["owner"]


def test_aliases_remember_where_they_pointed(
    registry: ModelRegistry, model_cache: Path, tmp_path: Path
) -> None:
    v1 = registry.register_version(NAME, str(copy_model(model_cache, tmp_path / "a"))).version
    v2 = registry.register_version(NAME, str(copy_model(model_cache, tmp_path / "b"))).version
    assert registry.alias_version(NAME) is None
    assert registry.set_alias(NAME, v1) is None
    assert registry.set_alias(NAME, v2) == v1
    assert registry.model_tags(NAME)[f"steward.alias.{CHAMPION}.previous"] == v1
    assert registry.ownership(NAME)["serving_version"] == v2
    assert registry.remove_alias(NAME) == v2
    assert registry.alias_version(NAME) is None
    assert registry.removed_alias_version(NAME) == v2
    assert registry.remove_alias(NAME) is None
    registry.set_alias(NAME, v1)
    registry.restore_alias(NAME, None)
    assert registry.alias_version(NAME) is None


def test_disable_and_enable_tags(
    registry: ModelRegistry, model_cache: Path, tmp_path: Path
) -> None:
    version = registry.register_version(NAME, str(copy_model(model_cache, tmp_path / "m"))).version
    registry.mark_disabled(NAME, version, reason="drift", actor="ops@example.com")
    assert registry.is_disabled(NAME, version)
    assert registry.version_tags(NAME, version)["steward.disabled_reason"] == "drift"
    registry.mark_enabled(NAME, version, actor="ai-security@example.com")
    assert not registry.is_disabled(NAME, version)


def test_unknown_model_and_unreachable_server(registry: ModelRegistry) -> None:
    with pytest.raises(NotFoundError, match="'ghost'"):
        registry.model_tags("ghost")
    assert registry.alias_version("ghost") is None
    down = ModelRegistry("http://127.0.0.1:9")
    os.environ["MLFLOW_HTTP_REQUEST_MAX_RETRIES"] = "0"
    try:
        with pytest.raises(ExternalServiceError, match=r"127\.0\.0\.1:9"):
            down.model_tags("x")
    finally:
        os.environ.pop("MLFLOW_HTTP_REQUEST_MAX_RETRIES")


def test_logged_model_uris(registry: ModelRegistry, tmp_path: Path) -> None:
    """MLflow 3 logged models: runs:/<run>/<name> resolves to models:/m-..., both download."""
    import mlflow
    import mlflow.sklearn
    from mlflow.tracking._tracking_service import utils as tracking_utils

    from modelsteward.samples import fraud_frame, pip_requirements, train_fraud_model

    experiment = registry.ensure_experiment("model-steward")
    # the fluent API reads MLFLOW_TRACKING_URI, which the steward_home fixture points at ours
    assert tracking_utils.get_tracking_uri() == registry.tracking_uri
    with mlflow.start_run(experiment_id=experiment) as run:
        info = mlflow.sklearn.log_model(
            train_fraud_model(fraud_frame(300)), name="model", pip_requirements=pip_requirements()
        )
    by_run = registry.register_version(NAME, f"runs:/{run.info.run_id}/model")
    assert by_run.source == info.model_uri
    by_id = registry.register_version("fraud-copy", info.model_uri)
    assert by_id.run_id == run.info.run_id
    downloaded = registry.download(info.model_uri, tmp_path / "dl")
    assert (downloaded / "MLmodel").is_file()
