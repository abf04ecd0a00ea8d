"""GDPR: erasing a contact (keeping hashed suppressions) and exporting everything held about a person."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from contacts.consent import suppress
from contacts.imports.mapping import CONTACT_FIELDS
from contacts.imports.rows import postal_key
from contacts.view import consent_state, contact_fields, contact_tags
from core import clock
from core.models import (
    Account,
    AuditLog,
    Campaign,
    Consent,
    Contact,
    ContactTag,
    Conversion,
    Event,
    Message,
    Response,
    Segment,
    SegmentMembership,
    Survey,
)
from core.models import Answer as SurveyAnswer

# Kept after erasure: not personal on their own, and what aggregate reports need.
KEPT_FIELDS = ("country", "language", "lifecycle_stage", "source", "utm_source", "utm_medium", "utm_campaign",
               "utm_term", "utm_content")


def erase_contact(session: Session, contact: Contact, *, actor: str = "cli") -> dict[str, Any]:
    """Remove a person's data; their addresses stay on the suppression lists, hashed. The caller commits."""
    if contact.erased_at is not None:
        return {"contact_id": contact.id, "already_erased": True}
    suppressed = []
    if contact.email:
        suppress(session, "email", contact.email, "erased", source="gdpr")
        suppressed.append("email")
    if contact.phone:
        suppress(session, "sms", contact.phone, "erased", source="gdpr")
        suppressed.append("sms")
    if key := postal_key(contact_fields(contact)):
        suppress(session, "mail", key, "erased", source="gdpr")
        suppressed.append("mail")
    for name in CONTACT_FIELDS:
        if name not in KEPT_FIELDS:
            setattr(contact, name, None)
    contact.attributes, contact.score_reasons, contact.account_id = {}, None, None
    contact.email_status = contact.sms_status = contact.mail_status = "invalid"
    contact.erased_at = clock.now()
    session.execute(delete(ContactTag).where(ContactTag.contact_id == contact.id))
    session.execute(delete(Consent).where(Consent.contact_id == contact.id))
    session.execute(delete(SegmentMembership).where(SegmentMembership.contact_id == contact.id))
    events = session.execute(update(Event).where(Event.contact_id == contact.id).values(properties={}))
    session.execute(update(Conversion).where(Conversion.contact_id == contact.id).values(properties={}))
    _detach_survey_answers(session, contact.id)
    session.add(AuditLog(actor=actor, action="contact.erase", target=f"contact:{contact.id}",
                         details={"suppressed": suppressed}))
    session.flush()
    return {"contact_id": contact.id, "suppressed": suppressed,
            "events_scrubbed": int(getattr(events, "rowcount", 0) or 0)}


def _detach_survey_answers(session: Session, contact_id: int) -> None:
    """Survey responses stay in the results, detached from the person; free texts (which may name them) go."""
    responses = select(Response.id).where(Response.contact_id == contact_id)
    session.execute(delete(SurveyAnswer).where(SurveyAnswer.response_id.in_(responses),
                                               SurveyAnswer.text.is_not(None)))
    session.execute(update(Response).where(Response.contact_id == contact_id)
                    .values(contact_id=None, invitation_id=None))


def _survey_answers(session: Session, contact_id: int) -> list[dict[str, Any]]:
    rows = session.execute(select(Survey.name, SurveyAnswer.question, SurveyAnswer.value, SurveyAnswer.text,
                                  SurveyAnswer.answered_at)
                           .join(Response, Response.id == SurveyAnswer.response_id)
                           .join(Survey, Survey.id == Response.survey_id)
                           .where(Response.contact_id == contact_id).order_by(SurveyAnswer.answered_at))
    return [{"survey": name, "question": question, "answer": value, "text": text, "answered_at": at}
            for name, question, value, text, at in rows]


def personal_data(session: Session, contact: Contact) -> dict[str, Any]:
    """Everything held about one person (GDPR art. 15 access request), as plain data."""
    account = session.get(Account, contact.account_id) if contact.account_id else None
    events = session.scalars(select(Event).where(Event.contact_id == contact.id).order_by(Event.occurred_at)).all()
    conversions = session.scalars(select(Conversion).where(Conversion.contact_id == contact.id)).all()
    messages = session.execute(
        select(Message.id, Campaign.name, Message.channel, Message.status, Message.sent_at)
        .join(Campaign, Campaign.id == Message.campaign_id).where(Message.contact_id == contact.id)
    ).all()
    segments = session.scalars(
        select(Segment.name).join(SegmentMembership, SegmentMembership.segment_id == Segment.id)
        .where(SegmentMembership.contact_id == contact.id)
    ).all()
    consents = session.scalars(select(Consent).where(Consent.contact_id == contact.id)).all()
    return {
        "generated_at": clock.now(),
        "contact": contact_fields(contact),
        "attributes": contact.attributes,
        "company": {"name": account.name, "domain": account.domain} if account else None,
        "tags": contact_tags(session, contact.id),
        "consent": consent_state(session, contact),
        "consent_records": [
            {"channel": row.channel, "topic": row.topic, "status": row.status, "source": row.source, "form": row.form,
             "wording_version": row.wording_version, "ip": row.ip, "user_agent": row.user_agent,
             "occurred_at": row.occurred_at} for row in consents
        ],
        "segments": sorted(segments),
        "messages": [{"id": row.id, "campaign": row.name, "channel": row.channel, "status": row.status,
                      "sent_at": row.sent_at} for row in messages],
        "conversions": [{"amount": row.amount, "currency": row.currency, "occurred_at": row.occurred_at,
                         "kind": row.kind, "external_ref": row.external_ref} for row in conversions],
        "events": [{"type": row.type, "occurred_at": row.occurred_at, "campaign_id": row.campaign_id,
                    "properties": row.properties} for row in events],
        "survey_answers": _survey_answers(session, contact.id),
    }
