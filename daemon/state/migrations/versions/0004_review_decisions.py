"""Who decided a review item, when and with what comment (`review approve|reject --by --comment`).

States made before migrations by a build that already had the table keep it: it is created only where missing.
Revision: 0004, after 0003.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from daemon.state.schema import refuse_downgrade

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

decisions = sa.MetaData()
# Named only so the foreign key below resolves; it exists since 0001 and is never created here.
sa.Table("review_items", decisions, sa.Column("id", sa.Integer(), primary_key=True))
review_decisions = sa.Table(
    "review_decisions", decisions,
    sa.Column("id", sa.Integer(), primary_key=True),
    sa.Column("review_id", sa.Integer(), sa.ForeignKey("review_items.id"), nullable=False, index=True),
    sa.Column("decision", sa.String(), nullable=False),
    sa.Column("decided_by", sa.String(), nullable=False),
    sa.Column("comment", sa.Text()),
    sa.Column("at", sa.DateTime(), nullable=False),
)


def upgrade() -> None:
    decisions.create_all(op.get_bind(), tables=[review_decisions], checkfirst=True)


def downgrade() -> None:
    refuse_downgrade()
