"""API key pairs: generation, hashing and verification (with a short-lived cache of verified keys)."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import time
import uuid

from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError

from safewatch.auth.context import ProjectContext
from safewatch.auth.errors import AuthError
from safewatch.store.db import Database
from safewatch.store.models import ApiKey, Project, utcnow

log = logging.getLogger(__name__)

PUBLIC_PREFIX = "pk-lf-"
SECRET_PREFIX = "sk-lf-"


def generate_key_pair() -> tuple[str, str]:
    """A (public, secret) pair in Langfuse's style, so SDKs that check the prefix accept it."""
    return f"{PUBLIC_PREFIX}{uuid.uuid4()}", f"{SECRET_PREFIX}{secrets.token_hex(32)}"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def display_secret(secret: str) -> str:
    """What may be shown again after creation: the prefix and the last four characters."""
    return f"{secret[: len(SECRET_PREFIX)]}...{secret[-4:]}"


class KeyStore:
    """Verifies keys against the database; remembers verified keys for `ttl_s` so hot paths skip the DB.

    A revoked key keeps working for at most `ttl_s` seconds in a running server.
    """

    def __init__(self, db: Database, ttl_s: float = 60.0, max_entries: int = 10_000) -> None:
        self.db = db
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._cache: dict[str, tuple[float, ProjectContext, str]] = {}
        self._lock = threading.Lock()

    def verify_secret(self, secret: str) -> ProjectContext:
        """The project of a secret key (Bearer auth)."""
        return self._lookup(hash_secret(secret), public_key=None)

    def verify_pair(self, public_key: str, secret: str) -> ProjectContext:
        """The project of a public/secret pair (Basic auth); both must belong to the same key."""
        return self._lookup(hash_secret(secret), public_key=public_key)

    def cached(self, secret: str, public_key: str | None = None) -> ProjectContext | None:
        """The project when the key was verified recently, without touching the database; else None."""
        with self._lock:
            hit = self._cache.get(hash_secret(secret))
        if hit is None or hit[0] < time.monotonic():
            return None
        return self._check_public(hit, public_key)

    def _lookup(self, secret_hash: str, public_key: str | None) -> ProjectContext:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(secret_hash)
        if hit is None or hit[0] < now:
            row = self._from_db(secret_hash)
            if row is None:
                raise AuthError("Invalid credentials. Confirm that you've configured the correct host and API keys.")
            hit = (now + self.ttl_s, row[0], row[1])
            with self._lock:
                if len(self._cache) >= self.max_entries:
                    self._cache.clear()
                self._cache[secret_hash] = hit
        return self._check_public(hit, public_key)

    @staticmethod
    def _check_public(hit: tuple[float, ProjectContext, str], public_key: str | None) -> ProjectContext:
        _, ctx, stored_public = hit
        if public_key is not None and not hmac.compare_digest(stored_public, public_key):
            raise AuthError("Invalid credentials: the public key does not match the secret key.")
        return ctx

    def _from_db(self, secret_hash: str) -> tuple[ProjectContext, str] | None:
        with self.db.sessions() as s:
            row = s.execute(
                select(ApiKey.id, ApiKey.public_key, Project.id, Project.name, Project.org_id)
                .join(Project, Project.id == ApiKey.project_id)
                .where(ApiKey.secret_hash == secret_hash)
            ).first()
        if row is None:
            return None
        key_id, public_key, project_id, project_name, org_id = row
        self._mark_used(key_id)
        return ProjectContext(project_id, project_name, org_id, key_id), public_key

    def _mark_used(self, key_id: str) -> None:
        """Record when a key was last used, for audits and for retiring unused keys. It runs on a cache miss
        only, so the time is exact to `ttl_s` and a busy key costs one write a minute, not one a request."""
        try:
            with self.db.writing() as s:
                s.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=utcnow()))
        except SQLAlchemyError:
            # A busy or read-only database must not turn a valid key away: the timestamp is bookkeeping.
            log.warning("could not record the last use of API key %s", key_id, exc_info=True)

    def forget(self) -> None:
        with self._lock:
            self._cache.clear()
