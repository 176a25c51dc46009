"""Metrics (Prometheus) and structured logs (structlog); readiness is served by bot.api.ops."""
