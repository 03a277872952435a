"""The auth dependencies other parts mount on their routes, in an in-process app."""

from __future__ import annotations

import pytest
from fastapi import Depends
from fastapi.testclient import TestClient

from safewatch.auth import create_project
from safewatch.auth.context import ProjectContext
from safewatch.auth.deps import basic_project, bearer_project
from safewatch.config import Settings
from safewatch.server.app import create_app


@pytest.fixture(scope="module")
def app_and_keys(tmp_path_factory):
    data = tmp_path_factory.mktemp("deps")
    app = create_app(Settings(data_dir=data, warm_up=False, scoring_enabled=False))

    @app.get("/v1/whoami")
    async def whoami_openai(ctx: ProjectContext = Depends(bearer_project)):
        return {"project_id": ctx.project_id}

    @app.get("/api/public/whoami")
    async def whoami_langfuse(ctx: ProjectContext = Depends(basic_project)):
        return {"project_id": ctx.project_id}

    keys = create_project(app.state.db, "deps")
    return app, keys


def test_bearer_project_resolves_the_secret_key(app_and_keys):
    app, keys = app_and_keys
    with TestClient(app) as client:
        r = client.get("/v1/whoami", headers={"Authorization": f"Bearer {keys.secret_key}"})
        assert r.json() == {"project_id": keys.project_id}
        # a second call is served from the verified-key cache
        assert client.get("/v1/whoami", headers={"Authorization": f"Bearer {keys.secret_key}"}).status_code == 200


def test_openai_routes_render_auth_errors_in_openai_shape(app_and_keys):
    app, _ = app_and_keys
    with TestClient(app) as client:
        for headers in [{}, {"Authorization": "Bearer sk-lf-nope"}, {"Authorization": "Basic Zm9vOmJhcg=="}]:
            r = client.get("/v1/whoami", headers=headers)
            assert r.status_code == 401
            err = r.json()["error"]
            assert err["code"] == "invalid_api_key" and err["type"] == "invalid_request_error"
            assert err["param"] is None and err["message"]


def test_basic_project_checks_the_pair(app_and_keys):
    app, keys = app_and_keys
    with TestClient(app) as client:
        ok = client.get("/api/public/whoami", auth=(keys.public_key, keys.secret_key))
        assert ok.json() == {"project_id": keys.project_id}
        bad = client.get("/api/public/whoami", auth=("pk-lf-x", keys.secret_key))
        assert bad.status_code == 401 and "message" in bad.json()
        garbled = client.get("/api/public/whoami", headers={"Authorization": "Basic !!!"})
        assert garbled.status_code == 401


def test_settings_from_env_and_yaml(tmp_path):
    cfg = tmp_path / "sw.yaml"
    cfg.write_text("port: 9001\nredact_pii_in_storage: true\ngateway: {upstream_url: x}\n")
    s = Settings.load({"SAFEWATCH_CONFIG": str(cfg), "SAFEWATCH_DATA_DIR": str(tmp_path), "SAFEWATCH_PORT": "9002"})
    assert s.port == 9002 and s.redact_pii_in_storage is True
    assert s.database_url == f"sqlite:///{tmp_path.as_posix()}/safewatch.db"
    pg = Settings.load({"SAFEWATCH_DATABASE_URL": "postgresql://u@h/db"})
    assert pg.database_url == "postgresql://u@h/db"


def test_postgres_urls_use_psycopg3():
    from safewatch.store import normalize_url

    assert normalize_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert normalize_url("sqlite:///x.db") == "sqlite:///x.db"
