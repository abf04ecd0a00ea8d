"""Revenue reported by the shop or CRM: a Conversion row plus a `conversion` event, idempotent by external ref."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from contacts.normalise import InvalidValue, normalise_email, normalise_phone
from contacts.timeline import NewEvent, record_events
from core import clock
from core.dialect import dialect_insert
from core.models import Campaign, Contact, Conversion, Message


@dataclass(frozen=True)
class ConversionInput:
    """A conversion as the API receives it; the contact is named by one of its identifiers."""

    external_ref: str
    amount: Decimal
    currency: str
    occurred_at: datetime | None = None
    kind: str = "purchase"
    contact_id: int | None = None
    email: str | None = None
    phone: str | None = None
    external_id: str | None = None
    campaign_id: int | None = None
    message_id: str | None = None
    properties: dict[str, Any] | None = None


@dataclass(frozen=True)
class ConversionResult:
    """The stored conversion and whether this call created it (False: the external ref was already known)."""

    id: int
    created: bool
    contact_id: int | None


def find_contact_id(session: Session, data: ConversionInput, region: str) -> int | None:
    """The contact named by id, email, phone or external id (first that matches)."""
    if data.contact_id is not None:
        return session.scalar(select(Contact.id).where(Contact.id == data.contact_id))
    candidates: list[Any] = []
    if data.email:
        candidates.append(Contact.email == normalise_email(data.email))
    if data.external_id:
        candidates.append(Contact.external_id == data.external_id)
    if data.phone:
        candidates.append(Contact.phone == normalise_phone(data.phone, region))
    for condition in candidates:
        found = session.scalar(select(Contact.id).where(condition).order_by(Contact.id).limit(1))
        if found is not None:
            return found
    return None


def record_conversion(session: Session, data: ConversionInput, *, region: str = "FR") -> ConversionResult:
    """Store the conversion once per external ref; a retry returns the stored one unchanged."""
    existing = session.execute(select(Conversion.id, Conversion.contact_id)
                               .where(Conversion.external_ref == data.external_ref)).first()
    if existing is not None:
        return ConversionResult(existing[0], False, existing[1])
    try:
        contact_id = find_contact_id(session, data, region)
    except InvalidValue:
        contact_id = None
    campaign_id = _campaign(session, data)
    at = clock.utc(data.occurred_at) if data.occurred_at else clock.now()
    insert = dialect_insert(session)
    inserted = session.scalar(insert(Conversion).values(
        contact_id=contact_id, amount=data.amount, currency=data.currency.upper(), occurred_at=at, kind=data.kind,
        external_ref=data.external_ref, campaign_id=campaign_id, properties=data.properties or {},
        created_at=clock.now(),
    ).on_conflict_do_nothing(index_elements=["external_ref"]).returning(Conversion.id))
    if inserted is None:  # a concurrent call with the same ref won the race
        row = session.execute(select(Conversion.id, Conversion.contact_id)
                              .where(Conversion.external_ref == data.external_ref)).one()
        return ConversionResult(row[0], False, row[1])
    properties = {"external_ref": data.external_ref, "currency": data.currency.upper(), "kind": data.kind,
                  "amount": str(data.amount)}
    record_events(session, [NewEvent("conversion", f"conversion:{data.external_ref}", contact_id, at,
                                     campaign_id=campaign_id, message_id=data.message_id if campaign_id else None,
                                     properties=properties, value=data.amount)])
    return ConversionResult(inserted, True, contact_id)


def _campaign(session: Session, data: ConversionInput) -> int | None:
    if data.message_id:
        found = session.scalar(select(Message.campaign_id).where(Message.id == data.message_id))
        if found is not None:
            return found
    if data.campaign_id is not None:
        return session.scalar(select(Campaign.id).where(Campaign.id == data.campaign_id))
    return None
