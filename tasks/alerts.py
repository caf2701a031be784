"""Tasks of alerting: enqueue into the durable outbox, then deliver what is due.

Retried by Prefect only for network-ish failures (the outbox database or delivery lock busy,
a connection error); never for a bad alert or policy. Delivery problems themselves do not
fail the task: the alerts stay in the outbox with their backoff, and the next run (or
``steward alerts deliver``) sends them.
"""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from modelsteward.alerts import Alert, AlertDispatcher
from modelsteward.errors import ExternalServiceError
from modelsteward.policy import Policy
from modelsteward.settings import StewardSettings, load_settings

__all__ = ["resolve_alerts", "send_alerts"]


def _network_error_only(task: Any, task_run: Any, state: Any) -> bool:
    """Retry only when the failure is an outside system or the network, never our data."""
    try:
        state.result()
    except ExternalServiceError:
        return True
    except (ConnectionError, TimeoutError):
        return True
    except Exception:
        return False
    return False


@task(
    name="send-alerts",
    retries=3,
    retry_delay_seconds=[2, 10, 30],
    retry_condition_fn=_network_error_only,
    cache_policy=NO_CACHE,
)
def send_alerts(
    alerts: list[Alert],
    policy: Policy,
    settings: StewardSettings | None = None,
    wait_seconds: float = 30.0,
) -> dict[str, Any]:
    """Enqueue ``alerts`` (routed by ``policy``), then deliver everything due.

    Idempotent: a retried run enqueues nothing twice (each alert's key), and a delivered row
    is never sent again. Returns the delivery report's summary plus the rows enqueued.
    """
    settings = settings or load_settings()
    with AlertDispatcher.from_settings(settings) as dispatcher:
        enqueued = dispatcher.enqueue_many(alerts, policy)
        report = dispatcher.deliver_pending(wait_seconds=wait_seconds)
    return {"enqueued": len(enqueued), **report.summary()}


@task(
    name="resolve-alerts",
    retries=3,
    retry_delay_seconds=[2, 10, 30],
    retry_condition_fn=_network_error_only,
    cache_policy=NO_CACHE,
)
def resolve_alerts(
    model: str,
    version: str,
    signals: list[str],
    settings: StewardSettings | None = None,
    wait_seconds: float = 30.0,
) -> dict[str, Any]:
    """The evaluation was clean: resolve the PagerDuty incidents and threads of ``signals``."""
    settings = settings or load_settings()
    with AlertDispatcher.from_settings(settings) as dispatcher:
        resolved = [e.id for s in signals for e in dispatcher.resolve(model, version, s)]
        report = dispatcher.deliver_pending(wait_seconds=wait_seconds)
    return {"resolutions": len(resolved), **report.summary()}
