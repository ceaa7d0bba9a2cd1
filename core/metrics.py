"""Prometheus metrics of the server process (exposed at /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "stigmer_http_requests_total", "REST requests", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "stigmer_http_request_seconds", "REST request latency", ["method", "route"]
)
GRPC_REQUESTS = Counter("stigmer_grpc_requests_total", "gRPC requests", ["method", "code"])
GRPC_LATENCY = Histogram("stigmer_grpc_request_seconds", "gRPC request latency", ["method"])
STATUS_UPDATES = Counter(
    "stigmer_status_updates_total",
    "Status updates by outcome (applied, stale, refused)",
    ["outcome"],
)
PUBLISH_LATENCY = Histogram(
    "stigmer_publish_seconds",
    "Time to publish one state on Redis",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
PUBLISH_FAILURES = Counter("stigmer_publish_failures_total", "Publishes that failed")
BUS_EVENTS_REFUSED = Counter(
    "stigmer_bus_events_refused_total", "Bus events dropped because storage does not back them"
)
ACTIVE_WATCHERS = Gauge("stigmer_active_watchers", "Clients watching an execution")
HUB_SUBSCRIPTIONS = Gauge(
    "stigmer_hub_subscriptions", "Redis channel subscriptions held by this process"
)
BACKGROUND_TASK_UP = Gauge(
    "stigmer_background_task_up", "1 while a background task the server depends on runs", ["task"]
)
BACKGROUND_TASK_RESTARTS = Counter(
    "stigmer_background_task_restarts_total", "Restarts of a background task after it failed", ["task"]
)
WATCHERS_DROPPED = Counter(
    "stigmer_watchers_dropped_total", "Watch streams the server ended early, by reason", ["reason"]
)
