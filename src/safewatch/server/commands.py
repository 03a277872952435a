"""Server-side commands: `safewatch serve`, `safewatch projects ...`, `safewatch db ...`."""

from __future__ import annotations

import json
import os

import typer

from safewatch.config import ConfigError, Settings

projects_app = typer.Typer(help="Projects and their API keys.", no_args_is_help=True)
db_app = typer.Typer(help="The database: migrations.", no_args_is_help=True)


def _settings() -> Settings:
    try:
        return Settings.load()
    except ConfigError as exc:
        raise typer.BadParameter(str(exc)) from exc


def _database():
    from safewatch.store import Database, upgrade

    db = Database(_settings().database_url)
    upgrade(db)
    return db


def serve(
    host: str = typer.Option(None, help="Address to bind (default from settings: 127.0.0.1)."),
    port: int = typer.Option(None, help="Port (default from settings: 8000)."),
    workers: int = typer.Option(None, help="Worker processes (default 1)."),
    log_level: str = typer.Option("info", help="uvicorn log level."),
) -> None:
    """Run the server: gateway, tracing and API on one port."""
    import uvicorn

    settings = Settings.load(host=host, port=port, workers=workers)
    if settings.workers <= 1:
        from safewatch.server.app import create_app

        uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level=log_level)
        return
    # Migrate once here; the workers re-read settings from the environment and skip it.
    from safewatch.store import Database, upgrade

    db = Database(settings.database_url)
    upgrade(db)
    db.dispose()
    os.environ["SAFEWATCH_MIGRATE_ON_START"] = "false"
    os.environ["SAFEWATCH_DATABASE_URL"] = settings.database_url
    os.environ.setdefault("SAFEWATCH_ORT_SPIN", "0")  # processes sharing the cores must not busy-wait
    uvicorn.run(
        "safewatch.server.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=log_level,
    )


@projects_app.command("create")
def projects_create(
    name: str = typer.Argument(..., help="Project name."),
    org: str = typer.Option("default", help="Organisation (created if it does not exist)."),
    as_json: bool = typer.Option(False, "--json", help="Print the keys as one JSON line."),
) -> None:
    """Create a project and its first key pair. The secret key is shown once; only its hash is stored."""
    from safewatch.auth import ProjectError, create_project

    try:
        created = create_project(_database(), name, org=org)
    except ProjectError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from exc
    keys = {"public_key": created.public_key, "secret_key": created.secret_key, "project_id": created.project_id}
    if as_json:
        typer.echo(json.dumps(keys))
        return
    typer.echo(f"project {created.project_name} ({created.project_id}) in organisation {org}")
    typer.echo(f"public key: {created.public_key}")
    typer.echo(f"secret key: {created.secret_key}   (shown once; store it now)")


@projects_app.command("list")
def projects_list(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List projects with their keys: public key, masked secret, role, when created and when last used."""
    from dataclasses import asdict

    from safewatch.auth import list_projects

    projects = list_projects(_database())
    if as_json:
        typer.echo(json.dumps([asdict(p) for p in projects]))
        return
    for p in projects:
        typer.echo(f"{p.org_name}/{p.name}  {p.project_id}")
        for k in p.keys:
            note = f"  ({k.note})" if k.note else ""
            typer.echo(f"  {k.public_key}  {k.display_secret}  {k.role}  created {k.created_at}  "
                       f"last used {k.last_used_at or 'never'}{note}")


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Apply database migrations (the server also does this when it starts)."""
    from safewatch.store import Database, upgrade
    from safewatch.store.migrate import current_revision

    db = Database(_settings().database_url)
    upgrade(db, revision)
    typer.echo(f"database at revision {current_revision(db)} ({db.dialect})")


@db_app.command("current")
def db_current() -> None:
    """Show the database's migration revision."""
    from safewatch.store import Database
    from safewatch.store.migrate import current_revision

    db = Database(_settings().database_url)
    typer.echo(current_revision(db) or "(empty database)")


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.add_typer(projects_app, name="projects")
    app.add_typer(db_app, name="db")
