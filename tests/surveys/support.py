"""Builders for the survey tests: the example documents, invitations written through a campaign's ledger, links."""

from __future__ import annotations

import copy
import uuid
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from campaigns.invitations import invite, survey_ref
from core.links import link_token
from core.models import Campaign, Contact, Invitation, Message
from core.settings import Settings
from surveys.service import Saved, create_survey

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "surveys"


@lru_cache(maxsize=4)
def _example(name: str) -> dict[str, Any]:
    return dict(yaml.safe_load((EXAMPLES / f"{name}.yaml").read_text(encoding="utf-8")))


def example(name: str = "nps-2026", **overrides: Any) -> dict[str, Any]:
    """An example survey document (a fresh copy), with top-level keys overridden; its `closes_at` is dropped
    (tests must not depend on today's date) unless given."""
    document = {key: value for key, value in copy.deepcopy(_example(name)).items() if key != "closes_at"}
    return {**document, **overrides}


def make_survey(session: Session, document: dict[str, Any] | None = None, *, commit: bool = True) -> Saved:
    """A stored survey (the NPS example unless told otherwise)."""
    saved = create_survey(session, document or example(), actor="test")
    if commit:
        session.commit()
    return saved


def make_contacts(session: Session, count: int, *, language: str = "fr", **fields: Any) -> list[Contact]:
    """`count` contacts with unique addresses."""
    contacts = [Contact(email=f"p{index}-{uuid.uuid4().hex[:6]}@example.com", language=language, **fields)
                for index in range(count)]
    session.add_all(contacts)
    session.flush()
    return contacts


def invite_contacts(session: Session, survey: str, contacts: list[Contact], *, channel: str = "email",
                    status: str = "sent", campaign_name: str | None = None) -> list[Invitation]:
    """A campaign carrying `survey: NAME` whose ledger holds one message per contact (then marked `status`),
    and the invitations the planner writes for them."""
    campaign = Campaign(name=campaign_name or f"survey-{uuid.uuid4().hex[:8]}", channels=[channel],
                        status="sending", definition={"survey": survey})
    session.add(campaign)
    session.flush()
    session.add_all([Message(id=str(uuid.uuid4()), campaign_id=campaign.id, contact_id=contact.id, channel=channel,
                             status="queued") for contact in contacts])
    session.flush()
    invite(session, campaign.id, survey_ref(session, survey))
    session.execute(update(Message).where(Message.campaign_id == campaign.id).values(status=status))
    session.commit()
    ids = [contact.id for contact in contacts]
    invitations = {item.contact_id: item for item in session.scalars(
        select(Invitation).where(Invitation.campaign_id == campaign.id, Invitation.contact_id.in_(ids)))}
    return [invitations[contact_id] for contact_id in ids]


def token_of(settings: Settings, invitation: Invitation, *, contact_id: int | None = None) -> str:
    """The signed token of an invitation's link (optionally claiming another contact)."""
    contact = invitation.contact_id if contact_id is None else contact_id
    return link_token(settings, "survey", {"i": invitation.id, "c": contact})


def path_of(settings: Settings, invitation: Invitation) -> str:
    """The survey page's path for an invitation."""
    return f"/s/{token_of(settings, invitation)}"
