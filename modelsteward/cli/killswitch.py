"""``steward serve | kill | enable | status | token create``: the kill switch from the shell.

``kill`` and ``enable`` act on the kill-switch store and the audit ledger directly (the switch
first, then the record), like the HTTP service does; ``enable`` only for the model's Guardian
(or a delegate) named in its policy. ``status --json`` prints the HTTP status objects plus the
owners from the policies. Heavy imports stay inside the commands.
"""

from __future__ import annotations

import getpass
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from modelsteward.cli.onboard import approver_key_option

if TYPE_CHECKING:
    from modelsteward.killswitch.control import AuditSink
    from modelsteward.policy import Policy
    from modelsteward.settings import StewardSettings


def _policies(settings: StewardSettings) -> dict[str, Policy]:
    if not settings.policy_dir.is_dir():
        return {}
    from modelsteward.policy import load_policy_dir

    return load_policy_dir(settings.policy_dir)


def _role_in_policy(policy: Policy | None, actor: str) -> str | None:
    if policy is None:
        return None
    for role in ("guardian", "operator", "owner"):
        if policy.contact(role).may_act(actor):
            return role
    return None


@contextmanager
def _ledger(settings: StewardSettings) -> Iterator[AuditSink]:
    from modelsteward.killswitch.control import ledger_sink

    sink = ledger_sink(settings)
    try:
        yield sink
    finally:
        owner = getattr(sink, "__self__", None)
        if owner is not None and hasattr(owner, "close"):
            owner.close()


def _settings() -> StewardSettings:
    from modelsteward.settings import load_settings

    settings = load_settings()
    settings.ensure_home()
    return settings


@click.command("serve")
@click.option(
    "--host", default=None, help="Bind address (default STEWARD_SERVICE_HOST, 127.0.0.1)."
)
@click.option("--port", type=int, default=None, help="Port (default STEWARD_SERVICE_PORT, 8484).")
def serve(host: str | None, port: int | None) -> None:
    """Run the HTTP service: PagerDuty webhooks, status, disable/enable, health, metrics."""
    import uvicorn

    from modelsteward.service import create_app

    settings = _settings()
    app = create_app(settings)
    host = host or settings.service_host
    port = port or settings.service_port
    click.echo(f"steward service on http://{host}:{port} (kill switch: {app.state.steward.store})")
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        access_log=False,
        server_header=False,
    )


@click.command("kill")
@click.argument("model")
@click.option("--reason", required=True, help="Why the model must stop (goes to the ledger).")
@click.option("--as", "actor", required=True, help="Who kills it (email).")
@click.option(
    "--role",
    type=click.Choice(["guardian", "operator", "owner"]),
    default=None,
    help="Role to record (default: the actor's role in the policy, else operator).",
)
def kill(model: str, reason: str, actor: str, role: str | None) -> None:
    """Turn MODEL off now: kill switch first, then the audit ledger."""
    from modelsteward.killswitch import open_store, validate_model_name
    from modelsteward.killswitch.control import disable_model

    validate_model_name(model)
    settings = _settings()
    policy = _policies(settings).get(model)
    role = role or _role_in_policy(policy, actor) or "operator"
    with open_store(settings.killswitch) as store, _ledger(settings) as audit:
        state, changed = disable_model(
            store, audit, model=model, actor=actor, role=role, reason=reason, source="cli"
        )
    if changed:
        click.echo(f"{model} disabled (revision {state.revision}) by {actor} ({role}): {reason}")
    else:
        click.echo(
            f"{model} was already disabled since {state.changed_at.isoformat()} by "
            f"{state.actor} ({state.role}): {state.reason}"
        )


@click.command("enable")
@click.argument("model")
@click.option("--as", "actor", required=True, help="The Guardian (or a delegate) re-enabling.")
@click.option("--reason", default="re-enabled by the Guardian", help="Why it may serve again.")
@click.option(
    "--risk-assessment", default="", help="The Guardian's risk assessment, for the ledger."
)
@click.option("--version", default=None, help="Version to serve (default: the one killed).")
@click.option(
    "--switch-only",
    is_flag=True,
    help="Only turn the kill switch on (no signature re-check, no alias restore): for when "
    "MLflow or S3 cannot be reached. Still Guardian-only and audited.",
)
@approver_key_option(
    "Your approver key: signs the approval (required when the policy sets "
    "approval.require_signature). Default: $STEWARD_APPROVER_KEY."
)
def enable(
    model: str,
    actor: str,
    reason: str,
    risk_assessment: str,
    version: str | None,
    switch_only: bool,
    key_path: Path | None,
) -> None:
    """Re-enable MODEL: runs reenable-model with the Guardian's approval (ACTOR), which
    re-verifies the signed artifact in S3, restores the champion alias, then turns the switch
    on. Only its policy's Guardian or a delegate may."""
    from modelsteward.errors import PolicyError
    from modelsteward.killswitch import open_store, validate_model_name
    from modelsteward.killswitch.control import enable_model

    validate_model_name(model)
    settings = _settings()
    policy = _policies(settings).get(model)
    if policy is None:
        raise PolicyError(
            f"no policy for {model!r} in {settings.policy_dir}: cannot tell who its Guardian "
            "is; add policies/<model>.yaml first",
            path=str(settings.policy_dir),
        )
    role = _role_in_policy(policy, actor) or "system"
    key = None
    if key_path is not None:
        from modelsteward.approvals import load_approver_key

        key = load_approver_key(key_path)
    if role == "guardian":
        from modelsteward.approvals import require_signer_key

        require_signer_key(policy, actor, key)
    if switch_only or role != "guardian":
        # the direct path; for anyone but the Guardian it refuses and audits the refusal
        signed = None
        if key is not None and role == "guardian":  # the key was checked against the policy
            from modelsteward.approvals import sign_enable

            signed = sign_enable(key, model=model, version=version, actor=actor, reason=reason)
        with open_store(settings.killswitch) as store, _ledger(settings) as audit:
            state = enable_model(
                store,
                audit,
                model=model,
                actor=actor,
                role=role,
                reason=reason,
                source="cli",
                version=version,
                details=signed,
            )
        click.echo(
            f"{model} enabled (revision {state.revision}) by {actor} (guardian), switch only: "
            f"{reason}"
        )
        return

    from flows.onboard_model import ApprovalInput
    from flows.reenable_model import ReenableParameters, run_reenable

    result = run_reenable(
        ReenableParameters(
            model=model,
            requested_by=actor,
            reason=reason,
            version=version,
            approval_poll_seconds=0.5,
        ),
        decisions=[
            ApprovalInput(
                approve=True,
                approver=actor,
                risk_assessment=risk_assessment or reason,
                comment="steward enable",
            )
        ],
        key=key,
    )
    if result.status != "enabled":
        from modelsteward.errors import StewardError

        raise StewardError(
            f"{model} was not re-enabled ({result.status}): {result.reason}; "
            "`--switch-only` turns the switch on without the artifact checks"
        )
    click.echo(
        f"{model} v{result.version} re-enabled by {actor} (guardian): signature re-verified, "
        f"alias champion restored, switch on (revision {result.switch_revision})"
    )


def _owners(policy: Policy | None) -> dict[str, str] | None:
    if policy is None:
        return None
    return {role: policy.contact(role).email for role in ("owner", "guardian", "operator")}


@click.command("status")
@click.argument("model", required=False)
@click.option("--json", "as_json", is_flag=True, help="A JSON list of status objects.")
def status(model: str | None, as_json: bool) -> None:
    """Kill-switch state, serving version and owners of every model (or of MODEL)."""
    from modelsteward.errors import NotFoundError
    from modelsteward.killswitch import open_store, validate_model_name
    from modelsteward.killswitch.control import status_of

    settings = _settings()
    policies = _policies(settings)
    with open_store(settings.killswitch) as store:
        if model is not None:
            validate_model_name(model)
            state = store.get_state(model)
            if state is None and model not in policies:
                raise NotFoundError(
                    f"unknown model {model!r}: no policy in {settings.policy_dir} and no "
                    "kill-switch state"
                )
            states = {model: state}
        else:
            found = store.all_states()
            states = {name: found.get(name) for name in sorted({*found, *policies})}
    rows: list[dict[str, Any]] = []
    for name, state in states.items():
        row = status_of(name, state)
        row["owners"] = _owners(policies.get(name))
        rows.append(row)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo(f"no models: no policies in {settings.policy_dir} and no kill-switch state")
        return
    header = ("MODEL", "ACTIVE", "VERSION", "CHANGED AT", "BY", "OWNER", "REASON")
    table = [header] + [
        (
            r["model"],
            "yes" if r["active"] else "NO",
            r["version"] or "-",
            (r["changed_at"] or "-")[:19],
            r["changed_by"] or "-",
            (r["owners"] or {}).get("owner", "-"),
            (r["reason"] or "")[:60],
        )
        for r in rows
    ]
    widths = [max(len(str(line[i])) for line in table) for i in range(len(header) - 1)]
    for line in table:
        cells = [str(cell).ljust(width) for cell, width in zip(line, widths, strict=False)]
        click.echo("  ".join([*cells, str(line[-1])]).rstrip())


@click.group("token")
def token() -> None:
    """API tokens of the HTTP service (stored only as SHA-256 hashes)."""


@token.command("create")
@click.option("--role", type=click.Choice(["guardian", "operator", "owner"]), required=True)
@click.option("--name", required=True, help="Who holds the token (email or service name).")
@click.option("--as", "actor", default=None, help="Who creates it (default: the OS user).")
def token_create(role: str, name: str, actor: str | None) -> None:
    """Create a token; it is printed once, alone on the last line."""
    from modelsteward.killswitch.control import TOKEN_CREATED
    from modelsteward.service.tokens import TokenStore

    settings = _settings()
    tokens = TokenStore.at_home(settings.home)
    try:
        secret, info = tokens.create(role=role, name=name)
    finally:
        tokens.close()
    with _ledger(settings) as audit:
        audit(
            action=TOKEN_CREATED,
            actor=actor or f"cli:{getpass.getuser()}",
            role="system",
            details={"name": info.name, "token_role": info.role, "sha256_prefix": info.digest[:12]},
        )
    click.echo(
        f"created {role} token for {info.name!r} (sha256 {info.digest[:12]}...), stored hashed "
        f"in {tokens.path}",
        err=False,
    )
    click.echo("shown once: keep it in a secret store. Use it as 'Authorization: Bearer <token>'.")
    click.echo(secret)


def register(cli: click.Group) -> None:
    for command in (serve, kill, enable, status, token):
        cli.add_command(command)


if __name__ == "__main__":  # ``python -m modelsteward.cli.killswitch`` = ``steward serve``
    serve()
