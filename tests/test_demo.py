"""The demo's full path, as a user runs it, and each stage's effect on the real stores."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_demo_runs_the_whole_lifecycle(tmp_path: Path) -> None:
    home = tmp_path / "demo-home"
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_ENDPOINT_URL", "STEWARD_", "MLFLOW_", "PREFECT_API_URL"))
    }
    env["STEWARD_POLICY_DIR"] = str(REPO / "policies")
    steward = Path(sys.executable).with_name("steward")
    result = subprocess.run(
        [str(steward), "demo", "--home", str(home)],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
        cwd=tmp_path,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "Demo finished" in result.stdout
    assert not (tmp_path / "mlruns").exists(), "MLflow wrote into the working directory"

    os.environ["STEWARD_HOME"] = str(home)
    try:
        from modelsteward.audit import Ledger
        from modelsteward.killswitch import open_store
        from modelsteward.registry import ModelRegistry
        from modelsteward.settings import load_settings

        settings = load_settings(home=home, mlflow_tracking_uri=f"sqlite:///{home / 'mlflow.db'}")
        with Ledger.from_settings(settings) as ledger:
            records = list(ledger.records())
            assert ledger.verify().ok
        actions = [(r.model, r.action) for r in records]
        for model in ("fraud-detector", "tumor-classifier"):
            assert (model, "approval.granted") in actions
            granted = next(r for r in records if (r.model, r.action) == (model, "approval.granted"))
            assert granted.details["signed"] is True  # the demo's policies require it
            assert (model, "model.promoted") in actions
            assert (model, "model.disabled") in actions
        drift = [r for r in records if r.action == "drift.evaluated"]
        assert [r.details.get("severity") for r in drift] == ["none", "warning", "critical"]
        kills = {r.model: r for r in records if r.action == "model.disabled"}
        assert kills["tumor-classifier"].role == "pagerduty"

        store = open_store(settings.killswitch)
        assert store.get_state("fraud-detector").active is False
        assert store.get_state("tumor-classifier").active is False
        registry = ModelRegistry.from_settings(settings)
        assert registry.alias_version("fraud-detector", "champion") is None

        alerts = [
            json.loads(line) for line in (home / "outbox" / "alerts.jsonl").read_text().splitlines()
        ]
        kinds = {(a["alert"]["kind"], a["alert"]["severity"]) for a in alerts}
        assert ("drift", "warning") in kinds and ("drift", "critical") in kinds

        report = json.loads(next((home / "reports").glob("compliance-*.json")).read_text())
        assert report["totals"]["kills"] == 2 and report["totals"]["approvals"] == 2
        assert report["totals"]["unsigned_approvals"] == 0
        html = next((home / "reports").glob("compliance-*.html")).read_text()
        assert "fraud-detector" in html and "tumor-classifier" in html
    finally:
        os.environ.pop("STEWARD_HOME", None)
    assert "refused fraud-detector" in result.stdout
    assert "refused tumor-classifier" in result.stdout
