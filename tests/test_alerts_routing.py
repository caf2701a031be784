"""Routing rules: a pure function of (policy, kind, severity) to roles and channels."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from _alerts import FRAUD, fraud_policy
from hypothesis import given, settings
from hypothesis import strategies as st

from modelsteward.alerts import KINDS, SEVERITIES, route
from modelsteward.errors import PolicyError
from modelsteward.policy import Policy, parse_policy

BASE = yaml.safe_load(FRAUD.read_text())


def policy_with(**changes: Any) -> Policy:
    data = yaml.safe_load(FRAUD.read_text())
    data["risk_tier"] = "limited"
    for dotted, value in changes.items():
        node = data
        *parents, last = dotted.split("__")
        for part in parents:
            node = node[part]
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value
    return parse_policy(data)


def test_critical_drift_reaches_all_three_roles_and_pages_the_operator() -> None:
    routing = route(fraud_policy(), "drift", "critical")
    assert routing.roles == ("operator", "owner", "guardian")
    assert routing.page is True
    assert {(d.channel, d.target, d.roles) for d in routing.deliveries} == {
        ("slack", "#mlops-alerts", ("operator",)),
        ("slack", "#payments-risk", ("owner",)),
        ("slack", "#ai-security", ("guardian",)),
        ("pagerduty", "PD_ROUTING_KEY_FRAUD", ("operator",)),
    }


def test_warning_drift_reaches_operator_and_owner_without_a_page() -> None:
    routing = route(fraud_policy(), "performance", "warning")
    assert routing.roles == ("operator", "owner")
    assert routing.page is False
    assert all(d.channel == "slack" for d in routing.deliveries)


def test_info_data_quality_goes_to_the_operator_only() -> None:
    routing = route(fraud_policy(), "data_quality", "info")
    assert routing.roles == ("operator",)
    assert [d.target for d in routing.deliveries] == ["#mlops-alerts"]
    assert routing.page is False


def test_approval_request_goes_to_the_guardian_and_never_pages() -> None:
    routing = route(fraud_policy(), "approval_request", "critical")
    assert routing.roles == ("guardian",)
    assert routing.page is False
    assert [d.target for d in routing.deliveries] == ["#ai-security"]


def test_kill_notice_reaches_everyone_even_at_info() -> None:
    routing = route(fraud_policy(), "kill_notice", "info")
    assert set(routing.roles) == {"owner", "guardian", "operator"}
    assert routing.page is False


def test_a_promotion_notice_reaches_all_three_roles_unpaged() -> None:
    routing = route(fraud_policy(), "deployment_notice", "info")
    assert set(routing.roles) == {"owner", "guardian", "operator"}
    assert routing.page is False


def test_security_goes_to_the_guardian_plus_the_policy_roles() -> None:
    routing = route(fraud_policy(), "security", "warning")
    assert set(routing.roles) == {"guardian", "operator", "owner"}
    assert "policy actions.warning.alert adds operator, owner" in routing.reasons


def test_a_role_without_slack_is_reached_by_email() -> None:
    policy = policy_with(roles__owner__slack=None)
    routing = route(policy, "drift", "warning")
    assert ("email", "dana.whitfield@example.com", ("owner",)) in {
        (d.channel, d.target, d.roles) for d in routing.deliveries
    }


def test_roles_sharing_a_channel_get_one_message() -> None:
    policy = policy_with(roles__owner__slack="#mlops-alerts")
    routing = route(policy, "drift", "warning")
    assert [(d.target, d.roles) for d in routing.deliveries] == [
        ("#mlops-alerts", ("operator", "owner"))
    ]


def test_page_without_a_routing_key_variable_says_why_not() -> None:
    policy = policy_with(roles__operator__pagerduty=None)
    routing = route(policy, "drift", "critical")
    assert routing.page is False
    assert any("routing_key_env is not" in reason for reason in routing.reasons)


def test_unknown_kind_and_severity_are_clear_errors() -> None:
    with pytest.raises(PolicyError, match="unknown alert kind 'outage'; expected one of"):
        route(fraud_policy(), "outage", "critical")
    with pytest.raises(PolicyError, match="unknown severity 'fatal'"):
        route(fraud_policy(), "drift", "fatal")


ROLES = ("owner", "guardian", "operator")
slack_or_none = st.one_of(st.none(), st.sampled_from(["#a", "#b", "#c", "U0123ABCD"]))
action = st.fixed_dictionaries(
    {"alert": st.lists(st.sampled_from(ROLES), unique=True), "page": st.booleans()}
)


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    data = yaml.safe_load(FRAUD.read_text())
    data["risk_tier"] = "limited"
    for role in ROLES:
        data["roles"][role]["slack"] = draw(slack_or_none)
    if draw(st.booleans()):
        data["roles"]["operator"].pop("pagerduty")
        data["roles"]["operator"]["slack"] = data["roles"]["operator"]["slack"] or "#ops"
    data["actions"] = draw(
        st.dictionaries(st.sampled_from(["warning", "critical"]), action, max_size=2)
    )
    return parse_policy(data)


@settings(max_examples=150, deadline=None)
@given(policy=policies(), kind=st.sampled_from(KINDS), severity=st.sampled_from(SEVERITIES))
def test_routing_invariants(policy: Policy, kind: str, severity: str) -> None:
    routing = route(policy, kind, severity)
    roles = set(routing.roles)
    action = policy.action_for(severity) if severity != "info" else None

    assert route(policy, kind, severity) == routing  # pure and deterministic
    if kind == "kill_notice":
        assert roles == set(ROLES)
    if kind == "approval_request":
        assert roles == {"guardian"} and not routing.page
    if kind in ("data_quality", "drift", "performance"):
        assert "operator" in roles
        owner_by_policy = action is not None and "owner" in action.alert
        assert ("owner" in roles) == (severity != "info" or owner_by_policy)
    if kind == "security":
        assert "guardian" in roles
    if action is not None and kind != "approval_request":
        assert set(action.alert) <= roles

    operator = policy.roles.operator
    can_page = bool(operator.pagerduty and operator.pagerduty.routing_key_env)
    expected_page = (
        severity != "info" and kind != "approval_request" and bool(action and action.page)
    )
    assert routing.page == (expected_page and can_page)

    # every role reached exactly once outside PagerDuty, on its Slack or else its e-mail
    targets = [(d.channel, d.target) for d in routing.deliveries]
    assert len(targets) == len(set(targets))
    reached = [r for d in routing.deliveries if d.channel != "pagerduty" for r in d.roles]
    assert sorted(reached) == sorted(roles)
    for recipient in routing.recipients:
        (delivery,) = [
            d for d in routing.deliveries if d.channel != "pagerduty" and recipient.role in d.roles
        ]
        if recipient.slack:
            assert (delivery.channel, delivery.target) == ("slack", recipient.slack)
        else:
            assert (delivery.channel, delivery.target) == ("email", recipient.email.lower())
    paged = [d for d in routing.deliveries if d.channel == "pagerduty"]
    assert bool(paged) == routing.page
    if paged:
        assert paged[0].roles == ("operator",)
        assert paged[0].target == operator.pagerduty.routing_key_env  # a NAME, never a key
