from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProjectContext:
    """Who is calling: the project an API key belongs to. Every query is scoped by `project_id`."""

    project_id: str
    project_name: str
    org_id: str
    key_id: str
