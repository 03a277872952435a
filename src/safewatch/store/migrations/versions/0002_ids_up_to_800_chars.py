"""ids up to 800 characters (as Langfuse allows)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 09:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# (table, column, nullable): client-chosen ids and references to them.
ID_COLUMNS = [
    ("ingestion_events", "event_id", False),
    ("observations", "id", False),
    ("observations", "trace_id", True),
    ("observations", "parent_observation_id", True),
    ("scores", "id", False),
    ("scores", "trace_id", True),
    ("scores", "observation_id", True),
    ("scores", "session_id", True),
    ("scores", "config_id", True),
    ("scores", "author_user_id", True),
    ("scoring_jobs", "trace_id", False),
    ("scoring_jobs", "observation_id", True),
    ("sessions", "id", False),
    ("trace_tags", "trace_id", False),
    ("traces", "id", False),
]


def _alter(length_from: int, length_to: int) -> None:
    # SQLite does not enforce VARCHAR lengths; rebuilding its tables for a no-op would only cost time.
    if op.get_bind().dialect.name == "sqlite":
        return
    for table, column, nullable in ID_COLUMNS:
        op.alter_column(
            table,
            column,
            existing_type=sa.String(length_from),
            type_=sa.String(length_to),
            existing_nullable=nullable,
        )


def upgrade() -> None:
    _alter(200, 800)


def downgrade() -> None:
    _alter(800, 200)
