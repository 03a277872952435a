from pathlib import Path

import pytest
from evalfakes import TOY_ROWS, write_jsonl


@pytest.fixture
def toy_jsonl(tmp_path: Path) -> Path:
    return write_jsonl(tmp_path / "toy.jsonl", TOY_ROWS)
