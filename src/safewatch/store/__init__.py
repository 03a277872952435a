"""Storage: SQLAlchemy 2 models, Alembic migrations, SQLite by default and PostgreSQL in production."""

from safewatch.store.db import Database, DatabaseError, normalize_url
from safewatch.store.migrate import upgrade

__all__ = ["Database", "DatabaseError", "normalize_url", "upgrade"]
