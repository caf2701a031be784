"""Fuzz the webhook route: it never answers 500 and never kills without a valid signature."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelsteward.audit import Ledger
from modelsteward.killswitch import KillSwitchStore, open_store
from modelsteward.service import create_app
from modelsteward.service.tokens import TokenStore
from modelsteward.settings import load_settings
from tests._pagerduty import body_of, incident_event, signature

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

SECRET = "fuzz-secret"

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)

events = st.builds(
    lambda event_type, key, service, title, number: incident_event(
        event_type=event_type, incident_key=key, service_id=service, title=title, number=number
    ),
    event_type=st.sampled_from(["incident.triggered", "incident.resolved", "x"])
    | st.text(max_size=10),
    key=st.none()
    | st.sampled_from(["steward:fraud-detector:x", "steward:", "steward:../x"])
    | st.text(max_size=30),
    service=st.sampled_from(["PFRAUD1", "POTHER"]) | st.text(max_size=10),
    title=st.text(max_size=40),
    number=st.integers(min_value=-(2**70), max_value=2**70),
)


def _mutate(event: dict[str, Any], path: list[str], value: Any) -> dict[str, Any]:
    node: Any = event
    for part in path[:-1]:
        if not isinstance(node, dict) or not isinstance(node.get(part), dict):
            return event
        node = node[part]
    node[path[-1]] = value
    return event


bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    events.map(body_of),
    st.builds(
        _mutate,
        events,
        st.sampled_from(
            [
                ["event"],
                ["event", "data"],
                ["event", "event_type"],
                ["event", "data", "service"],
                ["event", "agent"],
                ["event", "data", "number"],
            ]
        ),
        json_values,
    ).map(body_of),
)

signature_modes = st.sampled_from(
    ["valid", "valid-among-junk", "wrong-secret", "other-body", "junk", "none"]
)


@pytest.fixture(scope="module")
def fuzz_app(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[TestClient, KillSwitchStore]]:
    home = tmp_path_factory.mktemp("fuzz-home")
    mp = pytest.MonkeyPatch()
    mp.setenv("STEWARD_HOME", str(home))
    mp.setenv("STEWARD_POLICY_DIR", str(Path(__file__).resolve().parent.parent / "policies"))
    mp.setenv("STEWARD_PAGERDUTY_WEBHOOK_SECRETS", SECRET)
    store = open_store(f"sqlite:///{home / 'ks.db'}")
    tokens = TokenStore.at_home(home)
    app = create_app(
        load_settings(),
        store=store,
        audit=Ledger(home / "ledger").append,
        kill_runner=lambda request: "started",
        tokens=tokens,
    )
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, store
    store.close()
    tokens.close()
    mp.undo()


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=bodies, mode=signature_modes, junk=st.text(max_size=80), webhook_id=st.text(max_size=20)
)
def test_webhook_never_500_and_never_kills_unsigned(
    fuzz_app: tuple[TestClient, KillSwitchStore], body: bytes, mode: str, junk: str, webhook_id: str
) -> None:
    client, store = fuzz_app
    valid = mode in ("valid", "valid-among-junk")
    header = {
        "valid": signature(body, SECRET),
        "valid-among-junk": f"v1=deadbeef, {junk.replace(',', '')} ,{signature(body, SECRET)}",
        "wrong-secret": signature(body, "other-secret"),
        "other-body": signature(body + b" ", SECRET),
        "junk": junk,
        "none": None,
    }[mode]
    headers: dict[str, str | bytes] = {"Content-Type": "application/json"}
    if header is not None:  # raw header bytes, as a hostile client could send them
        raw = header.encode("latin-1", "replace")
        headers["X-PagerDuty-Signature"] = bytes(b for b in raw if b not in b"\r\n\x00")
    safe_id = webhook_id.encode("ascii", "replace").decode("ascii")
    if safe_id.strip():
        headers["X-Webhook-Id"] = safe_id.strip()
    before = store.revision()
    response = client.post("/webhooks/pagerduty", content=body, headers=headers)  # type: ignore[arg-type]
    assert response.status_code < 500
    assert response.status_code in (200, 202, 400, 401, 413)
    if not valid:
        assert response.status_code == 401
        assert store.revision() == before
    if response.status_code != 202 or response.json().get("status") != "disabled":
        assert store.revision() == before
