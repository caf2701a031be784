"""The HTTP service: PagerDuty webhooks, status, kill and re-enable by token, health, metrics.

Every route that changes the switch writes it first, then the audit record, then answers; the
``kill-model`` follow-up runs on a background thread through a pluggable kill runner and never
delays or fails the response. Blocking store, ledger and token calls run in Starlette's thread
pool. Nothing here imports Prefect, MLflow or pandas.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from modelsteward.errors import (
    AuthorizationError,
    ConfigError,
    ExternalServiceError,
    StewardError,
)
from modelsteward.killswitch import KillSwitchStore, SwitchState, open_store, validate_model_name
from modelsteward.killswitch.control import (
    ACCESS_REFUSED,
    WEBHOOK_RECEIVED,
    AuditSink,
    KillRequest,
    disable_model,
    enable_model,
    ledger_sink,
    may_disable,
    may_enable,
    status_of,
)
from modelsteward.service.metrics import ServiceMetrics
from modelsteward.service.runner import KillRunner, PrefectKillRunner
from modelsteward.service.tokens import TokenInfo, TokenStore
from modelsteward.service.webhooks import (
    MalformedWebhookError,
    WebhookEvent,
    model_for,
    parse_event,
    service_map,
    verify_signature,
)

if TYPE_CHECKING:
    from modelsteward.policy import Policy
    from modelsteward.settings import StewardSettings

__all__ = ["ServiceContext", "create_app", "status_of"]

log = logging.getLogger(__name__)

Endpoint = Callable[[Request], Awaitable[Response]]
_MAX_API_BODY_BYTES = 16 * 1024


#: Refusals audited per minute before they are only counted (see :func:`_audit_quietly`).
REFUSAL_AUDITS_PER_MINUTE = 120


class _Budget:
    """A token bucket that remembers how many takes it refused since the last success."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic):
        self.capacity = float(per_minute)
        self.tokens = float(per_minute)
        self.rate = per_minute / 60.0
        self.clock = clock
        self.updated = clock()
        self.refused = 0
        self._lock = threading.Lock()

    def take(self) -> int | None:
        """``None`` when over budget; else how many takes were refused before this one."""
        with self._lock:
            now = self.clock()
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            if self.tokens < 1:
                self.refused += 1
                return None
            self.tokens -= 1
            refused, self.refused = self.refused, 0
            return refused


@dataclass
class ServiceContext:
    """Everything the routes share; ``app.state.steward``."""

    settings: StewardSettings
    store: KillSwitchStore
    audit: AuditSink
    tokens: TokenStore
    policies: dict[str, Policy]
    kill_runner: KillRunner
    metrics: ServiceMetrics = field(default_factory=ServiceMetrics)
    owned: list[Any] = field(default_factory=list)
    executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(2, thread_name_prefix="steward-kill-runner")
    )

    refusal_budget: _Budget = field(default_factory=lambda: _Budget(REFUSAL_AUDITS_PER_MINUTE))

    def __post_init__(self) -> None:
        self.secrets = [
            s.get_secret_value().encode() for s in self.settings.pagerduty_webhook_secrets
        ]
        self.services = service_map(self.policies.values())

    def known(self, model: str, state: SwitchState | None) -> bool:
        return state is not None or model in self.policies

    def start_follow_up(self, request: KillRequest) -> None:
        """Hand the kill-model follow-up to the background executor; never raises."""

        def run() -> None:
            try:
                result = self.kill_runner(request)
            except Exception:
                log.exception("event=kill_follow_up_failed model=%s", request.model)
                self.metrics.follow_ups.labels("failed").inc()
                return
            self.metrics.follow_ups.labels("pending" if result == "pending" else "started").inc()

        try:
            self.executor.submit(run)
        except RuntimeError:  # executor shut down: the service is stopping
            log.error("event=kill_follow_up_not_started model=%s", request.model)

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=False)
        for resource in self.owned:
            resource.close()
        self.owned.clear()


def _error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def _ctx(request: Request) -> ServiceContext:
    ctx: ServiceContext = request.app.state.steward
    return ctx


def _timed(route: str, endpoint: Endpoint) -> Endpoint:
    async def timed(request: Request) -> Response:
        started = time.perf_counter()
        try:
            return await endpoint(request)
        finally:
            _ctx(request).metrics.latency.labels(request.method, route).observe(
                time.perf_counter() - started
            )

    return timed


async def _read_body(request: Request, limit: int) -> bytes | None:
    """The body, or ``None`` when it is larger than ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


async def _audit_quietly(ctx: ServiceContext, **record: Any) -> None:
    """Audit a refusal; a failing ledger is logged, never turned into a 500.

    A flood of refusals (a scanner, a misconfigured sender) would otherwise fill the ledger
    with one durable record each: past :data:`REFUSAL_AUDITS_PER_MINUTE` they are counted, and
    the next audited refusal carries how many were left out (``details.suppressed``).
    """
    suppressed = ctx.refusal_budget.take()
    if suppressed is None:
        ctx.metrics.refusals_unaudited.inc()
        return
    if suppressed:
        record["details"] = {**(record.get("details") or {}), "suppressed": suppressed}
    try:
        await run_in_threadpool(ctx.audit, **record)
    except Exception as err:
        log.error("event=audit_failed action=%s error=%s", record.get("action"), err)


# --------------------------------------------------------------------------- webhooks
async def pagerduty_webhook(request: Request) -> Response:
    ctx = _ctx(request)
    try:
        return await _pagerduty_webhook(ctx, request)
    except Exception:  # never a 500: PagerDuty retries a 503
        log.exception("event=webhook_error")
        ctx.metrics.webhooks.labels("error", "503").inc()
        return _error(503, "internal error; the delivery may be retried")


async def _pagerduty_webhook(ctx: ServiceContext, request: Request) -> Response:
    webhook_id = request.headers.get("x-webhook-id", "")[:200]
    body = await _read_body(request, ctx.settings.max_webhook_body_bytes)
    if body is None:
        ctx.metrics.webhooks.labels("too_large", "413").inc()
        ctx.metrics.refusals.labels("webhook", "413").inc()
        return _error(413, f"body larger than {ctx.settings.max_webhook_body_bytes} bytes")
    signature = request.headers.get("x-pagerduty-signature")
    if not verify_signature(body, signature, ctx.secrets):
        why = "missing signature" if not signature else "bad signature"
        if not ctx.secrets:
            why = "no webhook secret configured (STEWARD_PAGERDUTY_WEBHOOK_SECRETS)"
            log.error("event=webhook_refused why=no_secrets_configured")
        ctx.metrics.webhooks.labels("unauthenticated", "401").inc()
        ctx.metrics.refusals.labels("webhook", "401").inc()
        await _audit_quietly(
            ctx,
            action=ACCESS_REFUSED,
            actor="pagerduty-webhook",
            role="pagerduty",
            details={
                "route": "/webhooks/pagerduty",
                "why": why,
                "webhook_id": webhook_id,
                "client": request.client.host if request.client else None,
            },
        )
        return _error(401, why)
    try:
        event = parse_event(body)
    except MalformedWebhookError as err:
        ctx.metrics.webhooks.labels("malformed", "400").inc()
        return _error(400, f"malformed webhook: {err}")
    if not event.is_trigger:
        ctx.metrics.webhooks.labels("ignored", "202").inc()
        return JSONResponse({"status": "ignored", "event_type": event.event_type}, 202)
    # One trip to the thread pool for all the blocking work of a kill.
    # the delivery's identity: its X-Webhook-Id, else the event id, else the exact bytes
    delivery = webhook_id or event.id or "sha256:" + hashlib.sha256(body).hexdigest()
    status, payload, follow_up = await run_in_threadpool(
        _kill_for, ctx, event, webhook_id, delivery
    )
    if follow_up is not None:
        ctx.start_follow_up(follow_up)
    return JSONResponse(payload, status)


def _kill_for(
    ctx: ServiceContext, event: WebhookEvent, webhook_id: str, delivery: str
) -> tuple[int, dict[str, Any], KillRequest | None]:
    """Map the incident to a model, claim the delivery, switch off, audit (blocking)."""
    model = model_for(event, ctx.services)
    state = ctx.store.get_state(model) if model is not None else None
    actor = f"pagerduty:{event.agent or 'unknown'}"
    if model is None or not ctx.known(model, state):
        ctx.metrics.webhooks.labels("unknown_model", "400").inc()
        _audit_sync(
            ctx,
            action=WEBHOOK_RECEIVED,
            actor=actor,
            role="pagerduty",
            model=None,
            details={
                "outcome": "unknown_model",
                "incident_key": event.incident_key,
                "service_id": event.service_id,
                "incident_id": event.incident_id,
                "webhook_id": webhook_id,
            },
        )
        message = (
            "no model for this incident: use an incident key steward:<model>:... or a "
            "service id named in a policy (roles.*.pagerduty.service_id)"
        )
        payload: dict[str, Any] = {
            "error": message,
            "incident_key": event.incident_key,
            "service_id": event.service_id,
        }
        return 400, payload, None
    claim = f"pagerduty:{delivery}"
    done = f"pagerduty-done:{delivery}"
    if not ctx.store.claim_once(claim):
        if not ctx.store.claim_once(done):
            ctx.metrics.webhooks.labels("duplicate", "200").inc()
            return 200, {"status": "duplicate", "model": model}, None
        # claimed but never finished: the first delivery died between claim and kill; redo
        ctx.store.release(done)
    number = f"#{event.incident_number} " if event.incident_number is not None else ""
    reason = f"PagerDuty incident {number}{event.title or event.incident_id or ''}".strip()[:500]
    try:
        new_state, changed = disable_model(
            ctx.store,
            ctx.audit,
            model=model,
            actor=actor,
            role="pagerduty",
            reason=reason,
            source="pagerduty",
            details={
                "incident_id": event.incident_id,
                "incident_key": event.incident_key,
                "incident_url": event.html_url,
                "webhook_id": webhook_id,
                "event_id": event.id,
            },
        )
    except Exception:
        try:
            ctx.store.release(claim)  # let PagerDuty's retry redo it
        except Exception as err:
            log.error("event=claim_release_failed claim=%s error=%s", claim, err)
        raise
    ctx.store.claim_once(done)  # switch off and on record: a replay is now a duplicate
    if changed:
        ctx.metrics.kills.labels("pagerduty").inc()
    ctx.metrics.webhooks.labels("disabled", "202").inc()
    follow_up = KillRequest(
        model=model,
        reason=reason,
        actor=actor,
        role="pagerduty",
        source="pagerduty",
        revision=new_state.revision,
        idempotency_key=claim,
        incident=event.html_url or event.incident_key or event.incident_id,
    )
    payload = {
        "status": "disabled",
        "model": model,
        "revision": new_state.revision,
        "already_disabled": not changed,
    }
    return 202, payload, follow_up


def _audit_sync(ctx: ServiceContext, **record: Any) -> None:
    try:
        ctx.audit(**record)
    except Exception as err:
        log.error("event=audit_failed action=%s error=%s", record.get("action"), err)


# --------------------------------------------------------------------------- models
def _model_param(request: Request) -> str | None:
    model = str(request.path_params["model"])
    try:
        return validate_model_name(model)
    except ConfigError:
        return None


async def model_status(request: Request) -> Response:
    ctx = _ctx(request)
    model = _model_param(request)
    if model is None:
        return _error(400, "invalid model name")
    try:
        state = await run_in_threadpool(ctx.store.get_state, model)
    except ExternalServiceError as err:
        return _error(503, str(err))
    if not ctx.known(model, state):
        return _error(404, f"unknown model {model!r}: no policy and no kill-switch state")
    return JSONResponse(status_of(model, state))


async def _authenticate(
    ctx: ServiceContext, request: Request, model: str, attempted: str
) -> TokenInfo | Response:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    info = None
    if scheme.lower() == "bearer" and token.strip():
        info = await run_in_threadpool(ctx.tokens.lookup, token.strip())
    if info is None:
        why = "missing bearer token" if not token.strip() else "unknown token"
        ctx.metrics.refusals.labels(attempted, "401").inc()
        await _audit_quietly(
            ctx,
            action=ACCESS_REFUSED,
            actor="anonymous",
            role="system",
            model=model,
            details={"attempted": attempted, "why": why, "status": 401},
        )
        return _error(401, f"{why}: send Authorization: Bearer <token> (steward token create)")
    allowed = (
        may_enable(info.role) if attempted == "enable" else may_disable(info.role, via_api=True)
    )
    if not allowed:
        ctx.metrics.refusals.labels(attempted, "403").inc()
        await _audit_quietly(
            ctx,
            action=ACCESS_REFUSED,
            actor=info.name,
            role=info.role,
            model=model,
            details={"attempted": attempted, "why": f"role {info.role} may not", "status": 403},
        )
        who = "only a Guardian" if attempted == "enable" else "only a Guardian or an Operator"
        return _error(403, f"{info.role} token {info.name!r} may not {attempted}: {who} may")
    if attempted == "enable":
        # a Guardian token is not enough: it must name this model's Guardian (or a delegate)
        policy = ctx.policies.get(model)
        if policy is None or not policy.roles.guardian.may_act(info.name):
            why = (
                "no policy names this model's Guardian"
                if policy is None
                else f"{info.name} is not this model's Guardian or a delegate"
            )
            ctx.metrics.refusals.labels(attempted, "403").inc()
            await _audit_quietly(
                ctx,
                action=ACCESS_REFUSED,
                actor=info.name,
                role=info.role,
                model=model,
                details={"attempted": attempted, "why": why, "status": 403},
            )
            return _error(403, f"guardian token {info.name!r} may not enable {model!r}: {why}")
    return info


async def _json_body(request: Request) -> dict[str, Any] | Response:
    body = await _read_body(request, _MAX_API_BODY_BYTES)
    if body is None:
        return _error(413, f"body larger than {_MAX_API_BODY_BYTES} bytes")
    if not body.strip():
        return {}
    import json

    try:
        data = json.loads(body)
    except ValueError:
        return _error(400, 'body is not JSON; expected {"reason": "..."}')
    if not isinstance(data, dict):
        return _error(400, 'expected a JSON object like {"reason": "..."}')
    for key in ("reason", "version"):
        if key in data and not isinstance(data[key], str):
            return _error(400, f"{key} must be a string")
    return data


async def _change(request: Request, attempted: str) -> Response:
    ctx = _ctx(request)
    model = _model_param(request)
    if model is None:
        return _error(400, "invalid model name")
    caller = await _authenticate(ctx, request, model, attempted)
    if isinstance(caller, Response):
        return caller
    body = await _json_body(request)
    if isinstance(body, Response):
        return body
    state = await run_in_threadpool(ctx.store.get_state, model)
    if not ctx.known(model, state):
        return _error(404, f"unknown model {model!r}: no policy and no kill-switch state")
    reason = str(body.get("reason") or f"{attempted}d through the API by {caller.name}")[:500]
    try:
        if attempted == "disable":
            new_state, changed = await run_in_threadpool(
                lambda: disable_model(
                    ctx.store,
                    ctx.audit,
                    model=model,
                    actor=caller.name,
                    role=caller.role,
                    reason=reason,
                    source="api",
                )
            )
            if changed:
                ctx.metrics.kills.labels("api").inc()
            ctx.start_follow_up(
                KillRequest(
                    model=model,
                    reason=reason,
                    actor=caller.name,
                    role=caller.role,
                    source="api",
                    revision=new_state.revision,
                    idempotency_key=f"api:{model}:{new_state.revision}",
                )
            )
        else:
            new_state = await run_in_threadpool(
                lambda: enable_model(
                    ctx.store,
                    ctx.audit,
                    model=model,
                    actor=caller.name,
                    role=caller.role,
                    reason=reason,
                    source="api",
                    version=body.get("version"),
                )
            )
            ctx.metrics.enables.inc()
    except AuthorizationError as err:
        return _error(403, str(err))
    except ConfigError as err:  # refused before the switch moved: nothing changed
        return _error(400, str(err))
    except StewardError as err:
        log.error("event=change_failed model=%s attempted=%s error=%s", model, attempted, err)
        return _error(503, str(err))
    return JSONResponse(status_of(model, new_state))


async def _change_safely(request: Request, attempted: str) -> Response:
    try:
        return await _change(request, attempted)
    except Exception as err:  # the store or ledger is down: retryable, never a bare 500
        log.error("event=change_failed attempted=%s error=%s", attempted, err)
        return _error(503, f"cannot {attempted} now: {err}")


async def disable(request: Request) -> Response:
    return await _change_safely(request, "disable")


async def enable(request: Request) -> Response:
    return await _change_safely(request, "enable")


# --------------------------------------------------------------------------- ops
async def healthz(request: Request) -> Response:
    ctx = _ctx(request)
    try:
        revision = await run_in_threadpool(ctx.store.revision)
    except Exception as err:
        return JSONResponse({"status": "degraded", "store": str(err)}, 503)
    return JSONResponse({"status": "ok", "store": str(ctx.store.url), "revision": revision})


async def metrics(request: Request) -> Response:
    """The service's own metrics, then the gauges of each model's latest evaluation."""
    ctx = _ctx(request)
    body = generate_latest(ctx.metrics.registry)
    latest = ctx.settings.home / "metrics" / "latest"
    if latest.is_dir():
        from modelsteward.monitoring.metrics import latest_exposition

        body += await run_in_threadpool(latest_exposition, latest)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def create_app(
    settings: StewardSettings | None = None,
    *,
    store: KillSwitchStore | None = None,
    audit: AuditSink | None = None,
    kill_runner: KillRunner | None = None,
    tokens: TokenStore | None = None,
    policies: dict[str, Policy] | None = None,
) -> Starlette:
    """The service on ``settings`` (default :func:`load_settings`); parts may be injected.

    Stores it opens itself are closed at shutdown (``app.state.steward.close()``).
    """
    from modelsteward.settings import load_settings

    settings = settings or load_settings()
    owned: list[Any] = []
    if store is None:
        store = open_store(settings.killswitch)
        owned.append(store)
    if tokens is None:
        tokens = TokenStore.at_home(settings.home)
        owned.append(tokens)
    if policies is None:
        policies = {}
        if settings.policy_dir.is_dir():
            from modelsteward.policy import load_policy_dir

            policies = load_policy_dir(settings.policy_dir)
    if audit is None:
        audit = ledger_sink(settings)
        ledger = getattr(audit, "__self__", None)  # Ledger.append: close the ledger at shutdown
        if ledger is not None and hasattr(ledger, "close"):
            owned.append(ledger)
    ctx = ServiceContext(
        settings=settings,
        store=store,
        audit=audit,
        tokens=tokens,
        policies=policies,
        kill_runner=kill_runner or PrefectKillRunner(settings.home),
        owned=owned,
    )
    if not ctx.secrets:
        log.warning(
            "event=no_webhook_secrets every PagerDuty webhook will be refused; set "
            "STEWARD_PAGERDUTY_WEBHOOK_SECRETS"
        )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        await run_in_threadpool(ctx.close)

    routes = [
        Route(
            "/webhooks/pagerduty",
            _timed("/webhooks/pagerduty", pagerduty_webhook),
            methods=["POST"],
        ),
        Route(
            "/models/{model}/status",
            _timed("/models/{model}/status", model_status),
            methods=["GET"],
        ),
        Route(
            "/models/{model}/disable", _timed("/models/{model}/disable", disable), methods=["POST"]
        ),
        Route("/models/{model}/enable", _timed("/models/{model}/enable", enable), methods=["POST"]),
        Route("/healthz", _timed("/healthz", healthz), methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.steward = ctx
    return app
