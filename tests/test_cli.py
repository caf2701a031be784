"""The steward CLI: exit codes, one-line errors, JSON output, the demo on embedded defaults."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from modelsteward.cli import cli
from modelsteward.errors import (
    EXIT_CODES,
    ConfigError,
    LedgerIntegrityError,
    ModelDisabledError,
    PolicyError,
    StewardError,
    StorageError,
    exit_code_for,
)

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "policies" / "fraud-detector.yaml"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """The installed console script, as a user runs it."""
    steward = Path(sys.executable).with_name("steward")
    return subprocess.run(
        [str(steward), *args], capture_output=True, text=True, timeout=120, env=os.environ
    )


def test_help_lists_the_commands() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for command in ("demo", "policy", "config"):
        assert command in result.output


def test_policy_validate_ok() -> None:
    result = CliRunner().invoke(cli, ["policy", "validate", str(SAMPLE)])
    assert result.exit_code == 0, result.output
    assert "ok" in result.output and "fraud-detector" in result.output


def test_policy_validate_broken_file_one_line_exit_3(tmp_path: Path) -> None:
    data = yaml.safe_load(SAMPLE.read_text())
    data["monitoring"]["drift"]["critical"]["drift_share"] = 0.1
    broken = tmp_path / "fraud-detector.yaml"
    broken.write_text(yaml.safe_dump(data))
    result = run("policy", "validate", str(SAMPLE), str(broken))
    assert result.returncode == 3
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"error: {broken}: monitoring ")
    assert "critical must be the stricter" in lines[0]
    assert f"ok  {SAMPLE}" in result.stdout


def test_policy_validate_json(tmp_path: Path) -> None:
    (tmp_path / "fraud-detector.yaml").write_text("")
    result = CliRunner().invoke(
        cli, ["policy", "validate", "--json", str(SAMPLE), str(tmp_path / "fraud-detector.yaml")]
    )
    assert result.exit_code == 3
    payload = json.loads(result.stdout)
    assert [entry["valid"] for entry in payload] == [True, False]
    assert "empty file" in payload[1]["error"]


def test_policy_schema_is_json() -> None:
    result = CliRunner().invoke(cli, ["policy", "schema"])
    assert result.exit_code == 0
    assert json.loads(result.output)["title"] == "Model Steward policy"


def test_broken_config_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STEWARD_OBJECT_LOCK_RETENTION_DAYS", "forever")
    result = CliRunner().invoke(cli, ["config"])
    assert result.exit_code == 3
    assert "STEWARD_OBJECT_LOCK_RETENTION_DAYS" in result.output


def test_config_json_redacts_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STEWARD_SLACK_BOT_TOKEN", "xoxb-very-secret")
    result = CliRunner().invoke(cli, ["config", "--json"])
    assert result.exit_code == 0
    assert "xoxb-very-secret" not in result.output
    assert json.loads(result.output)["slack"] == "bot token set"


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (ConfigError("x"), 3),
        (PolicyError("x"), 3),
        (LedgerIntegrityError("x", seq=3), 4),
        (StorageError("x"), 6),
        (ModelDisabledError("m"), 8),
        (StewardError("x"), 1),
    ],
)
def test_exit_codes(error: StewardError, code: int) -> None:
    assert exit_code_for(error) == code


def test_every_mapped_class_is_a_steward_error() -> None:
    assert all(issubclass(cls, StewardError) for cls in EXIT_CODES)
    assert issubclass(PolicyError, ValueError)
    assert not issubclass(LedgerIntegrityError, ValueError)
