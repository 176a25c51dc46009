"""``cxbot connectors``: each connector's URL, secret status and last deliveries; replay after a fix."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bot.cli.common import handles_errors, load_app

if TYPE_CHECKING:
    from bot.engine.wiring import App


def _url(public_url: str | None, port: int, name: str) -> str:
    base = (public_url or f"http://<your-host>:{port}").rstrip("/")
    return f"{base}/v1/connectors/{name}"


def overview(app: App, limit: int) -> list[dict[str, Any]]:
    """Return, per connector, its URL, whether its secret is set, counts and last deliveries."""
    from bot.connectors import CONNECTORS
    from storage import connector_deliveries as store

    settings = app.settings
    rows = []
    for name, connector in CONNECTORS.items():
        secret = getattr(settings, connector.setting, None)
        rows.append(
            {
                "connector": name,
                "title": connector.title,
                "url": _url(settings.public_url, settings.http_port, name),
                "secret": "set" if secret is not None and secret.get_secret_value() else "missing",
                "setting": f"CXBOT_{connector.setting.upper()}",
                "counts": store.counts(app.db, name),
                "bodies_erased": store.bodies_erased(app.db, name),
                "body_retention_days": settings.connector_body_retention_days,
                "last": [
                    {
                        "id": d["id"],
                        "received_at": d["received_at"].isoformat(),
                        "topic": d["topic"],
                        "status": d["status"],
                        "duplicates": d["duplicates"],
                        "detail": d["detail"],
                    }
                    for d in store.recent(app.db, name, limit)
                ],
                "steps": list(connector.steps),
                "direction": "inbound",
            }
        )
    for name, channel in outbound_channels().items():
        found = store.outbound(app.db, (channel,), limit)[channel]
        rows.append(
            {
                "connector": name,
                "direction": "outbound",
                "channel": channel,
                "counts": found["counts"],
                "failures": [
                    {
                        "id": f["id"],
                        "kind": f["kind"],
                        "status": f["status"],
                        "attempts": f["attempts"],
                        "error": f["error"],
                        "created_at": f["created_at"].isoformat(),
                    }
                    for f in found["failures"]
                ],
            }
        )
    return rows


def outbound_channels() -> dict[str, str]:
    """Return cxbot's own deliveries to the platforms: name shown → outbox channel."""
    from bot.connectors import chatwoot_out, deeplink_mail

    return {"chatwoot-api": chatwoot_out.CHANNEL, "deep-link-mail": deeplink_mail.CHANNEL}


@handles_errors
def connectors_command(
    ctx: typer.Context,
    last: Annotated[int, typer.Option(min=0, max=100, help="Deliveries shown per connector.")] = 5,
    fmt: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
    steps: Annotated[bool, typer.Option(help="Also print how to connect each platform.")] = False,
    database_url: Annotated[str | None, typer.Option(help="Overrides CXBOT_DATABASE_URL.")] = None,
) -> None:
    """List each connector: URL to paste in the platform, secret status, last deliveries and outcomes.

    Outcomes: ok, ignored (nothing to do), unmapped (stored, not understood: fix and replay),
    failed, rejected (bad signature, with the reason); "dup" counts redeliveries. Then what cxbot
    sends them (Chatwoot notes, deep-link e-mails): sent, pending, retrying, failed, with errors.
    """
    if ctx.invoked_subcommand is not None:
        return
    app = load_app(database_url)
    rows = overview(app, last)
    app.db.dispose()
    if fmt == "json":
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    days = app.settings.connector_body_retention_days
    kept = f"raw bodies kept {days} days, then erased" if days else "raw bodies kept (no retention)"
    typer.echo(f"{kept} (CXBOT_CONNECTOR_BODY_RETENTION_DAYS); ids and outcomes stay for duplicates")
    for row in rows:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(row["counts"].items())) or "no deliveries"
        if row["direction"] == "outbound":  # what cxbot sends them: failures named, never silent
            typer.echo(f"{row['connector']:<12} (outbound) {counts}")
            for f in row["failures"]:
                typer.echo(
                    f"{'':<12} #{f['id']} {f['kind']} {f['status']} (attempts {f['attempts']}) — {f['error']}"
                )
            continue
        typer.echo(f"{row['connector']:<12} {row['url']}")
        erased = f"; {row['bodies_erased']} bodies erased" if row["bodies_erased"] else ""
        typer.echo(f"{'':<12} secret {row['secret']} ({row['setting']}); {counts}{erased}")
        for step in row["steps"] if steps else []:
            typer.echo(f"{'':<12} - {step}")
        for d in row["last"]:
            detail = f" — {d['detail']}" if d["detail"] else ""
            dup = f" (dup x{d['duplicates']})" if d["duplicates"] else ""
            typer.echo(
                f"{'':<12} #{d['id']} {d['received_at']} {d['topic'] or '-'} {d['status']}{dup}{detail}"
            )


@handles_errors
def replay_command(
    delivery: Annotated[
        int | None, typer.Argument(help="The delivery's # (from `cxbot connectors`).")
    ] = None,
    status: Annotated[
        str | None, typer.Option(help="Replay every delivery with this status (unmapped…).")
    ] = None,
    database_url: Annotated[str | None, typer.Option(help="Overrides CXBOT_DATABASE_URL.")] = None,
) -> None:
    """Map stored deliveries again (after a mapping fix or a missing customer was added)."""
    from bot.connectors.worker import process_pending
    from storage import connector_deliveries as store

    if delivery is None and status is None:
        raise typer.BadParameter("give a delivery # or --status")
    app = load_app(database_url)
    count = store.replay(app.db, delivery=delivery, status=status)
    results = process_pending(app, app.service.clock(), limit=max(count, 1))
    app.db.dispose()
    summary = ", ".join(f"{k} {v}" for k, v in sorted(results.items())) or "nothing to do"
    typer.echo(f"replayed {count}: {summary}")


def register(app: typer.Typer) -> None:
    """Attach ``connectors`` (and ``connectors replay``) to the cxbot CLI."""
    group = typer.Typer(help="Shop, tracking and helpdesk webhooks: URLs, secrets, last deliveries, replay.")
    group.callback(invoke_without_command=True)(connectors_command)
    group.command("replay")(replay_command)
    app.add_typer(group, name="connectors")
