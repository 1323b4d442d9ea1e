"""The outbox table's life cycle in one place: enqueue, claim, complete, fail, schedule, retry, cancel and list
actions. The executor (daemon.actions) decides what to do; every row it reads or writes goes through here."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from daemon.core.decide import Action
from daemon.core.kinds import ALERTED_KINDS, ActionKind
from daemon.state.models import CANCELLED, DONE, FAILED, PENDING, UNCERTAIN, ActionRow, ReviewItem, utcnow
from daemon.state.upsert import insert


@dataclass(frozen=True)
class ActionView:
    """One outbox row as the `actions` commands show it."""

    id: int
    key: str
    kind: str
    status: str
    attempts: int
    last_error: str | None
    message_id: str | None
    created_at: datetime
    updated_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "key": self.key, "kind": self.kind, "status": self.status,
                "attempts": self.attempts, "last_error": self.last_error, "message_id": self.message_id,
                "created_at": self.created_at.isoformat() + "Z", "updated_at": self.updated_at.isoformat() + "Z"}


def _view(row: ActionRow) -> ActionView:
    return ActionView(row.id, row.key, row.kind, row.status, row.attempts, row.last_error, row.message_id,
                      row.created_at, row.updated_at)


def enqueue(session: Session, key: str, kind: str, payload: dict[str, Any], *, message_id: str | None = None,
            now: datetime | None = None) -> bool:
    """Record an action once per key, inside the caller's transaction; False when the key was recorded before."""
    moment = now or utcnow()
    result = session.execute(insert(session, ActionRow).values(
        key=key, kind=kind, message_id=message_id, payload=payload, created_at=moment, updated_at=moment,
        next_attempt_at=moment,
    ).on_conflict_do_nothing(index_elements=["key"]).returning(ActionRow.id))
    # Not rowcount: PostgreSQL's driver reports -1 for an INSERT with RETURNING.
    return result.scalar() is not None


def enqueue_once(sessions: sessionmaker[Session], key: str, kind: str, payload: dict[str, Any]) -> bool:
    """`enqueue` in a transaction of its own."""
    with sessions.begin() as session:
        return enqueue(session, key, kind, payload)


def complete(sessions: sessionmaker[Session], key: str, result: dict[str, Any], attempts: int,
             now: datetime) -> None:
    with sessions.begin() as session:
        session.execute(update(ActionRow).where(ActionRow.key == key).values(
            status=DONE, attempts=attempts, result=result, last_error=None, sending_since=None, updated_at=now))


def claim_send(sessions: sessionmaker[Session], key: str, instance: str, now: datetime) -> int:
    """Mark the action as being handed to the mail server by `instance` (survives a crash); its attempts so far."""
    with sessions.begin() as session:
        attempts = session.scalar(select(ActionRow.attempts).where(ActionRow.key == key)) or 0
        session.execute(update(ActionRow).where(ActionRow.key == key).values(sending_since=now, sending_by=instance))
        return attempts


def requeue(session: Session, key: str, kind: str, payload: dict[str, Any], message_id: str | None,
            now: datetime) -> None:
    """Record an approved action; one that failed permanently before gets another try."""
    proposed = insert(session, ActionRow).values(key=key, kind=kind, message_id=message_id, payload=payload,
                                                 created_at=now, updated_at=now, next_attempt_at=now)
    session.execute(proposed.on_conflict_do_update(
        index_elements=["key"], where=ActionRow.status == FAILED,
        set_={"status": PENDING, "attempts": 0, "last_error": None, "next_attempt_at": now}))


def alert_for(session: Session, row: ActionRow, error: str, now: datetime) -> bool:
    """After a permanent failure: one alert mail to partnerships@ per failed action (never for an alert)."""
    if row.kind not in ALERTED_KINDS:
        return False
    return enqueue(session, f"alert:{row.key}", ActionKind.SEND_ALERT,
                   {"failed_key": row.key, "failed_kind": row.kind, "action_id": row.id, "error": error,
                    "attempts": row.attempts, "message_id": row.message_id}, now=now)


def list_actions(sessions: sessionmaker[Session], *, failed_only: bool = False,
                 include_done: bool = False) -> list[ActionView]:
    """Failed ones, or every action not done (with `include_done`, all of them), oldest first."""
    query = select(ActionRow).order_by(ActionRow.id)
    if failed_only:
        query = query.where(ActionRow.status == FAILED)
    elif not include_done:
        query = query.where(ActionRow.status != DONE)
    with sessions() as session:
        return [_view(row) for row in session.scalars(query)]


def get_action(sessions: sessionmaker[Session], action_id: int) -> ActionView | None:
    with sessions() as session:
        row = session.get(ActionRow, action_id)
        return _view(row) if row is not None else None


class OutboxError(Exception):
    """A request the action's current status does not allow (e.g. retrying a done action)."""


def retry(sessions: sessionmaker[Session], action_ids: Sequence[int], now: datetime | None = None) -> list[str]:
    """Failed (or cancelled) actions become pending again with a fresh retry budget, and a pending one waiting for
    its next attempt (e.g. after a refused login) is tried now; returns their keys."""
    moment = now or utcnow()
    keys = []
    with sessions.begin() as session:
        for action_id in action_ids:
            row = session.get(ActionRow, action_id)
            if row is None:
                raise OutboxError(f"action #{action_id} does not exist")
            if row.status not in (FAILED, CANCELLED, PENDING):
                raise OutboxError(f"action #{action_id} ({row.kind} {row.key}) is {row.status}, not failed")
            session.execute(update(ActionRow).where(ActionRow.id == action_id).values(
                status=PENDING, attempts=0, next_attempt_at=moment, updated_at=moment, sending_since=None,
                last_error=f"retried by hand after: {row.last_error or 'no error recorded'}"))
            keys.append(row.key)
    return keys


def failed_ids(sessions: sessionmaker[Session]) -> list[int]:
    with sessions() as session:
        return list(session.scalars(select(ActionRow.id).where(ActionRow.status == FAILED).order_by(ActionRow.id)))


def cancel(sessions: sessionmaker[Session], action_id: int, by: str, now: datetime | None = None) -> str:
    """A pending, uncertain or failed action is never carried out; the row stays, as a record of who cancelled."""
    moment = now or utcnow()
    with sessions.begin() as session:
        row = session.get(ActionRow, action_id)
        if row is None:
            raise OutboxError(f"action #{action_id} does not exist")
        if row.status not in (PENDING, UNCERTAIN, FAILED):
            raise OutboxError(f"action #{action_id} ({row.kind} {row.key}) is {row.status}: nothing to cancel")
        if row.sending_since is not None and row.status == PENDING:
            raise OutboxError(f"action #{action_id} is being sent right now; cancel it once it has finished")
        session.execute(update(ActionRow).where(ActionRow.id == action_id).values(
            status=CANCELLED, updated_at=moment,
            last_error=f"cancelled by {by} at {moment:%Y-%m-%d %H:%M} UTC; before: {row.last_error or '-'}"))
        return row.key


def failed_summary(sessions: sessionmaker[Session]) -> list[ActionView]:
    """Permanently failed actions (alerts included: a failed alert means mail is not getting out at all)."""
    return list_actions(sessions, failed_only=True)


def enqueue_actions(session: Session, actions: Iterable[Action], *, message_id: str | None = None) -> None:
    """Record decided `actions` as pending in the caller's transaction, in one statement; keys recorded before
    are left alone."""
    rows = action_rows(actions, message_id=message_id)
    if rows:
        session.execute(insert(session, ActionRow).on_conflict_do_nothing(index_elements=["key"]), rows)


def action_rows(actions: Iterable[Action], *, message_id: str | None) -> list[dict[str, Any]]:
    """The outbox rows of `actions`: pending, due now."""
    now = utcnow()
    return [{"key": action.key, "kind": action.kind, "message_id": message_id or action.payload.get("message_id"),
             "payload": action.payload, "status": PENDING, "attempts": 0, "created_at": now, "updated_at": now,
             "next_attempt_at": now} for action in actions]


# -- the executor's side of the protocol ----------------------------------------------------------------------


def due(sessions: sessionmaker[Session], now: datetime) -> list[tuple[int, str, str]]:
    """Pending actions whose time has come, in the order they were recorded: (id, kind, key)."""
    with sessions() as session:
        return [(i, kind, key) for i, kind, key in session.execute(
            select(ActionRow.id, ActionRow.kind, ActionRow.key)
            .where(ActionRow.status == PENDING, ActionRow.next_attempt_at <= now).order_by(ActionRow.id))]


def row(sessions: sessionmaker[Session], action_id: int) -> ActionRow:
    """One action, detached from its session (plain data to the caller)."""
    with sessions() as session:
        found = session.get(ActionRow, action_id)
        if found is None:
            raise OutboxError(f"action #{action_id} does not exist")
        return found


def by_key(sessions: sessionmaker[Session], key: str) -> ActionRow | None:
    with sessions() as session:
        return session.scalar(select(ActionRow).where(ActionRow.key == key))


def created_at(sessions: sessionmaker[Session], key: str) -> datetime | None:
    with sessions() as session:
        return session.scalar(select(ActionRow.created_at).where(ActionRow.key == key))


def schedule(sessions: sessionmaker[Session], action_id: int, payload: dict[str, Any], when: datetime | None,
             detail: str, now: datetime) -> None:
    """Store the action's completed payload and, with `when`, keep it pending until then."""
    values: dict[str, Any] = {"payload": payload}
    if when is not None:
        values |= {"next_attempt_at": when, "last_error": detail, "updated_at": now}
    with sessions.begin() as session:
        session.execute(update(ActionRow).where(ActionRow.id == action_id).values(**values))


def hold(sessions: sessionmaker[Session], action_id: int, until: datetime, detail: str, now: datetime) -> None:
    """Pending again without using up an attempt (a refused login is not this message's fault)."""
    with sessions.begin() as session:
        session.execute(update(ActionRow).where(ActionRow.id == action_id).values(
            status=PENDING, last_error=detail, updated_at=now, next_attempt_at=until, sending_since=None))


def settle_interrupted(sessions: sessionmaker[Session], instance: str, now: datetime, grace: timedelta) -> None:
    """Sends another (dead) process left in flight become uncertain: their copy may still come back."""
    with sessions.begin() as session:
        session.execute(update(ActionRow).where(
            ActionRow.status == PENDING, ActionRow.sending_since.is_not(None), ActionRow.sending_by != instance,
        ).values(status=UNCERTAIN, sending_by=None, updated_at=now, next_attempt_at=now + grace,
                 last_error="interrupted while sending: waiting for its copy to come back before resending"))


def resend_unconfirmed(sessions: sessionmaker[Session], pass_started: datetime, now: datetime) -> int:
    """Uncertain sends whose grace ended before a complete pass began are pending again; how many."""
    with sessions.begin() as session:
        expired = session.execute(update(ActionRow).where(
            ActionRow.status == UNCERTAIN, ActionRow.next_attempt_at <= pass_started,
        ).values(status=PENDING, sending_since=None, updated_at=now, next_attempt_at=now))
        return expired.rowcount


def confirm_delivered(sessions: sessionmaker[Session], key: str, now: datetime) -> bool:
    """An in-flight or uncertain send whose copy came back is done."""
    with sessions.begin() as session:
        confirmed = session.execute(update(ActionRow).where(
            ActionRow.key == key, ActionRow.status.in_((PENDING, UNCERTAIN)), ActionRow.sending_since.is_not(None),
        ).values(status=DONE, last_error=None, updated_at=now,
                 result={"sent_to": "confirmed by its copy in the mailbox"}))
        return bool(confirmed.rowcount)


def fail(sessions: sessionmaker[Session], action_id: int, *, attempts: int, error: str, give_up: bool,
         retry_at: datetime, now: datetime, to_review: bool) -> bool:
    """Record a failed attempt: pending until `retry_at`, or failed for good (`give_up`). A permanent failure of a
    mail action records one alert; with `to_review` (a change the leads table refused) a review item proposes it
    again. True when an alert was recorded."""
    alerted = False
    with sessions.begin() as session:
        session.execute(update(ActionRow).where(ActionRow.id == action_id).values(
            status=FAILED if give_up else PENDING, attempts=attempts, last_error=error, updated_at=now,
            next_attempt_at=retry_at, sending_since=None))
        failed = session.get(ActionRow, action_id)
        if failed is None:
            return False
        if give_up:
            alerted = alert_for(session, failed, error, now)
        if to_review:
            session.execute(insert(session, ReviewItem).values(
                key=f"review:{failed.key}:{now:%Y%m%dT%H%M%S%f}", message_id=failed.message_id or failed.key,
                lead_id=str(failed.payload.get("lead", "")) or None, intent=failed.kind,
                reason=f"{failed.kind} was refused by the leads table: {error}",
                proposed=[{"kind": failed.kind, "key": failed.key, "payload": failed.payload}], created_at=now,
            ).on_conflict_do_nothing(index_elements=["key"]))
    return alerted


def sent_keys(sessions: sessionmaker[Session], kind: str) -> list[str]:
    """The keys of every action of `kind` ever recorded (e.g. the months whose batch went out)."""
    with sessions() as session:
        return list(session.scalars(select(ActionRow.key).where(ActionRow.kind == kind)))
