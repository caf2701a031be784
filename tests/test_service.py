"""The HTTP service: real signed PagerDuty webhooks, tokens, status, health and metrics."""

from __future__ import annotations

import json
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

with warnings.catch_warnings():  # starlette 1.x prefers httpx2 for its test client
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from modelsteward.audit import Ledger
from modelsteward.embedded import free_port
from modelsteward.killswitch import KillSwitchStore, open_store
from modelsteward.killswitch.control import KillRequest
from modelsteward.service import create_app
from modelsteward.service.runner import PrefectKillRunner
from modelsteward.service.tokens import TokenStore, hash_token
from modelsteward.settings import load_settings
from tests._pagerduty import body_of, headers, incident_event

SECRET = "whsec-current"
OLD_SECRET = "whsec-previous"
MODEL = "fraud-detector"


@dataclass
class Runner:
    """The kill runner the app is given: records what it was asked to start."""

    requests: list[KillRequest] = field(default_factory=list)
    called: threading.Event = field(default_factory=threading.Event)
    fail: bool = False

    def __call__(self, request: KillRequest) -> str:
        self.requests.append(request)
        self.called.set()
        if self.fail:
            raise RuntimeError("Prefect API unreachable")
        return "flow-run-1"


@dataclass
class Service:
    client: TestClient
    store: KillSwitchStore
    home: Path
    tokens: TokenStore
    runner: Runner
    app: Any

    def audit(self) -> list[dict[str, Any]]:
        with Ledger.from_settings(load_settings()) as ledger:
            return [record.to_dict() for record in ledger.records()]

    def actions(self) -> list[str]:
        return [record["action"] for record in self.audit()]

    def token(self, role: str, name: str | None = None) -> dict[str, str]:
        token, _ = self.tokens.create(role=role, name=name or f"{role}@example.com")
        return {"Authorization": f"Bearer {token}"}

    def post_webhook(self, event: dict[str, Any], *secrets: str, **kw: Any) -> httpx.Response:
        body = body_of(event)
        return self.client.post(
            "/webhooks/pagerduty",
            content=body,
            headers=headers(body, *(secrets or (SECRET,)), **kw),
        )


def _build(home: Path, store_url: str, runner: Runner, audit: Any = None) -> tuple[Any, Any]:
    settings = load_settings()
    store = open_store(store_url)
    tokens = TokenStore.at_home(home)
    app = create_app(
        settings,
        store=store,
        audit=audit or Ledger.from_settings(settings).append,
        kill_runner=runner,
        tokens=tokens,
    )
    return app, (store, tokens)


@pytest.fixture
def service(steward_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Service]:
    monkeypatch.setenv("STEWARD_PAGERDUTY_WEBHOOK_SECRETS", f"{SECRET},{OLD_SECRET}")
    runner = Runner()
    app, (store, tokens) = _build(steward_home, f"sqlite:///{steward_home / 'ks.db'}", runner)
    with TestClient(app) as client:
        yield Service(client, store, steward_home, tokens, runner, app)
    store.close()
    tokens.close()


def _state(service: Service) -> Any:
    return service.store.get_state(MODEL)


def _enable(store: KillSwitchStore) -> None:
    store.set_state(MODEL, active=True, actor="ciso@example.com", role="guardian", reason="ok")


# ------------------------------------------------------------------------ webhooks
def test_signed_trigger_turns_the_model_off_audits_and_starts_follow_up(service: Service) -> None:
    _enable(service.store)
    response = service.post_webhook(incident_event(number=42, title="drift critical"))
    assert response.status_code == 202, response.text
    assert response.json() == {
        "status": "disabled",
        "model": MODEL,
        "revision": 2,
        "already_disabled": False,
    }
    state = _state(service)
    assert state.active is False
    assert state.role == "pagerduty"
    assert state.actor == "pagerduty:Tenex Engineer"
    assert state.reason == "PagerDuty incident #42 drift critical"
    record = service.audit()[-1]
    assert record["action"] == "model.disabled"
    assert record["details"]["source"] == "pagerduty"
    assert record["details"]["switch_revision"] == 2
    assert service.runner.called.wait(30)
    request = service.runner.requests[0]
    assert (request.model, request.source, request.revision) == (MODEL, "pagerduty", 2)
    parameters = request.parameters()["request"]
    assert parameters["switch_revision"] == 2
    assert parameters["incident"].startswith("https://acme.pagerduty.com/incidents/")


def test_incident_maps_by_policy_service_id(service: Service) -> None:
    event = incident_event(incident_key="9f2c1b0e7d6a4c3b", service_id="PFRAUD1")
    assert service.post_webhook(event).status_code == 202
    assert _state(service).active is False


def test_rotation_any_of_several_signatures_and_secrets(service: Service) -> None:
    event = incident_event()
    body = body_of(event)
    hdrs = headers(body, "not-our-secret", OLD_SECRET)  # "v1=<bad>,v1=<good under old>"
    response = service.client.post("/webhooks/pagerduty", content=body, headers=hdrs)
    assert response.status_code == 202
    assert _state(service).active is False


@pytest.mark.parametrize(
    "signature",
    [None, "", "v1=", "v1=00", "v0=abc", "sha256=abc", "v1=" + "a" * 64, "v1=zz,v2=aa"],
)
def test_missing_or_bad_signature_is_401_kills_nothing_and_is_audited(
    service: Service, signature: str | None
) -> None:
    _enable(service.store)
    body = body_of(incident_event())
    hdrs = {"Content-Type": "application/json", "X-Webhook-Id": "w-1"}
    if signature is not None:
        hdrs["X-PagerDuty-Signature"] = signature
    response = service.client.post("/webhooks/pagerduty", content=body, headers=hdrs)
    assert response.status_code == 401
    assert _state(service).active is True
    assert service.actions() == ["access.refused"]
    assert service.audit()[0]["details"]["webhook_id"] == "w-1"


def test_signature_of_another_body_is_refused(service: Service) -> None:
    body = body_of(incident_event())
    hdrs = headers(body_of(incident_event(title="other")), SECRET)
    assert service.client.post("/webhooks/pagerduty", content=body, headers=hdrs).status_code == 401
    assert _state(service) is None


@pytest.mark.parametrize(
    "body",
    [b"not json", b"[]", b'{"event": 1}', b'{"event": {"data": {}}}', b"\xff\xfe", b""],
)
def test_malformed_signed_body_is_400(service: Service, body: bytes) -> None:
    response = service.client.post(
        "/webhooks/pagerduty", content=body, headers=headers(body, SECRET)
    )
    assert response.status_code == 400
    assert "malformed webhook" in response.json()["error"]
    assert _state(service) is None


def test_unknown_model_is_400_and_nothing_is_killed(service: Service) -> None:
    event = incident_event(incident_key="steward:no-such-model:x", service_id="PUNKNOWN")
    response = service.post_webhook(event)
    assert response.status_code == 400
    assert "no model for this incident" in response.json()["error"]
    assert service.store.all_states() == {}
    assert service.actions() == ["webhook.received"]


def test_other_event_types_are_acknowledged_and_ignored(service: Service) -> None:
    _enable(service.store)
    for event_type in ("incident.acknowledged", "incident.resolved", "service.updated"):
        response = service.post_webhook(incident_event(event_type=event_type))
        assert response.status_code == 202
        assert response.json()["status"] == "ignored"
    assert _state(service).active is True
    assert service.runner.requests == []


def test_replayed_webhook_id_kills_once_even_after_a_restart(
    service: Service, steward_home: Path
) -> None:
    _enable(service.store)
    event = incident_event()
    first = service.post_webhook(event, webhook_id="delivery-1")
    assert first.status_code == 202
    revision = service.store.revision()
    again = service.post_webhook(event, webhook_id="delivery-1")
    assert again.status_code == 200
    assert again.json()["status"] == "duplicate"
    # a restarted service on the same store remembers the delivery
    runner = Runner()
    app, (store, tokens) = _build(steward_home, f"sqlite:///{steward_home / 'ks.db'}", runner)
    with TestClient(app) as client:
        body = body_of(event)
        response = client.post(
            "/webhooks/pagerduty",
            content=body,
            headers=headers(body, SECRET, webhook_id="delivery-1"),
        )
    store.close()
    tokens.close()
    assert response.json()["status"] == "duplicate"
    assert service.store.revision() == revision
    assert service.actions().count("model.disabled") == 1
    assert runner.requests == []


def test_second_incident_for_a_killed_model_keeps_the_first_reason(service: Service) -> None:
    _enable(service.store)
    service.post_webhook(incident_event(number=1, title="first"))
    response = service.post_webhook(incident_event(number=2, title="second"))
    assert response.status_code == 202
    assert response.json()["already_disabled"] is True
    assert _state(service).reason == "PagerDuty incident #1 first"
    assert service.store.revision() == 2


def test_oversize_body_is_413(service: Service) -> None:
    event = incident_event(title="x" * (300 * 1024))
    response = service.post_webhook(event)
    assert response.status_code == 413
    assert _state(service) is None


def test_no_secrets_configured_refuses_every_webhook(
    steward_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STEWARD_PAGERDUTY_WEBHOOK_SECRETS", raising=False)
    runner = Runner()
    app, (store, tokens) = _build(steward_home, f"sqlite:///{steward_home / 'ks.db'}", runner)
    with TestClient(app) as client:
        body = body_of(incident_event())
        response = client.post("/webhooks/pagerduty", content=body, headers=headers(body, SECRET))
    assert response.status_code == 401
    assert "STEWARD_PAGERDUTY_WEBHOOK_SECRETS" in response.json()["error"]
    assert store.all_states() == {}
    store.close()
    tokens.close()


def test_failing_ledger_answers_503_keeps_the_model_off_and_allows_the_retry(
    steward_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STEWARD_PAGERDUTY_WEBHOOK_SECRETS", SECRET)
    sink = Ledger.from_settings(load_settings()).append
    broken = {"on": True}

    def audit(**record: Any) -> Any:
        if broken["on"] and record["action"] == "model.disabled":
            raise OSError("ledger disk full")
        return sink(**record)

    runner = Runner()
    app, (store, tokens) = _build(
        steward_home, f"sqlite:///{steward_home / 'ks.db'}", runner, audit=audit
    )
    _enable(store)
    event = incident_event()
    body = body_of(event)
    hdrs = headers(body, SECRET, webhook_id="delivery-9")
    with TestClient(app) as client:
        assert client.post("/webhooks/pagerduty", content=body, headers=hdrs).status_code == 503
        state = store.get_state(MODEL)
        assert state is not None
        assert state.active is False  # the switch was written before the ledger failed
        broken["on"] = False
        retry = client.post("/webhooks/pagerduty", content=body, headers=hdrs)
    assert retry.status_code == 202
    assert retry.json()["already_disabled"] is True
    store.close()
    tokens.close()


def test_failing_kill_runner_never_fails_the_webhook(service: Service) -> None:
    service.runner.fail = True
    response = service.post_webhook(incident_event())
    assert response.status_code == 202
    assert service.runner.called.wait(30)
    assert _state(service).active is False


def test_default_runner_records_pending_follow_up_without_prefect_api(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    request = KillRequest(
        model=MODEL,
        reason="r",
        actor="pd",
        role="pagerduty",
        source="pagerduty",
        revision=3,
        idempotency_key="pagerduty:d-1",
    )
    assert PrefectKillRunner(tmp_path)(request) == "pending"
    lines = (tmp_path / "pending" / "kill-model.jsonl").read_text().splitlines()
    entry = json.loads(lines[0])
    assert entry["why"] == "PREFECT_API_URL is not set"
    assert entry["parameters"]["request"]["model"] == MODEL
    assert entry["idempotency_key"] == "pagerduty:d-1"


# ------------------------------------------------------------------------ status
def test_status_routes(service: Service) -> None:
    assert service.client.get("/models/unknown-model/status").status_code == 404
    assert service.client.get("/models/Bad Name/status").status_code == 400
    never = service.client.get(f"/models/{MODEL}/status").json()
    assert never["active"] is False
    assert never["changed_at"] is None
    _enable(service.store)
    status = service.client.get(f"/models/{MODEL}/status").json()
    assert {k: status[k] for k in ("model", "active", "version", "changed_by", "reason")} == {
        "model": MODEL,
        "active": True,
        "version": None,
        "changed_by": "ciso@example.com",
        "reason": "ok",
    }
    assert status["changed_at"].endswith("+00:00")


# ------------------------------------------------------------------------ tokens
def test_disable_and_enable_by_role(service: Service) -> None:
    _enable(service.store)
    url = f"/models/{MODEL}"
    assert service.client.post(f"{url}/disable").status_code == 401
    bogus = {"Authorization": "Bearer stw_not-a-real-token"}
    assert service.client.post(f"{url}/disable", headers=bogus).status_code == 401
    owner = service.token("owner")
    refused = service.client.post(f"{url}/disable", headers=owner)
    assert refused.status_code == 403
    assert "only a Guardian or an Operator" in refused.json()["error"]
    assert _state(service).active is True

    operator = service.token("operator", "oncall@example.com")
    done = service.client.post(f"{url}/disable", headers=operator, json={"reason": "bad outputs"})
    assert done.status_code == 200
    assert done.json()["active"] is False
    assert done.json()["reason"] == "bad outputs"
    assert done.json()["changed_by"] == "oncall@example.com"
    assert service.runner.called.wait(30)

    assert service.client.post(f"{url}/enable", headers=operator).status_code == 403
    assert _state(service).active is False
    guardian = service.token("guardian", "ciso@example.com")
    back = service.client.post(f"{url}/enable", headers=guardian, json={"reason": "fixed"})
    assert back.status_code == 200
    assert back.json()["active"] is True

    actions = service.actions()
    assert actions.count("access.refused") == 4
    assert actions.count("model.disabled") == 1
    assert actions.count("model.enabled") == 1
    refusals = [r for r in service.audit() if r["action"] == "access.refused"]
    assert [r["details"]["status"] for r in refusals] == [401, 401, 403, 403]


def test_disable_rejects_bad_bodies_and_unknown_models(service: Service) -> None:
    guardian = service.token("guardian")
    assert service.client.post("/models/no-such/disable", headers=guardian).status_code == 404
    response = service.client.post(
        f"/models/{MODEL}/disable", headers=guardian, content=b"{not json"
    )
    assert response.status_code == 400
    response = service.client.post(f"/models/{MODEL}/disable", headers=guardian, json=[1])
    assert response.status_code == 400
    assert _state(service) is None


def test_tokens_are_stored_only_as_hashes(service: Service, steward_home: Path) -> None:
    token, info = service.tokens.create(role="guardian", name="ciso@example.com")
    raw = (steward_home / "tokens.db").read_bytes()
    assert token.encode() not in raw
    assert info.digest == hash_token(token)
    assert service.tokens.lookup(token) is not None
    assert service.tokens.lookup(token + "x") is None


# ------------------------------------------------------------------------ ops
def test_healthz_and_metrics(service: Service) -> None:
    health = service.client.get("/healthz")
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    service.post_webhook(incident_event())
    body = service.client.post(
        "/webhooks/pagerduty", content=b"{}", headers={"X-PagerDuty-Signature": "v1=00"}
    )
    assert body.status_code == 401
    text = service.client.get("/metrics").text
    assert 'steward_kills_total{source="pagerduty"} 1.0' in text
    assert 'steward_webhooks_total{outcome="disabled",status="202"} 1.0' in text
    assert 'steward_webhooks_total{outcome="unauthenticated",status="401"} 1.0' in text
    assert (
        'steward_request_duration_seconds_count{method="POST",route="/webhooks/pagerduty"}' in text
    )


# ------------------------------------------------------------------------ real HTTP
class _Server:
    """uvicorn on a free loopback port, in a thread."""

    def __init__(self, app: Any):
        self.port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        self.thread.start()
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            self.thread.join(0.01)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)


@pytest.mark.slow
def test_real_http_webhook_on_redis_store(
    steward_home: Path, monkeypatch: pytest.MonkeyPatch, redis_url: str, redis_prefix: str
) -> None:
    from modelsteward import Guard, ModelDisabledError

    monkeypatch.setenv("STEWARD_PAGERDUTY_WEBHOOK_SECRETS", SECRET)
    runner = Runner()
    app, (store, tokens) = _build(steward_home, f"{redis_url}?prefix={redis_prefix}", runner)
    _enable(store)
    guard = Guard(open_store(f"{redis_url}?prefix={redis_prefix}"), owns_store=True)
    try:
        assert guard.wait_for_revision(1, 30)
        guard.check(MODEL)
        with _Server(app) as base, httpx.Client(base_url=base, timeout=10) as client:
            body = body_of(incident_event())
            response = client.post(
                "/webhooks/pagerduty", content=body, headers=headers(body, SECRET)
            )
            assert response.status_code == 202
            assert response.elapsed.total_seconds() < 5
            assert guard.wait_for_revision(response.json()["revision"], 30)
            with pytest.raises(ModelDisabledError, match="pagerduty"):
                guard.check(MODEL)
            status = client.get(f"/models/{MODEL}/status").json()
            assert status["active"] is False
            assert client.get("/healthz").json()["status"] == "ok"
    finally:
        guard.close()
        store.close()
        tokens.close()


def test_default_wiring_uses_the_ledger_and_records_pending_follow_up(
    steward_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STEWARD_PAGERDUTY_WEBHOOK_SECRETS", SECRET)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    app = create_app()
    ctx = app.state.steward
    with TestClient(app) as client:
        body = body_of(incident_event())
        response = client.post("/webhooks/pagerduty", content=body, headers=headers(body, SECRET))
        assert response.status_code == 202
    # leaving the client ran the shutdown: the follow-up finished, owned stores are closed
    assert ctx.owned == []
    pending = steward_home / "pending" / "kill-model.jsonl"
    assert (
        json.loads(pending.read_text().splitlines()[0])["parameters"]["request"]["model"] == MODEL
    )
    with Ledger.from_settings(load_settings()) as ledger:
        records = list(ledger.records(model=MODEL))
    assert [r.action for r in records] == ["model.disabled"]
    assert records[0].role == "pagerduty"
    with open_store(f"sqlite:///{steward_home / 'killswitch.db'}") as store:
        state = store.get_state(MODEL)
    assert state is not None
    assert state.active is False


def test_refusal_flood_is_counted_not_written_record_by_record(service: Service) -> None:
    from modelsteward.service.app import _Budget

    now = [0.0]
    service.app.state.steward.refusal_budget = _Budget(2, clock=lambda: now[0])
    bad = {"X-PagerDuty-Signature": "v1=" + "0" * 64}
    for _ in range(5):
        assert (
            service.client.post("/webhooks/pagerduty", content=b"{}", headers=bad).status_code
            == 401
        )
    assert service.actions() == ["access.refused"] * 2
    now[0] += 60  # the budget refills
    assert service.client.post("/webhooks/pagerduty", content=b"{}", headers=bad).status_code == 401
    records = service.audit()
    assert len(records) == 3
    assert records[-1]["details"]["suppressed"] == 3
    assert "steward_refusals_unaudited_total 3.0" in service.client.get("/metrics").text


def test_deliveries_without_ids_dedupe_on_their_bytes(service: Service) -> None:
    """No X-Webhook-Id and no event id: a byte-identical replay is a duplicate, another
    incident is not (it must never be swallowed as a duplicate)."""
    first = incident_event(incident_key="steward:fraud-detector:a")
    second = incident_event(incident_key="steward:other-model:b", service_id="PNONE")
    service.store.set_state(
        "other-model", active=True, actor="ciso@example.com", role="guardian", reason="ok"
    )
    for event in (first, second):
        event["event"].pop("id")
    responses = []
    for event in (first, first, second):
        body = body_of(event)
        hdrs = headers(body, SECRET)
        hdrs.pop("X-Webhook-Id")
        responses.append(
            service.client.post("/webhooks/pagerduty", content=body, headers=hdrs).json()["status"]
        )
    assert responses == ["disabled", "duplicate", "disabled"]
    states = service.store.all_states()
    assert not states["fraud-detector"].active
    assert not states["other-model"].active


def test_store_down_answers_503_never_500(
    steward_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STEWARD_PAGERDUTY_WEBHOOK_SECRETS", SECRET)
    runner = Runner()
    app, (store, tokens) = _build(steward_home, "redis://127.0.0.1:1/0", runner)
    guardian, _ = tokens.create(role="guardian", name="ciso@example.com")
    with TestClient(app, raise_server_exceptions=False) as client:
        body = body_of(incident_event())
        webhook = client.post("/webhooks/pagerduty", content=body, headers=headers(body, SECRET))
        status = client.get(f"/models/{MODEL}/status")
        health = client.get("/healthz")
        disable = client.post(
            f"/models/{MODEL}/disable", headers={"Authorization": f"Bearer {guardian}"}
        )
    assert (webhook.status_code, status.status_code, health.status_code) == (503, 503, 503)
    assert disable.status_code == 503
    assert health.json()["status"] == "degraded"
    assert runner.requests == []
    store.close()
    tokens.close()


def test_follow_up_parameters_fit_the_kill_model_flow() -> None:
    """The contract with flows/kill_model.py: what the service sends validates there."""
    from flows.kill_model import KillParameters

    request = KillRequest(
        model=MODEL,
        reason="PagerDuty incident #7 drift",
        actor="pagerduty:Tenex Engineer",
        role="pagerduty",
        source="pagerduty",
        revision=12,
        idempotency_key="pagerduty:d-7",
        incident="https://acme.pagerduty.com/incidents/Q1",
    )
    parsed = KillParameters.model_validate(request.parameters()["request"])
    assert (parsed.model, parsed.role, parsed.switch_revision) == (MODEL, "pagerduty", 12)
    assert parsed.incident == "https://acme.pagerduty.com/incidents/Q1"


def test_metrics_expose_each_models_latest_evaluation(service: Service) -> None:
    """Evaluations run in short-lived flow runs; the service exposes their latest gauges."""
    from modelsteward.monitoring import evaluate
    from modelsteward.monitoring.metrics import save_latest
    from tests._monitoring import policy, shifted, split

    reference, current = split()
    result = evaluate(
        policy(), shifted(current, ["mean_radius", "mean_texture"], 2.0), reference, version="7"
    )
    latest = service.home / "metrics" / "latest"
    save_latest(result, latest)
    (latest / "broken.json").write_text("{not json")  # skipped, never fails a scrape
    text = service.client.get("/metrics").text
    assert f'steward_drift_share{{model="{result.model}",version="7"}}' in text
    assert f'steward_evaluation_severity{{model="{result.model}",version="7"}}' in text


def test_only_this_models_guardian_may_enable_over_the_api(service: Service) -> None:
    _enable(service.store)
    service.store.set_state(
        MODEL, active=False, actor="o@example.com", role="operator", reason="drift"
    )
    other = service.token("guardian", "guardian-of-another-model@example.com")
    refused = service.client.post(f"/models/{MODEL}/enable", headers=other)
    assert refused.status_code == 403
    assert "not this model's Guardian" in refused.json()["error"]
    assert _state(service).active is False
    assert service.audit()[-1]["action"] == "access.refused"


def test_a_change_the_ledger_would_refuse_leaves_the_switch_alone(service: Service) -> None:
    _enable(service.store)
    service.store.set_state(
        MODEL, active=False, actor="o@example.com", role="operator", reason="drift"
    )
    before = len(service.audit())
    guardian = service.token("guardian", "ciso@example.com")
    response = service.client.post(
        f"/models/{MODEL}/enable", headers=guardian, json={"version": "1\n2"}
    )
    assert response.status_code == 400
    assert "control characters" in response.json()["error"]
    assert _state(service).active is False
    assert len(service.audit()) == before


def test_a_claimed_delivery_whose_kill_was_lost_is_redone(service: Service) -> None:
    """The service died between claiming a delivery and turning the switch off: PagerDuty's
    retry must kill, not be answered "duplicate"."""
    _enable(service.store)
    assert service.store.claim_once("pagerduty:wh-crashed")  # ... and then the process died
    response = service.post_webhook(incident_event(), webhook_id="wh-crashed")
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "disabled"
    assert _state(service).active is False
    replay = service.post_webhook(incident_event(), webhook_id="wh-crashed")
    assert replay.json()["status"] == "duplicate"
