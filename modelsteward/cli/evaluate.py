"""``steward evaluate MODEL --current PATH``: run ``evaluate-model`` on a CSV or Parquet batch.

Runs the flow in this process (against ``PREFECT_API_URL`` when set, else Prefect's ephemeral
API) on the embedded defaults, then prints the verdict: severity, what set it, the drift and
performance numbers and where the Evidently report is. ``--json`` prints the whole
:class:`~modelsteward.monitoring.EvaluationResult` instead. ``--fail-on`` turns a severity into
exit code 10, for scripts and CI.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

_RANK = {"none": 0, "warning": 1, "critical": 2}


@click.command("evaluate")
@click.argument("model")
@click.option(
    "--current",
    "current",
    required=True,
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="The batch to evaluate (CSV or Parquet).",
)
@click.option("--version", default=None, help="Model version (default: latest baseline's).")
@click.option(
    "--reference",
    default=None,
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="Reference data (default: the onboarding baseline's reference.csv).",
)
@click.option("--no-mlflow", is_flag=True, help="Do not log the evaluation to MLflow.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option(
    "--fail-on",
    type=click.Choice(["warning", "critical"]),
    default=None,
    help="Exit 10 when the severity reaches this level.",
)
def evaluate(
    model: str,
    current: Path,
    version: str | None,
    reference: Path | None,
    no_mlflow: bool,
    as_json: bool,
    fail_on: str | None,
) -> None:
    """Evaluate a batch of MODEL: data quality, drift, performance, severity."""
    from modelsteward.embedded import runtime

    with runtime():
        from flows.evaluate_model import EvaluateRequest, evaluate_model

        outcome = evaluate_model(
            EvaluateRequest(
                model=model,
                current_path=str(current.resolve()),
                version=version,
                reference_path=str(reference.resolve()) if reference else None,
                log_to_mlflow=not no_mlflow,
            )
        )
    result = outcome.result
    if as_json:
        click.echo(json.dumps(result.model_dump(mode="json"), indent=2))
    else:
        click.echo(result.summary())
        for reason in result.severity_reasons:
            click.echo(f"  - {reason}")
        for failure in result.quality.failures:
            click.echo(f"  ! {failure.message}")
        if outcome.report_uri or result.report_path:
            click.echo(f"report: {outcome.report_uri or result.report_path}")
        if outcome.killed:
            click.echo(f"{model} was disabled by the policy (kill switch off)")
    if fail_on and _RANK[result.severity.value] >= _RANK[fail_on]:
        raise SystemExit(10)


def register(cli: click.Group) -> None:
    cli.add_command(evaluate)
