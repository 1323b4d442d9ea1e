"""Baseline: the schema of every state made before migrations existed (made then by `create_all`).

On a state from such a build the tables are already there: they are kept, only missing tables are created, and
a column an older build did not have yet is added when it may be empty. Revision: 0001.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from daemon.errors import StateError
from daemon.state.schema import refuse_downgrade

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Frozen here on purpose: later model changes are later revisions, never edits of this one.
baseline = sa.MetaData()

sa.Table(
    "actions", baseline,
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("key", sa.String(), nullable=False, unique=True),
    sa.Column("kind", sa.String(), nullable=False),
    sa.Column("message_id", sa.String(), index=True),
    sa.Column("payload", sa.JSON(), nullable=False),
    sa.Column("status", sa.String(), nullable=False, index=True),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("last_error", sa.Text()),
    sa.Column("result", sa.JSON(), nullable=False),
    sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
    sa.Column("sending_since", sa.DateTime()),
    sa.Column("sending_by", sa.String()),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Column("updated_at", sa.DateTime(), nullable=False),
)
sa.Table(
    "evidence", baseline,
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("lead_id", sa.String(), nullable=False, index=True),
    sa.Column("kind", sa.String(), nullable=False),
    sa.Column("message_id", sa.String(), nullable=False),
    sa.Column("date", sa.DateTime()),
    sa.Column("month", sa.String()),
    sa.Column("month_stated", sa.Boolean(), nullable=False),
    sa.Column("tier", sa.String()),
    sa.Column("price", sa.String()),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.UniqueConstraint("kind", "message_id"),
)
sa.Table(
    "leads", baseline,
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("name", sa.String(), nullable=False),
    sa.Column("status", sa.String(), nullable=False),
    sa.Column("contact_emails", sa.JSON(), nullable=False),
    sa.Column("domain", sa.String(), index=True),
    sa.Column("service_tier", sa.String()),
    sa.Column("monthly_fee", sa.String()),
    sa.Column("cloud_billing_managed", sa.Boolean(), nullable=False),
    sa.Column("service_start", sa.String()),
    sa.Column("notes", sa.Text(), nullable=False),
    sa.Column("created_by", sa.String(), unique=True),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Column("updated_at", sa.DateTime(), nullable=False),
)
sa.Table(
    "maniac_evidence", baseline,
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("lead_id", sa.String(), nullable=False, index=True),
    sa.Column("letter", sa.String(), nullable=False),
    sa.Column("rule", sa.String(), nullable=False),
    sa.Column("quote", sa.Text(), nullable=False),
    sa.Column("detail", sa.Text(), nullable=False),
    sa.Column("message_id", sa.String(), nullable=False),
    sa.Column("date", sa.DateTime()),
    sa.UniqueConstraint("lead_id", "letter", "quote"),
)
sa.Table(
    "messages", baseline,
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("message_id", sa.String(), nullable=False, unique=True),
    sa.Column("thread_id", sa.String(), nullable=False, index=True),
    sa.Column("source", sa.String(), nullable=False),
    sa.Column("source_uid", sa.Integer()),
    sa.Column("sha256", sa.String(), index=True),
    sa.Column("subject", sa.Text(), nullable=False),
    sa.Column("from_addr", sa.String()),
    sa.Column("date", sa.DateTime()),
    sa.Column("direction", sa.String(), nullable=False),
    sa.Column("sender_role", sa.String(), nullable=False),
    sa.Column("lead_id", sa.String()),
    sa.Column("skipped_reason", sa.String()),
    sa.Column("thread_ids", sa.JSON(), nullable=False),
    sa.Column("participants", sa.JSON(), nullable=False),
    sa.Column("raw", sa.LargeBinary()),
    sa.Column("received_at", sa.DateTime(), nullable=False),
)
sa.Table(
    "meta", baseline,
    sa.Column("key", sa.String(), primary_key=True),
    sa.Column("value", sa.String(), nullable=False),
)
sa.Table(
    "quarantine", baseline,
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("sha256", sa.String(), nullable=False, unique=True),
    sa.Column("source", sa.String(), nullable=False),
    sa.Column("source_uid", sa.Integer()),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("size", sa.Integer(), nullable=False),
    sa.Column("created_at", sa.DateTime(), nullable=False),
)
sa.Table(
    "review_items", baseline,
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("key", sa.String(), nullable=False, unique=True),
    sa.Column("message_id", sa.String(), nullable=False, index=True),
    sa.Column("thread_id", sa.String()),
    sa.Column("lead_id", sa.String()),
    sa.Column("intent", sa.String(), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("proposed", sa.JSON(), nullable=False),
    sa.Column("status", sa.String(), nullable=False, index=True),
    sa.Column("decided_by", sa.String()),
    sa.Column("decided_at", sa.DateTime()),
    sa.Column("created_at", sa.DateTime(), nullable=False),
)
sa.Table(
    "sync_cursors", baseline,
    sa.Column("source", sa.String(), primary_key=True),
    sa.Column("uidvalidity", sa.Integer()),
    sa.Column("last_uid", sa.Integer(), nullable=False),
    sa.Column("updated_at", sa.DateTime(), nullable=False),
)
sa.Table(
    "threads", baseline,
    sa.Column("id", sa.String(), primary_key=True),
    sa.Column("subject_key", sa.String(), nullable=False),
    sa.Column("lead_id", sa.String()),
    sa.Column("created_at", sa.DateTime(), nullable=False),
)
sa.Table(
    "active_hubs", baseline,
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("key", sa.String(), nullable=False, unique=True),
    sa.Column("lead_id", sa.Integer(), sa.ForeignKey("leads.id"), nullable=False, index=True),
    sa.Column("name", sa.String(), nullable=False),
    sa.Column("created_at", sa.DateTime(), nullable=False),
)
sa.Table(
    "classifications", baseline,
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("message_pk", sa.Integer(), sa.ForeignKey("messages.id"), nullable=False, unique=True),
    sa.Column("intent", sa.String(), nullable=False),
    sa.Column("rule", sa.String()),
    sa.Column("rule_file", sa.String()),
    sa.Column("confidence", sa.Float(), nullable=False),
    sa.Column("matched", sa.JSON(), nullable=False),
    sa.Column("facts", sa.JSON(), nullable=False),
    sa.Column("explanation", sa.Text(), nullable=False),
)
sa.Table(
    "lead_status_history", baseline,
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("lead_id", sa.Integer(), sa.ForeignKey("leads.id"), nullable=False, index=True),
    sa.Column("old_status", sa.String()),
    sa.Column("new_status", sa.String(), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("action_key", sa.String(), unique=True),
    sa.Column("at", sa.DateTime(), nullable=False),
)


def upgrade() -> None:
    bind = op.get_bind()
    baseline.create_all(bind, checkfirst=True)
    inspector = sa.inspect(bind)
    for table in baseline.sorted_tables:
        present = {column["name"] for column in inspector.get_columns(table.name)}
        missing = [column for column in table.columns if column.name not in present]
        if not missing:
            continue
        required = [column.name for column in missing if not column.nullable]
        if required:
            raise StateError(f"table {table.name} of this state lacks required column(s) {', '.join(required)}: "
                               "it was not made by partnerships-daemon")
        with op.batch_alter_table(table.name) as batch:
            for column in missing:
                batch.add_column(sa.Column(column.name, column.type, nullable=True))


def downgrade() -> None:
    refuse_downgrade()
