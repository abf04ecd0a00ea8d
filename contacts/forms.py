"""Lead-capture forms: definitions (YAML or settings), validation, dedup/merge into contacts, consent with proof."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.base import OutgoingMessage
from contacts.consent import Proof, set_consent
from contacts.normalise import InvalidValue, clean_text, normalise_country, normalise_email, normalise_phone
from contacts.timeline import NewEvent, record_events
from core import clock
from core.links import link_url
from core.models import Consent, Contact
from core.settings import Settings

CONTACT_FIELDS = ("email", "phone", "first_name", "last_name", "company", "job_title", "country", "city",
                  "postcode", "language")
UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
Text = dict[str, str]  # language -> text


class FormError(ValueError):
    """A form definition that cannot be loaded (file and reason in the message)."""


class FieldSpec(BaseModel):
    """One input of a form; names in CONTACT_FIELDS fill the contact, others become attributes."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")
    type: Literal["email", "tel", "text", "textarea", "select", "country"] = "text"
    required: bool = False
    label: Text = Field(default_factory=dict)
    max_length: int = 255
    options: list[str] = Field(default_factory=list)


class ConsentSpec(BaseModel):
    """The consent checkbox: its wording (versioned, for the proof), channels, and double opt-in."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    channels: list[Literal["email", "sms", "mail"]] = ["email"]
    topic: str = "marketing"
    wording_version: str
    text: Text
    required: bool = False
    double_opt_in: bool = False


class FormDefinition(BaseModel):
    """A lead-capture form as written in `forms/*.yaml` or the `RELANCE_FORMS` setting."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    title: Text = Field(default_factory=dict)
    description: Text = Field(default_factory=dict)
    language: str = "fr"
    fields: list[FieldSpec]
    consent: ConsentSpec | None = None
    honeypot: str = "website"
    thank_you_url: str | None = None
    lifecycle_stage: str = "lead"
    tags: list[str] = Field(default_factory=list)


def load_forms(settings: Settings, extra_dirs: tuple[Path, ...] = ()) -> dict[str, FormDefinition]:
    """Every form: YAML files in settings.forms_dir (and `extra_dirs`), then forms defined in settings."""
    forms: dict[str, FormDefinition] = {}
    for directory in (settings.forms_dir, *extra_dirs):
        if not directory.is_dir():
            continue
        for path in sorted(directory.glob("*.yaml")):
            form = _parse(yaml.safe_load(path.read_text(encoding="utf-8")) or {}, str(path))
            forms[form.name] = form
    for name, data in settings.forms.items():
        forms[name] = _parse({"name": name, **data}, f"settings form {name!r}")
    return forms


def _parse(data: Any, where: str) -> FormDefinition:
    try:
        return FormDefinition.model_validate(data)
    except ValidationError as exc:
        raise FormError(f"{where}: {exc}") from exc


def text_for(texts: Text, language: str) -> str:
    """The text in `language`, else French, else English, else any."""
    return texts.get(language) or texts.get("fr") or texts.get("en") or next(iter(texts.values()), "")


@dataclass
class Submission:
    """A validated submission: contact fields, custom attributes and whether consent was ticked."""

    fields: dict[str, Any] = field(default_factory=dict)
    attributes: dict[str, Any] = field(default_factory=dict)
    consent: bool = False
    errors: dict[str, str] = field(default_factory=dict)


_MESSAGES = {
    "required": {"fr": "Ce champ est obligatoire.", "en": "This field is required."},
    "too_long": {"fr": "Ce texte est trop long ({n} caractères au plus).", "en": "Too long (at most {n} characters)."},
    "email": {"fr": "Adresse e-mail invalide.", "en": "This email address is not valid."},
    "tel": {"fr": "Numéro de téléphone invalide.", "en": "This phone number is not valid."},
    "country": {"fr": "Pays inconnu.", "en": "Unknown country."},
    "option": {"fr": "Choix invalide.", "en": "Invalid choice."},
    "consent": {"fr": "Votre accord est nécessaire.", "en": "Your consent is required."},
    "identity": {"fr": "Indiquez au moins un e-mail ou un téléphone.", "en": "Give an email or a phone number."},
}


def error_text(code: str, language: str, **values: Any) -> str:
    """A validation message in the form's language."""
    return text_for(_MESSAGES[code], language).format(**values)


def validate(form: FormDefinition, data: Mapping[str, str], *, region: str, language: str) -> Submission:
    """Check and normalise a submission; errors are keyed by field name, in the visitor's language."""
    result = Submission()
    for spec in form.fields:
        raw = clean_text(data.get(spec.name))
        if raw is None:
            if spec.required:
                result.errors[spec.name] = error_text("required", language)
            continue
        try:
            value = _value(spec, raw, region, language)
        except InvalidValue as exc:
            result.errors[spec.name] = str(exc)
            continue
        target = result.fields if spec.name in CONTACT_FIELDS else result.attributes
        target[spec.name] = value
    result.consent = str(data.get("consent", "")).lower() in ("on", "1", "true", "yes", "oui")
    if form.consent and form.consent.required and not result.consent:
        result.errors["consent"] = error_text("consent", language)
    if not result.errors and not (result.fields.get("email") or result.fields.get("phone")):
        result.errors["email"] = error_text("identity", language)
    return result


def _value(spec: FieldSpec, raw: str, region: str, language: str) -> Any:
    if len(raw) > spec.max_length:
        raise InvalidValue(error_text("too_long", language, n=spec.max_length))
    checks: dict[str, tuple[Callable[[str], str], str]] = {
        "email": (normalise_email, "email"), "tel": (lambda text: normalise_phone(text, region), "tel"),
        "country": (normalise_country, "country")}
    if spec.type in checks:
        check, code = checks[spec.type]
        try:
            return check(raw)
        except InvalidValue as exc:
            raise InvalidValue(error_text(code, language)) from exc
    if spec.type == "select" and spec.options and raw not in spec.options:
        raise InvalidValue(error_text("option", language))
    if spec.name == "language":
        return raw[:2].lower()
    return raw


@dataclass(frozen=True)
class Visit:
    """Where the submission came from: proof of consent (IP, agent, time) and the lead's source."""

    ip: str | None
    user_agent: str | None
    referrer: str | None
    utm: dict[str, str]
    at: datetime
    page: str | None = None


@dataclass(frozen=True)
class LeadResult:
    """What capturing a lead did."""

    contact_id: int
    created: bool
    consent_status: str | None  # granted | pending | None (not asked / not ticked)
    needs_confirmation: bool


def capture_lead(session: Session, form: FormDefinition, submission: Submission, visit: Visit) -> LeadResult:
    """Create or update the contact (dedup by email, then phone), record consent with proof and the event."""
    contact, created = _find_or_create(session, submission.fields)
    _update(contact, form, submission, visit, created)
    session.flush()
    status = _consent(session, contact.id, form, submission, visit)
    properties = {"form": form.name, "referrer": visit.referrer, "page": visit.page, **visit.utm,
                  "created": created, "consent": status}
    record_events(session, [NewEvent("form.submitted", f"form:{form.name}:{uuid.uuid4().hex}", contact.id,
                                     visit.at, properties=properties)])
    needs = status == "pending" and bool(contact.email)
    return LeadResult(contact.id, created, status, needs)


def _find_or_create(session: Session, fields: dict[str, Any]) -> tuple[Contact, bool]:
    contact = None
    if fields.get("email"):
        contact = session.scalars(select(Contact).where(Contact.email == fields["email"])).first()
    if contact is None and fields.get("phone"):
        query = select(Contact).where(Contact.phone == fields["phone"], Contact.erased_at.is_(None))
        contact = session.scalars(query.order_by(Contact.id)).first()
        if contact is not None and contact.email and fields.get("email") and contact.email != fields["email"]:
            contact = None  # same phone, another email: a different person (household, switchboard)
    if contact is not None:
        return contact, False
    contact = Contact(attributes={}, lifecycle_stage="subscriber")
    session.add(contact)
    return contact, True


def _update(contact: Contact, form: FormDefinition, submission: Submission, visit: Visit, created: bool) -> None:
    """Self-declared fields are the freshest truth; source and UTM keep the first touch."""
    for name, value in submission.fields.items():
        setattr(contact, name, value)
    if not contact.language:
        contact.language = form.language
    if submission.attributes:
        contact.attributes = {**(contact.attributes or {}), **submission.attributes}
    if created or not contact.source:
        contact.source = f"form:{form.name}"[:120]
        contact.referrer = visit.referrer
        for name in UTM_FIELDS:
            setattr(contact, name, visit.utm.get(name))
    if contact.lifecycle_stage in (None, "subscriber") and form.lifecycle_stage:
        contact.lifecycle_stage = form.lifecycle_stage
    contact.updated_at = clock.now()


def _consent(session: Session, contact_id: int, form: FormDefinition, submission: Submission,
             visit: Visit) -> str | None:
    spec = form.consent
    if spec is None or not submission.consent:
        return None
    proof = Proof(source=f"form:{form.name}", form=form.name, wording_version=spec.wording_version, ip=visit.ip,
                  user_agent=visit.user_agent, occurred_at=visit.at)
    wanted = "pending" if spec.double_opt_in else "granted"
    result = wanted
    for channel in spec.channels:
        current = session.scalar(select(Consent.status).where(
            Consent.contact_id == contact_id, Consent.channel == channel, Consent.topic == spec.topic))
        if current == "granted":
            if channel == "email":
                result = "granted"  # nothing to confirm
            continue  # already given: a new form never downgrades it to pending
        set_consent(session, contact_id, channel, wanted, proof, topic=spec.topic)
    return result


_CONFIRM = {
    "subject": {"fr": "Confirmez votre inscription", "en": "Please confirm your subscription"},
    "body": {"fr": "Bonjour,\n\nPour confirmer votre inscription ({form}), ouvrez ce lien :\n{url}\n\n"
                   "Si vous n'êtes pas à l'origine de cette demande, ignorez ce message.\n\n{sender}",
             "en": "Hello,\n\nTo confirm your subscription ({form}), open this link:\n{url}\n\n"
                   "If you did not ask for it, just ignore this message.\n\n{sender}"},
}


def confirmation_message(settings: Settings, form: FormDefinition, contact_id: int, email: str,
                         language: str) -> OutgoingMessage:
    """The double opt-in email carrying a signed confirmation link."""
    topic = form.consent.topic if form.consent else "marketing"
    url = link_url(settings, "confirm", {"c": contact_id, "ch": "email", "t": topic})
    title = text_for(form.title, language) or form.name
    text = text_for(_CONFIRM["body"], language).format(form=title, url=url, sender=settings.postal_address)
    html = "".join(f"<p>{line}</p>" for line in text.replace("&", "&amp;").replace("<", "&lt;").split("\n\n"))
    html = html.replace(url.replace("&", "&amp;"), f'<a href="{url}">{url}</a>')
    return OutgoingMessage(message_id=str(uuid.uuid4()), channel="email", to=email,
                           subject=text_for(_CONFIRM["subject"], language), html=html, text=text,
                           from_address=settings.from_email, reply_to=settings.reply_to,
                           categories=("double-opt-in",), metadata={"kind": "double-opt-in", "form": form.name})
