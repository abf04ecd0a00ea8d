"""'Reachable on a channel' as SQL: consent, suppression (hashed), address present and not invalid."""

from __future__ import annotations

from sqlalchemy import and_, case, exists, func
from sqlalchemy.sql.elements import ColumnElement

from core.models import Consent, Contact, Suppression
from segments.compile_context import Context, address_hash

MARKETING = "marketing"


def _present(column: object) -> ColumnElement[bool]:
    return and_(column.is_not(None), func.trim(column) != "")  # type: ignore[attr-defined]


def _consent(channel: str, status: str) -> ColumnElement[bool]:
    return exists().where(
        Consent.contact_id == Contact.id, Consent.channel == channel, Consent.topic == MARKETING,
        Consent.status == status,
    )


def _suppressed(ctx: Context, channel: str, address: object) -> ColumnElement[bool]:
    hashed = address_hash(ctx, channel, address)
    return exists().where(Suppression.channel == channel, Suppression.address_hash == hashed)


def reachable_condition(ctx: Context, channel: str) -> ColumnElement[bool]:
    """Email/SMS: address present and not invalid, marketing consent granted, address not suppressed.
    Mail: postal address (line 1, postcode, city) present and not invalid, consent not withdrawn (no opt-in
    needed for letters in France). Erased contacts are never reachable."""
    alive = Contact.erased_at.is_(None)
    if channel == "email":
        return and_(alive, _present(Contact.email), Contact.email_status != "invalid", _consent("email", "granted"),
                    ~_suppressed(ctx, "email", Contact.email))
    if channel == "sms":
        return and_(alive, _present(Contact.phone), Contact.sms_status != "invalid", _consent("sms", "granted"),
                    ~_suppressed(ctx, "sms", Contact.phone))
    if channel == "mail":
        return and_(alive, _present(Contact.address_line1), _present(Contact.postcode), _present(Contact.city),
                    Contact.mail_status != "invalid", ~_consent("mail", "withdrawn"))
    raise ValueError(f"unknown channel {channel!r}")


def unreachable_reason(ctx: Context, channel: str) -> ColumnElement[str]:
    """Why a contact is not reachable on `channel` (first failing check, as `reachable_condition` orders them):
    invalid_address, suppressed or no_consent; NULL when reachable."""
    if channel == "email":
        address, status, suppressed = Contact.email, Contact.email_status, _suppressed(ctx, "email", Contact.email)
        consent = _consent("email", "granted")
    elif channel == "sms":
        address, status, suppressed = Contact.phone, Contact.sms_status, _suppressed(ctx, "sms", Contact.phone)
        consent = _consent("sms", "granted")
    elif channel == "mail":
        present = and_(_present(Contact.address_line1), _present(Contact.postcode), _present(Contact.city))
        return case(
            (~and_(Contact.erased_at.is_(None), present, Contact.mail_status != "invalid"), "invalid_address"),
            (_consent("mail", "withdrawn"), "no_consent"),
        )
    else:
        raise ValueError(f"unknown channel {channel!r}")
    return case(
        (~and_(Contact.erased_at.is_(None), _present(address), status != "invalid"), "invalid_address"),
        (suppressed, "suppressed"),
        (~consent, "no_consent"),
    )
