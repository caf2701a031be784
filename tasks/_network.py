"""Retry policy shared by tasks that talk to an outside service: network errors only.

Integrity and policy errors (a bad signature, an unsafe pickle, an unknown model) are never
retried: retrying cannot fix them and would only delay the refusal.
"""

from __future__ import annotations

from typing import Any

from modelsteward.errors import ExternalServiceError

__all__ = ["NETWORK_RETRIES", "NETWORK_RETRY_DELAYS", "network_error"]

NETWORK_RETRIES = 3
NETWORK_RETRY_DELAYS = [1, 4, 10]


def network_error(task: Any, task_run: Any, state: Any) -> bool:
    """Prefect ``retry_condition_fn``: retry only when the failure is an outside service's."""
    error = getattr(state, "data", None)
    if not isinstance(error, BaseException):
        try:
            error = state.result(raise_on_failure=False)
        except Exception:  # the result itself cannot be read: do not retry blindly
            return False
    return isinstance(error, (ExternalServiceError, ConnectionError, TimeoutError))
