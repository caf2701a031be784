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

from pathlib import Path

import click


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
def onboard(
    policy_path: Path,
    model_uri: str,
    approve_as: str | None,
    reject: bool,
    risk_assessment: str,
    requested_by: str,
) -> None:
    """Onboard a model version: register, scan, sign, lock, baseline, approve, promote."""
    from modelsteward.embedded import runtime

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
        result = run_onboarding(request, decisions=decisions)
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
def approve(run_id: str, approver: str, reject: bool, risk_assessment: str, comment: str) -> None:
    """Answer a paused onboard-model run (needs the Prefect API the run uses)."""
    from flows.onboard_model import ApprovalInput, approve_paused_run

    decision = ApprovalInput(
        approve=not reject, approver=approver, risk_assessment=risk_assessment, comment=comment
    )
    approve_paused_run(run_id, decision)
    click.echo(
        f"{'rejected' if reject else 'approved'} as {approver}: run {run_id} resumed "
        "(the run checks that you are the policy's Guardian or a delegate)"
    )


def register(cli: click.Group) -> None:
    cli.add_command(onboard)
    cli.add_command(approve)
