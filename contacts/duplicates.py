"""Possible duplicates that are not certain: same or close names at the same company or place, shared phones."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from itertools import combinations, groupby
from typing import Any

from rapidfuzz import fuzz
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from contacts.normalise import account_key, fold
from core.models import Contact

FUZZY_THRESHOLD = 88.0
MAX_BLOCK = 500  # larger blocks (a huge account, a city) are compared with their neighbours in name order
WINDOW = 50


@dataclass(frozen=True)
class DuplicatePair:
    """Two contacts that may be the same person, why, and how sure (0–100)."""

    first_id: int
    second_id: int
    score: float
    reason: str
    first: str
    second: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Person:
    id: int
    name: str
    email: str | None
    phone: str | None
    block: str

    def label(self) -> str:
        return f"{self.name or '(no name)'} <{self.email or self.phone or 'no email'}>"


def find_duplicates(session: Session, *, threshold: float = FUZZY_THRESHOLD, limit: int = 1000) -> list[DuplicatePair]:
    """Pairs worth a human look, best first. Certain duplicates (same email/phone/id) never reach here.

    People are compared within blocks — the same company (account or company name), or for people with no company
    the same postcode (else town) — on their folded names: identical or close (rapidfuzz token sort ratio)."""
    pairs: dict[tuple[int, int], DuplicatePair] = {}
    for block, where in _blocks(session):
        for pair in _compare_block(block, threshold, where):
            key = (pair.first_id, pair.second_id)
            if key not in pairs or pairs[key].score < pair.score:
                pairs[key] = pair
    for pair in _shared_phones(session):
        pairs.setdefault((pair.first_id, pair.second_id), pair)
    return sorted(pairs.values(), key=lambda pair: (-pair.score, pair.first_id, pair.second_id))[:limit]


def _person(row: Any, block: str) -> _Person:
    name = " ".join(part for part in (row.first_name, row.last_name) if part)
    return _Person(row.id, name, row.email, row.phone, block)


def _company_people(session: Session) -> Iterator[_Person]:
    query = (
        select(Contact.id, Contact.first_name, Contact.last_name, Contact.email, Contact.phone, Contact.company,
               Contact.account_id)
        .where(Contact.erased_at.is_(None), Contact.last_name.is_not(None),
               (Contact.company.is_not(None)) | (Contact.account_id.is_not(None)))
        .order_by(Contact.account_id, Contact.company, Contact.id)
        .execution_options(yield_per=5000)
    )
    for row in session.execute(query):
        yield _person(row, f"#{row.account_id}" if row.account_id else account_key(row.company or ""))


def _place_people(session: Session) -> Iterator[_Person]:
    """People with no company, by postcode (or town when there is no postcode)."""
    town = func.lower(Contact.city)
    query = (
        select(Contact.id, Contact.first_name, Contact.last_name, Contact.email, Contact.phone, Contact.postcode,
               town.label("town"))
        .where(Contact.erased_at.is_(None), Contact.last_name.is_not(None), Contact.company.is_(None),
               Contact.account_id.is_(None), (Contact.postcode.is_not(None)) | (Contact.city.is_not(None)))
        .order_by(Contact.postcode.is_(None), Contact.postcode, town, Contact.id)
        .execution_options(yield_per=5000)
    )
    for row in session.execute(query):
        yield _person(row, f"postcode {row.postcode}" if row.postcode else f"town {row.town}")


def _blocks(session: Session) -> Iterator[tuple[list[_Person], str]]:
    for people, where in ((_company_people(session), "same company"), (_place_people(session), "same town")):
        for _, members in groupby(people, key=lambda person: person.block):
            block = list(members)
            if len(block) > 1:
                yield block, where


def _candidates(block: list[_Person]) -> Iterator[tuple[_Person, _Person]]:
    """Every pair of a small block; in a large one (a big company, a city), each person and the next
    `WINDOW` people in name order (sorted neighbourhood), so the work stays linear."""
    if len(block) <= MAX_BLOCK:
        yield from combinations(block, 2)
        return
    ordered = sorted(block, key=lambda person: fold(person.name))
    for index, person in enumerate(ordered):
        for other in ordered[index + 1:index + 1 + WINDOW]:
            yield person, other


def _compare_block(block: list[_Person], threshold: float, where: str) -> Iterator[DuplicatePair]:
    for first, second in _candidates(block):
        if first.email and second.email and first.email == second.email:
            continue
        left, right = fold(first.name), fold(second.name)
        if not left or not right:
            continue
        score = 100.0 if left == right else fuzz.token_sort_ratio(left, right)
        if score >= threshold:
            reason = f"{'same' if score == 100.0 else 'similar'} name, {where}"
            yield _pair(first, second, round(score, 1), reason)


def _pair(first: _Person, second: _Person, score: float, reason: str) -> DuplicatePair:
    """The pair with the lower id first, so each pair has one key."""
    if second.id < first.id:
        first, second = second, first
    return DuplicatePair(first.id, second.id, score, reason, first.label(), second.label())


def _shared_phones(session: Session) -> Iterator[DuplicatePair]:
    """Contacts sharing a phone number but with different emails (the import keeps them apart)."""
    shared = (
        select(Contact.phone).where(Contact.phone.is_not(None), Contact.erased_at.is_(None))
        .group_by(Contact.phone).having(func.count() > 1).limit(1000)
    )
    query = (
        select(Contact.id, Contact.first_name, Contact.last_name, Contact.email, Contact.phone)
        .where(Contact.phone.in_(shared)).order_by(Contact.phone, Contact.id)
    )
    rows = session.execute(query).all()
    for _, group in groupby(rows, key=lambda row: row.phone):
        people = [_person(row, "") for row in group]
        for first, second in combinations(people[:20], 2):
            same_name = fold(first.name) == fold(second.name) and bool(first.name)
            yield _pair(first, second, 90.0 if same_name else 60.0, "same phone, different email")
