"""The server foundation: health, keys, auth errors in each API's dialect, the CLI."""

from __future__ import annotations

import json

import httpx


def test_health_needs_no_key(server):
    r = httpx.get(f"{server.base_url}/api/public/health")
    assert r.status_code == 200
    assert r.json()["status"] == "OK"


def test_projects_create_prints_keys_as_last_json_line(server):
    out = server.cli("projects", "create", "cli-demo", "--json").stdout
    keys = json.loads(out.strip().splitlines()[-1])
    assert keys["public_key"].startswith("pk-") and keys["secret_key"].startswith("sk-") and keys["project_id"]


def test_duplicate_project_name_is_a_clear_error(server):
    server.cli("projects", "create", "dup-demo", "--json")
    again = server.cli("projects", "create", "dup-demo", "--json", check=False)
    assert again.returncode == 1
    assert "already exists" in again.stderr


def test_projects_list_shows_public_keys_never_secrets(server, project_keys):
    listed = json.loads(server.cli("projects", "list", "--json").stdout.strip().splitlines()[-1])
    mine = [p for p in listed if p["project_id"] == project_keys.project_id]
    assert mine and mine[0]["public_keys"] == [project_keys.public_key]
    assert project_keys.secret_key not in json.dumps(listed)


def test_projects_list_says_when_each_key_was_last_used(server):
    fresh = server.create_project()

    def listed_key():
        listed = json.loads(server.cli("projects", "list", "--json").stdout.strip().splitlines()[-1])
        [project] = [p for p in listed if p["project_id"] == fresh.project_id]
        [key] = project["keys"]
        return key

    before = listed_key()
    assert before["public_key"] == fresh.public_key and before["last_used_at"] is None
    assert before["display_secret"] != fresh.secret_key and before["created_at"].endswith("Z")
    assert httpx.get(f"{server.base_url}/api/public/projects", auth=fresh.basic_auth).status_code == 200
    assert listed_key()["last_used_at"] >= before["created_at"]
    human = server.cli("projects", "list").stdout
    assert fresh.public_key in human and "last used 20" in human


def test_secret_is_stored_hashed(server, project_keys):
    import sqlite3

    path = server.database_url.removeprefix("sqlite:///")
    rows = sqlite3.connect(path).execute("select secret_hash, display_secret from api_keys").fetchall()
    assert rows
    assert all(project_keys.secret_key not in (h + d) for h, d in rows)


def test_projects_endpoint_answers_auth_check(any_server, any_project_keys):
    r = httpx.get(f"{any_server.base_url}/api/public/projects", auth=any_project_keys.basic_auth)
    assert r.status_code == 200
    [project] = r.json()["data"]
    assert project["id"] == any_project_keys.project_id
    assert {"id", "name"} <= set(project["organization"]) and project["metadata"] == {}


def test_bearer_secret_is_accepted_on_langfuse_routes(server, project_keys):
    r = httpx.get(f"{server.base_url}/api/public/projects", headers=project_keys.bearer_headers)
    assert r.status_code == 200


def test_wrong_or_missing_key_gets_langfuse_401(server, project_keys):
    url = f"{server.base_url}/api/public/projects"
    for auth in [None, (project_keys.public_key, "sk-lf-wrong"), ("pk-lf-other", project_keys.secret_key)]:
        r = httpx.get(url, auth=auth)
        assert r.status_code == 401, auth
        assert set(r.json()) == {"message"}


def test_one_project_never_sees_another(server, project_keys):
    other = server.create_project()
    r = httpx.get(f"{server.base_url}/api/public/projects", auth=other.basic_auth)
    assert [p["id"] for p in r.json()["data"]] == [other.project_id]
