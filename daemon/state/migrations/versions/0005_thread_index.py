"""The thread index in tables (`thread_refs`, `thread_subjects`) instead of memory: a mailbox of years threads
without holding every Message-ID and subject in RAM. Filled here from the messages already recorded, in the
order they were recorded, so threading goes on exactly as the in-memory index did.
Revision: 0005, after 0004.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from daemon.core.threads import normalize_subject
from daemon.state.schema import refuse_downgrade

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

index = sa.MetaData()
thread_refs = sa.Table(
    "thread_refs", index,
    sa.Column("ref", sa.String(), primary_key=True),
    sa.Column("thread_id", sa.String(), nullable=False),
)
thread_subjects = sa.Table(
    "thread_subjects", index,
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("subject_key", sa.String(), nullable=False),
    sa.Column("thread_id", sa.String(), nullable=False),
    sa.Column("person", sa.String(), nullable=False),
    sa.UniqueConstraint("subject_key", "thread_id", "person"),
)
messages = sa.table("messages", sa.column("id", sa.Integer()), sa.column("message_id", sa.String()),
                    sa.column("thread_id", sa.String()), sa.column("subject", sa.Text()),
                    sa.column("thread_ids", sa.JSON()), sa.column("participants", sa.JSON()))
CHUNK = 1000


def upgrade() -> None:
    bind = op.get_bind()
    index.create_all(bind, checkfirst=True)
    refs: dict[str, str] = {}
    subjects: dict[tuple[str, str, str], None] = {}
    rows = bind.execute(sa.select(messages.c.message_id, messages.c.thread_id, messages.c.subject,
                                  messages.c.thread_ids, messages.c.participants).order_by(messages.c.id))
    for message_id, thread_id, subject, ids, participants in rows:
        for ref in ids or [message_id]:
            refs.setdefault(ref, thread_id)
        key = normalize_subject(subject or "")
        if key:
            for person in ("", *(participants or [])):
                subjects.setdefault((key, thread_id, person), None)
    ref_rows = [{"ref": ref, "thread_id": thread_id} for ref, thread_id in refs.items()]
    subject_rows = [{"subject_key": k, "thread_id": t, "person": p} for k, t, p in subjects]
    for start in range(0, len(ref_rows), CHUNK):
        bind.execute(thread_refs.insert(), ref_rows[start:start + CHUNK])
    for start in range(0, len(subject_rows), CHUNK):
        bind.execute(thread_subjects.insert(), subject_rows[start:start + CHUNK])


def downgrade() -> None:
    refuse_downgrade()
