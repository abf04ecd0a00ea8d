"""Backends chosen by name in settings (RELANCE_CHANNELS), like Django's EMAIL_BACKEND / STORAGES."""

from __future__ import annotations

import importlib
from typing import Any

from connectors.base import Backend, ConfigurationError
from core.settings import Settings

# name -> "module:Class"; a backend module is imported only when chosen.
BACKENDS: dict[str, str] = {
    "memory": "connectors.memory:MemoryBackend",
    "outbox": "connectors.outbox:OutboxBackend",
    "sendgrid": "connectors.sendgrid:SendGridBackend",
    "smtp": "connectors.smtp:SMTPBackend",
    "twilio": "connectors.twilio:TwilioBackend",
    "letters": "connectors.letters:LettersBackend",
}

CHANNELS = ("email", "sms", "mail")


def backend_class(name: str) -> type[Backend]:
    """The backend class registered under `name`."""
    try:
        module_name, _, class_name = BACKENDS[name].partition(":")
    except KeyError as exc:
        raise ConfigurationError(f"unknown backend {name!r} (known: {', '.join(sorted(BACKENDS))})") from exc
    backend: type[Backend] = getattr(importlib.import_module(module_name), class_name)
    return backend


def get_backend(channel: str, settings: Settings, **overrides: Any) -> Backend:
    """Instantiate the backend configured for `channel`; a bad configuration names the channel."""
    config = settings.channel_config(channel)
    try:
        cls = backend_class(config["backend"])
        options = {**cls.options_from_settings(channel, settings), **config.get("options", {}), **overrides}
        return cls(channel, **options)
    except (ConfigurationError, TypeError, ValueError, ImportError, AttributeError) as exc:
        raise ConfigurationError(f"channel {channel!r}: {exc}") from exc


def check_channels(settings: Settings) -> None:
    """Fail at start-up when any configured channel is misconfigured."""
    for channel in {*CHANNELS, *settings.channels}:
        if channel not in CHANNELS:
            raise ConfigurationError(f"channel {channel!r}: unknown channel (known: {', '.join(CHANNELS)})")
        get_backend(channel, settings).close()
