"""Application settings read from RELANCE_* environment variables and an optional .env file."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_SQLITE_URL = "sqlite:///relance.db"
# Typical 2026 list prices in EUR: SendGrid per email, Twilio per SMS segment (France, US), a French
# mailing house per printed page plus the postage of a 20 g "lettre verte".
DEFAULT_UNIT_PRICES: tuple[dict[str, Any], ...] = (
    {"channel": "email", "per_message": "0.0009"},
    {"channel": "sms", "per_part": "0.0750"},
    {"channel": "sms", "country": "US", "per_part": "0.0079"},
    {"channel": "mail", "per_message": "1.3900", "per_part": "0.1200"},
    {"channel": "mail", "postage_class": "lettre-prioritaire", "per_message": "2.1000", "per_part": "0.1200"},
)


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
    # Campaigns: unit prices (most specific rule wins; a campaign's `costs` come first), the dispatcher's
    # lease, how long a message whose send was cut off waits for the provider's own word before it is resent,
    # and how many attempts a message gets before it fails.
    unit_prices: list[dict[str, Any]] = Field(default_factory=lambda: [dict(rule) for rule in DEFAULT_UNIT_PRICES])
    dispatch_lease_seconds: float = 300
    unknown_grace_seconds: float = 900
    max_send_attempts: int = 5
    dispatch_interval_seconds: int = 30  # how often `relance worker` looks for campaigns with work due
    # Journeys: how often `relance worker` runs a tick (enroll, advance, dispatch), enrollments moved per statement,
    # the SQLite write lease of an advancing worker, how late an event may be recorded and still trigger or wake
    # (events are read in a window overlapping the previous tick's by this much), and how often every waiting
    # enrollment is checked against goals and exits stated on contact records (events check them at once).
    journey_interval_seconds: int = 60
    journey_batch_size: int = Field(default=20_000, ge=1)
    journey_lease_seconds: float = 30  # renewed by every batch; a killed worker's lease frees this soon
    journey_event_lateness_seconds: float = 600
    journey_goal_sweep_seconds: float = 3600
    # Reports: how revenue is credited to campaigns (last-touch | first-touch | linear | time-decay), over which
    # lookback window, the time-decay half-life, and who receives the weekly PDF (comma-separated or JSON list).
    attribution_model: Literal["last-touch", "first-touch", "linear", "time-decay"] = "last-touch"
    attribution_window_days: float = Field(default=30.0, gt=0)
    attribution_half_life_days: float = Field(default=7.0, gt=0)
    report_recipients: Annotated[list[str], NoDecode] = Field(default_factory=list)

    @field_validator("channels", "unit_prices", mode="before")
    @classmethod
    def _parse_json(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str):
            return json.loads(value) if value.strip() else ({} if info.field_name == "channels" else [])
        return value

    @field_validator("report_recipients", mode="before")
    @classmethod
    def _parse_recipients(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
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
