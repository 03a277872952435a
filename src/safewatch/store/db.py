"""Engine and sessions for SQLite (default) and PostgreSQL (psycopg 3)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


class DatabaseError(RuntimeError):
    """The database URL is unusable or the database cannot be reached."""


def normalize_url(url: str) -> str:
    """`postgres://` and `postgresql://` mean psycopg 3 here (SQLAlchemy would pick psycopg2)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class Database:
    """One engine and its session factory; `app.state.db` on the server.

    SQLite allows one writer at a time. Rather than letting threads spin on the file lock, writers take
    `write_lock` (a no-op lock for PostgreSQL, which handles concurrent writers itself).
    """

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = normalize_url(url)
        try:
            parsed = make_url(self.url)
        except Exception as exc:
            raise DatabaseError(f"invalid database URL {url!r}: {exc}") from exc
        self.dialect = parsed.get_backend_name()
        if self.dialect == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            self.engine: Engine = create_engine(
                self.url, echo=echo, connect_args={"check_same_thread": False, "timeout": 30}
            )
            event.listen(self.engine, "connect", _sqlite_pragmas)
            self.write_lock: threading.Lock | _NullLock = threading.Lock()
        else:
            self.engine = create_engine(self.url, echo=echo, pool_size=10, max_overflow=20, pool_pre_ping=True)
            self.write_lock = _NullLock()
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error."""
        with self.sessions() as s:
            try:
                yield s
                s.commit()
            except BaseException:
                s.rollback()
                raise

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """A session for writes, holding the SQLite writer lock for its whole transaction."""
        with self.write_lock, self.session() as s:
            yield s

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    # WAL with synchronous=NORMAL: a committed transaction survives the process being killed (kill -9),
    # since the WAL is written before commit returns; only an OS crash / power loss can lose the last
    # commits. That is the durability the ingestion API promises for acknowledged events.
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


class _NullLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
