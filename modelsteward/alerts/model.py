"""What an alert is: one finding about one model version, addressed by its incident key.

An :class:`Alert` carries everything a receiver needs without looking anything up (model,
version, kind, severity, title, summary, the signal and its value against the threshold, links
to the report and the flow run) plus two keys:

- ``incident_key`` (default ``steward:<model>:<version>:<signal>``): the same incident across
  evaluations. Slack threads follow-ups under it; PagerDuty uses it as ``dedup_key``, so a
  later ``incident.triggered`` webhook maps back to the model.
- ``key``: the idempotency key of this one alert. Enqueueing the same alert twice (a retried
  task, a re-run flow) adds nothing. Callers that retry should pass ``idempotency_key`` (e.g.
  the flow-run id); otherwise the key is a hash of the content and ``occurred_at``.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from modelsteward.errors import DataError
from modelsteward.policy import MODEL_NAME

__all__ = ["KINDS", "SEVERITIES", "Alert", "AlertKind", "AlertSeverity", "incident_key"]

AlertKind = Literal[
    "data_quality",
    "drift",
    "performance",
    "security",
    "kill_notice",
    "approval_request",
    "deployment_notice",
]
AlertSeverity = Literal["info", "warning", "critical"]
KINDS: tuple[str, ...] = (
    "data_quality",
    "drift",
    "performance",
    "security",
    "kill_notice",
    "approval_request",
    "deployment_notice",
)
SEVERITIES: tuple[str, ...] = ("info", "warning", "critical")

FieldValue = str | int | float | bool | None
_SIGNAL = r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,99}$"


def incident_key(model: str, version: str, signal: str) -> str:
    """``steward:<model>:<version>:<signal>``: Slack thread key and PagerDuty ``dedup_key``."""
    return f"steward:{model}:{version}:{signal}"


class Alert(BaseModel):
    """One finding about one model version, ready to route and render."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    model: Annotated[str, Field(pattern=MODEL_NAME, description="Registered model name.")]
    version: str = Field(min_length=1, max_length=64, description="Model version.")
    kind: AlertKind
    severity: AlertSeverity
    title: str = Field(min_length=1, max_length=140, description="One line, shown first.")
    summary: str = Field(min_length=1, max_length=2000, description="What happened and why.")
    signal: Annotated[str, Field(pattern=_SIGNAL)] | None = Field(
        default=None,
        description="What was measured (e.g. drift_share, f1); defaults to the kind.",
    )
    value: FieldValue = Field(default=None, description="Observed value of the signal.")
    threshold: FieldValue = Field(default=None, description="Threshold the value crossed.")
    fields: dict[str, FieldValue] = Field(
        default_factory=dict, description="More facts, shown as Slack fields."
    )
    links: dict[str, str] = Field(
        default_factory=dict,
        description="Label -> URL (e.g. report, flow_run); shown as links.",
    )
    incident: str | None = Field(
        default=None,
        max_length=255,
        description="Incident key; default steward:<model>:<version>:<signal>.",
    )
    idempotency_key: str | None = Field(
        default=None,
        max_length=200,
        description="Caller's key for this alert (e.g. flow-run id + signal).",
    )
    occurred_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    @field_validator("occurred_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("occurred_at must be timezone-aware (UTC)")
        return value.astimezone(UTC)

    @field_validator("links")
    @classmethod
    def _urls(cls, value: dict[str, str]) -> dict[str, str]:
        for label, url in value.items():
            if not url.startswith(("http://", "https://", "file://")):
                raise ValueError(
                    f"links.{label}: got {url!r}; expected an http(s):// or file:// URL"
                )
        return value

    @classmethod
    def build(cls, **data: Any) -> Alert:
        """Like the constructor, but a bad alert is one :class:`DataError` naming the field."""
        try:
            return cls(**data)
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "(alert)"
            raise DataError(
                f"alert field {where}: {first['msg']} (got {first.get('input')!r}); "
                "an alert needs model, version, kind, severity, title and summary"
            ) from err

    @property
    def signal_name(self) -> str:
        return self.signal or self.kind

    @property
    def incident_key(self) -> str:
        return self.incident or incident_key(self.model, self.version, self.signal_name)

    @property
    def key(self) -> str:
        """Idempotency key: the same alert enqueued twice is stored once."""
        if self.idempotency_key:
            basis: Any = ["caller", self.model, self.version, self.kind, self.idempotency_key]
        else:
            basis = ["content", self.model_dump(mode="json")]
        raw = json.dumps(basis, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(raw.encode()).hexdigest()[:32]
