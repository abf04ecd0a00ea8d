"""The field catalogue: which contact and account fields a segment may read, with their types and operators."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

FieldType = Literal["string", "number", "date", "datetime", "any"]

STRING_OPS = frozenset({"eq", "ne", "in", "not_in", "contains", "starts_with", "ends_with", "is_set", "is_not_set"})
NUMBER_OPS = frozenset({"eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "between", "is_set", "is_not_set"})
RELATIVE_OPS = frozenset({"within", "within_next", "older_than"})
DATE_OPS = frozenset(
    {"eq", "ne", "gt", "gte", "lt", "lte", "between", "before", "after", "is_set", "is_not_set"} | RELATIVE_OPS
    | {"anniversary_within"}
)
OPS_BY_TYPE: dict[str, frozenset[str]] = {
    "string": STRING_OPS,
    "number": NUMBER_OPS,
    "date": DATE_OPS,
    "datetime": DATE_OPS - {"anniversary_within"},
    "any": STRING_OPS | NUMBER_OPS | DATE_OPS,
}

ATTRIBUTE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


@dataclass(frozen=True)
class FieldSpec:
    """One readable field: where it lives (contact or account, column or JSON attribute) and its type."""

    path: str
    table: Literal["contact", "account"]
    column: str  # column name, or the JSON key when `attribute` is True
    type: FieldType
    attribute: bool = False

    @property
    def operators(self) -> frozenset[str]:
        return OPS_BY_TYPE[self.type]


CONTACT_FIELDS: dict[str, FieldType] = {
    "id": "number", "external_id": "string", "email": "string", "phone": "string",
    "first_name": "string", "last_name": "string", "company": "string", "job_title": "string",
    "language": "string", "country": "string", "timezone": "string", "birth_date": "date",
    "address_line1": "string", "address_line2": "string", "address_line3": "string",
    "postcode": "string", "city": "string", "account_id": "number", "lifecycle_stage": "string",
    "source": "string", "utm_source": "string", "utm_medium": "string", "utm_campaign": "string",
    "utm_term": "string", "utm_content": "string", "referrer": "string",
    "email_status": "string", "sms_status": "string", "mail_status": "string",
    "score": "number", "predicted_score": "number", "grade": "string",
    "created_at": "datetime", "updated_at": "datetime",
}

ACCOUNT_FIELDS: dict[str, FieldType] = {
    "id": "number", "name": "string", "domain": "string", "industry": "string", "size": "number",
    "country": "string", "city": "string", "parent_id": "number", "created_at": "datetime",
}


class UnknownField(ValueError):
    """A field outside the catalogue."""


def lookup(path: str) -> FieldSpec:
    """The spec of `path` (`country`, `attributes.industry`, `account.size`, `account.attributes.tier`)."""
    table: Literal["contact", "account"] = "contact"
    rest, fields = path, CONTACT_FIELDS
    if path.startswith("account."):
        table, rest, fields = "account", path.removeprefix("account."), ACCOUNT_FIELDS
    if rest.startswith("attributes."):
        key = rest.removeprefix("attributes.")
        if not ATTRIBUTE_KEY.match(key):
            raise UnknownField(f"attribute name {key!r} must be letters, digits and _ (max 64)")
        return FieldSpec(path, table, key, "any", attribute=True)
    if rest in fields:
        return FieldSpec(path, table, rest, fields[rest])
    known = ", ".join(known_fields())
    raise UnknownField(f"unknown field {path!r}; known: {known}, attributes.<name>, account.<field>")


def known_fields() -> list[str]:
    """Every catalogue field name (without the open-ended attributes.*)."""
    return sorted(CONTACT_FIELDS) + [f"account.{name}" for name in sorted(ACCOUNT_FIELDS)]
