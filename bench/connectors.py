"""Benchmark: how fast a connector answers its sender, and how fast the worker maps the rows.

    .venv/bin/python bench/connectors.py [--orders 300]

Posts ``--orders`` Shopify ``orders/create`` deliveries (Shopify's own SDK sample, a new order
and customer id each, signed as Shopify signs) through the real FastAPI app in-process, on a
SQLite file, and prints the answer time per delivery (p50, p95, max: verify + store raw +
answer), then the worker's time to map and ingest all the stored rows (business events per
second). The inputs are the stored sample (tests/bot/connectors/samples) varied by id only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bot.engine.wiring import App

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.api.app import create_api  # noqa: E402
from bot.connectors.base import hmac_b64  # noqa: E402
from bot.connectors.routes import connectors_router  # noqa: E402
from bot.connectors.worker import process_pending  # noqa: E402
from bot.engine.wiring import build_app  # noqa: E402
from bot.infra.settings import Settings  # noqa: E402

SECRET = "bench-secret"
NOW = datetime(2026, 11, 17, 10, 0, tzinfo=UTC)


async def _post_all(app: App, orders: int) -> list[float]:
    sample = json.loads((ROOT / "tests/bot/connectors/samples/shopify_orders_create.json").read_text())
    transport = httpx.ASGITransport(app=create_api(app, [connectors_router()]))
    times: list[float] = []
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
        for n in range(orders):
            order = {**sample, "id": 10_000 + n, "customer": {**sample["customer"], "id": 20_000 + n}}
            body = json.dumps(order).encode()
            headers = {
                "X-Shopify-Topic": "orders/create",
                "X-Shopify-Webhook-Id": f"bench-{n}",
                "X-Shopify-Hmac-Sha256": hmac_b64(SECRET, body),
            }
            start = time.perf_counter()
            answer = await http.post("/v1/connectors/shopify", content=body, headers=headers)
            times.append(time.perf_counter() - start)
            assert answer.status_code == 200, answer.text
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            _env_file=None,
            database_url=f"sqlite:///{tmp}/bench.db",
            shopify_secret=SECRET,
            quiet_hours="off",
        )
        app = build_app(settings, clock=lambda: NOW)
        times = asyncio.run(_post_all(app, args.orders))
        start = time.perf_counter()
        done = 0
        while batch := process_pending(app, NOW, limit=100):
            done += sum(batch.values())
        mapped = time.perf_counter() - start
        app.db.dispose()
    ms = sorted(t * 1000 for t in times)
    p95 = ms[int(len(ms) * 0.95) - 1]
    print(f"answer per delivery (verify + store raw), {len(ms)} Shopify orders/create on SQLite:")
    print(f"  p50 {statistics.median(ms):.1f} ms   p95 {p95:.1f} ms   max {ms[-1]:.1f} ms")
    print(f"worker: {done} deliveries mapped and ingested in {mapped:.2f} s ({done / mapped:.0f}/s)")


if __name__ == "__main__":
    main()
