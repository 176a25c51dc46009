"""Metrics (Prometheus), structured logs (structlog) and readiness."""
