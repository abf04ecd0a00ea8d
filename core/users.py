"""Dashboard users: scrypt password hashes with a per-user salt, roles, and what each role may do."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core import clock
from core.models import AuditLog, User

ROLES = ("admin", "marketer", "viewer")
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{1,119}$")
MIN_PASSWORD = 8
# scrypt cost: 2^15 × 8 × 128 bytes = 32 MiB and ≈ 0.1 s per check — slow for guessing, fine for a login.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
_DUMMY_HASH: str | None = None


class UserError(ValueError):
    """A bad username, role or password, or a user that does not exist / already exists."""


@dataclass(frozen=True)
class Identity:
    """Who is logged in and what they may do."""

    username: str
    role: str

    @property
    def may_schedule(self) -> bool:
        """Admins and marketers schedule and send campaigns; viewers only read."""
        return self.role in ("admin", "marketer")


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """`scrypt$N$r$p$salt$hash` (base64), with a fresh 16-byte salt."""
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P,
                            maxmem=64 * 1024 * 1024, dklen=32)
    encode = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${encode(salt).decode()}${encode(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """Whether `password` matches the stored hash (constant-time comparison)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
                                maxmem=64 * 1024 * 1024, dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def _check(username: str, role: str | None, password: str | None) -> None:
    if not USERNAME.match(username):
        raise UserError("a username is 2–120 letters, digits or . _ @ - (starting with a letter or digit)")
    if role is not None and role not in ROLES:
        raise UserError(f"unknown role {role!r} (one of {', '.join(ROLES)})")
    if password is not None and len(password) < MIN_PASSWORD:
        raise UserError(f"a password needs at least {MIN_PASSWORD} characters")


def _audit(session: Session, actor: str, action: str, username: str, **details: str) -> None:
    session.add(AuditLog(actor=actor, action=action, target=f"user:{username}", details=details,
                         occurred_at=clock.now()))


def add_user(session: Session, username: str, role: str, password: str, *, actor: str = "cli") -> User:
    """Create a user; refused if the username is taken."""
    _check(username, role, password)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise UserError(f"user {username!r} already exists (use `relance user password` to change the password)")
    user = User(username=username, role=role, password_hash=hash_password(password), created_at=clock.now())
    session.add(user)
    _audit(session, actor, "user.added", username, role=role)
    session.flush()
    return user


def set_password(session: Session, username: str, password: str, *, actor: str = "cli") -> None:
    """Replace a user's password."""
    _check(username, None, password)
    user = _get(session, username)
    user.password_hash = hash_password(password)
    _audit(session, actor, "user.password_changed", username)
    session.flush()


def set_role(session: Session, username: str, role: str, *, actor: str = "cli") -> None:
    """Change a user's role."""
    _check(username, role, None)
    user = _get(session, username)
    user.role = role
    _audit(session, actor, "user.role_changed", username, role=role)
    session.flush()


def remove_user(session: Session, username: str, *, actor: str = "cli") -> None:
    """Delete a user (their audit trail stays)."""
    _get(session, username)
    session.execute(delete(User).where(User.username == username))
    _audit(session, actor, "user.removed", username)
    session.flush()


def list_users(session: Session) -> list[dict[str, object]]:
    """Every user: name, role, creation date (never the hash)."""
    rows = session.execute(select(User.username, User.role, User.created_at).order_by(User.username))
    return [{"username": name, "role": role, "created_at": created} for name, role, created in rows]


def authenticate(session: Session, username: str, password: str) -> Identity | None:
    """The identity when the password is right, else None (the same work either way: no user enumeration)."""
    global _DUMMY_HASH
    user = session.scalar(select(User).where(User.username == username.strip()))
    if user is None:
        _DUMMY_HASH = _DUMMY_HASH or hash_password(secrets.token_hex(8))
        verify_password(password, _DUMMY_HASH)
        return None
    if not verify_password(password, user.password_hash):
        return None
    return Identity(user.username, user.role)


def _get(session: Session, username: str) -> User:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise UserError(f"no user named {username!r}")
    return user
