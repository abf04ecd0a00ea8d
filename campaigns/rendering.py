"""Turning ledger rows into OutgoingMessages: contacts loaded in one query per batch, each variant's template
prepared once per locale (MJML compiled once), rendered per recipient with the campaign's UTM."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from campaigns.definition import CampaignDefinition
from campaigns.invitations import SurveyRef, SurveyUnavailable, survey_ref
from connectors.base import OutgoingMessage
from core.ledger import Claimed
from core.models import Campaign, Contact, Variant
from core.settings import Settings
from templates.context import CONTACT_FIELDS
from templates.errors import TemplateError
from templates.pipeline import prepare
from templates.render import PreparedTemplate

CONTACT_COLUMNS = [getattr(Contact, name) for name in CONTACT_FIELDS]


def load_contacts(session: Session, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """The template fields of these contacts, by id, in one query."""
    if not ids:
        return {}
    # Core on the session's connection: the ORM's row loading would cost as much as rendering the subject.
    rows = session.connection().execute(select(*CONTACT_COLUMNS).where(Contact.id.in_(sorted(set(ids)))))
    return {row[0]: dict(zip(CONTACT_FIELDS, row, strict=True)) for row in rows}


class Renderer:
    """Renders the messages of one campaign; prepared templates are cached per (variant, channel, locale)."""

    def __init__(self, session: Session, settings: Settings, campaign: Campaign, definition: CampaignDefinition):
        self.session, self.settings, self.campaign, self.definition = session, settings, campaign, definition
        self.variants = {variant.id: variant for variant in session.scalars(
            select(Variant).where(Variant.campaign_id == campaign.id))}
        self.subjects = {arm.name: arm.subject for arm in definition.arms()}
        self.survey: SurveyRef | None = None
        self.survey_problem: str | None = None
        if definition.survey:
            try:
                self.survey = survey_ref(session, definition.survey)
            except SurveyUnavailable as exc:  # closed since planning: its invitations fail, nothing else does
                self.survey_problem = str(exc)
        self._prepared: dict[tuple[int | None, str, str | None], PreparedTemplate] = {}

    def _template(self, variant_id: int | None, channel: str, locale: str | None) -> PreparedTemplate:
        key = (variant_id, channel, locale)
        prepared = self._prepared.get(key)
        if prepared is None:
            variant = self.variants.get(variant_id) if variant_id is not None else None
            if variant is None:  # held-out / excluded rows have no arm: preview the first one
                variant = min(self.variants.values(), key=lambda item: item.name)
            name = variant.templates.get(channel)
            if not name:
                raise TemplateError(f"variant {variant.name} has no template for {channel}")
            subject = self.subjects.get(variant.name) if channel == "email" else None
            prepared = prepare(self.session, name, locale=locale, settings=self.settings, variant=variant.name,
                               subject=subject)
            self._prepared[key] = prepared
        return prepared

    def render(self, job: Claimed, contact: dict[str, Any]) -> OutgoingMessage:
        """The message for one ledger row (raises TemplateError / RenderError when it cannot be made)."""
        prepared = self._template(job.variant_id, job.channel, contact.get("language"))
        if self.survey_problem:
            raise TemplateError(self.survey_problem)
        extra = self.survey.extra(job.message_id, job.contact_id) if self.survey is not None else None
        return prepared.render(contact, message_id=job.message_id, campaign=self.campaign.name,
                               utm=self.definition.utm_for(job.channel), extra=extra)

    def variant_name(self, variant_id: int | None) -> str | None:
        variant = self.variants.get(variant_id) if variant_id is not None else None
        return variant.name if variant is not None else None


def parts_of(message: OutgoingMessage) -> int:
    """SMS segments or letter pages of a rendered message (1 for an email)."""
    return int(message.metadata.get("segments") or message.metadata.get("pages") or 1)
