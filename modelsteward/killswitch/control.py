"""Kill and re-enable as governance actions: the switch first, then the audit record.

Shared by the HTTP service and the ``steward kill|enable`` commands, so both act alike: who may
do what (:func:`may_disable`, :func:`may_enable`), an idempotent kill that keeps the first
kill's reason, and one ledger record per action. The audit sink has the signature of
``modelsteward.audit.Ledger.append`` (:func:`ledger_sink` builds it lazily).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelsteward.errors import AuthorizationError
from modelsteward.killswitch._base import KillSwitchStore, SwitchState

if TYPE_CHECKING:
    from modelsteward.settings import StewardSettings

__all__ = [
    "AuditSink",
    "JsonlAuditSink",
    "KillRequest",
    "disable_model",
    "enable_model",
    "ledger_sink",
    "may_disable",
    "may_enable",
    "status_of",
]

log = logging.getLogger(__name__)

#: ``sink(action=..., actor=..., role=..., model=..., version=..., details=...)``, durable on
#: return (``Ledger.append``).
AuditSink = Callable[..., Any]

MODEL_DISABLED = "model.disabled"
MODEL_ENABLED = "model.enabled"
ACCESS_REFUSED = "access.refused"
WEBHOOK_RECEIVED = "webhook.received"
TOKEN_CREATED = "token.created"

_DISABLERS = frozenset({"guardian", "operator", "owner", "system", "pagerduty"})
_ENABLERS = frozenset({"guardian"})


def may_disable(role: str, *, via_api: bool = False) -> bool:
    """Guardian and Operator may kill (and the system and PagerDuty on their behalf); through
    the HTTP API only Guardian and Operator tokens may. An Owner requests a kill elsewhere."""
    return role in ({"guardian", "operator"} if via_api else _DISABLERS)


def may_enable(role: str) -> bool:
    """Only a Guardian re-enables."""
    return role in _ENABLERS


def status_of(model: str, state: SwitchState | None) -> dict[str, Any]:
    """The status document of ``model``: the HTTP status route and ``steward status --json``.

    ``{"model", "active", "version", "changed_at", "changed_by", "reason"}`` plus the role and
    the store revision of the last change.
    """
    if state is None:
        return {
            "model": model,
            "active": False,
            "version": None,
            "changed_at": None,
            "changed_by": None,
            "role": None,
            "reason": "no kill-switch state: never approved to serve",
            "revision": 0,
        }
    return {
        "model": model,
        "active": state.active,
        "version": state.version,
        "changed_at": state.changed_at.isoformat(),
        "changed_by": state.actor,
        "role": state.role,
        "reason": state.reason,
        "revision": state.revision,
    }


@dataclass(frozen=True)
class KillRequest:
    """What the follow-up ``kill-model`` flow run needs to know."""

    model: str
    reason: str
    actor: str
    role: str
    source: str
    revision: int
    idempotency_key: str | None = None
    incident: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def parameters(self) -> dict[str, Any]:
        """The ``kill-model`` flow's parameters (``KillParameters`` under ``request``)."""
        request: dict[str, Any] = {
            "model": self.model,
            "reason": self.reason,
            "actor": self.actor,
            "role": self.role,
            "source": self.source,
            "switch_revision": self.revision,
        }
        if self.incident:
            request["incident"] = self.incident[:256]
        return {"request": request}


def disable_model(
    store: KillSwitchStore,
    audit: AuditSink,
    *,
    model: str,
    actor: str,
    role: str,
    reason: str,
    source: str,
    details: dict[str, Any] | None = None,
) -> tuple[SwitchState, bool]:
    """Turn ``model`` off (unless it already is), then audit. Returns (state, changed).

    The switch is written first: a failing ledger must never keep a model serving. An
    already-disabled model keeps its first kill's actor and reason (idempotent).
    """
    if not may_disable(role):
        raise AuthorizationError(f"role {role!r} may not disable {model!r}")
    current = store.get_state(model)
    if current is not None and not current.active:
        state, changed = current, False
    else:
        state = store.set_state(
            model,
            active=False,
            actor=actor,
            role=role,
            reason=reason,
            version=current.version if current else None,
        )
        changed = True
    audit(
        action=MODEL_DISABLED,
        actor=actor,
        role=role,
        model=model,
        version=state.version,
        details={
            "reason": reason,
            "source": source,
            "switch_revision": state.revision,
            "already_disabled": not changed,
            **(details or {}),
        },
    )
    return state, changed


def enable_model(
    store: KillSwitchStore,
    audit: AuditSink,
    *,
    model: str,
    actor: str,
    role: str,
    reason: str,
    source: str,
    version: str | None = None,
    details: dict[str, Any] | None = None,
) -> SwitchState:
    """Turn ``model`` on (Guardian only), then audit. A refusal is audited and raised."""
    if not may_enable(role):
        audit(
            action=ACCESS_REFUSED,
            actor=actor,
            role=role if role in _DISABLERS else "system",
            model=model,
            details={"attempted": "enable", "source": source, "why": f"role {role} may not"},
        )
        raise AuthorizationError(
            f"{actor} ({role}) may not re-enable {model!r}: only a Guardian may"
        )
    current = store.get_state(model)
    state = store.set_state(
        model,
        active=True,
        actor=actor,
        role=role,
        reason=reason,
        version=version or (current.version if current else None),
    )
    audit(
        action=MODEL_ENABLED,
        actor=actor,
        role=role,
        model=model,
        version=state.version,
        details={
            "reason": reason,
            "source": source,
            "switch_revision": state.revision,
            **(details or {}),
        },
    )
    return state


class JsonlAuditSink:
    """Append-only JSON lines with fsync: the stand-in when the ledger module is absent."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()

    def __call__(self, **record: Any) -> dict[str, Any]:
        import os

        entry = {"ts": datetime.now(UTC).isoformat(), **record}
        line = json.dumps(entry, default=str, sort_keys=True) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as out:
                out.write(line)
                out.flush()
                os.fsync(out.fileno())
        return entry


def ledger_sink(settings: StewardSettings) -> AuditSink:
    """``Ledger.from_settings(settings).append`` (imported lazily)."""
    import importlib

    try:
        ledger_class = importlib.import_module("modelsteward.audit").Ledger
    except (ImportError, AttributeError):
        fallback = settings.home / "audit-fallback.jsonl"
        log.warning("event=audit_ledger_unavailable fallback=%s", fallback)
        return JsonlAuditSink(fallback)
    ledger = ledger_class.from_settings(settings)
    sink: AuditSink = ledger.append
    return sink
