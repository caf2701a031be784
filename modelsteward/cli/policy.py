"""``steward policy``: validate policy files, print their JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path

import click

from modelsteward.errors import PolicyError


@click.group("policy")
def policy_group() -> None:
    """Policy files (policy as code)."""


@policy_group.command("validate")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one result object per file.")
def validate(paths: tuple[Path, ...], as_json: bool) -> None:
    """Validate policy files; exit 0, or 3 naming the first bad file and field."""
    from modelsteward.policy import load_policy

    results: list[dict[str, object]] = []
    failures: list[PolicyError] = []
    for path in paths:
        try:
            policy = load_policy(path)
        except PolicyError as err:
            failures.append(err)
            results.append(
                {"path": str(path), "valid": False, "field": err.field, "error": str(err)}
            )
            continue
        results.append(
            {"path": str(path), "valid": True, "model": policy.model, "digest": policy.digest}
        )
    if as_json:
        click.echo(json.dumps(results, indent=2))
    else:
        for result in results:
            if result["valid"]:
                click.echo(f"ok  {result['path']}  model={result['model']}")
    if failures:
        if not as_json:
            for failure in failures[1:]:
                click.secho(f"error: {failure}", fg="red", err=True)
        raise failures[0]


@policy_group.command("schema")
def schema() -> None:
    """Print the JSON Schema of policy files (for editors and CI)."""
    from modelsteward.policy import policy_json_schema

    click.echo(json.dumps(policy_json_schema(), indent=2))


def register(cli: click.Group) -> None:
    cli.add_command(policy_group)
