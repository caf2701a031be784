from __future__ import annotations

from pathlib import Path

import pytest

from modelsteward.errors import ConfigError
from modelsteward.settings import StewardSettings, load_settings


def test_embedded_defaults_live_under_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    home = tmp_path / ".steward"
    assert settings.home == home
    assert settings.policy_dir == tmp_path / "policies"
    assert settings.tracking_uri == f"sqlite:///{home / 'mlflow.db'}"
    assert settings.artifact_root == (home / "mlartifacts").as_uri()
    assert settings.killswitch == f"sqlite:///{home / 'killswitch.db'}"
    assert settings.embedded_s3 is True
    assert settings.bucket == "model-steward"
    assert settings.slack_bot_token is None
    assert settings.audit_key_path == home / "keys" / "audit-ed25519.pem"
    assert not home.exists(), "loading settings must not create anything"


def test_each_part_moves_with_one_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow.internal:5000")
    monkeypatch.setenv("STEWARD_KILLSWITCH_URL", "redis://cache:6379/2")
    monkeypatch.setenv("STEWARD_S3_BUCKET", "governance-prod")
    monkeypatch.setenv("STEWARD_SLACK_BOT_TOKEN", "xoxb-secret")
    settings = load_settings()
    assert settings.tracking_uri == "http://mlflow.internal:5000"
    assert settings.killswitch == "redis://cache:6379/2"
    assert settings.embedded_s3 is False
    assert settings.bucket == "governance-prod"
    assert settings.slack_bot_token is not None
    assert "xoxb-secret" not in repr(settings)


def test_endpoint_alone_is_not_embedded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000")
    settings = load_settings()
    assert settings.embedded_s3 is False
    assert settings.s3_endpoint_url == "http://127.0.0.1:9000"


def test_webhook_secrets_are_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STEWARD_PAGERDUTY_WEBHOOK_SECRETS", "old-secret, new-secret,,")
    secrets = load_settings().pagerduty_webhook_secrets
    assert [s.get_secret_value() for s in secrets] == ["old-secret", "new-secret"]


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("STEWARD_OBJECT_LOCK_RETENTION_DAYS", "thirty", "STEWARD_OBJECT_LOCK_RETENTION_DAYS"),
        ("STEWARD_OBJECT_LOCK_RETENTION_DAYS", "0", "greater than or equal to 1"),
        ("STEWARD_KILLSWITCH_URL", "mysql://x", "expected sqlite:///PATH"),
        ("STEWARD_SERVICE_PORT", "70000", "STEWARD_SERVICE_PORT"),
        ("STEWARD_LOG_LEVEL", "LOUD", "STEWARD_LOG_LEVEL"),
    ],
)
def test_a_broken_variable_is_named(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=expected) as info:
        load_settings()
    assert variable in str(info.value)


def test_ensure_home_creates_private_key_dir(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path / "h")
    settings.ensure_home()
    assert (tmp_path / "h" / "keys").stat().st_mode & 0o777 == 0o700
    assert settings.ledger_dir.is_dir() and settings.outbox_dir.is_dir()


def test_every_setting_is_documented() -> None:
    undocumented = [
        name for name, info in StewardSettings.model_fields.items() if not info.description
    ]
    assert undocumented == []


def test_passwords_in_urls_never_show(monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from modelsteward.cli import cli
    from modelsteward.settings import redact_url

    assert redact_url("redis://:s3cretPW@cache:6379/0") == "redis://:***@cache:6379/0"
    assert redact_url("https://bob:pw@mlflow.internal") == "https://bob:***@mlflow.internal"
    assert redact_url("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"
    monkeypatch.setenv("STEWARD_KILLSWITCH_URL", "redis://:s3cretPW@cache:6379/0")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "https://bob:mlflowPW@mlflow.internal")
    shown = CliRunner().invoke(cli, ["config", "--json"]).output
    assert "s3cretPW" not in shown and "mlflowPW" not in shown
    monkeypatch.setenv("STEWARD_KILLSWITCH_URL", "mysql://root:s3cretPW@db/x")
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert "s3cretPW" not in str(info.value)
    assert "STEWARD_KILLSWITCH_URL" in str(info.value)
