"""Quarantine keeps the raw bytes and the error type of a message it holds, and when it was last retried.

Revision: 0002, after 0001.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from daemon.state.schema import refuse_downgrade

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("quarantine") as batch:
        batch.add_column(sa.Column("raw", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("error_type", sa.String(), nullable=True))
        batch.add_column(sa.Column("retried_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    refuse_downgrade()
