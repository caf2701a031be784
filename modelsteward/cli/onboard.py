"""``steward onboard`` and ``steward approve``: run ``onboard-model`` and answer its approval.

``steward onboard --policy P --model-uri U`` runs the flow in this process (against
``PREFECT_API_URL`` when set, else Prefect's ephemeral API) and waits at the approval pause
until the Guardian answers in the Prefect UI or with ``steward approve RUN_ID`` from another
shell (that needs a Prefect server both processes reach: ``steward up`` or ``PREFECT_API_URL``),
or the policy's timeout rejects. ``--approve-as EMAIL`` answers the pause from this process:
the run still pauses, and is resumed with that decision (the flow checks that EMAIL is the
policy's Guardian or a delegate, as for any approver).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click


def approver_key_option(help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--key PATH`` (default ``$STEWARD_APPROVER_KEY``): the approver's private key."""
    return click.option(
        "--key",
        "key_path",
        type=click.Path(path_type=Path, dir_okay=False),
        envvar="STEWARD_APPROVER_KEY",
        help=help,
    )


@click.command("onboard")
@click.option(
    "--policy",
    "policy_path",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="Policy file of the model (policies/<model>.yaml).",
)
@click.option(
    "--model-uri",
    required=True,
    help="runs:/<run>/<path>, models:/<name>/<version>, or a local MLflow model directory.",
)
@click.option(
    "--approve-as",
    "approve_as",
    default=None,
    help="Answer the approval pause as this Guardian e-mail (non-interactive).",
)
@click.option("--reject", is_flag=True, help="With --approve-as: reject instead of approve.")
@click.option("--risk-assessment", default="", help="With --approve-as: the risk assessment.")
@click.option("--requested-by", default="steward-cli", help="Recorded as the requester.")
@approver_key_option(
    "With --approve-as: sign the decision with this approver key (approval.signers)."
)
def onboard(
    policy_path: Path,
    model_uri: str,
    approve_as: str | None,
    reject: bool,
    risk_assessment: str,
    requested_by: str,
    key_path: Path | None,
) -> None:
    """Onboard a model version: register, scan, sign, lock, baseline, approve, promote."""
    from modelsteward.approvals import load_approver_key, require_signer_key
    from modelsteward.embedded import runtime
    from modelsteward.policy import load_policy

    key = load_approver_key(key_path) if key_path and approve_as else None
    if approve_as:  # refuse now what the run would refuse (and then wait for)
        require_signer_key(load_policy(policy_path), approve_as, key)
    with runtime():
        from flows.onboard_model import ApprovalInput, OnboardRequest, run_onboarding

        request = OnboardRequest(
            policy_path=str(policy_path.resolve()),
            model_uri=model_uri,
            requested_by=requested_by,
            approval_poll_seconds=2.0,
        )
        decisions = None
        if approve_as:
            decisions = [
                ApprovalInput(
                    approve=not reject,
                    approver=approve_as,
                    risk_assessment=risk_assessment,
                    comment="answered with steward onboard --approve-as",
                )
            ]
        else:
            click.echo(
                "waiting for the Guardian: approve in the Prefect UI or with "
                "`steward approve RUN_ID --as EMAIL` (run id in the log above)",
                err=True,
            )
        result = run_onboarding(request, decisions=decisions, key=key)
    click.echo(
        f"{result.model} version {result.version}: {result.status}"
        + (f" ({result.reason})" if result.reason else "")
    )
    if result.stored:
        click.echo(
            f"stored: s3://{result.stored.get('bucket')}/{result.stored.get('prefix')} "
            f"(index version {result.stored.get('index_version_id')})"
        )
    for name, value in result.baseline.items():
        click.echo(f"baseline {name}: {value:.4f}")
    if result.status != "promoted":
        raise SystemExit(1)


@click.command("approve")
@click.argument("run_id")
@click.option("--as", "approver", required=True, help="Your e-mail (the policy's Guardian).")
@click.option("--reject", is_flag=True, help="Reject the deployment instead of approving it.")
@click.option("--risk-assessment", default="", help="Your risk assessment, recorded in the ledger.")
@click.option("--comment", default="", help="Anything else to record.")
@approver_key_option(
    "Sign the decision with your approver key (required when the policy sets "
    "approval.require_signature). Default: $STEWARD_APPROVER_KEY."
)
@click.option(
    "--signature-only",
    is_flag=True,
    help="With --key: print the signature to paste into the Prefect UI form (with the same "
    "risk assessment and comment) instead of answering the run from here.",
)
def approve(
    run_id: str,
    approver: str,
    reject: bool,
    risk_assessment: str,
    comment: str,
    key_path: Path | None,
    signature_only: bool,
) -> None:
    """Answer a paused onboard-model or reenable-model run (needs the Prefect API it uses)."""
    import uuid

    from pydantic import ValidationError

    from flows.onboard_model import ApprovalInput, approve_paused_run
    from modelsteward.approvals import load_approver_key, sign_approval

    try:
        decision = ApprovalInput(
            approve=not reject, approver=approver, risk_assessment=risk_assessment, comment=comment
        )
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise click.BadParameter(f"{field}: {first['msg']}") from None
    key = load_approver_key(key_path) if key_path else None
    if signature_only:
        if key is None:
            raise click.UsageError("--signature-only needs --key (or STEWARD_APPROVER_KEY)")
        try:
            run = str(uuid.UUID(run_id))
        except ValueError:
            raise click.BadParameter(f"got {run_id!r}, expected a flow run id (a UUID)") from None
        click.echo(
            "paste into the form's signature field, with exactly this decision, approver, "
            "risk assessment and comment:",
            err=True,
        )
        click.echo(sign_approval(key, flow_run_id=run, decision=decision.model_dump()))
        return
    approve_paused_run(run_id, decision, key=key)
    click.echo(
        f"{'rejected' if reject else 'approved'} as {approver}"
        f"{' (signed)' if key is not None else ''}: run {run_id} resumed "
        "(the run checks that you are the policy's Guardian or a delegate"
        f"{' and your signature' if key is not None else ''})"
    )


@click.group("approver-key")
def approver_key() -> None:
    """Approver signing keys: proof of who approved (policy approval.signers)."""


@approver_key.command("create")
@click.option("--as", "approver", required=True, help="Your e-mail (Guardian or a delegate).")
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False),
    help="Where to write the private key (mode 0600; keep it on your machine only).",
)
def approver_key_create(approver: str, out: Path) -> None:
    """Create an Ed25519 approver key; prints the line to add under approval.signers."""
    from modelsteward.approvals import create_approver_key, key_id, public_key_text

    key = create_approver_key(out)
    text = public_key_text(key.public_key())
    click.echo(f"private key written to {out} (mode 0600): keep it on your machine only", err=True)
    click.echo(
        f"key id {key_id(text)}; add to the policy (a reviewed change) under approval.signers:",
        err=True,
    )
    click.echo(f"  {approver.strip().lower()}: {text}")


def register(cli: click.Group) -> None:
    cli.add_command(onboard)
    cli.add_command(approve)
    cli.add_command(approver_key)
