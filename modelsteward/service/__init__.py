"""The HTTP service (``steward serve``): the kill switch from outside, in one small ASGI app.

``POST /webhooks/pagerduty`` turns a model off when PagerDuty triggers an incident for it
(signed, deduplicated, audited, with a ``kill-model`` follow-up run); ``GET
/models/{model}/status``; ``POST /models/{model}/disable|enable`` with role tokens;
``/healthz`` and ``/metrics``. :func:`create_app` builds it; parts can be injected for tests.
Light: no Prefect, MLflow or pandas at import.
"""

from modelsteward.service.app import ServiceContext, create_app, status_of

__all__ = ["ServiceContext", "create_app", "status_of"]
