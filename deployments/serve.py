"""Serve every deployment from this process: what ``steward up`` runs.

``prefect.yaml`` describes the same deployments for a work pool (``prefect deploy --all``); this
module adds what the YAML cannot express: one ``evaluate-<model>`` deployment per policy file,
scheduled with the cron its policy names and reading its ``monitoring.current_data``, so adding
a policy adds its schedule.

    python -m deployments.serve            # needs PREFECT_API_URL (steward up sets it)

Entry points are module paths (``flows.kill_model.kill_model``): the runner's child processes
import the installed package, whatever their working directory.
"""

from __future__ import annotations

import logging
import os
from typing import Any

log = logging.getLogger(__name__)

QUARTERLY = "0 6 1 1,4,7,10 *"  # 06:00 UTC on the first day of each quarter


def _module_path() -> Any:
    from prefect.deployments.runner import EntrypointType

    return EntrypointType.MODULE_PATH


def evaluate_deployment(evaluate_model: Any, policy: Any) -> Any | None:
    """``evaluate-<model>`` on the policy's cron, reading its ``monitoring.current_data``.

    A policy without a schedule or without a batch location gets no scheduled deployment
    (it can still be evaluated by hand: ``steward evaluate MODEL --current PATH``).
    """
    from prefect.client.schemas.schedules import CronSchedule

    schedule = policy.monitoring.schedule
    current = policy.current_data_path()
    if schedule is None or current is None:
        log.info("event=no_schedule model=%s", policy.model)
        return None
    return evaluate_model.to_deployment(
        name=f"evaluate-{policy.model}",
        entrypoint_type=_module_path(),
        tags=["monitoring", policy.model],
        parameters={"request": {"model": policy.model, "current_path": str(current)}},
        schedules=[CronSchedule(cron=schedule.cron, timezone=schedule.timezone)],
    )


def build_deployments() -> list[Any]:
    """The runner deployments: the fixed flows plus one evaluation schedule per policy."""
    from prefect.client.schemas.schedules import CronSchedule

    from deployments.triggers import kill_trigger
    from flows.compliance_report import compliance_report
    from flows.evaluate_fleet import evaluate_fleet
    from flows.evaluate_model import evaluate_model
    from flows.kill_model import kill_model
    from flows.onboard_model import onboard_model
    from flows.reenable_model import reenable_model
    from flows.seal_ledger import seal_ledger
    from modelsteward.policy import load_policy_dir
    from modelsteward.settings import load_settings

    module = _module_path()
    settings = load_settings()
    deployments = [
        onboard_model.to_deployment(
            name="onboard-model", entrypoint_type=module, tags=["governance"]
        ),
        kill_model.to_deployment(
            name="kill-model",
            entrypoint_type=module,
            tags=["governance", "kill-switch"],
            triggers=[kill_trigger()],
        ),
        reenable_model.to_deployment(
            name="reenable-model", entrypoint_type=module, tags=["governance", "kill-switch"]
        ),
        evaluate_fleet.to_deployment(
            name="evaluate-fleet", entrypoint_type=module, tags=["monitoring"]
        ),
        seal_ledger.to_deployment(
            name="seal-ledger",
            entrypoint_type=module,
            tags=["governance", "audit"],
            interval=3600,
        ),
        compliance_report.to_deployment(
            name="compliance-report",
            entrypoint_type=module,
            tags=["governance", "audit"],
            schedules=[CronSchedule(cron=QUARTERLY, timezone="UTC")],
        ),
    ]
    for policy in load_policy_dir(settings.policy_dir).values():
        deployment = evaluate_deployment(evaluate_model, policy)
        if deployment is not None:
            deployments.append(deployment)
    return deployments


def main() -> None:
    from prefect import serve

    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    deployments = build_deployments()
    log.info("event=serving deployments=%d", len(deployments))
    serve(*deployments, print_starting_message=True)


if __name__ == "__main__":
    main()
