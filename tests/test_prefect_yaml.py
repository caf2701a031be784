"""prefect.yaml and deployments/serve.py describe the same, valid deployments."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import yaml

from modelsteward.policy import load_policy_dir

REPO = Path(__file__).resolve().parent.parent
SPEC = yaml.safe_load((REPO / "prefect.yaml").read_text())
DEPLOYMENTS = {d["name"]: d for d in SPEC["deployments"]}


def load_flow(entrypoint: str):
    path, name = entrypoint.split(":")
    module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
    return getattr(module, name)


@pytest.mark.parametrize("name", sorted(DEPLOYMENTS))
def test_entrypoint_is_a_flow_whose_name_matches(name: str) -> None:
    flow = load_flow(DEPLOYMENTS[name]["entrypoint"])
    expected = (
        "evaluate-model" if name.startswith("evaluate-") and name != "evaluate-fleet" else name
    )
    assert flow.name == expected
    assert (REPO / DEPLOYMENTS[name]["entrypoint"].split(":")[0]).is_file()


@pytest.mark.parametrize("name", sorted(DEPLOYMENTS))
def test_parameters_validate_against_the_flow(name: str) -> None:
    flow = load_flow(DEPLOYMENTS[name]["entrypoint"])
    parameters = DEPLOYMENTS[name].get("parameters")
    if parameters:
        flow.validate_parameters(parameters)


def test_every_policy_schedule_is_deployed() -> None:
    for model, policy in load_policy_dir(REPO / "policies").items():
        deployment = DEPLOYMENTS[f"evaluate-{model}"]
        assert policy.monitoring.schedule is not None
        assert deployment["schedules"][0]["cron"] == policy.monitoring.schedule.cron
        current = policy.current_data_path()
        assert current is not None
        assert (REPO / deployment["parameters"]["request"]["current_path"]) == current


def test_kill_trigger_is_the_one_in_code_and_valid() -> None:
    from prefect.events import DeploymentEventTrigger

    from deployments.triggers import kill_trigger_spec

    (trigger,) = DEPLOYMENTS["kill-model"]["triggers"]
    assert trigger == kill_trigger_spec()
    validated = DeploymentEventTrigger.model_validate(trigger)
    assert "steward.kill.requested" in validated.expect


def test_serve_builds_the_same_deployments(monkeypatch: pytest.MonkeyPatch) -> None:
    from deployments.serve import build_deployments

    monkeypatch.setenv("STEWARD_POLICY_DIR", str(REPO / "policies"))
    served = {d.name: d for d in build_deployments()}
    assert set(served) == set(DEPLOYMENTS)
    for name, deployment in served.items():
        spec = DEPLOYMENTS[name]
        crons = [getattr(s.schedule, "cron", None) for s in deployment.schedules or []]
        assert crons == [s.get("cron") for s in spec.get("schedules", [])], name
        assert bool(deployment.triggers) == bool(spec.get("triggers")), name
        assert deployment.entrypoint == spec["entrypoint"].replace(".py:", ".").replace("/", ".")
