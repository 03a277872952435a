"""Organisations, projects and their key pairs."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import select

from safewatch.auth.keys import display_secret, generate_key_pair, hash_secret
from safewatch.store.db import Database
from safewatch.store.models import ApiKey, Organization, Project, Role

DEFAULT_ORG = "default"


class ProjectError(ValueError):
    """A project cannot be created or found as asked."""


@dataclass(frozen=True)
class CreatedKey:
    project_id: str
    project_name: str
    org_id: str
    key_id: str
    public_key: str
    # Shown once, at creation; only its hash is stored.
    secret_key: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


@dataclass(frozen=True)
class KeyInfo:
    """What may be shown of a key: never its secret (only the masked `display_secret`)."""

    public_key: str
    display_secret: str
    role: str
    note: str | None
    created_at: str
    # None until the key is first used; exact to the key cache's time-to-live (a minute).
    last_used_at: str | None


@dataclass(frozen=True)
class ProjectInfo:
    project_id: str
    name: str
    org_id: str
    org_name: str
    public_keys: list[str]
    keys: list[KeyInfo]


def create_project(db: Database, name: str, org: str = DEFAULT_ORG) -> CreatedKey:
    """A new project in `org` (created if needed) with its first key pair."""
    name = name.strip()
    if not name:
        raise ProjectError("a project needs a name")
    with db.writing() as s:
        organization = s.scalar(select(Organization).where(Organization.name == org))
        if organization is None:
            organization = Organization(name=org)
            s.add(organization)
            s.flush()
        exists = s.scalar(select(Project.id).where(Project.org_id == organization.id, Project.name == name))
        if exists is not None:
            raise ProjectError(f"project {name!r} already exists in organisation {org!r}")
        project = Project(org_id=organization.id, name=name)
        s.add(project)
        s.flush()
        return _add_key(s, project)


def create_api_key(db: Database, project_id: str, role: Role = Role.OWNER, note: str | None = None) -> CreatedKey:
    with db.writing() as s:
        project = s.get(Project, project_id)
        if project is None:
            raise ProjectError(f"no project with id {project_id!r}")
        return _add_key(s, project, role=role, note=note)


def list_projects(db: Database) -> list[ProjectInfo]:
    with db.sessions() as s:
        rows = s.execute(
            select(Project.id, Project.name, Organization.id, Organization.name)
            .join(Organization, Organization.id == Project.org_id)
            .order_by(Organization.name, Project.name)
        ).all()
        keys: dict[str, list[KeyInfo]] = {}
        for key in s.scalars(select(ApiKey).order_by(ApiKey.created_at)):
            keys.setdefault(key.project_id, []).append(KeyInfo(
                key.public_key, key.display_secret, key.role, key.note, _iso(key.created_at), _iso(key.last_used_at)))
    return [ProjectInfo(pid, pname, oid, oname, [k.public_key for k in keys.get(pid, [])], keys.get(pid, []))
            for pid, pname, oid, oname in rows]


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") + "Z" if moment else None


def _add_key(s, project: Project, role: Role = Role.OWNER, note: str | None = None) -> CreatedKey:
    public_key, secret_key = generate_key_pair()
    key = ApiKey(
        project_id=project.id,
        public_key=public_key,
        secret_hash=hash_secret(secret_key),
        display_secret=display_secret(secret_key),
        role=role.value,
        note=note,
    )
    s.add(key)
    s.flush()
    return CreatedKey(project.id, project.name, project.org_id, key.id, public_key, secret_key)
