"""The variables a template sees: contact fields, sample contact for checks, brand and link variables."""

from __future__ import annotations

from collections.abc import Mapping
from email.utils import parseaddr
from typing import Any

from core.models import Contact
from core.settings import Settings

CONTACT_FIELDS: tuple[str, ...] = tuple(column.key for column in Contact.__table__.columns)
DERIVED_CONTACT_FIELDS = ("full_name",)
# Top-level names every template may use (besides `contact`); `extra` may add more at render time.
GLOBAL_NAMES = frozenset({
    "contact", "campaign", "message_id", "unsubscribe_url", "preferences_url", "survey_url", "survey", "postal_address",
    "brand", "locale", "variant", "subject", "preheader", "today",
})


class AnyAttributes(dict[str, Any]):
    """Custom fields of the sample contact: any key exists (custom fields vary per installation)."""

    def __missing__(self, key: str) -> str:
        return f"<{key}>"


SAMPLE_CONTACT: dict[str, Any] = {
    "id": 0, "external_id": "sample-1", "email": "camille.martin@example.com", "phone": "+33612345678",
    "first_name": "Camille", "last_name": "Martin", "company": "Atelier Martin", "job_title": "Directrice marketing",
    "language": "fr", "country": "FR", "timezone": "Europe/Paris", "birth_date": None,
    "address_line1": "12 rue des Lilas", "address_line2": "Bâtiment B", "address_line3": None,
    "postcode": "69003", "city": "Lyon", "account_id": None, "lifecycle_stage": "lead", "source": "website",
    "utm_source": None, "utm_medium": None, "utm_campaign": None, "utm_term": None, "utm_content": None,
    "referrer": None, "attributes": AnyAttributes(), "email_status": "valid", "sms_status": "valid",
    "mail_status": "valid", "score": 42, "predicted_score": 0.31, "grade": "B", "score_reasons": None,
    "erased_at": None, "created_at": None, "updated_at": None, "full_name": "Camille Martin",
}
SAMPLE_BRAND = {"name": "Relance", "website": "https://www.example.com", "email": "hello@example.com",
                "postal_address": "Relance SAS, 10 rue de la Paix, 75002 Paris, France"}
assert set(CONTACT_FIELDS) <= set(SAMPLE_CONTACT), "SAMPLE_CONTACT must cover every Contact column"


def contact_dict(contact: Contact | Mapping[str, Any]) -> dict[str, Any]:
    """A plain dict of the contact's fields (attributes included) for rendering."""
    if isinstance(contact, Contact):
        return _with_derived({key: getattr(contact, key) for key in CONTACT_FIELDS})
    return _with_derived(dict(contact))


def _with_derived(values: dict[str, Any]) -> dict[str, Any]:
    if values.get("attributes") is None:
        values["attributes"] = {}
    first, last = values.get("first_name"), values.get("last_name")
    values["full_name"] = " ".join(part for part in (first, last) if part) or None
    return values


def brand(settings: Settings, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The sender's identity shown in templates: name (From display name), website, postal address."""
    display_name, address = parseaddr(settings.from_email)
    domain = address.rpartition("@")[2] or "example.com"
    values: dict[str, Any] = {
        "name": display_name or domain,
        "website": f"https://www.{domain}",
        "email": address,
        "postal_address": settings.postal_address,
    }
    values.update(overrides or {})
    return values
