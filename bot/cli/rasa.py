"""``cxbot rasa-actions``: the Rasa action server (rasa-sdk protocol) running cxbot's survey."""

from __future__ import annotations

from typing import Annotated

import typer

from bot.cli.common import handles_errors, load_app


def register(app: typer.Typer) -> None:
    """Add the ``rasa-actions`` command to the CLI."""

    @app.command("rasa-actions")
    @handles_errors
    def rasa_actions(
        host: Annotated[str | None, typer.Option(help="Bind address (CXBOT_RASA_ACTIONS_HOST).")] = None,
        port: Annotated[
            int | None, typer.Option(min=1, max=65535, help="Port (CXBOT_RASA_ACTIONS_PORT, 5055).")
        ] = None,
    ) -> None:
        """Serve cxbot's actions to a Rasa assistant: /webhook, /actions, /health."""
        from bot.channels.rasa.server import create_action_server

        cx = load_app()
        server = create_action_server(cx)
        settings = cx.settings
        server.run(
            host=host or settings.rasa_actions_host,
            port=port or settings.rasa_actions_port,
            single_process=True,
            motd=False,
            access_log=False,
        )
