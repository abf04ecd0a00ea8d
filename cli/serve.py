"""relance serve: the web app (webhooks, tracking, unsubscribe, forms, API)."""

from __future__ import annotations

import typer

from cli.common import console, engine, fail, settings
from connectors.base import ConfigurationError
from connectors.registry import check_channels


def register(app: typer.Typer) -> None:
    """Add this command to the main app."""

    @app.command()
    def serve(
        host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on (0.0.0.0 for every one)."),
        port: int = typer.Option(8000, "--port", help="TCP port."),
        workers: int = typer.Option(1, "--workers", help="Worker processes (each applies feedback in the background)."),
        proxy_headers: bool = typer.Option(True, "--proxy-headers/--no-proxy-headers",
                                           help="Trust X-Forwarded-For/Proto from --forwarded-allow-ips."),
        forwarded_allow_ips: str = typer.Option("127.0.0.1", "--forwarded-allow-ips",
                                                help="Proxies whose forwarded headers are trusted."),
    ) -> None:
        """Serve webhooks, open/click tracking, unsubscribe and preferences, lead forms and the conversions API.

        Set RELANCE_PUBLIC_URL to the URL the outside world uses (Twilio signatures are checked against it),
        RELANCE_SENDGRID_WEBHOOK_PUBLIC_KEY, RELANCE_TWILIO_AUTH_TOKEN and RELANCE_API_KEY.
        """
        import uvicorn

        from web.app import create_app

        config = settings()
        try:
            check_channels(config)  # a misconfigured channel fails now, naming the channel, not at the first send
        except ConfigurationError as exc:
            raise fail(f"RELANCE_CHANNELS: {exc}") from exc
        console.print(f"Relance web on http://{host}:{port} (public URL {config.public_url})")
        if workers > 1:
            uvicorn.run("web.main:app", host=host, port=port, workers=workers, proxy_headers=proxy_headers,
                        forwarded_allow_ips=forwarded_allow_ips, log_level="info")
            return
        uvicorn.run(create_app(config, engine=engine()), host=host, port=port, proxy_headers=proxy_headers,
                    forwarded_allow_ips=forwarded_allow_ips, log_level="info")
