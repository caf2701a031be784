"""Prefect tasks that take a model version out of serving in MLflow, and put it back.

Each is idempotent, so ``kill-model`` and ``reenable-model`` can be re-run after an MLflow
outage to finish what was pending. Retried only on network errors (MLflow unreachable).
"""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from modelsteward.registry import CHAMPION, TAG_PREFIX, ModelRegistry
from modelsteward.settings import StewardSettings
from tasks._network import NETWORK_RETRIES, NETWORK_RETRY_DELAYS, network_error

__all__ = ["remembered_version", "restore_serving_version", "withdraw_serving_version"]

_NETWORK = {
    "retries": NETWORK_RETRIES,
    "retry_delay_seconds": NETWORK_RETRY_DELAYS,
    "retry_condition_fn": network_error,
    "cache_policy": NO_CACHE,
}


@task(name="withdraw-serving-version", **_NETWORK)  # type: ignore[call-overload]
def withdraw_serving_version(
    settings: StewardSettings,
    model: str,
    *,
    version: str | None,
    reason: str,
    actor: str,
    alias: str = CHAMPION,
) -> dict[str, Any]:
    """Remove ``alias`` (remembering where it pointed) and tag that version disabled.

    The version tagged is ``version`` when given, else the one the alias pointed at (now, or
    when an earlier run removed it). Returns ``{"version", "alias_removed_from",
    "remembered_version", "tagged", "changed"}``; ``changed`` is False on a repeated run.
    """
    registry = ModelRegistry.from_settings(settings)
    removed = registry.remove_alias(model, alias)
    remembered = removed or registry.removed_alias_version(model, alias)
    target = version or remembered
    tagged = False
    if target is not None and not registry.is_disabled(model, target):
        registry.mark_disabled(model, target, reason=reason, actor=actor)
        tagged = True
    return {
        "version": target,
        "alias": alias,
        "alias_removed_from": removed,
        "remembered_version": remembered,
        "tagged": tagged,
        "changed": removed is not None or tagged,
    }


@task(name="remembered-serving-version", **_NETWORK)  # type: ignore[call-overload]
def remembered_version(
    settings: StewardSettings, model: str, alias: str = CHAMPION
) -> dict[str, str | None]:
    """Where ``alias`` points now and where it pointed when a kill removed it."""
    registry = ModelRegistry.from_settings(settings)
    return {
        "current": registry.alias_version(model, alias),
        "removed": registry.removed_alias_version(model, alias),
    }


@task(name="restore-serving-version", **_NETWORK)  # type: ignore[call-overload]
def restore_serving_version(
    settings: StewardSettings, model: str, version: str, *, actor: str, alias: str = CHAMPION
) -> dict[str, Any]:
    """Point ``alias`` back at ``version`` and tag it enabled; returns what it changed."""
    registry = ModelRegistry.from_settings(settings)
    current = registry.alias_version(model, alias)
    if current != str(version):
        registry.set_alias(model, version, alias)
    was_disabled = registry.is_disabled(model, version)
    if was_disabled:
        registry.mark_enabled(model, version, actor=actor)
    registry.set_model_tags(model, {f"{TAG_PREFIX}alias.{alias}.restored_version": str(version)})
    return {
        "version": str(version),
        "alias": alias,
        "previous_alias_version": current,
        "alias_set": current != str(version),
        "untagged_disabled": was_disabled,
    }
