"""Answers back into the contact's record: `survey.answered` events through the one timeline writer, and the
survey's `write_back` (fields, attributes, tags, consent with the survey as proof) — idempotent, identified only."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from contacts.consent import Proof, set_consent
from contacts.normalise import InvalidValue, normalise_country
from contacts.timeline import NewEvent, record_events
from core import clock
from core.dialect import dialect_insert
from core.models import Contact, ContactTag, Tag
from surveys.conditions import parse_condition
from surveys.definition import WriteBack
from surveys.questions import MatrixQuestion
from surveys.respondents import Respondent


@dataclass(frozen=True)
class Visit:
    """The request behind a save (kept as consent proof)."""

    ip: str | None = None
    user_agent: str | None = None


def answer_properties(respondent: Respondent) -> dict[str, Any]:
    """The response's answers as event properties: one key per question (matrix rows as `question_row`,
    an "other" text as `question_other`)."""
    properties: dict[str, Any] = {}
    names = set(respondent.document.flat_names())
    for _, question in respondent.document.questions():
        value = respondent.answers.get(question.name)
        if value is None:
            continue
        if isinstance(question, MatrixQuestion):
            properties.update({f"{question.name}_{row}": item for row, item in value.items()})
            continue
        properties[question.name] = value
        other = respondent.texts.get(question.name)
        if other is not None and question.type in ("single", "multiple") and f"{question.name}_other" not in names:
            properties[f"{question.name}_other"] = other
    return properties


def record_answers(session: Session, respondent: Respondent, *, page: int, completed: bool, visit: Visit) -> None:
    """A `survey.answered` event with every answer so far, then the write-back. Anonymous surveys write no
    per-contact answer. Saving the same answers again records nothing new (the dedupe key is their digest)."""
    if respondent.anonymous or respondent.response is None:
        return
    invitation = respondent.invitation
    properties = {"survey": respondent.survey.name, "version": respondent.version.version, "page": page + 1,
                  "completed": completed, "language": respondent.language, "channel": invitation.channel,
                  **answer_properties(respondent)}
    digest = hashlib.sha256(json.dumps(properties, sort_keys=True, default=str).encode()).hexdigest()[:20]
    key = f"survey.answered:{respondent.response.id}:{page}:{digest}"
    record_events(session, [NewEvent("survey.answered", key, invitation.contact_id, clock.now(),
                                     campaign_id=invitation.campaign_id, message_id=invitation.message_id,
                                     properties=properties)])
    write_back(session, respondent, visit)


def write_back(session: Session, respondent: Respondent, visit: Visit) -> None:
    """Apply the survey's write-back rules to the answers given (unanswered questions change nothing)."""
    contact = respondent.contact
    for rule in respondent.document.write_back:
        value = respondent.answers.get(rule.question)
        if value is None:
            continue
        if rule.attribute is not None and (contact.attributes or {}).get(rule.attribute) != value:
            contact.attributes = {**(contact.attributes or {}), rule.attribute: value}
        elif rule.field is not None:
            _set_field(contact, rule.field, value)
        elif rule.tag is not None:
            holds = rule.when is None or _holds(rule, respondent.answers)
            _set_tag(session, contact.id, rule.tag, holds)
        elif rule.consent is not None and isinstance(value, bool):
            proof = Proof(source=f"survey:{respondent.survey.name}", form=respondent.survey.name,
                          wording_version=f"{respondent.survey.name}@v{respondent.version.version}",
                          ip=visit.ip, user_agent=visit.user_agent, occurred_at=clock.now())
            set_consent(session, contact.id, rule.consent.channel, "granted" if value else "withdrawn", proof,
                        topic=rule.consent.topic)
    session.flush()


def _holds(rule: WriteBack, answers: dict[str, Any]) -> bool:
    condition = parse_condition({rule.question: rule.when}, "when", [])
    return condition is not None and condition.holds(answers)


def _set_field(contact: Contact, name: str, value: Any) -> None:
    text = str(value).strip()
    if name == "country":
        try:
            text = normalise_country(text)
        except InvalidValue:
            return
    elif name == "language":
        text = text[:2].lower()
    limit = getattr(Contact.__table__.columns[name].type, "length", None) or 255
    if text and getattr(contact, name) != text[:limit]:
        setattr(contact, name, text[:limit])


def _set_tag(session: Session, contact_id: int, name: str, present: bool) -> None:
    """The contact carries tag `name` exactly when `present` (the tag is created on first use)."""
    insert = dialect_insert(session)
    if present:
        session.execute(insert(Tag).values(name=name).on_conflict_do_nothing(index_elements=["name"]))
    tag_id = session.scalar(select(Tag.id).where(Tag.name == name))
    if tag_id is None:
        return
    if present:
        session.execute(insert(ContactTag).values(contact_id=contact_id, tag_id=tag_id)
                        .on_conflict_do_nothing(index_elements=["contact_id", "tag_id"]))
    else:
        session.execute(delete(ContactTag).where(ContactTag.contact_id == contact_id, ContactTag.tag_id == tag_id))
