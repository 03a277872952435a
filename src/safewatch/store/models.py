"""The tables, as SQLAlchemy 2 declarative models.

Trace, observation, score and session ids come from clients (the Langfuse SDKs choose them), so those tables
are keyed by (project_id, id): two projects may use the same id without ever seeing each other's rows.
Such ids are up to 800 characters, as Langfuse allows. Times are stored as naive UTC so SQLite and PostgreSQL compare them the same way.
"""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# SQL NULL (not JSON 'null') for None, so that COALESCE-based merges treat "absent" as absent.
JsonType = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def new_id() -> str:
    return str(uuid.uuid4())


class Role(enum.StrEnum):
    OWNER = "OWNER"
    ADMIN = "ADMIN"
    MEMBER = "MEMBER"
    VIEWER = "VIEWER"


class Base(DeclarativeBase):
    pass


class Organization(Base):
    __tablename__ = "organizations"
    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Project(Base):
    __tablename__ = "projects"
    __table_args__ = (UniqueConstraint("org_id", "name", name="uq_projects_org_name"),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class User(Base):
    __tablename__ = "users"
    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Membership(Base):
    __tablename__ = "memberships"
    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(16), default=Role.MEMBER.value)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class ApiKey(Base):
    __tablename__ = "api_keys"
    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    public_key: Mapped[str] = mapped_column(String(128), unique=True)
    # sha256 of a 256-bit random secret: brute force is hopeless, so a slow password hash buys nothing.
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    display_secret: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16), default=Role.OWNER.value)
    note: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)


class Trace(Base):
    __tablename__ = "traces"
    __table_args__ = (
        Index("ix_traces_project_timestamp", "project_id", "timestamp"),
        Index("ix_traces_project_user", "project_id", "user_id"),
        Index("ix_traces_project_session", "project_id", "session_id"),
        Index("ix_traces_project_name", "project_id", "name"),
    )
    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    id: Mapped[str] = mapped_column(String(800), primary_key=True)
    timestamp: Mapped[datetime] = mapped_column(DateTime)
    name: Mapped[str | None] = mapped_column(Text)
    user_id: Mapped[str | None] = mapped_column(Text)
    session_id: Mapped[str | None] = mapped_column(Text)
    release: Mapped[str | None] = mapped_column(Text)
    version: Mapped[str | None] = mapped_column(Text)
    environment: Mapped[str | None] = mapped_column(String(200))
    input: Mapped[Any] = mapped_column(JsonType, nullable=True)
    output: Mapped[Any] = mapped_column(JsonType, nullable=True)
    meta: Mapped[Any] = mapped_column("metadata", JsonType, nullable=True)
    public: Mapped[bool | None] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class TraceTag(Base):
    """Tags as rows: filtering by tag is then plain SQL on SQLite and PostgreSQL alike."""

    __tablename__ = "trace_tags"
    __table_args__ = (Index("ix_trace_tags_project_tag", "project_id", "tag"),)
    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    trace_id: Mapped[str] = mapped_column(String(800), primary_key=True)
    tag: Mapped[str] = mapped_column(String(200), primary_key=True)


class Observation(Base):
    __tablename__ = "observations"
    __table_args__ = (
        Index("ix_observations_project_trace", "project_id", "trace_id"),
        Index("ix_observations_project_start", "project_id", "start_time"),
    )
    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    id: Mapped[str] = mapped_column(String(800), primary_key=True)
    trace_id: Mapped[str | None] = mapped_column(String(800))
    type: Mapped[str] = mapped_column(String(32))
    name: Mapped[str | None] = mapped_column(Text)
    start_time: Mapped[datetime] = mapped_column(DateTime)
    end_time: Mapped[datetime | None] = mapped_column(DateTime)
    completion_start_time: Mapped[datetime | None] = mapped_column(DateTime)
    parent_observation_id: Mapped[str | None] = mapped_column(String(800))
    level: Mapped[str | None] = mapped_column(String(16))
    status_message: Mapped[str | None] = mapped_column(Text)
    version: Mapped[str | None] = mapped_column(Text)
    environment: Mapped[str | None] = mapped_column(String(200))
    input: Mapped[Any] = mapped_column(JsonType, nullable=True)
    output: Mapped[Any] = mapped_column(JsonType, nullable=True)
    meta: Mapped[Any] = mapped_column("metadata", JsonType, nullable=True)
    model: Mapped[str | None] = mapped_column(Text)
    model_parameters: Mapped[Any] = mapped_column(JsonType, nullable=True)
    usage: Mapped[Any] = mapped_column(JsonType, nullable=True)
    cost_details: Mapped[Any] = mapped_column(JsonType, nullable=True)
    prompt_name: Mapped[str | None] = mapped_column(Text)
    prompt_version: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class Score(Base):
    __tablename__ = "scores"
    __table_args__ = (
        Index("ix_scores_project_trace", "project_id", "trace_id"),
        Index("ix_scores_project_name", "project_id", "name"),
        Index("ix_scores_project_timestamp", "project_id", "timestamp"),
    )
    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    id: Mapped[str] = mapped_column(String(800), primary_key=True)
    trace_id: Mapped[str | None] = mapped_column(String(800))
    observation_id: Mapped[str | None] = mapped_column(String(800))
    session_id: Mapped[str | None] = mapped_column(String(800))
    name: Mapped[str] = mapped_column(String(200))
    value: Mapped[float | None] = mapped_column(Float)
    string_value: Mapped[str | None] = mapped_column(Text)
    data_type: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16))
    comment: Mapped[str | None] = mapped_column(Text)
    config_id: Mapped[str | None] = mapped_column(String(800))
    author_user_id: Mapped[str | None] = mapped_column(String(800))
    environment: Mapped[str | None] = mapped_column(String(200))
    meta: Mapped[Any] = mapped_column("metadata", JsonType, nullable=True)
    timestamp: Mapped[datetime] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class TraceSession(Base):
    __tablename__ = "sessions"
    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    id: Mapped[str] = mapped_column(String(800), primary_key=True)
    environment: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class IngestionEvent(Base):
    """Event ids already applied: an SDK retry of a whole batch must not apply an event twice."""

    __tablename__ = "ingestion_events"
    __table_args__ = (Index("ix_ingestion_events_created", "created_at"),)
    project_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(800), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class ScoringJob(Base):
    """The persisted backlog of automatic safety scoring: a trace or observation whose text changed.

    Written in the same transaction as the data it refers to, so neither overload nor kill -9 loses one.
    """

    __tablename__ = "scoring_jobs"
    __table_args__ = (Index("ix_scoring_jobs_created", "created_at"),)
    # Made by the writer (uuid hex), so a batch of jobs is one plain multi-row insert, no RETURNING.
    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=lambda: uuid.uuid4().hex)
    project_id: Mapped[str] = mapped_column(String(64))
    trace_id: Mapped[str] = mapped_column(String(800))
    observation_id: Mapped[str | None] = mapped_column(String(800))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
