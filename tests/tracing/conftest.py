"""Fixtures for the tracing tests (the servers and projects come from tests/conftest.py)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from tracing_helpers import LANGFUSE2_PYTHON


@pytest.fixture(scope="session")
def langfuse2_python() -> Path:
    if not LANGFUSE2_PYTHON.exists():
        if os.environ.get("CI"):
            pytest.fail("CI is set but .venv-langfuse2 is missing: run scripts/langfuse2-venv.sh", pytrace=False)
        pytest.skip("SDK 2 tests need .venv-langfuse2 (run scripts/langfuse2-venv.sh)")
    return LANGFUSE2_PYTHON


@pytest.fixture(scope="session")
def python5() -> str:
    return sys.executable


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def keys(request):
    """One project per test module and backend (tests use fresh ids, so they can share it): project creation
    through the CLI costs seconds."""
    server = request.getfixturevalue("server" if request.param == "sqlite" else "pg_server")
    return server.create_project()
