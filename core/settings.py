"""Application settings read from RELANCE_* environment variables and an optional .env file."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SQLITE_URL = "sqlite:///relance.db"


class Settings(BaseSettings):
    """Every knob Relance reads; connectors and domain code receive values, never read globals."""

    model_config = SettingsConfigDict(
        env_prefix="RELANCE_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    database_url: str = DEFAULT_SQLITE_URL
    secret_key: SecretStr = SecretStr("change-me-in-production")
    public_url: str = "http://127.0.0.1:8000"
    from_email: str = "Relance <hello@example.com>"
    reply_to: str | None = None
    postal_address: str = "Relance SAS, 10 rue de la Paix, 75002 Paris, France"
    default_region: str = "FR"
    default_language: str = "fr"
    default_timezone: str = "Europe/Paris"
    report_currency: str = "EUR"
    outbox_dir: Path = Path("outbox")
    # channel -> {"backend": name, "options": {...}}; every channel defaults to the outbox backend.
    channels: dict[str, dict[str, Any]] = Field(default_factory=dict)
    sendgrid_webhook_public_key: SecretStr | None = None
    twilio_auth_token: SecretStr | None = None
    api_key: SecretStr | None = None
    batch_size: int = 2000
    # Feedback loop (web/ and contacts/feedback): replay window for signed webhooks, body limit,
    # soft/blocked bounces before an address is suppressed, lead forms and their per-IP rate limit.
    webhook_replay_window: int = 600  # seconds
    webhook_max_body_bytes: int = 5_000_000
    soft_bounce_limit: int = 3
    forms_dir: Path = Path("forms")
    forms: dict[str, dict[str, Any]] = Field(default_factory=dict)  # name -> form definition
    form_rate_limit: int = 10  # submissions per IP per minute
    preference_topics: list[str] = Field(default_factory=lambda: ["newsletter", "offers", "events"])

    @field_validator("channels", mode="before")
    @classmethod
    def _parse_channels(cls, value: Any) -> Any:
        if isinstance(value, str):
            return json.loads(value) if value.strip() else {}
        return value

    def channel_config(self, channel: str) -> dict[str, Any]:
        """Backend name and options for a channel, defaulting to the outbox backend."""
        config = dict(self.channels.get(channel) or {})
        config.setdefault("backend", "outbox")
        config.setdefault("options", {})
        return config


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings for entry points (CLI, web, dashboard, flows); domain code takes them as arguments."""
    return Settings()
