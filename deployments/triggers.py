"""Event triggers of the deployments, matched on our own resource ids (never on UUIDs).

:func:`kill_trigger`: every ``steward.kill.requested`` event on a resource
``steward.model.<name>`` runs the ``kill-model`` deployment for that model, with the
parameters taken from the event (:func:`tasks.killswitch.request_kill_event` emits exactly
this; so does ``POST /api/events`` on a self-hosted Prefect server). The same definition as
``prefect.yaml`` wants it is :func:`kill_trigger_spec`.

The templates are Prefect's Jinja: a string that is one ``{{ expression }}`` keeps the
expression's JSON type (``null`` for a missing version), and ``default(..., true)`` fills
fields an event left empty, so a bare event still makes a valid run.
"""

from __future__ import annotations

from typing import Any

from prefect.events import DeploymentEventTrigger

__all__ = ["KILL_EVENT", "kill_trigger", "kill_trigger_spec"]

KILL_EVENT = "steward.kill.requested"  # = tasks.killswitch.KILL_EVENT (tasks are not imported)
MODEL_RESOURCE = "steward.model.*"

#: ``{"request": ...}``: the one parameter of ``kill-model`` (flows.kill_model.KillParameters)
KILL_PARAMETERS: dict[str, Any] = {
    "request": {
        "model": "{{ event.resource.id | replace('steward.model.', '', 1) }}",
        "reason": "{{ event.payload.reason | default('kill requested by an event', true) }}",
        "actor": "{{ event.payload.actor | default('steward.kill.requested', true) }}",
        "role": "{{ event.payload.role | default('system', true) }}",
        "version": "{{ event.payload.version | default(none) }}",
        "source": "{{ event.payload.source | default('event', true) }}",
        "incident": "{{ event.payload.incident | default('prefect-event:' ~ event.id, true) }}",
        "switch_revision": "{{ event.payload.switch_revision | default(none) }}",
    }
}


def kill_trigger_spec() -> dict[str, Any]:
    """The trigger as it goes under ``triggers:`` of the kill-model entry in prefect.yaml."""
    return {
        "type": "event",
        "name": "kill-model on steward.kill.requested",
        "description": "Run kill-model for the model named by the event's resource.",
        "enabled": True,
        "match": {"prefect.resource.id": MODEL_RESOURCE},
        "expect": [KILL_EVENT],
        "for_each": ["prefect.resource.id"],
        "posture": "Reactive",
        "threshold": 1,
        "within": 0,
        "parameters": KILL_PARAMETERS,
    }


def kill_trigger() -> DeploymentEventTrigger:
    """``steward.kill.requested`` on ``steward.model.<name>`` → a ``kill-model`` run."""
    return DeploymentEventTrigger.model_validate(kill_trigger_spec())
