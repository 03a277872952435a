"""Shared fixtures: real safewatch servers on loopback, and projects with keys.

Servers run `python -m safewatch.cli serve` in a subprocess on a free 127.0.0.1 port with their own temporary
data directory, and are ready (health answers, detector warmed up) when the fixture returns.

Fixtures (names are stable; other test folders build on them):

- ``server`` (session): a `RunningServer` on SQLite. Attributes: ``base_url``, ``database_url``, ``data_dir``,
  ``env``; methods ``create_project(name=None) -> ProjectKeys``, ``log_tail()``, ``stop()``, ``kill()``
  (SIGKILL) and ``start()`` (again, same database).
- ``pg_server`` (session): the same on a fresh PostgreSQL database, created on the server named by
  ``SAFEWATCH_TEST_POSTGRES_URL`` for this test session and dropped afterwards. Skips (with the reason) when
  the variable is unset; FAILS when it is set but PostgreSQL cannot be reached.
- ``any_server``: parametrized over ``sqlite`` and ``postgres``: a test using it runs against both.
- ``project_keys`` / ``pg_project_keys`` / ``any_project_keys``: a fresh project (made with
  ``safewatch projects create NAME --json``) on that server: a `ProjectKeys` with ``public_key``,
  ``secret_key``, ``project_id``, ``base_url`` and helpers ``basic_auth`` (httpx auth tuple) and
  ``bearer_headers``.
- ``server_factory`` (session): ``server_factory(env={...}, postgres=False) -> RunningServer`` starts an extra
  server with more environment variables (e.g. an upstream URL for the gateway); stopped at session end.
  ``{"SAFEWATCH_WARM_UP": "false"}`` skips loading the detector's models before health answers (they then
  load on first use), which saves a lot of start-up time for servers that barely use the detector.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[1]
STARTUP_TIMEOUT_S = float(os.environ.get("SAFEWATCH_TEST_STARTUP_TIMEOUT", "180"))


@dataclass(frozen=True)
class ProjectKeys:
    public_key: str
    secret_key: str
    project_id: str
    base_url: str

    @property
    def basic_auth(self) -> tuple[str, str]:
        return (self.public_key, self.secret_key)

    @property
    def bearer_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret_key}"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _base_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    # Settings of the developer's shell must not leak into test servers.
    for name in ("SAFEWATCH_CONFIG", "SAFEWATCH_DATABASE_URL", "SAFEWATCH_DATA_DIR", "SAFEWATCH_PORT"):
        env.pop(name, None)
    return env


@dataclass
class RunningServer:
    data_dir: Path
    database_url: str
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    proc: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        env = _base_env()
        env.update(
            {
                "SAFEWATCH_DATA_DIR": str(self.data_dir),
                "SAFEWATCH_DATABASE_URL": self.database_url,
                "SAFEWATCH_HOST": "127.0.0.1",
            }
        )
        env.update(self.extra_env)
        return env

    @property
    def log_path(self) -> Path:
        return self.data_dir / "server.log"

    def start(self) -> RunningServer:
        """Start (or restart, on the same port so existing keys' base_url stays valid)."""
        self.port = self.port or free_port()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child process owns it
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "safewatch.cli", "serve", "--port", str(self.port), "--log-level", "warning"],
            env=self.env,
            cwd=self.data_dir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"safewatch server exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.base_url}/api/public/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"safewatch server not healthy after {STARTUP_TIMEOUT_S}s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        """SIGKILL, no shutdown: what a crash or `kill -9` does."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def log_tail(self, chars: int = 6000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run `safewatch ARGS` against this server's database."""
        return subprocess.run(
            [sys.executable, "-m", "safewatch.cli", *args],
            env=self.env,
            cwd=self.data_dir,
            capture_output=True,
            text=True,
            check=check,
            timeout=120,
        )

    def create_project(self, name: str | None = None) -> ProjectKeys:
        out = self.cli("projects", "create", name or f"test-{uuid.uuid4().hex[:8]}", "--json").stdout
        keys = json.loads(out.strip().splitlines()[-1])
        return ProjectKeys(keys["public_key"], keys["secret_key"], keys["project_id"], self.base_url)


# --- PostgreSQL ------------------------------------------------------------------------------------------


def _postgres_admin_url() -> str | None:
    return os.environ.get("SAFEWATCH_TEST_POSTGRES_URL") or None


def _pg_connect(url: str, dbname: str | None = None):
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    plain = url.replace("postgresql+psycopg://", "postgresql://", 1)
    params = conninfo_to_dict(plain)
    if dbname:
        params["dbname"] = dbname
    return psycopg.connect(make_conninfo(**params), autocommit=True, connect_timeout=10)


def _with_database(url: str, dbname: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url.replace("postgresql://", "postgresql+psycopg://", 1)).set(database=dbname).render_as_string(
        hide_password=False
    )


@pytest.fixture(scope="session")
def postgres_database_url():
    """A fresh, uniquely named PostgreSQL database for this test session (dropped at the end)."""
    admin = _postgres_admin_url()
    if not admin:
        pytest.skip("PostgreSQL tests need SAFEWATCH_TEST_POSTGRES_URL (e.g. postgresql://postgres@127.0.0.1:5432/postgres)")
    try:
        conn = _pg_connect(admin)
    except Exception as exc:  # set but unreachable is a failure, not a skip: CI promised PostgreSQL
        pytest.fail(f"SAFEWATCH_TEST_POSTGRES_URL is set but PostgreSQL is unreachable: {exc}", pytrace=False)
    dbname = f"safewatch_test_{uuid.uuid4().hex[:12]}"
    with conn:
        conn.execute(f'CREATE DATABASE "{dbname}"')
    try:
        yield _with_database(admin, dbname)
    finally:
        with _pg_connect(admin) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


# --- servers ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def server_factory(request):
    started: list[RunningServer] = []

    def start(env: dict[str, str] | None = None, postgres: bool = False) -> RunningServer:
        data_dir = Path(tempfile.mkdtemp(prefix="safewatch-test-"))
        if postgres:
            url = request.getfixturevalue("postgres_database_url")
        else:
            url = f"sqlite:///{data_dir / 'safewatch.db'}"
        srv = RunningServer(data_dir=data_dir, database_url=url, extra_env=dict(env or {}))
        started.append(srv)
        return srv.start()

    yield start
    for srv in started:
        srv.stop()


@pytest.fixture(scope="session")
def server(server_factory) -> RunningServer:
    return server_factory()


@pytest.fixture(scope="session")
def pg_server(server_factory, postgres_database_url) -> RunningServer:
    return server_factory(postgres=True)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_server(request) -> RunningServer:
    return request.getfixturevalue("server" if request.param == "sqlite" else "pg_server")


@pytest.fixture
def project_keys(server) -> ProjectKeys:
    return server.create_project()


@pytest.fixture
def pg_project_keys(pg_server) -> ProjectKeys:
    return pg_server.create_project()


@pytest.fixture
def any_project_keys(any_server) -> ProjectKeys:
    return any_server.create_project()
