"""The kill-switch store interface and the record it keeps.

A store holds one :class:`SwitchState` per model and one global, strictly increasing revision:
every :meth:`KillSwitchStore.set_state` bumps it, so a watcher learns that *something* changed by
reading one integer (:meth:`~KillSwitchStore.revision`) and reloads only then.
:meth:`~KillSwitchStore.wait_for_change` is how a watcher waits: Redis pushes (pub/sub) and
polls as the fallback; SQLite polls ``PRAGMA data_version`` (a few microseconds) every
millisecond or two. A state change is durable when ``set_state`` returns.
"""

from __future__ import annotations

import abc
import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from modelsteward.errors import ConfigError

__all__ = ["KillSwitchStore", "SwitchState", "validate_model_name"]

_MODEL_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
_ROLES = frozenset({"owner", "guardian", "operator", "system", "pagerduty"})
MAX_REASON_CHARS = 2000


def validate_model_name(model: str) -> str:
    """``model`` if it is a valid model name (the policy's pattern), else ``ConfigError``."""
    if not isinstance(model, str) or not _MODEL_NAME.match(model):
        raise ConfigError(
            f"model name: got {model!r}; expected lowercase letters, digits, '.', '_' or '-', "
            "starting with a letter or digit, at most 63 characters (e.g. fraud-detector)"
        )
    return model


def _as_bool(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


@dataclass(frozen=True, slots=True)
class SwitchState:
    """The kill-switch state of one model, as the last change left it."""

    model: str
    active: bool
    version: str | None
    actor: str
    role: str
    reason: str
    changed_at: datetime
    revision: int

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["changed_at"] = self.changed_at.isoformat()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SwitchState:
        changed_at = data["changed_at"]
        if isinstance(changed_at, str):
            changed_at = datetime.fromisoformat(changed_at)
        return cls(
            model=str(data["model"]),
            active=_as_bool(data["active"]),
            version=data.get("version") or None,
            actor=str(data["actor"]),
            role=str(data["role"]),
            reason=str(data["reason"]),
            changed_at=changed_at,
            revision=int(data["revision"]),
        )


_MAX_FIELD_CHARS = 256  # what an audit record field takes (modelsteward.audit.records)
_CONTROL_CHARS = re.compile(r"[\x00-\x1f]")


def _check_field(name: str, value: str | None) -> None:
    """A value that the audit ledger would refuse must be refused before the switch moves:
    the switch is written first, and a change with no record is worse than no change."""
    if value is None:
        return
    if len(value) > _MAX_FIELD_CHARS:
        raise ConfigError(
            f"{name}: got {len(value)} characters; expected at most {_MAX_FIELD_CHARS}"
        )
    if _CONTROL_CHARS.search(value):
        raise ConfigError(f"{name}: got {value!r}; control characters are not allowed")


def _check_change(
    model: str, actor: str, role: str, reason: str, version: str | None = None
) -> None:
    validate_model_name(model)
    if not actor or not actor.strip():
        raise ConfigError("actor: got an empty actor; say who changes the switch (--as EMAIL)")
    _check_field("actor", actor)
    _check_field("version", version)
    if role not in _ROLES:
        raise ConfigError(f"role: got {role!r}; expected one of {', '.join(sorted(_ROLES))}")
    if len(reason) > MAX_REASON_CHARS:
        raise ConfigError(
            f"reason: got {len(reason)} characters; expected at most {MAX_REASON_CHARS}"
        )


def utcnow() -> datetime:
    return datetime.now(UTC)


class KillSwitchStore(abc.ABC):
    """One interface, two backends (:func:`~modelsteward.killswitch.open_store`)."""

    #: True when :meth:`wait_for_change` is woken by a push from the store (not by polling).
    supports_push: bool = False

    url: str

    @abc.abstractmethod
    def set_state(
        self,
        model: str,
        *,
        active: bool,
        actor: str,
        role: str,
        reason: str,
        version: str | None = None,
    ) -> SwitchState:
        """Record a change and return it, with its new global revision. Durable on return."""

    @abc.abstractmethod
    def get_state(self, model: str) -> SwitchState | None:
        """The current state of ``model``, or ``None`` when it never had one."""

    @abc.abstractmethod
    def all_states(self) -> dict[str, SwitchState]:
        """Every model's current state, by model name."""

    @abc.abstractmethod
    def revision(self) -> int:
        """The global revision: the number of changes ever recorded (0 for a new store)."""

    @abc.abstractmethod
    def wait_for_change(self, known_revision: int, timeout_seconds: float) -> int:
        """Block until the revision differs from ``known_revision`` or the timeout passes.

        Returns the current revision, read from the store (so a return proves the store
        answered). Raises :class:`~modelsteward.errors.ExternalServiceError` when it does not.
        """

    def wait_for_changes(
        self, known_revision: int, timeout_seconds: float
    ) -> tuple[int, dict[str, SwitchState] | None]:
        """Like :meth:`wait_for_change`, and also the changes since ``known_revision``.

        Returns ``(revision, changed)``: ``changed`` holds the current state of every model
        changed after ``known_revision`` when the store can tell exactly (a watcher then applies
        it without another round trip), or ``None``, meaning "reload everything".
        """
        revision = self.wait_for_change(known_revision, timeout_seconds)
        return revision, ({} if revision == known_revision else None)

    @abc.abstractmethod
    def claim_once(self, key: str, *, ttl_seconds: float = 7 * 86400) -> bool:
        """Atomically mark ``key`` seen; True the first time, False while it is remembered.

        Persisted with the switch states, so a restarted service does not act twice on one
        webhook delivery.
        """

    @abc.abstractmethod
    def release(self, key: str) -> None:
        """Forget a claim (the work it guarded failed and should be retried)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release connections and listener threads."""

    def __enter__(self) -> KillSwitchStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"
