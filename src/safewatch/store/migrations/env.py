"""Alembic environment: uses the engine handed over by safewatch.store.migrate (or the configured URL)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from safewatch.store.db import normalize_url
from safewatch.store.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    context.configure(
        url=normalize_url(config.get_main_option("sqlalchemy.url")),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = config.attributes.get("engine") or create_engine(normalize_url(config.get_main_option("sqlalchemy.url")))
    with engine.connect() as connection:
        # batch mode lets later migrations ALTER tables on SQLite too.
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
