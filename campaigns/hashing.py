"""Deterministic per-contact values computed in SQL on both databases (with their Python twins): ledger ids and
the buckets that assign holdout, A/B variant and test phase from contact and campaign alone."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from sqlalchemy import BigInteger, String, cast, func, literal
from sqlalchemy.dialects.postgresql import BIT, UUID
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from core.dialect import ensure_sqlite_functions, is_sqlite

BUCKETS = 2**32  # a bucket is the first 32 bits of md5(key): uniform over [0, 2**32)


def message_id(campaign_id: int, contact_id: int, rotation: int = 0) -> str:
    """The ledger id of (campaign, contact, rotation): the md5 of that key, formatted as a UUID."""
    return str(uuid.UUID(hashlib.md5(f"{campaign_id}|{contact_id}|{rotation}".encode()).hexdigest()))


def bucket(salt: str, contact_id: int) -> int:
    """The contact's bucket under `salt`, in [0, 2**32)."""
    return int(hashlib.md5(f"{salt}:{contact_id}".encode()).hexdigest()[:8], 16)


def threshold(share: float) -> int:
    """Buckets below this number make up `share` of all contacts."""
    return round(share * BUCKETS)


def _sqlite_uuid(key: str) -> str:
    return str(uuid.UUID(hashlib.md5(key.encode()).hexdigest()))


def _sqlite_bucket(key: str) -> int:
    return int(hashlib.md5(key.encode()).hexdigest()[:8], 16)


SQLITE_FUNCTIONS = (("relance_md5_uuid", 1, _sqlite_uuid), ("relance_md5_bucket", 1, _sqlite_bucket))


def prepare(session: Session) -> None:
    """Register the SQLite twins of the SQL below on this session's connection."""
    ensure_sqlite_functions(session, SQLITE_FUNCTIONS)


def message_id_sql(session: Session, campaign_id: int, contact_id: Any, rotation: int = 0) -> ColumnElement[str]:
    """SQL for `message_id(campaign_id, contact_id, rotation)`."""
    key = literal(f"{campaign_id}|", String) + cast(contact_id, String) + literal(f"|{rotation}", String)
    if is_sqlite(session):
        return func.relance_md5_uuid(key)
    return cast(cast(func.md5(key), UUID), String)


def bucket_sql(session: Session, salt: str, contact_id: Any) -> ColumnElement[int]:
    """SQL for `bucket(salt, contact_id)`."""
    key = literal(f"{salt}:", String) + cast(contact_id, String)
    if is_sqlite(session):
        return func.relance_md5_bucket(key)
    return cast(cast(literal("x", String) + func.substr(func.md5(key), 1, 8), BIT(32)), BigInteger)
