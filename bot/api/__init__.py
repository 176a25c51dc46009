"""The HTTP API (FastAPI): events in, Telegram webhook, health and metrics."""
