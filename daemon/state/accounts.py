"""Web desk accounts and sessions in the state database. Only hashes are stored: the argon2 hash of a password
(made by the caller) and the SHA-256 of a session token; the token itself lives only in the browser's cookie."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from daemon.state.models import WebSession, WebUser, utcnow

Sessions = sessionmaker[Session]


@dataclass(frozen=True)
class SignedIn:
    user: str
    csrf: str
    token: str  # the cookie value (only known right after sign-in or when read from the cookie)


def set_password(sessions: Sessions, name: str, password_hash: str) -> bool:
    """Create the account or replace its password; True when it was new. Its open sessions end."""
    with sessions.begin() as session:
        user = session.get(WebUser, name)
        created = user is None
        if user is None:
            session.add(WebUser(name=name, password_hash=password_hash, created_at=utcnow()))
        else:
            user.password_hash = password_hash
            session.execute(delete(WebSession).where(WebSession.user == name))
    return created


def remove_user(sessions: Sessions, name: str) -> bool:
    with sessions.begin() as session:
        user = session.get(WebUser, name)
        if user is None:
            return False
        session.delete(user)
        session.execute(delete(WebSession).where(WebSession.user == name))
    return True


def password_hash(sessions: Sessions, name: str) -> str | None:
    with sessions() as session:
        return session.scalar(select(WebUser.password_hash).where(WebUser.name == name))


def users(sessions: Sessions) -> list[tuple[str, datetime]]:
    with sessions() as session:
        return [(u.name, u.created_at) for u in session.scalars(select(WebUser).order_by(WebUser.name))]


def start_session(sessions: Sessions, user: str, lifetime: timedelta) -> SignedIn:
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = utcnow()
    with sessions.begin() as session:
        session.execute(delete(WebSession).where(WebSession.expires_at < now))
        session.add(WebSession(token_hash=_digest(token), user=user, csrf=csrf, created_at=now,
                               expires_at=now + lifetime))
    return SignedIn(user, csrf, token)


def find_session(sessions: Sessions, token: str) -> SignedIn | None:
    if not token or len(token) > 200:
        return None
    with sessions() as session:
        row = session.get(WebSession, _digest(token))
        if row is None or row.expires_at < utcnow():
            return None
        return SignedIn(row.user, row.csrf, token)


def end_session(sessions: Sessions, token: str) -> None:
    with sessions.begin() as session:
        session.execute(delete(WebSession).where(WebSession.token_hash == _digest(token)))


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()
