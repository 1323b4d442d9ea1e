"""The web desk's tables: labelled examples (corrections from the review queue), local accounts, sessions.

States made before migrations by a build with the desk already have them (then `create_all` made them): they
are created only where missing. Revision: 0003, after 0002.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from daemon.state.schema import refuse_downgrade

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

desk = sa.MetaData()
sa.Table(
    "labelled_examples", desk,
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("message_id", sa.String(), nullable=False, index=True),
    sa.Column("review_item_id", sa.Integer()),
    sa.Column("text", sa.Text(), nullable=False),
    sa.Column("intent", sa.String(), nullable=False),
    sa.Column("previous_intent", sa.String()),
    sa.Column("labelled_by", sa.String(), nullable=False),
    sa.Column("labelled_at", sa.DateTime(), nullable=False),
)
sa.Table(
    "web_users", desk,
    sa.Column("name", sa.String(), primary_key=True),
    sa.Column("password_hash", sa.String(), nullable=False),
    sa.Column("created_at", sa.DateTime(), nullable=False),
)
sa.Table(
    "web_sessions", desk,
    sa.Column("token_hash", sa.String(), primary_key=True),
    sa.Column("user", sa.String(), nullable=False, index=True),
    sa.Column("csrf", sa.String(), nullable=False),
    sa.Column("created_at", sa.DateTime(), nullable=False),
    sa.Column("expires_at", sa.DateTime(), nullable=False),
)


def upgrade() -> None:
    desk.create_all(op.get_bind(), checkfirst=True)


def downgrade() -> None:
    refuse_downgrade()
