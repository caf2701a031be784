"""The model registry: MLflow's, seen through what governance needs of it.

:class:`ModelRegistry` wraps :class:`mlflow.MlflowClient` on ``settings.tracking_uri``. It
registers a model version from a model URI (``runs:/...``, ``models:/...`` or a local MLflow
model directory), mirrors the policy's Owner, Guardian and Operator, risk tier and policy
digest into registered-model and model-version tags, moves serving aliases (never the
deprecated stages) while remembering where an alias pointed, and marks versions disabled.

Registry tags mirror the state and can be overwritten by anyone with MLflow access; the audit
ledger is the record. Every MLflow error becomes :class:`~modelsteward.errors.NotFoundError`
(unknown model, version, run) or :class:`~modelsteward.errors.ExternalServiceError`.

Experiments created here get ``artifact_location=settings.artifact_root``, so nothing is ever
written to ``./mlruns`` in the working directory.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelsteward.errors import ExternalServiceError, NotFoundError

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from modelsteward.policy import Policy
    from modelsteward.settings import StewardSettings

__all__ = [
    "CHAMPION",
    "TAG_PREFIX",
    "ModelRegistry",
    "RegisteredVersion",
    "ownership_tags",
]

log = logging.getLogger(__name__)

#: Every tag Model Steward writes starts with this prefix.
TAG_PREFIX = "steward."
#: The serving alias.
CHAMPION = "champion"
_ROLES = ("owner", "guardian", "operator")
_NOT_FOUND_CODES = {"RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"}
_EXISTS_CODES = {"RESOURCE_ALREADY_EXISTS", "ALREADY_EXISTS"}


@dataclass(frozen=True)
class RegisteredVersion:
    """One registered model version and its tags."""

    name: str
    version: str
    source: str
    run_id: str | None
    tags: dict[str, str] = field(default_factory=dict)
    created: bool = True

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


def ownership_tags(policy: Policy) -> dict[str, str]:
    """The registry tags that mirror ``policy``'s accountability: roles, risk tier, digest."""
    tags: dict[str, str] = {
        f"{TAG_PREFIX}risk_tier": str(policy.risk_tier),
        f"{TAG_PREFIX}policy_digest": policy.digest or "",
    }
    if policy.source:
        tags[f"{TAG_PREFIX}policy_source"] = str(policy.source)
    for role in _ROLES:
        contact = policy.contact(role)
        prefix = f"{TAG_PREFIX}{role}."
        tags[prefix + "name"] = contact.name
        tags[prefix + "email"] = str(contact.email)
        if contact.slack:
            tags[prefix + "slack"] = contact.slack
        if contact.pagerduty is not None:
            pagerduty = contact.pagerduty.service_id or contact.pagerduty.routing_key_env
            if pagerduty:
                tags[prefix + "pagerduty"] = pagerduty
        if contact.delegates:
            tags[prefix + "delegates"] = ",".join(str(d) for d in contact.delegates)
    return tags


def _error_code(err: Exception) -> str:
    return str(getattr(err, "error_code", ""))


@contextlib.contextmanager
def _mlflow_errors(what: str, tracking_uri: str) -> Iterator[None]:
    """Turn MLflow's exceptions into ours, naming what we were doing."""
    from mlflow.exceptions import MlflowException

    from modelsteward.settings import redact_url

    tracking_uri = str(redact_url(tracking_uri))
    try:
        yield
    except MlflowException as err:
        if _error_code(err) in _NOT_FOUND_CODES:
            raise NotFoundError(
                f"{what}: not found in the MLflow registry ({err.message})"
            ) from err
        raise ExternalServiceError(
            f"{what}: MLflow at {tracking_uri} failed: {err.message}"
        ) from err
    except OSError as err:
        raise ExternalServiceError(f"{what}: MLflow at {tracking_uri} unreachable: {err}") from err


class ModelRegistry:
    """Governance operations over one MLflow tracking/registry server."""

    def __init__(self, tracking_uri: str, *, artifact_root: str | None = None) -> None:
        self.tracking_uri = tracking_uri
        self.artifact_root = artifact_root
        self._client: MlflowClient | None = None

    @classmethod
    def from_settings(cls, settings: StewardSettings) -> ModelRegistry:
        return cls(settings.tracking_uri, artifact_root=settings.artifact_root)

    @property
    def client(self) -> MlflowClient:
        if self._client is None:
            from mlflow import MlflowClient

            self._client = MlflowClient(tracking_uri=self.tracking_uri)
        return self._client

    def _errors(self, what: str) -> contextlib.AbstractContextManager[None]:
        return _mlflow_errors(what, self.tracking_uri)

    # --- experiments ----------------------------------------------------------------------
    def ensure_experiment(self, name: str) -> str:
        """The id of experiment ``name``, created with our artifact root when missing."""
        with self._errors(f"experiment {name!r}"):
            experiment = self.client.get_experiment_by_name(name)
            if experiment is not None:
                return str(experiment.experiment_id)
            try:
                return str(
                    self.client.create_experiment(name, artifact_location=self.artifact_root)
                )
            except Exception as err:  # a concurrent creator won the race
                if _error_code(err) not in _EXISTS_CODES:
                    raise
                again = self.client.get_experiment_by_name(name)
                if again is None:
                    raise
                return str(again.experiment_id)

    # --- registration ---------------------------------------------------------------------
    def _ensure_registered_model(self, name: str) -> None:
        from mlflow.exceptions import MlflowException

        try:
            self.client.create_registered_model(name)
            log.info("event=registered_model_created model=%s", name)
        except MlflowException as err:
            if _error_code(err) not in _EXISTS_CODES:
                raise

    def find_version(self, name: str, model_uri: str) -> RegisteredVersion | None:
        """The version of ``name`` registered earlier from ``model_uri``, if any."""
        with self._errors(f"model {name!r}"):
            versions = self.client.search_model_versions(f"name = '{_quote(name)}'")
        for mv in sorted(versions, key=lambda v: int(v.version)):
            if mv.tags.get(f"{TAG_PREFIX}model_uri") == model_uri:
                return _to_registered(mv, created=False)
        return None

    def register_version(
        self,
        name: str,
        model_uri: str,
        *,
        tags: dict[str, str] | None = None,
        description: str | None = None,
    ) -> RegisteredVersion:
        """Register ``model_uri`` as a new version of ``name``; idempotent per model URI.

        A second call with the same URI returns the version the first created (its tags
        updated) instead of registering a duplicate, so re-running onboarding is safe.
        """
        model_uri = _normalise_uri(model_uri)
        existing = self.find_version(name, model_uri)
        if existing is not None:
            if tags:
                self.set_version_tags(name, existing.version, tags)
            log.info("event=version_reused model=%s version=%s", name, existing.version)
            return self.get_version(name, existing.version, created=False)
        source, run_id, model_id = self._resolve_source(model_uri)
        all_tags = {**(tags or {}), f"{TAG_PREFIX}model_uri": model_uri}
        with self._errors(f"registering {model_uri} as {name!r}"):
            self._ensure_registered_model(name)
            kwargs: dict[str, Any] = {
                "name": name,
                "source": source,
                "run_id": run_id,
                "tags": all_tags,
                "description": description,
            }
            if model_id:
                kwargs["model_id"] = model_id
            mv = self.client.create_model_version(**kwargs)
        log.info("event=version_registered model=%s version=%s source=%s", name, mv.version, source)
        return _to_registered(mv, created=True)

    def _resolve_source(self, model_uri: str) -> tuple[str, str | None, str | None]:
        """(source, run id, logged-model id) of a model URI; unknown URIs are NotFoundError."""
        if model_uri.startswith("runs:/"):
            from mlflow.store.artifact.runs_artifact_repo import RunsArtifactRepository

            run_id, artifact_path = RunsArtifactRepository.parse_runs_uri(model_uri)
            with self._errors(f"run {run_id}"):
                run = self.client.get_run(run_id)
                for logged in self._logged_models(run):
                    if logged.name == artifact_path:
                        return f"models:/{logged.model_id}", run.info.run_id, logged.model_id
                artifacts = self.client.list_artifacts(run_id, artifact_path)
            if not artifacts:
                raise NotFoundError(f"{model_uri}: run {run_id} has no model at {artifact_path!r}")
            source = run.info.artifact_uri.rstrip("/")
            return f"{source}/{artifact_path}" if artifact_path else source, run_id, None
        if model_uri.startswith("models:/"):
            rest = model_uri.removeprefix("models:/")
            if rest.startswith("m-") and "/" not in rest:
                with self._errors(f"logged model {rest}"):
                    logged = self.client.get_logged_model(rest)
                return model_uri, logged.source_run_id, rest
            with self._errors(f"model {model_uri}"):
                source = self.client.get_model_version_download_uri(*_split_models_uri(self, rest))
            return source, None, None
        path = Path(model_uri.removeprefix("file://"))
        if not (path / "MLmodel").is_file():
            raise NotFoundError(
                f"{model_uri}: not a runs:/ or models:/ URI and not a local MLflow model "
                "directory (no MLmodel file); log the model with mlflow first"
            )
        return str(path.resolve()), None, None

    def _logged_models(self, run: Any) -> list[Any]:
        run_id = run.info.run_id
        try:
            return list(
                self.client.search_logged_models(
                    [run.info.experiment_id], filter_string=f"source_run_id = '{_quote(run_id)}'"
                )
            )
        except Exception:  # older servers without logged models
            log.debug("event=search_logged_models_unsupported run=%s", run_id)
            return []

    def get_version(self, name: str, version: str, *, created: bool = False) -> RegisteredVersion:
        with self._errors(f"model {name!r} version {version}"):
            mv = self.client.get_model_version(name, str(version))
        return _to_registered(mv, created=created)

    def download(self, model_uri: str, destination: Path) -> Path:
        """Copy the model files of ``model_uri`` into ``destination`` (a new directory).

        The URI is resolved to its artifact location through this registry's client first:
        MLflow's own ``runs:/``/``models:/`` repositories would consult the process-global
        tracking URI instead of ours.
        """
        import mlflow.artifacts

        model_uri = _normalise_uri(model_uri)
        source, _, model_id = self._resolve_source(model_uri)
        if model_id and source.startswith("models:/"):
            with self._errors(f"logged model {model_id}"):
                source = str(self.client.get_logged_model(model_id).artifact_location)
        destination.mkdir(parents=True, exist_ok=True)
        with self._errors(f"downloading {model_uri} from {source}"):
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=source, dst_path=str(destination)
            )
        path = Path(local)
        if not (path / "MLmodel").is_file():
            raise NotFoundError(f"{model_uri}: downloaded to {path} but it has no MLmodel file")
        return path

    # --- tags -----------------------------------------------------------------------------
    def set_model_tags(self, name: str, tags: dict[str, str]) -> None:
        with self._errors(f"tagging model {name!r}"):
            for key, value in tags.items():
                self.client.set_registered_model_tag(name, key, str(value))

    def set_version_tags(self, name: str, version: str, tags: dict[str, str]) -> None:
        with self._errors(f"tagging model {name!r} version {version}"):
            for key, value in tags.items():
                self.client.set_model_version_tag(name, str(version), key, str(value))

    def model_tags(self, name: str) -> dict[str, str]:
        with self._errors(f"model {name!r}"):
            return dict(self.client.get_registered_model(name).tags)

    def version_tags(self, name: str, version: str) -> dict[str, str]:
        return dict(self.get_version(name, version).tags)

    def set_ownership(self, name: str, version: str, policy: Policy) -> dict[str, str]:
        """Mirror ``policy``'s roles, risk tier and digest onto the model and the version."""
        tags = ownership_tags(policy)
        self.set_model_tags(name, tags)
        self.set_version_tags(name, version, tags)
        # roles removed from the policy must not linger in the registry
        stale = [
            key
            for key in self.model_tags(name)
            if key.startswith(tuple(f"{TAG_PREFIX}{r}." for r in _ROLES)) and key not in tags
        ]
        with self._errors(f"tagging model {name!r}"):
            for key in stale:
                self.client.delete_registered_model_tag(name, key)
        return tags

    def ownership(self, name: str) -> dict[str, Any]:
        """What ``steward status`` shows: roles, risk tier, policy digest, serving version."""
        tags = self.model_tags(name)
        roles: dict[str, dict[str, str]] = {}
        for role in _ROLES:
            prefix = f"{TAG_PREFIX}{role}."
            roles[role] = {
                key.removeprefix(prefix): value
                for key, value in tags.items()
                if key.startswith(prefix)
            }
        return {
            "model": name,
            "roles": roles,
            "risk_tier": tags.get(f"{TAG_PREFIX}risk_tier"),
            "policy_digest": tags.get(f"{TAG_PREFIX}policy_digest"),
            "serving_version": self.alias_version(name, CHAMPION),
        }

    # --- aliases --------------------------------------------------------------------------
    def alias_version(self, name: str, alias: str = CHAMPION) -> str | None:
        """The version ``alias`` points at, or None (also when the model is unknown)."""
        from mlflow.exceptions import MlflowException

        try:
            return str(self.client.get_model_version_by_alias(name, alias).version)
        except MlflowException as err:
            if _error_code(err) in _NOT_FOUND_CODES or "alias" in str(err.message).lower():
                return None
            raise ExternalServiceError(
                f"alias {alias!r} of {name!r}: MLflow at {self.tracking_uri} failed: {err}"
            ) from err

    def set_alias(self, name: str, version: str, alias: str = CHAMPION) -> str | None:
        """Point ``alias`` at ``version``; returns (and tags) the version it pointed at before."""
        previous = self.alias_version(name, alias)
        with self._errors(f"setting alias {alias!r} of {name!r} to version {version}"):
            if previous is not None and previous != str(version):
                self.client.set_registered_model_tag(
                    name, f"{TAG_PREFIX}alias.{alias}.previous", previous
                )
            self.client.set_registered_model_alias(name, alias, str(version))
        log.info(
            "event=alias_set model=%s alias=%s version=%s previous=%s",
            name,
            alias,
            version,
            previous,
        )
        return previous

    def remove_alias(self, name: str, alias: str = CHAMPION) -> str | None:
        """Remove ``alias``, remembering in a tag where it pointed; returns that version."""
        current = self.alias_version(name, alias)
        if current is None:
            return None
        with self._errors(f"removing alias {alias!r} of {name!r}"):
            self.client.set_registered_model_tag(
                name, f"{TAG_PREFIX}alias.{alias}.removed_version", current
            )
            self.client.delete_registered_model_alias(name, alias)
        log.info("event=alias_removed model=%s alias=%s version=%s", name, alias, current)
        return current

    def removed_alias_version(self, name: str, alias: str = CHAMPION) -> str | None:
        """Where ``alias`` pointed when :meth:`remove_alias` last removed it."""
        return self.model_tags(name).get(f"{TAG_PREFIX}alias.{alias}.removed_version")

    def restore_alias(self, name: str, previous: str | None, alias: str = CHAMPION) -> None:
        """Undo a :meth:`set_alias`: point back at ``previous`` or remove the alias."""
        if previous is None:
            with self._errors(f"removing alias {alias!r} of {name!r}"):
                if self.alias_version(name, alias) is not None:
                    self.client.delete_registered_model_alias(name, alias)
        else:
            with self._errors(f"restoring alias {alias!r} of {name!r}"):
                self.client.set_registered_model_alias(name, alias, str(previous))

    # --- disable / enable -----------------------------------------------------------------
    def mark_disabled(self, name: str, version: str, *, reason: str, actor: str) -> None:
        self.set_version_tags(
            name,
            version,
            {
                f"{TAG_PREFIX}disabled": "true",
                f"{TAG_PREFIX}disabled_reason": reason,
                f"{TAG_PREFIX}disabled_by": actor,
                f"{TAG_PREFIX}disabled_at": datetime.now(UTC).isoformat(),
            },
        )

    def mark_enabled(self, name: str, version: str, *, actor: str) -> None:
        self.set_version_tags(
            name,
            version,
            {
                f"{TAG_PREFIX}disabled": "false",
                f"{TAG_PREFIX}enabled_by": actor,
                f"{TAG_PREFIX}enabled_at": datetime.now(UTC).isoformat(),
            },
        )

    def is_disabled(self, name: str, version: str) -> bool:
        return self.version_tags(name, version).get(f"{TAG_PREFIX}disabled") == "true"


def _quote(value: str) -> str:
    return value.replace("'", "\\'")


def _normalise_uri(model_uri: str) -> str:
    model_uri = model_uri.strip()
    if "://" not in model_uri and ":/" not in model_uri:
        return str(Path(model_uri).expanduser().resolve())
    return model_uri


def _split_models_uri(registry: ModelRegistry, rest: str) -> tuple[str, str]:
    """(name, version) of ``models:/<name>/<version>`` or ``models:/<name>@<alias>``."""
    if "@" in rest:
        name, alias = rest.split("@", 1)
        version = registry.alias_version(name, alias)
        if version is None:
            raise NotFoundError(f"models:/{rest}: model {name!r} has no alias {alias!r}")
        return name, version
    name, _, version = rest.rpartition("/")
    if not name or not version:
        raise NotFoundError(
            f"models:/{rest}: expected models:/<name>/<version> or models:/<name>@<alias>"
        )
    return name, version


def _to_registered(mv: Any, *, created: bool) -> RegisteredVersion:
    return RegisteredVersion(
        name=mv.name,
        version=str(mv.version),
        source=str(mv.source),
        run_id=mv.run_id or None,
        tags=dict(mv.tags or {}),
        created=created,
    )
