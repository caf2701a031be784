from __future__ import annotations

import os
from pathlib import Path

import boto3
import pytest

from modelsteward.embedded import EmbeddedS3, runtime
from modelsteward.errors import ExternalServiceError
from modelsteward.settings import load_settings


def test_runtime_starts_exports_and_stops_embedded_s3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    settings = load_settings(home=tmp_path / "home")
    assert settings.embedded_s3
    with runtime(settings) as live:
        endpoint = live.s3_endpoint_url
        assert endpoint is not None and endpoint.startswith("http://127.0.0.1:")
        assert os.environ["AWS_ENDPOINT_URL"] == endpoint
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        client.create_bucket(Bucket="probe")
        assert [b["Name"] for b in client.list_buckets()["Buckets"]] == ["probe"]
    assert "AWS_ENDPOINT_URL" not in os.environ
    assert (tmp_path / "home" / "keys").is_dir()
    with pytest.raises(Exception, match=r"Could not connect|Connection"):
        boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            config=boto3.session.Config(retries={"max_attempts": 1}, connect_timeout=1),
        ).list_buckets()


def test_configured_s3_starts_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STEWARD_S3_BUCKET", "prod-bucket")
    settings = load_settings(home=tmp_path / "home")
    with runtime(settings) as live:
        assert live is settings
        assert "AWS_ENDPOINT_URL" not in os.environ


def test_server_that_cannot_bind_fails_clearly() -> None:
    with EmbeddedS3() as first:
        clash = EmbeddedS3(port=first.port)
        with pytest.raises(ExternalServiceError, match="cannot bind"):
            clash.start(timeout_seconds=20)
