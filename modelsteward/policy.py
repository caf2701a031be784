"""Policy as code: one YAML file per model, validated before anything acts on it.

A policy names the model's three accountable roles (Owner, Guardian, Operator) with their
contacts, its risk tier, the data contract every batch must meet, when and how it is monitored,
the thresholds that make a finding a *warning* or *critical*, what each severity does (alert
whom, page, kill), how the serving guard behaves when it cannot reach the kill-switch store, and
how long a Guardian has to approve a deployment.

Secrets are never in a policy: a policy names the environment variable that holds them
(``routing_key_env``). :func:`load_policy` turns every YAML or schema problem into one
:class:`~modelsteward.errors.PolicyError` naming the file, the field, what was found and what
was expected.
"""

from __future__ import annotations

import hashlib
import os
import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from modelsteward.errors import NotFoundError, PolicyError

__all__ = [
    "Action",
    "ColumnSpec",
    "Contact",
    "DataContract",
    "GuardPolicy",
    "Policy",
    "RiskTier",
    "Role",
    "Severity",
    "load_policy",
    "load_policy_dir",
    "policy_json_schema",
]

MODEL_NAME = r"^[a-z0-9][a-z0-9._-]{0,62}$"
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
_CRON_FIELD = re.compile(r"^[\d*/,\-A-Za-z?LW#]+$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Role(StrEnum):
    OWNER = "owner"
    GUARDIAN = "guardian"
    OPERATOR = "operator"


class Severity(StrEnum):
    NONE = "none"
    WARNING = "warning"
    CRITICAL = "critical"


class RiskTier(StrEnum):
    """Risk tiers after the EU AI Act's categories."""

    MINIMAL = "minimal"
    LIMITED = "limited"
    HIGH = "high"


class PagerDuty(_Strict):
    routing_key_env: str | None = Field(
        default=None,
        description="Name of the environment variable holding the Events API v2 routing key.",
    )
    service_id: str | None = Field(
        default=None,
        description="PagerDuty service id; incidents on it map back to this model.",
    )

    @field_validator("routing_key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not _ENV_NAME.match(value):
            raise ValueError(
                f"got {value!r}; expected the NAME of an environment variable "
                "(e.g. PD_ROUTING_KEY_FRAUD), never the key itself"
            )
        return value

    def routing_key(self) -> str | None:
        """The routing key, read from the environment at call time."""
        return os.environ.get(self.routing_key_env) if self.routing_key_env else None


class Contact(_Strict):
    """One accountable person or team and how to reach them."""

    name: str = Field(min_length=1)
    email: EmailStr
    slack: str | None = Field(
        default=None,
        description="Slack channel (#name or C0123) or user (@name or U0123).",
        pattern=r"^([#@][\w.\-]+|[CGUW][A-Z0-9]{6,})$",
    )
    pagerduty: PagerDuty | None = None
    delegates: tuple[EmailStr, ...] = Field(
        default=(), description="Others who may act in this role (e.g. Guardian approvals)."
    )

    def may_act(self, email: str) -> bool:
        wanted = email.strip().lower()
        return wanted == self.email.lower() or wanted in {d.lower() for d in self.delegates}


class Roles(_Strict):
    owner: Contact
    guardian: Contact
    operator: Contact

    @model_validator(mode="after")
    def _operator_reachable(self) -> Roles:
        op = self.operator
        if not op.slack and not (op.pagerduty and op.pagerduty.routing_key_env):
            raise ValueError(
                "the Operator has no on-call contact: set roles.operator.slack or "
                "roles.operator.pagerduty.routing_key_env"
            )
        return self


ColumnType = Literal["float", "int", "bool", "category", "string", "datetime"]


class ColumnSpec(_Strict):
    name: str = Field(min_length=1)
    type: ColumnType
    nullable: bool = False
    min: float | None = None
    max: float | None = None
    allowed: tuple[str | int | bool, ...] | None = Field(
        default=None, description="Allowed values of a category/string/int column."
    )

    @model_validator(mode="after")
    def _consistent(self) -> ColumnSpec:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        if (self.min is not None or self.max is not None) and self.type not in ("float", "int"):
            raise ValueError(f"min/max apply to float and int columns, not {self.type}")
        if self.allowed is not None and self.type in ("float", "datetime"):
            raise ValueError(f"allowed values do not apply to {self.type} columns")
        return self


class DataContract(_Strict):
    columns: tuple[ColumnSpec, ...] = Field(min_length=1)
    target: str | None = Field(default=None, description="Label column, when batches carry it.")
    prediction: str | None = Field(default=None, description="Prediction column, if logged.")
    task: Literal["classification", "regression"] = "classification"
    min_rows: int = Field(default=50, ge=1, description="Smaller batches are 'not enough data'.")

    @model_validator(mode="after")
    def _unique(self) -> DataContract:
        names = [c.name for c in self.columns]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"columns listed twice: {', '.join(duplicates)}")
        for special in (self.target, self.prediction):
            if special is not None and special in names:
                raise ValueError(
                    f"{special!r} is both a feature column and the target/prediction column"
                )
        return self

    @property
    def feature_names(self) -> list[str]:
        return [c.name for c in self.columns]


class Schedule(_Strict):
    cron: str = Field(description="Five-field cron expression of the evaluate-model schedule.")
    timezone: str = "UTC"

    @field_validator("cron")
    @classmethod
    def _five_fields(cls, value: str) -> str:
        fields = value.split()
        if len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields):
            raise ValueError(f"got {value!r}; expected five cron fields like '*/30 * * * *'")
        return value


class DriftThresholds(_Strict):
    drift_share: float = Field(
        ge=0, le=1, description="Share of drifted columns at or above which this severity holds."
    )
    prediction_drift: bool = Field(
        default=False, description="Whether prediction drift alone reaches this severity."
    )


class PerformanceThresholds(_Strict):
    max_drop: float = Field(
        ge=0, le=1, description="Largest allowed drop of each metric below its baseline."
    )


class Monitoring(_Strict):
    schedule: Schedule | None = None
    current_data: str | None = Field(
        default=None,
        description="Where the feature pipeline lands the latest scored batch (CSV or Parquet, "
        "relative to the policy file); the scheduled evaluate-<model> deployment reads it.",
    )
    stattest: str | None = Field(
        default=None, description="Evidently stat test for every column (default: its own choice)."
    )
    stattest_threshold: float | None = Field(default=None, gt=0)
    metrics: tuple[str, ...] = ("accuracy", "precision", "recall", "f1")
    drift: dict[Literal["warning", "critical"], DriftThresholds] = Field(default_factory=dict)
    performance: dict[Literal["warning", "critical"], PerformanceThresholds] = Field(
        default_factory=dict
    )

    @model_validator(mode="after")
    def _ordered(self) -> Monitoring:
        drift_w, drift_c = self.drift.get("warning"), self.drift.get("critical")
        if drift_w and drift_c and drift_c.drift_share < drift_w.drift_share:
            raise ValueError(
                f"drift.critical.drift_share ({drift_c.drift_share}) is below "
                f"drift.warning.drift_share ({drift_w.drift_share}); critical must be the "
                "stricter (higher) threshold"
            )
        perf_w, perf_c = self.performance.get("warning"), self.performance.get("critical")
        if perf_w and perf_c and perf_c.max_drop < perf_w.max_drop:
            raise ValueError(
                f"performance.critical.max_drop ({perf_c.max_drop}) is below "
                f"performance.warning.max_drop ({perf_w.max_drop}); "
                "critical must be the larger drop"
            )
        return self


class Action(_Strict):
    """What one severity does."""

    alert: tuple[Role, ...] = Field(default=(), description="Roles that receive the alert.")
    page: bool = Field(default=False, description="Page the Operator through PagerDuty.")
    kill: bool = Field(default=False, description="Disable the model (kill-model).")


class GuardPolicy(_Strict):
    on_unknown: Literal["block", "allow"] = Field(
        default="block",
        description="What the guard does when its state is older than the bound: block (fail "
        "closed, the default) or allow (fail open, only for models where an outage costs more "
        "than a bad prediction).",
    )
    max_staleness_seconds: float = Field(default=5.0, gt=0, le=3600)


class Approval(_Strict):
    timeout_seconds: int = Field(
        default=86_400, ge=1, description="A Guardian approval not given in time rejects."
    )
    require_signature: bool = Field(
        default=False,
        description="Refuse approvals not signed with a key listed in approval.signers "
        "(steward approve --key); the Prefect UI form alone is then not enough.",
    )
    signers: dict[EmailStr, str] = Field(
        default_factory=dict,
        description="Approver e-mail -> Ed25519 public key (base64 of 32 bytes, printed by "
        "steward approver-key create). A signed approval is checked against it.",
    )

    @field_validator("signers")
    @classmethod
    def _signers_parse(cls, signers: dict[str, str]) -> dict[str, str]:
        from modelsteward.approvals import parse_public_key

        normalised: dict[str, str] = {}
        for email, text in signers.items():
            try:
                parse_public_key(text)
            except ValueError as err:
                raise ValueError(f"the key of {email} {err}") from None
            who = email.strip().lower()
            if who in normalised:
                raise ValueError(f"{who} is listed twice (e-mails are compared in lower case)")
            normalised[who] = text.strip()
        return normalised

    @model_validator(mode="after")
    def _someone_can_sign(self) -> Approval:
        if self.require_signature and not self.signers:
            raise ValueError(
                "approval.require_signature is true but approval.signers lists no key: nobody "
                "could approve; add the Guardian's key (steward approver-key create)"
            )
        return self


class Policy(_Strict):
    """The governance policy of one model."""

    model: Annotated[str, Field(pattern=MODEL_NAME, description="Registered model name.")]
    description: str = ""
    risk_tier: RiskTier
    roles: Roles
    data_contract: DataContract
    reference_data: str | None = Field(
        default=None,
        description="Reference dataset (CSV/Parquet) for baseline and drift, relative to the "
        "policy file.",
    )
    monitoring: Monitoring = Field(default_factory=Monitoring)
    actions: dict[Literal["warning", "critical"], Action] = Field(default_factory=dict)
    guard: GuardPolicy = Field(default_factory=GuardPolicy)
    approval: Approval = Field(default_factory=Approval)

    # set by the loader, not by the file
    source: str | None = Field(default=None, exclude=True)
    digest: str | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _cross_checks(self) -> Policy:
        guardian = self.roles.guardian
        strangers = [email for email in self.approval.signers if not guardian.may_act(email)]
        if strangers:
            raise ValueError(
                f"approval.signers lists {', '.join(strangers)}, who is neither the Guardian nor a "
                "delegate (roles.guardian.email, roles.guardian.delegates)"
            )
        if self.risk_tier is RiskTier.HIGH:
            critical = self.actions.get("critical")
            if critical is None or Role.GUARDIAN not in critical.alert:
                raise ValueError(
                    "risk_tier high requires actions.critical.alert to include guardian"
                )
        return self

    def action_for(self, severity: Severity | str) -> Action:
        if str(severity) == Severity.NONE:
            return Action()
        return self.actions.get(str(severity), Action())  # type: ignore[call-overload]

    def contact(self, role: Role | str) -> Contact:
        contact: Contact = getattr(self.roles, str(role))
        return contact

    def _relative(self, value: str | None) -> Path | None:
        if value is None:
            return None
        path = Path(value)
        if not path.is_absolute() and self.source:
            path = Path(self.source).parent / path
        return path

    def reference_path(self) -> Path | None:
        return self._relative(self.reference_data)

    def current_data_path(self) -> Path | None:
        """The latest batch the scheduled evaluation reads, resolved like reference_data."""
        return self._relative(self.monitoring.current_data)


def _location(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        elif not str(part).startswith(("function-", "tagged-union")):
            parts.append(("." if parts else "") + str(part))
    return "".join(parts) or "(top level)"


def _describe(error: dict[str, Any]) -> str:
    kind = error["type"]
    found = error.get("input")
    if kind == "missing":
        return "is required but missing"
    if kind == "extra_forbidden":
        return f"is not a known field (found {found!r}); check the spelling"
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind in ("value_error", "assertion_error"):
        return message
    return f"{message} (found {found!r})"


def parse_policy(data: Any, *, source: str = "<policy>") -> Policy:
    """Validate already-parsed YAML; errors name ``source`` and the field."""
    if not isinstance(data, dict):
        kind = "an empty file" if data is None else type(data).__name__
        raise PolicyError(
            f"{source}: expected a mapping with model, risk_tier, roles, data_contract; "
            f"found {kind}",
            path=source,
        )
    for reserved in ("source", "digest"):
        if reserved in data:
            raise PolicyError(
                f"{source}: {reserved} is set by the loader, not by the file; remove it",
                path=source,
                field=reserved,
            )
    try:
        return Policy.model_validate(data)
    except ValidationError as err:
        first = err.errors()[0]
        field = _location(first["loc"])
        more = f" (and {err.error_count() - 1} more problem(s))" if err.error_count() > 1 else ""
        raise PolicyError(
            f"{source}: {field} {_describe(dict(first))}{more}", path=source, field=field
        ) from err


def load_policy(path: str | os.PathLike[str]) -> Policy:
    """Read and validate one policy file."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError as err:
        raise PolicyError(f"{path}: no such policy file", path=str(path)) from err
    except OSError as err:
        raise PolicyError(f"{path}: cannot read ({err.strerror})", path=str(path)) from err
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        raise PolicyError(f"{path}: not valid YAML{where}: {problem}", path=str(path)) from err
    policy = parse_policy(data, source=str(path))
    if path.stem != policy.model:
        raise PolicyError(
            f"{path}: model is {policy.model!r} but the file is named {path.name!r}; "
            f"name it {policy.model}.yaml",
            path=str(path),
            field="model",
        )
    return policy.model_copy(
        update={"source": str(path), "digest": hashlib.sha256(raw).hexdigest()}
    )


def load_policy_dir(directory: str | os.PathLike[str]) -> dict[str, Policy]:
    """Every ``*.yaml``/``*.yml`` policy in ``directory``, by model name."""
    directory = Path(directory)
    if not directory.is_dir():
        raise PolicyError(f"{directory}: policy directory does not exist", path=str(directory))
    policies: dict[str, Policy] = {}
    for path in sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]):
        policy = load_policy(path)
        policies[policy.model] = policy
    return policies


def find_policy(directory: str | os.PathLike[str], model: str) -> Policy:
    """The policy of ``model`` in ``directory``."""
    for suffix in (".yaml", ".yml"):
        path = Path(directory) / f"{model}{suffix}"
        if path.exists():
            return load_policy(path)
    raise NotFoundError(f"no policy for model {model!r} in {directory} (expected {model}.yaml)")


def policy_json_schema() -> dict[str, Any]:
    """JSON Schema of a policy file, for editors (``steward policy schema``)."""
    schema = Policy.model_json_schema(mode="validation")
    schema["properties"].pop("source", None)
    schema["properties"].pop("digest", None)
    schema["title"] = "Model Steward policy"
    return schema
