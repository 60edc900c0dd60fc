"""``alstream broker``: run the embedded Tansu broker for demos and tests."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from alstream.streams.embedded_broker import EmbeddedBroker, run_forever


def register(app: typer.Typer) -> None:
    @app.command()
    def broker(
        port: Annotated[int, typer.Option(help="Port to listen on; 0 picks a free one.")] = 0,
        host: Annotated[str, typer.Option(help="Loopback address to listen on.")] = "127.0.0.1",
        authentication: Annotated[bool, typer.Option(help="Require SASL/SCRAM authentication.")] = False,
        cert: Annotated[Path | None, typer.Option(help="TLS certificate (PEM).")] = None,
        key: Annotated[Path | None, typer.Option(help="TLS private key (PEM).")] = None,
    ) -> None:
        """Run the embedded broker (memory storage, demo and tests only) until Ctrl-C."""
        embedded = EmbeddedBroker(
            host=host, port=port or None, authentication=authentication, cert=cert, key=key
        ).start()
        run_forever(
            embedded,
            announce=[
                f"bootstrap: {embedded.bootstrap_servers}",
                *(f"export {name}={value}" for name, value in embedded.client_environment().items()),
                "Embedded Tansu broker with memory storage: data is lost when it stops. Ctrl-C to stop.",
            ],
        )
