"""Keyword-only builders for test data and a CLI runner."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session
from typer.testing import CliRunner, Result

from core import clock
from core.models import Campaign, Contact, Conversion, Cost, Event, ExchangeRate, Message, Variant


def make_contact(session: Session, *, email: str | None = None, commit: bool = True, **fields: Any) -> Contact:
    """A contact with sensible defaults; any column can be overridden."""
    contact = Contact(email=email, **fields)
    session.add(contact)
    if commit:
        session.commit()
    return contact


def days_ago(days: float) -> datetime:
    """A moment `days` before now (on the injectable clock)."""
    from datetime import timedelta

    return clock.now() - timedelta(days=days)


def run_cli(*args: str, input: str | None = None) -> Result:
    """Run `relance ARGS...` in-process; the caller asserts on exit_code and output."""
    from cli.main import app

    return CliRunner().invoke(app, list(args), input=input, catch_exceptions=False)


def run_cli_json(*args: str) -> Any:
    """Run a `--json` command and parse its output (fails the test on a non-zero exit)."""
    result = run_cli(*args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def make_campaign(session: Session, *, name: str = "spring", commit: bool = True, **fields: Any) -> Campaign:
    """A campaign row written directly (no planning): channels default to email, currency to EUR."""
    fields.setdefault("channels", ["email"])
    fields.setdefault("status", "completed")
    campaign = Campaign(name=name, **fields)
    session.add(campaign)
    session.flush()
    if commit:
        session.commit()
    return campaign


def make_variant(session: Session, *, campaign: Campaign, name: str = "A", commit: bool = True,
                 **fields: Any) -> Variant:
    """An A/B arm of `campaign`."""
    variant = Variant(campaign_id=campaign.id, name=name, **fields)
    session.add(variant)
    session.flush()
    if commit:
        session.commit()
    return variant


def make_message(session: Session, *, campaign: Campaign, contact: Contact, commit: bool = True,
                 **fields: Any) -> Message:
    """A ledger row: `sent` at now unless told otherwise; id = uuid5 of (campaign, contact, rotation)."""
    import uuid

    fields.setdefault("channel", (campaign.channels or ["email"])[0])
    fields.setdefault("status", "sent")
    if fields["status"] not in ("excluded", "held_out", "queued", "waiting"):
        fields.setdefault("sent_at", clock.now())
    rotation = fields.pop("rotation", 0)
    message_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{campaign.id}|{contact.id}|{rotation}"))
    message = Message(id=message_id, campaign_id=campaign.id, contact_id=contact.id, rotation=rotation, **fields)
    session.add(message)
    if commit:
        session.commit()
    return message


def make_event(session: Session, *, type: str, contact: Contact | None = None, message: Message | None = None,
               occurred_at: datetime | None = None, commit: bool = True, **properties: Any) -> Event:
    """A timeline event, tied to `message` (and its campaign and contact) when given."""
    import uuid

    contact_id = message.contact_id if message is not None else (contact.id if contact is not None else None)
    event = Event(contact_id=contact_id, type=type, occurred_at=occurred_at or clock.now(),
                  campaign_id=message.campaign_id if message is not None else None,
                  message_id=message.id if message is not None else None, properties=properties,
                  dedupe_key=f"test:{uuid.uuid4().hex}")
    session.add(event)
    if commit:
        session.commit()
    return event


def make_conversion(session: Session, *, contact: Contact | None, amount: str | Decimal,
                    occurred_at: datetime | None = None, currency: str = "EUR", commit: bool = True,
                    **fields: Any) -> Conversion:
    """A conversion (revenue) of `contact`; external_ref is unique per call."""
    import uuid

    fields.setdefault("external_ref", f"order-{uuid.uuid4().hex[:12]}")
    conversion = Conversion(contact_id=contact.id if contact is not None else None, amount=Decimal(amount),
                            currency=currency, occurred_at=occurred_at or clock.now(), **fields)
    session.add(conversion)
    if commit:
        session.commit()
    return conversion


def make_cost(session: Session, *, campaign: Campaign, amount: str | Decimal, currency: str = "EUR",
              category: str = "creative", commit: bool = True, **fields: Any) -> Cost:
    """A fixed cost of `campaign`."""
    cost = Cost(campaign_id=campaign.id, amount=Decimal(amount), currency=currency, category=category, **fields)
    session.add(cost)
    if commit:
        session.commit()
    return cost


def make_rate(session: Session, *, currency: str, rate: str | Decimal, valid_from: datetime,
              commit: bool = True) -> ExchangeRate:
    """Units of the report currency per 1 `currency`, from `valid_from`."""
    row = ExchangeRate(currency=currency, rate=Decimal(rate), valid_from=valid_from)
    session.add(row)
    if commit:
        session.commit()
    return row
