"""Prefect tasks over the MLflow registry: each one core call of :mod:`modelsteward.registry`."""

from __future__ import annotations

from pathlib import Path

from prefect import task
from prefect.cache_policies import NO_CACHE

from modelsteward.policy import Policy
from modelsteward.registry import ModelRegistry, RegisteredVersion
from modelsteward.settings import StewardSettings
from tasks._network import NETWORK_RETRIES, NETWORK_RETRY_DELAYS, network_error

_NETWORK = {
    "retries": NETWORK_RETRIES,
    "retry_delay_seconds": NETWORK_RETRY_DELAYS,
    "retry_condition_fn": network_error,
    "cache_policy": NO_CACHE,
}


@task(name="register-model-version", **_NETWORK)  # type: ignore[call-overload]
def register_model_version(
    settings: StewardSettings, policy: Policy, model_uri: str, requested_by: str
) -> RegisteredVersion:
    """Register ``model_uri`` under the policy's model name (idempotent) and tag ownership."""
    registry = ModelRegistry.from_settings(settings)
    version = registry.register_version(
        policy.model,
        model_uri,
        tags={"steward.requested_by": requested_by},
        description=policy.description or None,
    )
    registry.set_ownership(policy.model, version.version, policy)
    return registry.get_version(policy.model, version.version, created=version.created)


@task(name="download-model", **_NETWORK)  # type: ignore[call-overload]
def download_model(settings: StewardSettings, model_uri: str, destination: Path) -> Path:
    return ModelRegistry.from_settings(settings).download(model_uri, destination)


@task(name="tag-model-version", **_NETWORK)  # type: ignore[call-overload]
def tag_version(settings: StewardSettings, model: str, version: str, tags: dict[str, str]) -> None:
    ModelRegistry.from_settings(settings).set_version_tags(model, version, tags)


@task(name="set-serving-alias", **_NETWORK)  # type: ignore[call-overload]
def set_alias(settings: StewardSettings, model: str, version: str, alias: str) -> str | None:
    """Point ``alias`` at ``version``; returns the version it pointed at before."""
    return ModelRegistry.from_settings(settings).set_alias(model, version, alias)


@task(name="restore-serving-alias", **_NETWORK)  # type: ignore[call-overload]
def restore_alias(settings: StewardSettings, model: str, previous: str | None, alias: str) -> None:
    ModelRegistry.from_settings(settings).restore_alias(model, previous, alias)
