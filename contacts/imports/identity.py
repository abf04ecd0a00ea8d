"""Identity resolution for one import batch: which rows are the same person, and which existing contact.

Matching (documented in the README): a row is the contact with the same external id, else the same
normalised email, else the same phone — a phone match is only taken when neither email nor external id
contradicts it (shared switchboards and family numbers stay separate contacts and show up in
`relance contacts duplicates`). Contacts known only by a postal address match on name + first address line
+ postcode/city. A row whose keys point at two different contacts is rejected as a conflict.

Merge precedence: non-empty values win (an empty cell never blanks data); on conflict the newer value
wins (later row of the file, newer file over the database); attributes merge key by key; tags are the union.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from contacts.imports.mapping import CONTACT_FIELDS
from contacts.imports.prepare import (
    EMAIL,
    EXTERNAL,
    PHONE,
    POSTAL,
    SHARED,
    VALUES,
    Record,
    last_name_position,
    parsed_row,
)
from contacts.imports.rows import ConsentInput, ParsedRow, RowError, postal_key
from contacts.merge import ALIAS_ATTRIBUTES
from core.bulk import Bulk

LOADED_COLUMNS = ("id", *CONTACT_FIELDS, "account_id", "attributes")
_SNAPSHOT_FIELDS = (*CONTACT_FIELDS, "account_id")


@dataclass(eq=False)
class Entity:
    """One contact as the batch sees it: loaded from the database (id set) or new."""

    fields: dict[str, Any]
    attributes: dict[str, Any]
    first_line: int
    id: int | None = None
    original: tuple[Any, ...] | None = None
    rows: int = 0
    tags: set[str] = field(default_factory=set)
    consents: dict[str, ConsentInput] = field(default_factory=dict)
    company_changed: bool = False

    def snapshot(self) -> tuple[Any, ...]:
        """Comparable state of the columns an import writes (dict equality ignores key order)."""
        return tuple(map(self.fields.get, _SNAPSHOT_FIELDS)), dict(self.attributes)

    def label(self) -> str:
        return f"contact #{self.id}" if self.id is not None else f"the contact of line {self.first_line}"


Aliases = dict[str, dict[str, int]]  # key kind (email, external_id) → value → contact id

_ALIAS_SQL = {
    "sqlite": "SELECT c.id, j.value FROM contacts AS c, json_each(c.attributes, '$.{key}') AS j "
              "WHERE c.erased_at IS NULL AND json_type(c.attributes, '$.{key}') = 'array'",
    "postgresql": "SELECT c.id, x.value FROM contacts AS c "
                  "CROSS JOIN LATERAL jsonb_array_elements_text(c.attributes -> '{key}') AS x(value) "
                  "WHERE c.erased_at IS NULL AND jsonb_typeof(c.attributes -> '{key}') = 'array'",
}


def load_aliases(session: Session) -> Aliases:
    """Emails and external ids of contacts merged away (`relance contacts merge`), each with its survivor: rows
    carrying them are the survivor, so re-importing an old file does not bring the duplicate back."""
    sql = _ALIAS_SQL[session.get_bind().dialect.name]
    aliases: Aliases = {}
    for name, attribute in ALIAS_ATTRIBUTES.items():
        rows = session.execute(text(sql.format(key=attribute))).tuples()
        aliases[name] = {str(value): int(contact_id) for contact_id, value in rows if value}
    return aliases


class BatchResolver:
    """Folds a batch of parsed rows onto existing contacts and each other."""

    def __init__(self, session: Session, aliases: Aliases, *, columns: tuple[str, ...], lock: bool = False) -> None:
        self.session = session
        # PostgreSQL without foreign-key triggers (contacts.imports.pipeline): the existing contacts a batch writes
        # rows for are locked against deletion (an erasure, a merge) until it commits, as the triggers would.
        self._lock = " FOR KEY SHARE" if lock else ""
        self.columns = columns  # of the records' VALUES (contacts.imports.prepare.Preparation.columns)
        self.aliases = aliases
        self._by_id: dict[int, Entity] = {}
        self.entities: list[Entity] = []
        self.rejected: list[RowError] = []
        self._by_email: dict[str, Entity] = {}
        self._by_external: dict[str, Entity] = {}
        self._by_phone: dict[str, list[Entity]] = {}
        self._by_postal: dict[str, Entity] = {}

    def resolve(self, records: list[Record]) -> tuple[list[Record | Entity], list[Entity]]:
        """The batch's new contacts in file order — records that share no key with the database or another row, as
        they are, and entities folded from the other rows — and the existing contacts it touches (loaded in one
        query per key kind)."""
        self._load_existing(records)
        new: list[Record | Entity] = []
        by_external, by_email, by_phone, by_postal = self._by_external, self._by_email, self._by_phone, self._by_postal
        alias_externals, alias_emails = self.aliases.get("external_id", {}), self.aliases.get("email", {})
        for record in records:
            _, external, email, phone, postal, flags, _, _, _, _ = record  # see contacts.imports.prepare.Record
            if not (flags & SHARED
                    or (external is not None and (external in by_external or external in alias_externals))
                    or (email is not None and (email in by_email or email in alias_emails))
                    or (phone is not None and phone in by_phone) or (postal is not None and postal in by_postal)):
                new.append(record)  # nothing to fold it onto: the row is the new contact
            elif (created := self._fold(parsed_row(record, self.columns))) is not None:
                new.append(created)
        return new, [entity for entity in self.entities if entity.id is not None and entity.rows]

    # -- loading ---------------------------------------------------------------------------------
    def _load_existing(self, records: list[Record]) -> None:
        bulk = Bulk(self.session)
        select_sql = f"SELECT {', '.join(LOADED_COLUMNS)} FROM contacts WHERE"
        seen: set[int] = set()
        externals = {record[EXTERNAL] for record in records} - {None}
        emails = {record[EMAIL] for record in records} - {None}
        for column, values in (("external_id", externals), ("email", emails)):
            if values:
                self._index_rows(bulk.select_in(f"{select_sql} {column} IN", sorted(values), suffix=self._lock), seen)
        aliased = {self.aliases.get(name, {}).get(value) for name, values in (("external_id", externals),
                                                                              ("email", emails)) for value in values}
        aliased = {contact_id for contact_id in aliased if contact_id is not None and contact_id not in seen}
        if aliased:
            self._index_rows(bulk.select_in(f"{select_sql} id IN", sorted(aliased), suffix=self._lock), seen)
        # Phones only matter for rows not already matched by external id or email.
        phones = {record[PHONE] for record in records if record[PHONE] is not None
                  and record[EMAIL] not in self._by_email and record[EXTERNAL] not in self._by_external}
        if phones:
            self._index_rows(bulk.select_in(f"{select_sql} phone IN", sorted(phones), suffix=self._lock), seen)
        last_name = last_name_position(self.columns)
        names = {record[VALUES][last_name].lower() for record in records
                 if record[POSTAL] is not None and last_name is not None}
        if names:
            postal = f"{select_sql} email IS NULL AND phone IS NULL AND external_id IS NULL AND lower(last_name) IN"
            self._index_rows(bulk.select_in(postal, sorted(names), suffix=self._lock), seen)

    def _index_rows(self, records: Iterable[tuple[Any, ...]], seen: set[int]) -> None:
        for record in records:
            if record[0] in seen:
                continue
            seen.add(record[0])
            values = dict(zip(LOADED_COLUMNS, record, strict=True))
            attributes = values["attributes"]
            if isinstance(attributes, str):  # SQLite hands JSON back as text
                attributes = json.loads(attributes)
            if isinstance(values["birth_date"], str):
                values["birth_date"] = date.fromisoformat(values["birth_date"][:10])
            entity = Entity(
                fields={name: values[name] for name in (*CONTACT_FIELDS, "account_id")},
                attributes=dict(attributes or {}), first_line=0, id=values["id"],
            )
            entity.original = entity.snapshot()
            self.entities.append(entity)
            self._by_id[values["id"]] = entity
            self._index(entity)

    def _index(self, entity: Entity) -> None:
        fields = entity.fields
        if fields.get("email"):
            self._by_email[fields["email"]] = entity
        if fields.get("external_id"):
            self._by_external[fields["external_id"]] = entity
        if fields.get("phone"):
            entries = self._by_phone.setdefault(fields["phone"], [])
            if entity not in entries:
                entries.append(entity)
        if not (fields.get("email") or fields.get("phone") or fields.get("external_id")):
            key = postal_key(fields)
            if key:
                self._by_postal[key] = entity

    # -- folding ---------------------------------------------------------------------------------
    def _fold(self, row: ParsedRow) -> Entity | None:
        """Fold the row onto the entity it is; returns the entity when the row creates it."""
        external, email, phone = keys = row.keys
        by_external = self._known(row, "external_id", external, self._by_external) if external else None
        by_email = self._known(row, "email", email, self._by_email) if email else None
        if by_external is not None and by_email is not None and by_external is not by_email:
            self.rejected.append(RowError(
                row.line, "email", email or "",
                f"conflict: external id {external!r} is {by_external.label()} but email {email!r} is "
                f"{by_email.label()}; merge them first (relance contacts merge) or fix the row",
            ))
            return None
        target = by_external or by_email
        if target is None and phone and phone in self._by_phone:
            target = self._compatible_phone_owner(row, phone)
        if target is None and not any(keys):
            target = self._by_postal.get(postal_key(row.fields) or "")
        if target is not None and self._external_conflict(row, target):
            return None
        created = None
        if target is None:
            target = created = _new_entity(row)
            self.entities.append(target)
        else:
            _apply(target, row)
        self._index(target)
        return created

    def _known(self, row: ParsedRow, name: str, value: str, index: dict[str, Entity]) -> Entity | None:
        """The entity with the row's email / external id, or whose merged-away alias it is (the row then
        keeps the survivor's own value)."""
        found = index.get(value)
        if found is not None or not self.aliases:
            return found
        survivor = self._by_id.get(self.aliases.get(name, {}).get(value, 0))
        if survivor is not None:
            del row.fields[name]
        return survivor

    def _compatible_phone_owner(self, row: ParsedRow, phone: str) -> Entity | None:
        external, email, _ = row.keys
        for candidate in self._by_phone.get(phone, []):
            other_email, other_external = candidate.fields.get("email"), candidate.fields.get("external_id")
            if email and other_email and email != other_email:
                continue
            if external and other_external and external != other_external:
                continue
            return candidate
        return None

    def _external_conflict(self, row: ParsedRow, target: Entity) -> bool:
        external = row.fields.get("external_id")
        current = target.fields.get("external_id")
        if external and current and external != current:
            self.rejected.append(RowError(
                row.line, "external_id", external,
                f"conflict: this email/phone is {target.label()}, which already has external id {current!r}",
            ))
            return True
        return False


def _new_entity(row: ParsedRow) -> Entity:
    """A new contact made of one row (what `_apply` on an empty entity gives, without the comparisons)."""
    fields = {name: value for name, value in row.fields.items() if value is not None}
    return Entity(fields=fields, attributes={key: value for key, value in row.attributes.items() if value is not None},
                  first_line=row.line, rows=1, tags=set(row.tags), consents=dict(row.consents),
                  company_changed="company" in fields)


def _apply(entity: Entity, row: ParsedRow) -> None:
    """Fold a row onto an entity with the documented precedence."""
    for name, value in row.fields.items():
        if value is not None and entity.fields.get(name) != value:
            entity.fields[name] = value
            if name == "company":
                entity.company_changed = True
    entity.attributes.update({key: value for key, value in row.attributes.items() if value is not None})
    entity.tags |= row.tags
    entity.consents.update(row.consents)
    entity.rows += 1
