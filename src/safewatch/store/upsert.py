"""Dialect-aware bulk upserts (SQLite and PostgreSQL share the ON CONFLICT syntax, not the import)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session


def _insert(session: Session, table: Table):
    return (sqlite_insert if session.get_bind().dialect.name == "sqlite" else pg_insert)(table)


def upsert(session: Session, table: Table, rows: Sequence[dict[str, Any]], keys: Iterable[str],
           keep: Iterable[str] = ("created_at",)) -> None:
    """Insert `rows`, replacing every column but `keys` and `keep` where the key exists already."""
    if not rows:
        return
    keys, keep = list(keys), set(keep)
    stmt = _insert(session, table)
    columns = {c.name for c in table.columns} & set(rows[0])
    stmt = stmt.on_conflict_do_update(
        index_elements=keys, set_={c: stmt.excluded[c] for c in columns if c not in keys and c not in keep}
    )
    session.execute(stmt, list(rows))


def insert_ignore(session: Session, table: Table, rows: Sequence[dict[str, Any]], keys: Iterable[str]) -> None:
    """Insert `rows`, skipping those whose key exists already."""
    if not rows:
        return
    session.execute(_insert(session, table).on_conflict_do_nothing(index_elements=list(keys)), list(rows))


def chunks(items: Sequence[Any], size: int = 500) -> Iterable[Sequence[Any]]:
    """Slices small enough for an `IN (...)` list on every backend."""
    for i in range(0, len(items), size):
        yield items[i : i + size]
