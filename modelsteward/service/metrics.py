"""Prometheus metrics of the HTTP service, on a registry private to each app."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

__all__ = ["ServiceMetrics"]


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.kills = Counter(
            "steward_kills",
            "Models turned off by the service, by source (pagerduty, api).",
            ["source"],
            registry=self.registry,
        )
        self.enables = Counter(
            "steward_enables", "Models turned on through the API.", registry=self.registry
        )
        self.webhooks = Counter(
            "steward_webhooks",
            "PagerDuty webhook deliveries by outcome and HTTP status.",
            ["outcome", "status"],
            registry=self.registry,
        )
        self.refusals = Counter(
            "steward_refusals",
            "Refused requests (401/403/413) by route and status.",
            ["route", "status"],
            registry=self.registry,
        )
        self.refusals_unaudited = Counter(
            "steward_refusals_unaudited",
            "Refusals over the audit budget: counted here, summed into the next audit record.",
            registry=self.registry,
        )
        self.follow_ups = Counter(
            "steward_kill_follow_ups",
            "kill-model follow-ups by result (started, pending, failed).",
            ["result"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "steward_request_duration_seconds",
            "Request latency by route.",
            ["method", "route"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
