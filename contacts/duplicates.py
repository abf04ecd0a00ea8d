"""Possible duplicates that are not certain: same name at the same company, close spellings, shared phones."""

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
MAX_BLOCK = 500  # larger blocks (a huge account) are compared on name prefixes only


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
    company_key: str

    def label(self) -> str:
        return f"{self.name or '(no name)'} <{self.email or self.phone or 'no email'}>"


def find_duplicates(session: Session, *, threshold: float = FUZZY_THRESHOLD, limit: int = 1000) -> list[DuplicatePair]:
    """Pairs worth a human look, best first. Certain duplicates (same email/phone/id) never reach here."""
    pairs: dict[tuple[int, int], DuplicatePair] = {}
    for block in _company_blocks(session):
        for pair in _compare_block(block, threshold):
            key = (pair.first_id, pair.second_id)
            if key not in pairs or pairs[key].score < pair.score:
                pairs[key] = pair
    for pair in _shared_phones(session):
        pairs.setdefault((pair.first_id, pair.second_id), pair)
    return sorted(pairs.values(), key=lambda pair: (-pair.score, pair.first_id, pair.second_id))[:limit]


def _people(session: Session) -> Iterator[_Person]:
    query = (
        select(Contact.id, Contact.first_name, Contact.last_name, Contact.email, Contact.phone, Contact.company,
               Contact.account_id)
        .where(Contact.erased_at.is_(None), Contact.last_name.is_not(None),
               (Contact.company.is_not(None)) | (Contact.account_id.is_not(None)))
        .order_by(Contact.account_id, Contact.company, Contact.id)
        .execution_options(yield_per=5000)
    )
    for row in session.execute(query):
        company = f"#{row.account_id}" if row.account_id else account_key(row.company or "")
        name = " ".join(part for part in (row.first_name, row.last_name) if part)
        yield _Person(row.id, name, row.email, row.phone, company)


def _company_blocks(session: Session) -> Iterator[list[_Person]]:
    for _, people in groupby(_people(session), key=lambda person: person.company_key):
        block = list(people)
        if len(block) > 1:
            yield block


def _compare_block(block: list[_Person], threshold: float) -> Iterator[DuplicatePair]:
    if len(block) > MAX_BLOCK:
        block.sort(key=lambda person: fold(person.name)[:3])
        for _, sub in groupby(block, key=lambda person: fold(person.name)[:3]):
            yield from _compare_block(list(sub)[:MAX_BLOCK], threshold)
        return
    for first, second in combinations(block, 2):
        if first.email and second.email and first.email == second.email:
            continue
        left, right = fold(first.name), fold(second.name)
        if not left or not right:
            continue
        score = 100.0 if left == right else fuzz.token_sort_ratio(left, right)
        if score >= threshold:
            reason = "same name, same company" if score == 100.0 else "similar name, same company"
            yield DuplicatePair(first.id, second.id, round(score, 1), reason, first.label(), second.label())


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
        people = [_Person(row.id, " ".join(p for p in (row.first_name, row.last_name) if p), row.email, row.phone, "")
                  for row in group]
        for first, second in combinations(people[:20], 2):
            same_name = fold(first.name) == fold(second.name) and bool(first.name)
            yield DuplicatePair(first.id, second.id, 90.0 if same_name else 60.0, "same phone, different email",
                                first.label(), second.label())
