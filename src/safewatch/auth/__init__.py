"""Organisations, projects, API keys (stored hashed) and the request dependencies that check them."""

from safewatch.auth.context import ProjectContext
from safewatch.auth.errors import AuthError
from safewatch.auth.keys import KeyStore, generate_key_pair, hash_secret
from safewatch.auth.projects import (
    CreatedKey,
    ProjectError,
    ProjectInfo,
    create_api_key,
    create_project,
    list_projects,
)
from safewatch.store.models import Role

__all__ = [
    "AuthError", "CreatedKey", "KeyStore", "ProjectContext", "ProjectError", "ProjectInfo", "Role",
    "create_api_key", "create_project", "generate_key_pair", "hash_secret", "list_projects",
]
