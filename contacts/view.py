"""Reading contacts: find by email/id/phone, the 360° view, counts and streamed exports."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from contextlib import suppress
from datetime import date, datetime
from decimal import Decimal
from typing import IO, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from contacts.imports.mapping import CONTACT_FIELDS
from contacts.normalise import InvalidValue, normalise_email, normalise_phone
from contacts.timeline import timeline
from core.models import (
    Account,
    Campaign,
    Consent,
    Contact,
    ContactEventStat,
    ContactTag,
    Message,
    Suppression,
    Tag,
    Variant,
)
from core.signing import hash_address

EXPORT_COLUMNS = ("id", *CONTACT_FIELDS, "account_id", "email_status", "sms_status", "mail_status", "score",
                  "grade", "created_at", "updated_at", "tags", "attributes")


def find_contact(session: Session, ident: str, *, region: str = "FR") -> Contact | None:
    """The contact named by an id, an email, a phone number or an external id."""
    ident = ident.strip()
    if ident.isdigit():
        found = session.get(Contact, int(ident))
        if found is not None:
            return found
    if "@" in ident:
        with suppress(InvalidValue):
            ident = normalise_email(ident)
        return session.scalars(select(Contact).where(Contact.email == ident)).first()
    by_external = session.scalars(select(Contact).where(Contact.external_id == ident)).first()
    if by_external is not None:
        return by_external
    try:
        phone = normalise_phone(ident, region)
    except InvalidValue:
        return None
    return session.scalars(select(Contact).where(Contact.phone == phone).order_by(Contact.id)).first()


def contact_tags(session: Session, contact_id: int) -> list[str]:
    query = select(Tag.name).join(ContactTag, ContactTag.tag_id == Tag.id).where(ContactTag.contact_id == contact_id)
    return sorted(session.scalars(query))


def consent_state(session: Session, contact: Contact) -> dict[str, Any]:
    """Per channel: consent status with its proof, and whether the address is suppressed."""
    consents = {row.channel: row for row in session.scalars(
        select(Consent).where(Consent.contact_id == contact.id, Consent.topic == "marketing"))}
    addresses = {"email": contact.email, "sms": contact.phone}
    hashes = {channel: hash_address(channel, address) for channel, address in addresses.items() if address}
    suppressed = {
        row.channel: row.reason for row in session.execute(
            select(Suppression.channel, Suppression.reason).where(Suppression.address_hash.in_(hashes.values())))
        if hashes.get(row.channel)
    } if hashes else {}
    state: dict[str, Any] = {}
    for channel in ("email", "sms", "mail"):
        consent = consents.get(channel)
        state[channel] = {
            "status": consent.status if consent else "none",
            "since": consent.occurred_at if consent else None,
            "proof": {"source": consent.source, "form": consent.form, "wording_version": consent.wording_version,
                      "ip": consent.ip} if consent else None,
            "suppressed": suppressed.get(channel),
            "address_status": getattr(contact, f"{channel}_status"),
        }
    return state


def contact_fields(contact: Contact) -> dict[str, Any]:
    names = ("id", *CONTACT_FIELDS, "account_id", "email_status", "sms_status", "mail_status", "score",
             "predicted_score", "grade", "score_reasons", "created_at", "updated_at", "erased_at")
    return {name: getattr(contact, name) for name in names}


def contact_view(session: Session, contact: Contact, *, events: int = 50) -> dict[str, Any]:
    """The 360° view: fields, attributes, account, tags, consent, suppression, score, engagement, timeline."""
    account = session.get(Account, contact.account_id) if contact.account_id else None
    parent = session.get(Account, account.parent_id) if account and account.parent_id else None
    stats = session.scalars(select(ContactEventStat).where(ContactEventStat.contact_id == contact.id)).all()
    return {
        "contact": contact_fields(contact),
        "attributes": contact.attributes,
        "account": {"id": account.id, "name": account.name, "industry": account.industry, "size": account.size,
                    "parent": parent.name if parent else None} if account else None,
        "tags": contact_tags(session, contact.id),
        "consent": consent_state(session, contact),
        "engagement": {stat.type: {"count": stat.count, "first_at": stat.first_at, "last_at": stat.last_at,
                                   "total": stat.total} for stat in sorted(stats, key=lambda stat: stat.type)},
        "timeline": [{"id": event.id, "type": event.type, "occurred_at": event.occurred_at,
                      "campaign_id": event.campaign_id, "properties": event.properties}
                     for event in timeline(session, contact.id, limit=events)],
        "messages": contact_messages(session, contact.id, limit=events),
    }


def contact_messages(session: Session, contact_id: int, *, limit: int = 50) -> list[dict[str, Any]]:
    """What campaigns sent (or held back from) this contact, from the send ledger, newest first."""
    query = (select(Campaign.name, Message.channel, Message.status, Message.reason, Variant.name, Message.sent_at,
                    Message.created_at, Message.cost)
             .join(Campaign, Campaign.id == Message.campaign_id)
             .outerjoin(Variant, Variant.id == Message.variant_id)
             .where(Message.contact_id == contact_id)
             .order_by(Message.created_at.desc()).limit(limit))
    keys = ("campaign", "channel", "status", "reason", "variant", "sent_at", "planned_at", "cost")
    return [dict(zip(keys, row, strict=True)) for row in session.execute(query)]


def count_contacts(session: Session) -> dict[str, int]:
    """Totals: contacts (not erased), with email, with phone, postal only, erased, accounts."""
    live = Contact.erased_at.is_(None)
    postal_only = live & Contact.email.is_(None) & Contact.phone.is_(None) & Contact.address_line1.is_not(None)
    row = session.execute(select(
        func.count().filter(live), func.count().filter(live & Contact.email.is_not(None)),
        func.count().filter(live & Contact.phone.is_not(None)), func.count().filter(postal_only),
        func.count().filter(Contact.erased_at.is_not(None)),
    )).one()
    accounts = session.scalar(select(func.count()).select_from(Account)) or 0
    keys = ("contacts", "with_email", "with_phone", "postal_only", "erased")
    return {**dict(zip(keys, (int(value or 0) for value in row), strict=True)), "accounts": int(accounts)}


def iter_export_rows(session: Session, *, batch: int = 5000) -> Iterator[dict[str, Any]]:
    """Every live contact as a flat dict (tags joined), streamed by id ranges: memory stays flat."""
    last_id = 0
    while True:
        contacts = session.scalars(
            select(Contact).where(Contact.id > last_id, Contact.erased_at.is_(None)).order_by(Contact.id).limit(batch)
        ).all()
        if not contacts:
            return
        ids = [contact.id for contact in contacts]
        tags: dict[int, list[str]] = {}
        for contact_id, name in session.execute(
            select(ContactTag.contact_id, Tag.name).join(Tag, Tag.id == ContactTag.tag_id)
            .where(ContactTag.contact_id.in_(ids)).order_by(Tag.name)
        ):
            tags.setdefault(contact_id, []).append(name)
        for contact in contacts:
            row = {name: getattr(contact, name) for name in EXPORT_COLUMNS if name not in ("tags", "attributes")}
            row["tags"] = tags.get(contact.id, [])
            row["attributes"] = contact.attributes
            yield row
        last_id = ids[-1]
        session.expunge_all()


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return value


def to_json(data: Any) -> str:
    """Indented JSON with dates in ISO format and amounts as strings."""
    return json.dumps(data, default=_plain, ensure_ascii=False, indent=2)


def write_export(session: Session, out: IO[str], fmt: str = "csv",
                 on_progress: Callable[[int], None] | None = None) -> int:
    """Write every contact to `out` as CSV or JSON lines; returns the number written (`on_progress` hears of
    every thousand)."""
    if fmt not in ("csv", "jsonl"):
        raise ValueError(f"unknown export format {fmt!r} (csv or jsonl)")
    writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS) if fmt == "csv" else None
    if writer is not None:
        writer.writeheader()
    written = 0
    for row in iter_export_rows(session):
        if writer is not None:
            writer.writerow({**{key: _plain(value) for key, value in row.items()}, "tags": ",".join(row["tags"]),
                             "attributes": json.dumps(row["attributes"], ensure_ascii=False, sort_keys=True)})
        else:
            out.write(json.dumps({key: _plain(value) for key, value in row.items()}, ensure_ascii=False) + "\n")
        written += 1
        if on_progress is not None and written % 1000 == 0:
            on_progress(1000)
    if on_progress is not None and written % 1000:
        on_progress(written % 1000)
    return written
