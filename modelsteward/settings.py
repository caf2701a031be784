"""Configuration: one resolved view of every setting, read when asked for, never at import.

Everything runs on one machine with no configuration (the embedded defaults, kept under
``STEWARD_HOME``); each part moves to a real service by setting one variable:

- model registry: ``sqlite:///$STEWARD_HOME/mlflow.db``; production ``MLFLOW_TRACKING_URI``.
- artifacts and the sealed ledger: a local moto S3 server the CLI starts (not durable);
  production ``STEWARD_S3_BUCKET`` (and ``AWS_ENDPOINT_URL`` for S3-compatible stores).
- kill-switch store: ``sqlite:///$STEWARD_HOME/killswitch.db``; production
  ``STEWARD_KILLSWITCH_URL=redis://...``.
- alerts: outbox files under ``$STEWARD_HOME``; production ``STEWARD_SLACK_BOT_TOKEN``.

:func:`load_settings` is the one helper every flow, task and command calls; a malformed
variable raises :class:`~modelsteward.errors.ConfigError` naming it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from modelsteward.errors import ConfigError

__all__ = ["StewardSettings", "load_settings", "redact_url"]

_PREFIX = "STEWARD_"


def _env(name: str, *fallbacks: str) -> AliasChoices:
    """Read ``STEWARD_<name>`` first, then the ecosystem's own variable names."""
    return AliasChoices(_PREFIX + name, *fallbacks)


def redact_url(url: str | None) -> str | None:
    """``url`` with any password replaced by ``***`` (for logs, errors and ``steward config``)."""
    if url is None or "@" not in url:
        return url
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
        if not parts.password:
            return url
        netloc = f"{parts.username or ''}:***@{parts.hostname or ''}"
        if parts.port:
            netloc += f":{parts.port}"
        return urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        return "<unparseable URL, redacted>"


class StewardSettings(BaseSettings):
    """Every setting of Model Steward. Field descriptions double as the README's table."""

    model_config = SettingsConfigDict(
        env_prefix=_PREFIX,
        extra="ignore",
        populate_by_name=True,
        validate_default=True,
    )

    home: Path = Field(
        default=Path(".steward"),
        description="Directory of the embedded defaults (databases, keys, outbox, ledger).",
    )
    policy_dir: Path = Field(default=Path("policies"), description="Directory of policy files.")

    # --- model registry -------------------------------------------------------------------
    mlflow_tracking_uri: str | None = Field(
        default=None,
        validation_alias=_env("MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_URI"),
        description="MLflow tracking/registry URI; default sqlite:///$STEWARD_HOME/mlflow.db.",
    )
    mlflow_artifact_root: str | None = Field(
        default=None,
        description="Artifact root of experiments Model Steward creates; "
        "default $STEWARD_HOME/mlartifacts (MLflow would otherwise write ./mlruns).",
    )
    mlflow_experiment: str = Field(
        default="model-steward", description="MLflow experiment for baselines and evaluations."
    )

    # --- object store ---------------------------------------------------------------------
    s3_bucket: str | None = Field(
        default=None,
        description="Bucket with Object Lock for artifacts and the sealed ledger. Unset, and "
        "with AWS_ENDPOINT_URL unset, the CLI starts an embedded, non-durable moto S3 server.",
    )
    s3_endpoint_url: str | None = Field(
        default=None,
        validation_alias=_env("S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"),
        description="S3 API endpoint (moto, MinIO); unset means AWS itself.",
    )
    s3_region: str = Field(
        default="us-east-1",
        validation_alias=_env("S3_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"),
        description="Region of the bucket.",
    )
    object_lock_retention_days: int = Field(
        default=30,
        ge=1,
        le=36500,
        description="COMPLIANCE retention of every stored artifact and sealed ledger segment.",
    )

    # --- kill switch ----------------------------------------------------------------------
    killswitch_url: str | None = Field(
        default=None,
        description="Kill-switch store: sqlite:///PATH or redis://HOST:PORT/DB; "
        "default sqlite:///$STEWARD_HOME/killswitch.db.",
    )
    guard_refresh_seconds: float = Field(
        default=0.05, gt=0, le=60, description="How often the guard polls the store."
    )
    guard_max_staleness_seconds: float = Field(
        default=5.0,
        gt=0,
        le=3600,
        description="Default staleness bound of the guard (a policy may set its own).",
    )

    # --- alerts ---------------------------------------------------------------------------
    slack_bot_token: SecretStr | None = Field(
        default=None,
        validation_alias=_env("SLACK_BOT_TOKEN", "SLACK_BOT_TOKEN"),
        description="Slack bot token (chat.postMessage). Unset: alerts go to the outbox only.",
    )
    slack_api_url: str = Field(
        default="https://slack.com/api/", description="Slack Web API base URL."
    )
    pagerduty_events_url: str = Field(
        default="https://events.pagerduty.com/v2/enqueue",
        description="PagerDuty Events API v2 endpoint.",
    )
    alert_min_interval_seconds: float = Field(
        default=1.0,
        ge=0,
        le=60,
        description="Least time between two Slack messages to one channel (Slack allows ~1/s).",
    )
    alert_max_attempts: int = Field(
        default=8, ge=1, le=100, description="Attempts before an alert delivery fails for good."
    )
    alert_backoff_base_seconds: float = Field(
        default=2.0,
        gt=0,
        le=3600,
        description="First retry delay of a failed alert delivery; doubles per attempt (max 1 h).",
    )

    # --- monitoring -----------------------------------------------------------------------
    pushgateway_url: str | None = Field(
        default=None,
        description="Prometheus Pushgateway (e.g. http://127.0.0.1:9091) that evaluate-model "
        "pushes its metrics to; unset: no push, metrics stay in the process registry.",
    )

    # --- HTTP service ---------------------------------------------------------------------
    service_host: str = Field(default="127.0.0.1", description="Bind address of steward serve.")
    service_port: int = Field(default=8484, ge=1, le=65535, description="Port of steward serve.")
    pagerduty_webhook_secrets: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="PagerDuty webhook signing secrets, comma-separated (several for rotation).",
    )
    max_webhook_body_bytes: int = Field(
        default=256 * 1024, ge=1024, description="Larger webhook bodies are refused (413)."
    )

    # --- keys and ledger ------------------------------------------------------------------
    audit_signing_key: Path | None = Field(
        default=None,
        description="Ed25519 PEM key that signs ledger checkpoints; "
        "default $STEWARD_HOME/keys/audit-ed25519.pem, generated on first use.",
    )
    model_signing_key: Path | None = Field(
        default=None,
        description="P-256 PEM key that signs model artifacts (OpenSSF model signing); "
        "default $STEWARD_HOME/keys/model-p256.pem, generated on first use.",
    )
    audit_segment_max_records: int = Field(
        default=10_000, ge=1, description="A ledger segment is sealed after this many records."
    )
    audit_segment_max_age_seconds: float = Field(
        default=3600.0, gt=0, description="A ledger segment is sealed after this age."
    )

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Log level of the CLI and the HTTP service."
    )

    @field_validator("pagerduty_webhook_secrets", mode="before")
    @classmethod
    def _split_secrets(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("home", "policy_dir", "audit_signing_key", "model_signing_key")
    @classmethod
    def _absolute(cls, value: Path | None) -> Path | None:
        return None if value is None else value.expanduser().resolve()

    @field_validator("killswitch_url")
    @classmethod
    def _known_scheme(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("sqlite:///", "redis://", "rediss://")):
            raise ValueError(
                f"got {redact_url(value)!r}, expected sqlite:///PATH, redis://HOST:PORT/DB "
                "or rediss://..."
            )
        return value

    # --- resolved values: every consumer reads these, never the raw fields ------------------
    @property
    def embedded_s3(self) -> bool:
        """True when no bucket and no endpoint are configured: the CLI runs its own moto S3."""
        return self.s3_bucket is None and self.s3_endpoint_url is None

    @property
    def bucket(self) -> str:
        return self.s3_bucket or "model-steward"

    @property
    def tracking_uri(self) -> str:
        return self.mlflow_tracking_uri or f"sqlite:///{self.home / 'mlflow.db'}"

    @property
    def artifact_root(self) -> str:
        return self.mlflow_artifact_root or (self.home / "mlartifacts").as_uri()

    @property
    def killswitch(self) -> str:
        return self.killswitch_url or f"sqlite:///{self.home / 'killswitch.db'}"

    @property
    def audit_key_path(self) -> Path:
        return self.audit_signing_key or self.home / "keys" / "audit-ed25519.pem"

    @property
    def model_key_path(self) -> Path:
        return self.model_signing_key or self.home / "keys" / "model-p256.pem"

    @property
    def ledger_dir(self) -> Path:
        return self.home / "ledger"

    @property
    def outbox_dir(self) -> Path:
        return self.home / "outbox"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    def ensure_home(self) -> Path:
        """Create ``STEWARD_HOME`` and its sub-directories (private to the user)."""
        for path in (self.home, self.home / "keys", self.ledger_dir, self.outbox_dir):
            path.mkdir(parents=True, exist_ok=True)
        os.chmod(self.home / "keys", 0o700)
        return self.home


_SECRET_FIELDS = {"slack_bot_token", "pagerduty_webhook_secrets"}


def _variable_for(field: str) -> str:
    info = StewardSettings.model_fields.get(field)
    alias = info.validation_alias if info else None
    if isinstance(alias, AliasChoices):
        names = [str(choice) for choice in alias.choices]
        present = [name for name in names if name in os.environ]
        return (present or names)[0]
    return _PREFIX + field.upper()


def load_settings(**overrides: Any) -> StewardSettings:
    """Read the environment now and return the resolved settings.

    Raises :class:`ConfigError` naming the variable, the value found and what was expected.
    """
    try:
        return StewardSettings(**overrides)
    except ValidationError as err:
        problem = err.errors()[0]
        field = str(problem["loc"][0]) if problem["loc"] else "?"
        variable = _variable_for(field)
        got = os.environ.get(variable, problem.get("input"))
        if field in _SECRET_FIELDS:
            got = "<redacted>"
        elif isinstance(got, str):
            got = redact_url(got)
        message = str(problem["msg"])
        if isinstance(problem.get("input"), str) and problem["input"] != redact_url(
            problem["input"]
        ):
            message = message.replace(problem["input"], str(redact_url(problem["input"])))
        raise ConfigError(
            f"{variable}: got {got!r}; {message}"
            f" (see `steward config` or the README's variable table)"
        ) from err
