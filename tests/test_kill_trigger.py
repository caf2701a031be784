"""The ``steward.kill.requested`` deployment trigger of ``kill-model``: which events it takes,
and that Prefect's own template rendering turns them into valid flow parameters."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest


def _event(resource_id: str, payload: dict[str, Any], name: str = "steward.kill.requested") -> Any:
    from prefect.server.events.schemas.events import ReceivedEvent

    return ReceivedEvent(
        id=uuid.uuid4(),
        occurred=datetime.now(UTC),
        event=name,
        resource={"prefect.resource.id": resource_id},
        payload=payload,
    )


def _server_trigger() -> Any:
    from prefect.server.events.schemas.automations import EventTrigger

    from deployments.triggers import kill_trigger

    trigger = kill_trigger()
    return EventTrigger.model_validate(
        trigger.model_dump(include={"match", "expect", "for_each", "posture", "threshold"})
    )


def _rendered(event: Any) -> dict[str, Any]:
    """The parameters Prefect's RunDeployment action would pass for ``event``."""
    from prefect.server.events.actions import RunDeployment
    from prefect.utilities.schema_tools.hydration import HydrationContext, hydrate

    from deployments.triggers import kill_trigger

    parameters = copy.deepcopy(kill_trigger().parameters) or {}
    RunDeployment._upgrade_v1_templates(parameters)
    rendered: dict[str, Any] = hydrate(
        parameters,
        HydrationContext(raise_on_error=True, render_jinja=True, jinja_context={"event": event}),
    )
    return rendered


def test_trigger_takes_kill_requests_on_model_resources_only() -> None:
    trigger = _server_trigger()
    assert trigger.covers(_event("steward.model.fraud-detector", {}))
    assert not trigger.covers(_event("prefect.flow-run.1234", {}))
    assert not trigger.covers(_event("steward.model.fraud-detector", {}, name="steward.other"))


def test_event_payload_becomes_kill_parameters() -> None:
    from flows.kill_model import KillParameters
    from tasks.killswitch import kill_event_payload

    payload = kill_event_payload(
        reason="fraud spike",
        actor="ai-security@example.com",
        role="guardian",
        version="3",
        switch_revision=17,
    )
    params = _rendered(_event("steward.model.fraud-detector", payload))
    request = KillParameters.model_validate(params["request"])
    assert (request.model, request.reason, request.actor, request.role) == (
        "fraud-detector",
        "fraud spike",
        "ai-security@example.com",
        "guardian",
    )
    assert (request.version, request.source) == ("3", "event")
    assert request.switch_revision == 17  # a late run after a re-enable does nothing


def test_bare_event_still_makes_a_valid_run() -> None:
    from flows.kill_model import KillParameters

    event = _event("steward.model.tumor-classifier", {})
    request = KillParameters.model_validate(_rendered(event)["request"])
    assert (request.model, request.role, request.version) == ("tumor-classifier", "system", None)
    assert request.switch_revision is None
    assert request.incident == f"prefect-event:{event.id}"


def test_a_role_outside_the_vocabulary_is_refused() -> None:
    from pydantic import ValidationError

    from flows.kill_model import KillParameters

    params = _rendered(_event("steward.model.fraud-detector", {"role": "admin"}))
    with pytest.raises(ValidationError, match="role"):
        KillParameters.model_validate(params["request"])


def test_request_kill_event_refuses_bad_model_names() -> None:
    from modelsteward.errors import StewardError
    from tasks.killswitch import request_kill_event

    with pytest.raises(StewardError, match="model"):
        request_kill_event("../etc", reason="x", actor="y")


@pytest.mark.slow
def test_request_kill_event_emits_the_event_the_trigger_takes(prefect_harness: None) -> None:
    from tasks.killswitch import request_kill_event

    event = request_kill_event(
        "fraud-detector", reason="manual drill", actor="ai-security@example.com", role="guardian"
    )
    assert event is not None, "no events client: PREFECT_API_URL is not configured"
    assert event.event == "steward.kill.requested"
    assert event.resource.id == "steward.model.fraud-detector"
    assert event.payload["reason"] == "manual drill"
    received = _event(event.resource.id, event.payload)
    assert _server_trigger().covers(received)


def test_the_http_service_follow_up_parameters_fit_kill_model() -> None:
    """The service's PrefectKillRunner starts deployment kill-model/kill-model with these."""
    from flows.kill_model import FLOW_NAME, KillParameters
    from modelsteward.killswitch.control import KillRequest
    from modelsteward.service.runner import DEPLOYMENT

    assert f"{FLOW_NAME}/kill-model" == DEPLOYMENT
    follow_up = KillRequest(
        model="fraud-detector",
        reason="PagerDuty incident triggered",
        actor="pagerduty",
        role="pagerduty",
        source="pagerduty",
        revision=42,
        idempotency_key="webhook-1",
    )
    (name, values), *rest = follow_up.parameters().items()
    assert name == "request" and rest == []
    request = KillParameters.model_validate(values)
    assert (request.switch_revision, request.role) == (42, "pagerduty")


def test_parameters_refuse_bad_model_names() -> None:
    from pydantic import ValidationError

    from flows.kill_model import KillParameters
    from flows.reenable_model import ReenableParameters

    with pytest.raises(ValidationError, match=r"model name: got '\.\./etc'"):
        KillParameters(model="../etc", reason="x", actor="y")
    with pytest.raises(ValidationError, match="model name: got 'Fraud Detector'"):
        ReenableParameters(model="Fraud Detector", requested_by="y")
