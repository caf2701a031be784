"""Prefect tasks around the kill switch, and the event that asks Prefect to kill a model.

The tasks wrap :mod:`modelsteward.killswitch.control` (the same functions the HTTP service and
``steward kill|enable`` use), so every path flips the switch first and audits alike. Retried
only when the store itself is unreachable (Redis down), never on a refusal.

:func:`request_kill_event` emits ``steward.kill.requested`` on the resource
``steward.model.<name>``; the deployment trigger of ``kill-model``
(:func:`deployments.triggers.kill_trigger`) turns it into a run.
"""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from modelsteward.killswitch import SwitchState, open_store, validate_model_name
from modelsteward.killswitch.control import disable_model, enable_model, status_of
from modelsteward.settings import StewardSettings
from tasks._network import network_error

__all__ = [
    "KILL_EVENT",
    "RESOURCE_PREFIX",
    "read_switch",
    "request_kill_event",
    "send_notices",
    "switch_off",
    "switch_on",
]

#: The event that asks for a kill, and the resource-id prefix of a model.
KILL_EVENT = "steward.kill.requested"
RESOURCE_PREFIX = "steward.model."

# the store is local (SQLite) or one Redis hop away: retry fast, a kill must not wait long
_STORE = {
    "retries": 3,
    "retry_delay_seconds": [0.2, 1, 3],
    "retry_condition_fn": network_error,
    "cache_policy": NO_CACHE,
}


def _ledger_append(settings: StewardSettings) -> Any:
    from modelsteward.killswitch.control import ledger_sink

    return ledger_sink(settings)


def _close(obj: Any) -> None:
    owner = getattr(obj, "__self__", obj)  # a bound Ledger.append closes its ledger
    close = getattr(owner, "close", None)
    if callable(close):
        close()


@task(name="read-kill-switch", **_STORE)  # type: ignore[call-overload]
def read_switch(settings: StewardSettings, model: str) -> dict[str, Any]:
    """The status document of ``model`` (``status_of``): active, version, who, why, revision."""
    store = open_store(settings.killswitch)
    try:
        return status_of(model, store.get_state(model))
    finally:
        _close(store)


@task(name="kill-switch-off", **_STORE)  # type: ignore[call-overload]
def switch_off(
    settings: StewardSettings,
    model: str,
    *,
    actor: str,
    role: str,
    reason: str,
    source: str,
    details: dict[str, Any] | None = None,
) -> tuple[SwitchState, bool]:
    """Turn ``model`` off; returns (state, changed).

    When the switch is already off nothing is written, neither to the store nor to the
    ledger: whoever turned it off (the HTTP service at webhook time, ``steward kill``, an
    earlier run of this flow) recorded ``model.disabled`` then. Otherwise
    :func:`~modelsteward.killswitch.control.disable_model` flips it and audits.
    """
    validate_model_name(model)
    store = open_store(settings.killswitch)
    try:
        current = store.get_state(model)
        if current is not None and not current.active:
            _record_if_missing(settings, current, source)
            return current, False
        audit = _ledger_append(settings)
        try:
            return disable_model(
                store,
                audit,
                model=model,
                actor=actor,
                role=role,
                reason=reason,
                source=source,
                details=details,
            )
        finally:
            _close(audit)
    finally:
        _close(store)


def _record_if_missing(settings: StewardSettings, state: SwitchState, source: str) -> None:
    """Write the ``model.disabled`` record of a flip the ledger does not have.

    The switch is always written before the ledger; when the ledger append failed (and this
    task is retried), or a process died between the two, the flip is on record nowhere. It is
    recorded now, in the name of whoever flipped it, marked ``recorded_late``.
    """
    from modelsteward.audit import Ledger

    with Ledger.from_settings(settings) as ledger:
        for record in ledger.records(model=state.model, action="model.disabled"):
            if record.details.get("switch_revision") == state.revision:
                return
        ledger.append(
            action="model.disabled",
            actor=state.actor,
            role=state.role,
            model=state.model,
            version=state.version,
            details={
                "reason": state.reason,
                "source": source,
                "switch_revision": state.revision,
                "already_disabled": False,
                "recorded_late": True,
            },
        )


@task(name="kill-switch-on", **_STORE)  # type: ignore[call-overload]
def switch_on(
    settings: StewardSettings,
    model: str,
    *,
    actor: str,
    role: str,
    reason: str,
    source: str,
    version: str | None,
    details: dict[str, Any] | None = None,
) -> SwitchState:
    """Turn ``model`` on and record ``model.enabled`` (only a Guardian; a refusal is audited)."""
    validate_model_name(model)
    store = open_store(settings.killswitch)
    audit = _ledger_append(settings)
    try:
        return enable_model(
            store,
            audit,
            model=model,
            actor=actor,
            role=role,
            reason=reason,
            source=source,
            version=version,
            details=details,
        )
    finally:
        _close(audit)
        _close(store)


@task(
    name="send-kill-notices",
    retries=2,
    retry_delay_seconds=[2, 10],
    retry_condition_fn=network_error,
    cache_policy=NO_CACHE,
)
def send_notices(
    alerts: list[Any], policy: Any, settings: StewardSettings, wait_seconds: float = 10.0
) -> dict[str, Any]:
    """Enqueue ``alerts`` (routed by ``policy``), deliver what is due, and report where each
    of *these* notices stands (``targets``, ``undelivered``), not only this pass's counts.

    Idempotent per alert key: a re-run enqueues nothing twice and sends nothing delivered.
    """
    from modelsteward.alerts import AlertDispatcher
    from modelsteward.alerts.outbox import UNDELIVERED

    with AlertDispatcher.from_settings(settings) as dispatcher:
        entries = dispatcher.enqueue_many(alerts, policy)
        report = dispatcher.deliver_pending(wait_seconds=wait_seconds)
        current = dispatcher.outbox.get_many([entry.id for entry in entries])
    targets = [
        {
            "target": f"{entry.channel}:{entry.target}",
            "roles": list(entry.roles),
            "status": entry.status,
            "error": entry.last_error,
        }
        for entry in current
    ]
    return {
        **report.summary(),
        "enqueued": len(entries),
        "targets": targets,
        "undelivered": sum(entry.status in UNDELIVERED for entry in current),
    }


def kill_event_payload(
    *,
    reason: str,
    actor: str,
    role: str = "system",
    version: str | None = None,
    source: str = "event",
    incident: str | None = None,
    switch_revision: int | None = None,
) -> dict[str, Any]:
    """The payload :func:`request_kill_event` sends; the trigger reads every key of it.

    ``switch_revision`` is the store revision of a switch flip the caller already made: a
    kill-model run started late, after a Guardian re-enabled the model, then does nothing.
    """
    return {
        "reason": reason,
        "actor": actor,
        "role": role,
        "version": version,
        "source": source,
        "incident": incident,
        "switch_revision": switch_revision,
    }


def request_kill_event(
    model: str,
    *,
    reason: str,
    actor: str,
    role: str = "system",
    version: str | None = None,
    source: str = "event",
    incident: str | None = None,
    switch_revision: int | None = None,
) -> Any:
    """Emit ``steward.kill.requested`` for ``model``: the trigger starts ``kill-model``.

    This only asks; the switch is not touched here (turn it off first yourself when seconds
    matter, as the HTTP service does). Returns the emitted event, or None when Prefect's
    events client is not configured (no ``PREFECT_API_URL`` and no server): then nothing
    will run, so check the result.
    """
    from prefect.events import emit_event

    validate_model_name(model)
    return emit_event(
        event=KILL_EVENT,
        resource={
            "prefect.resource.id": f"{RESOURCE_PREFIX}{model}",
            "prefect.resource.name": model,
            "steward.model": model,
        },
        payload=kill_event_payload(
            reason=reason,
            actor=actor,
            role=role,
            version=version,
            source=source,
            incident=incident,
            switch_revision=switch_revision,
        ),
    )
