"""`steward up` on PostgreSQL: Prefect server, served deployments with schedules and the kill
trigger, the HTTP service; an emitted event runs kill-model; SIGINT stops everything."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelsteward.embedded import free_port

REPO = Path(__file__).resolve().parent.parent


def wait_for(what: str, check, timeout: float, process: subprocess.Popen) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"steward up exited early ({process.returncode}) waiting for {what}"
            )
        try:
            value = check()
            if value:
                return value
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
def test_up_on_postgres_serves_everything_and_stops_cleanly(
    tmp_path: Path, postgres_database: str
) -> None:
    prefect_port, service_port = free_port(), free_port()
    home = tmp_path / "home"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_ENDPOINT_URL", "STEWARD_", "MLFLOW_", "PREFECT_API_URL"))
    }
    env.update(
        STEWARD_HOME=str(home),
        STEWARD_POLICY_DIR=str(REPO / "policies"),
        PREFECT_API_DATABASE_CONNECTION_URL=postgres_database,
        PREFECT_HOME=str(tmp_path / "prefect"),
        PREFECT_RUNNER_POLL_FREQUENCY="1",
    )
    # a webhook kill whose follow-up could not be started earlier (no Prefect API then)
    from modelsteward.killswitch.control import KillRequest
    from modelsteward.service.runner import record_pending

    record_pending(
        home,
        KillRequest(
            model="tumor-classifier",
            reason="earlier PagerDuty incident",
            actor="pagerduty:oncall",
            role="pagerduty",
            source="pagerduty",
            revision=1,
            idempotency_key="test-pending-1",
        ),
        "PREFECT_API_URL is not set",
    )
    steward = Path(sys.executable).with_name("steward")
    process = subprocess.Popen(
        [str(steward), "up", "--prefect-port", str(prefect_port), "--port", str(service_port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=tmp_path,
    )
    api = f"http://127.0.0.1:{prefect_port}/api"
    try:

        def deployment_names() -> set[str] | None:
            found = httpx.post(f"{api}/deployments/filter", json={}, timeout=5).json()
            names = {d["name"] for d in found}
            return names if len(names) >= 8 else None

        names = wait_for("eight deployments", deployment_names, 240, process)
        assert names == {
            "onboard-model",
            "kill-model",
            "reenable-model",
            "evaluate-fleet",
            "compliance-report",
            "seal-ledger",
            "evaluate-fraud-detector",
            "evaluate-tumor-classifier",
        }
        health = httpx.get(f"http://127.0.0.1:{service_port}/healthz", timeout=5)
        assert health.status_code == 200
        deployments = httpx.post(f"{api}/deployments/filter", json={}, timeout=5).json()
        fraud = next(d for d in deployments if d["name"] == "evaluate-fraud-detector")
        assert fraud["schedules"][0]["schedule"]["cron"] == "*/30 * * * *"

        # the event automation: steward.kill.requested on steward.model.<name> runs kill-model
        event = {
            "id": str(uuid.uuid4()),
            "occurred": datetime.now(UTC).isoformat(),
            "event": "steward.kill.requested",
            "resource": {"prefect.resource.id": "steward.model.fraud-detector"},
            "payload": {
                "reason": "test: operator pressed the button",
                "actor": "ops@example.com",
                "role": "operator",
            },
        }
        wait_for(
            "the kill trigger's automation",
            lambda: httpx.post(f"{api}/automations/filter", json={}, timeout=5).json(),
            60,
            process,
        )
        assert httpx.post(f"{api}/events", json=[event], timeout=5).status_code in (200, 204)
        kill_model = next(d["id"] for d in deployments if d["name"] == "kill-model")

        def kill_runs(model: str) -> list[dict[str, Any]]:
            # only kill-model's runs: the schedules also create (future) evaluate runs
            return [
                r
                for r in httpx.post(f"{api}/flow_runs/filter", json={}, timeout=5).json()
                if r["deployment_id"] == kill_model
                and r["parameters"].get("request", {}).get("model") == model
            ]

        run = wait_for("a kill-model flow run", lambda: kill_runs("fraud-detector"), 90, process)
        assert run[0]["parameters"]["request"]["reason"] == "test: operator pressed the button"
        pending = wait_for(
            "the pending follow-up's kill-model run",
            lambda: kill_runs("tumor-classifier"),
            90,
            process,
        )
        assert pending[0]["parameters"]["request"]["switch_revision"] == 1
        assert (home / "pending" / "kill-model.jsonl").read_text() == ""
    finally:
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=120)
    text = output.decode(errors="replace")
    assert process.returncode == 0, text[-3000:]
    for part in ("stopped service", "stopped deployments", "stopped prefect-server"):
        assert part in text
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{service_port}/healthz", timeout=2)
