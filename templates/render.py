"""Prepared templates: compiled once, rendered per recipient into OutgoingMessages (email, SMS, letter)."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from connectors.base import Attachment, OutgoingMessage
from core import clock
from core.links import survey_context
from core.models import Contact
from core.settings import Settings
from templates import letters, sms
from templates.chunked_render import MultiRender
from templates.compile import EmailBody
from templates.context import brand, contact_dict
from templates.environment import EMAIL_TEXT_ENV, HTML_ENV, TEXT_ENV, long_date
from templates.errors import RenderError
from templates.tracking import LinkSigner, append_utm

ContactLike = Contact | Mapping[str, Any]


@dataclass(frozen=True)
class SubstitutionForm:
    """The message as provider substitutions: tagged bodies shared by every recipient of the same
    prepared template (`key`), plus this recipient's values. Lets the SendGrid backend batch
    up to 1000 recipients per request."""

    key: str
    html: str
    text: str
    substitutions: Mapping[str, str]


@dataclass(frozen=True)
class TemplateRef:
    """Which template version a prepared template comes from (recorded with each send)."""

    name: str
    channel: str
    locale: str
    version: int
    version_id: int
    variant: str | None = None


def _one_line(text: str) -> str:
    """Subjects and preheaders: one line, single spaces (no header injection)."""
    return " ".join(text.split())


class PreparedTemplate:
    """A template version compiled for one locale and variant; `render` is the per-recipient fast path."""

    def __init__(self, ref: TemplateRef, settings: Settings, *, brand_overrides: Mapping[str, Any] | None = None):
        self.ref = ref
        self.settings = settings
        self.signer = LinkSigner(settings)
        self.base_context: dict[str, Any] = {
            "brand": brand(settings, brand_overrides), "postal_address": settings.postal_address,
            "locale": ref.locale, "variant": ref.variant,
        }

    @property
    def channel(self) -> str:
        return self.ref.channel

    def _context(self, contact: dict[str, Any], message_id: str, campaign: str | None,
                 extra: Mapping[str, Any] | None) -> dict[str, Any]:
        context = {**self.base_context, "contact": contact, "campaign": campaign, "message_id": message_id,
                   "today": long_date(clock.now().date(), self.ref.locale)}
        if extra:
            context.update(extra)
            invitation = extra.get("survey_invitation")
            url = extra.get("survey_url") or (self.signer.survey(str(invitation), extra.get("survey_contact"))
                                              if invitation else None)
            if url and "survey" not in extra:
                context["survey"] = survey_context(url, extra.get("survey_first_question"), self.ref.locale)
                context["survey_url"] = url
        return context

    def render(self, contact: ContactLike, *, message_id: str, campaign: str | None = None,
               utm: Mapping[str, str] | None = None, extra: Mapping[str, Any] | None = None) -> OutgoingMessage:
        raise NotImplementedError


class PreparedEmail(PreparedTemplate):
    """Email: subject, preheader, tracked HTML, text alternative and the compliance headers."""

    def __init__(self, ref: TemplateRef, settings: Settings, *, body: EmailBody, subject: str,
                 preheader: str | None, brand_overrides: Mapping[str, Any] | None = None) -> None:
        super().__init__(ref, settings, brand_overrides=brand_overrides)
        self.body = body
        self.renderer = MultiRender(
            [("subject", EMAIL_TEXT_ENV, subject), ("preheader", EMAIL_TEXT_ENV, preheader or ""),
             ("text", EMAIL_TEXT_ENV, body.text), ("html", HTML_ENV, body.html)],
            constants=self.base_context, post={"subject": _one_line, "preheader": _one_line},
        )
        self._tagged = self._substitution_bodies()
        self.needs_survey = "survey_url" in body.html or "survey." in body.html
        self._static_links: dict[tuple[tuple[str, str], ...], list[str | None]] = {}
        self._dynamic = {index: TEXT_ENV.from_string(link.destination)
                         for index, link in enumerate(body.links) if link.dynamic}
        self._lock = threading.Lock()
        self.mailto_domain = self.signer.unsubscribe_mailto_domain

    def _substitution_bodies(self) -> tuple[str, str, str, list[str], list[str]] | None:
        html = self.renderer.tagged("html", "rh")
        text = self.renderer.tagged("text", "rt")
        if html is None or text is None:
            return None
        key = hashlib.sha256(f"{html[0]}\x00{text[0]}".encode()).hexdigest()[:24]
        return key, html[0], text[0], html[1], text[1]

    def _substitution(self, filled: dict[str, list[str]]) -> SubstitutionForm | None:
        if self._tagged is None or "html" not in filled or "text" not in filled:
            return None
        key, html, text, html_tags, text_tags = self._tagged
        values = dict(zip(html_tags, filled["html"], strict=True))
        values.update(zip(text_tags, filled["text"], strict=True))
        return SubstitutionForm(key, html, text, values)

    def _destinations(self, utm: Mapping[str, str] | None) -> list[str | None]:
        """JSON-encoded destinations with UTM appended, computed once per UTM set (None = dynamic)."""
        key = tuple(sorted((utm or {}).items()))
        cached = self._static_links.get(key)
        if cached is None:
            cached = [None if link.dynamic else json.dumps(append_utm(link.destination, utm))
                      for link in self.body.links]
            with self._lock:
                self._static_links[key] = cached
        return cached

    def _links(self, message_json: str, utm: Mapping[str, str] | None, context: dict[str, Any]) -> list[str]:
        click = self.signer.click
        links = []
        for index, destination in enumerate(self._destinations(utm)):
            if destination is None:
                rendered = self._dynamic[index].render(context).strip()
                destination = json.dumps(append_utm(rendered, utm))
            links.append(click(message_json, destination))
        return links

    def render(self, contact: ContactLike, *, message_id: str, campaign: str | None = None,
               utm: Mapping[str, str] | None = None, extra: Mapping[str, Any] | None = None) -> OutgoingMessage:
        values = contact_dict(contact)
        address = values.get("email")
        if not address:
            raise RenderError(f"contact {values.get('id')} has no email address")
        context = self._context(values, message_id, campaign, extra)
        if self.needs_survey and not context.get("survey_url"):
            raise RenderError(f"template {self.ref.name!r} needs extra={{'survey_invitation': token}}")
        message_json = json.dumps(message_id)
        unsubscribe = self.signer.unsubscribe(json.dumps(values.get("id")), message_json)
        context["unsubscribe_url"] = context["preferences_url"] = unsubscribe
        context["_l"] = self._links(message_json, utm, context)
        context["_open"] = self.signer.open(message_json)
        filled: dict[str, list[str]] = {}
        parts = self.renderer.render(context, filled)
        token = unsubscribe.rpartition("/")[2]
        return OutgoingMessage(
            message_id=message_id, channel="email", to=address, subject=parts["subject"],
            html=parts["html"], text=parts["text"],
            from_address=self.settings.from_email, reply_to=self.settings.reply_to,
            headers={
                "List-Unsubscribe": f"<{unsubscribe}>, <mailto:unsubscribe@{self.mailto_domain}?subject=unsubscribe-"
                                    f"{token}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            },
            categories=(campaign,) if campaign else (),
            custom_args={"message_id": message_id},
            metadata={"template": self.ref.name, "version": self.ref.version, "locale": self.ref.locale,
                      "substitution": self._substitution(filled)},
        )


class PreparedSMS(PreparedTemplate):
    """SMS: Jinja text + opt-out mention; metadata carries encoding and segment count."""

    def __init__(self, ref: TemplateRef, settings: Settings, *, source: str, stop_number: str | None = None,
                 max_segments: int = sms.DEFAULT_MAX_SEGMENTS,
                 brand_overrides: Mapping[str, Any] | None = None) -> None:
        super().__init__(ref, settings, brand_overrides=brand_overrides)
        self.template = TEXT_ENV.from_string(source)
        self.stop_number = stop_number
        self.max_segments = max_segments

    def render(self, contact: ContactLike, *, message_id: str, campaign: str | None = None,
               utm: Mapping[str, str] | None = None, extra: Mapping[str, Any] | None = None) -> OutgoingMessage:
        values = contact_dict(contact)
        phone = values.get("phone")
        if not phone:
            raise RenderError(f"contact {values.get('id')} has no phone number")
        context = self._context(values, message_id, campaign, extra)
        text, info = sms.finish_sms(self.template.render(context), locale=self.ref.locale,
                                    stop_number=self.stop_number, max_segments=self.max_segments)
        return OutgoingMessage(
            message_id=message_id, channel="sms", to=phone, text=text,
            categories=(campaign,) if campaign else (), custom_args={"message_id": message_id},
            metadata={**info.as_metadata(), "template": self.ref.name, "version": self.ref.version,
                      "locale": self.ref.locale},
        )


class PreparedLetter(PreparedTemplate):
    """Letter: HTML body in the window-envelope layout, rendered to PDF, with NF Z10-011 address lines."""

    def __init__(self, ref: TemplateRef, settings: Settings, *, source: str,
                 brand_overrides: Mapping[str, Any] | None = None) -> None:
        super().__init__(ref, settings, brand_overrides=brand_overrides)
        self.template = HTML_ENV.from_string(source)

    def render(self, contact: ContactLike, *, message_id: str, campaign: str | None = None,
               utm: Mapping[str, str] | None = None, extra: Mapping[str, Any] | None = None) -> OutgoingMessage:
        values = contact_dict(contact)
        lines = letters.format_address(values)
        context = self._context(values, message_id, campaign, extra)
        html = letters.letter_html(
            self.template.render(context), address_lines=lines, brand=self.base_context["brand"]["name"],
            postal_address=self.settings.postal_address, date=context["today"], lang=self.ref.locale,
        )
        pdf = letters.html_to_pdf(html)
        return OutgoingMessage(
            message_id=message_id, channel="mail", to=str(values.get("id") or message_id), html=html,
            attachments=(Attachment(f"{message_id}.pdf", pdf.content),), address_lines=tuple(lines),
            categories=(campaign,) if campaign else (), custom_args={"message_id": message_id},
            metadata={"pages": pdf.pages, "postcode": values.get("postcode"), "country": values.get("country") or "FR",
                      "template": self.ref.name, "version": self.ref.version, "locale": self.ref.locale},
        )
