"""Who hears about an alert, and where: a pure function of (policy, kind, severity).

Fixed rules (the DESIGN's RACI table), then the policy's ``actions`` on top:

========================  ==========================================================
kind                      roles
========================  ==========================================================
data_quality, drift,      Operator always (technical remediation); Owner at warning and
performance               critical (business impact); plus ``actions[severity].alert``
security                  Guardian; plus ``actions[severity].alert``
approval_request          Guardian only (a request, not a finding: never paged)
kill_notice               Owner, Guardian and Operator; plus nothing else to add
deployment_notice         Owner, Guardian and Operator (a version was promoted to serve)
========================  ==========================================================

A page goes to the Operator's PagerDuty service only when ``actions[severity].page`` says so
(never for ``approval_request``, never at ``info``). Each role is reached on its Slack channel
or user when the policy names one, otherwise by e-mail; roles that share a Slack channel get
one message that names them all. The routing key itself is never here: only the *name* of
the environment variable that holds it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from modelsteward.alerts.model import KINDS
from modelsteward.errors import PolicyError
from modelsteward.policy import Policy, Role

__all__ = ["Delivery", "Recipient", "Routing", "route"]

Channel = Literal["slack", "pagerduty", "email"]

TECHNICAL = frozenset({"data_quality", "drift", "performance"})
_ROLE_ORDER = (Role.OPERATOR, Role.OWNER, Role.GUARDIAN)


@dataclass(frozen=True)
class Recipient:
    """One role and every way the policy gives to reach it."""

    role: str
    name: str
    email: str
    slack: str | None
    pagerduty_env: str | None


@dataclass(frozen=True)
class Delivery:
    """One message to send: a channel, a target on it, and the roles it is for.

    ``target`` is a Slack channel/user, an e-mail address, or, for PagerDuty, the *name* of
    the environment variable holding the routing key.
    """

    channel: Channel
    target: str
    roles: tuple[str, ...]


@dataclass(frozen=True)
class Routing:
    model: str
    kind: str
    severity: str
    recipients: tuple[Recipient, ...]
    deliveries: tuple[Delivery, ...]
    page: bool
    reasons: tuple[str, ...] = field(default=())

    @property
    def roles(self) -> tuple[str, ...]:
        return tuple(r.role for r in self.recipients)


def _roles_for(policy: Policy, kind: str, severity: str) -> tuple[set[Role], list[str]]:
    action = policy.action_for(severity) if severity != "info" else None
    roles: set[Role] = set()
    reasons: list[str] = []
    if kind == "kill_notice":
        roles |= set(Role)
        reasons.append("kill notices go to owner, guardian and operator")
    elif kind == "deployment_notice":
        roles |= set(Role)
        reasons.append("a promotion concerns owner, guardian and operator")
    elif kind == "approval_request":
        roles.add(Role.GUARDIAN)
        reasons.append("approval requests go to the guardian")
    elif kind == "security":
        roles.add(Role.GUARDIAN)
        reasons.append("security alerts go to the guardian")
    elif kind in TECHNICAL:
        roles.add(Role.OPERATOR)
        reasons.append(f"{kind} is technical: operator")
        if severity in ("warning", "critical"):
            roles.add(Role.OWNER)
            reasons.append(f"{severity} has business impact: owner")
    else:
        raise PolicyError(f"unknown alert kind {kind!r}; expected one of {', '.join(KINDS)}")
    if action is not None and kind != "approval_request" and action.alert:
        added = set(action.alert) - roles
        roles |= set(action.alert)
        if added:
            names = ", ".join(sorted(str(r) for r in added))
            reasons.append(f"policy actions.{severity}.alert adds {names}")
    return roles, reasons


def route(policy: Policy, kind: str, severity: str) -> Routing:
    """Where an alert of ``kind`` at ``severity`` goes under ``policy``. Pure: no I/O."""
    if severity not in ("info", "warning", "critical"):
        raise PolicyError(f"unknown severity {severity!r}; expected info, warning or critical")
    roles, reasons = _roles_for(policy, kind, severity)
    recipients: list[Recipient] = []
    for role in _ROLE_ORDER:
        if role not in roles:
            continue
        contact = policy.contact(role)
        recipients.append(
            Recipient(
                role=str(role),
                name=contact.name,
                email=str(contact.email),
                slack=contact.slack,
                pagerduty_env=contact.pagerduty.routing_key_env if contact.pagerduty else None,
            )
        )

    by_target: dict[tuple[Channel, str], list[str]] = {}
    for recipient in recipients:
        if recipient.slack:
            by_target.setdefault(("slack", recipient.slack), []).append(recipient.role)
        else:
            by_target.setdefault(("email", recipient.email.lower()), []).append(recipient.role)

    page = False
    if severity != "info" and kind != "approval_request" and policy.action_for(severity).page:
        operator = policy.contact(Role.OPERATOR)
        env = operator.pagerduty.routing_key_env if operator.pagerduty else None
        if env:
            page = True
            by_target.setdefault(("pagerduty", env), []).append(str(Role.OPERATOR))
            reasons.append(f"policy actions.{severity}.page: page the operator")
        else:
            reasons.append(
                f"policy actions.{severity}.page is set but roles.operator.pagerduty."
                "routing_key_env is not: no page"
            )
    deliveries = tuple(
        Delivery(channel=channel, target=target, roles=tuple(roles_))
        for (channel, target), roles_ in by_target.items()
    )
    return Routing(
        model=policy.model,
        kind=kind,
        severity=severity,
        recipients=tuple(recipients),
        deliveries=deliveries,
        page=page,
        reasons=tuple(reasons),
    )
