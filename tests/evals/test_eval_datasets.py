from pathlib import Path

import pytest
from evalfakes import TOY_ROWS, row, write_jsonl

from safewatch.evals.datasets import (
    DatasetFormatError,
    DatasetNotFoundError,
    load_dataset,
    parse_splits,
    read_rows,
    resolve_dataset,
    select,
)


def test_reads_rows_with_dataset_name(toy_jsonl: Path):
    rows = read_rows(toy_jsonl)
    assert len(rows) == len(TOY_ROWS)
    first = rows[0]
    assert (first.id, first.flagged, first.categories, first.split, first.dataset) == (
        "toy-1", True, ["violence"], "eval", "toy")


def test_missing_file(tmp_path: Path):
    with pytest.raises(DatasetNotFoundError, match="nope.jsonl"):
        read_rows(tmp_path / "nope.jsonl")
    with pytest.raises(DatasetNotFoundError):
        resolve_dataset(tmp_path / "nope.jsonl")


def test_bad_json_reports_the_line_number(tmp_path: Path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "a", "flagged": false}\n\n{"text": "b", "flagged": tru\n', encoding="utf-8")
    with pytest.raises(DatasetFormatError, match=r"bad.jsonl:3: not valid JSON") as info:
        read_rows(path)
    assert info.value.line == 3


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"flagged": true}', "'text' must be a string"),
        ('{"text": "x", "flagged": "yes"}', "'flagged' must be true or false"),
        ('{"text": "x", "flagged": false, "categories": ["hate"]}', "categories must be flagged"),
        ('{"text": "x", "flagged": true, "categories": "hate"}', "'categories' must be a list"),
        ('["text", "flagged"]', "must be a JSON object"),
    ],
)
def test_invalid_rows(tmp_path: Path, line: str, message: str):
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "ok", "flagged": false}\n' + line + "\n", encoding="utf-8")
    with pytest.raises(DatasetFormatError, match=message) as info:
        read_rows(path)
    assert info.value.line == 2


def test_minimal_rows_get_defaults(tmp_path: Path):
    path = write_jsonl(tmp_path / "mine.jsonl", [{"text": "hi", "flagged": False}])
    (r,) = read_rows(path)
    assert (r.id, r.lang, r.categories, r.split, r.dataset) == ("mine-1", "en", [], "", "mine")


def test_split_filter_accepts_repeats_and_comma_lists(toy_jsonl: Path):
    assert parse_splits(None) is None
    assert parse_splits(["eval", "train, test"]) == {"eval", "train", "test"}
    _, rows = load_dataset(toy_jsonl, splits={"train"})
    assert [r.id for r in rows] == ["toy-5", "toy-6"]


def test_limit_is_a_seeded_sample_in_file_order(toy_jsonl: Path):
    rows = read_rows(toy_jsonl)
    a = select(rows, limit=4, seed=1)
    assert [r.id for r in a] == [r.id for r in select(rows, limit=4, seed=1)]
    assert len(a) == 4
    assert [r.id for r in a] == sorted((r.id for r in a), key=lambda i: int(i.split("-")[1]))
    assert len(select(rows, limit=100)) == len(rows)
    seen = {tuple(r.id for r in select(rows, limit=4, seed=s)) for s in range(10)}
    assert len(seen) > 1


def test_bare_name_is_looked_up_in_the_datasets_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    write_jsonl(tmp_path / "mine.jsonl", [{"text": "hi", "flagged": False}])
    monkeypatch.setenv("SAFEWATCH_DATASETS", str(tmp_path))
    assert resolve_dataset("mine") == tmp_path / "mine.jsonl"
    with pytest.raises(DatasetNotFoundError):
        resolve_dataset("other")


def test_flagged_without_categories_is_dont_care_per_category():
    r = row("t-1", "fake news", True, [])
    assert r.category_label("hate") is None
    assert row("t-2", "hi", False).category_label("hate") is False
    labelled = row("t-3", "x", True, ["hate"])
    assert labelled.category_label("hate") is True
    assert labelled.category_label("violence") is False


def test_openai_moderation_labels_are_known_only_where_the_key_is_present():
    r = row("openai-moderation-7", "text", True, ["sexual", "sexual/minors"], dataset="openai-moderation",
            source_label={"S3": 1, "HR": 0, "V": 0})
    assert r.category_label("sexual") is True  # implied by S3 although S is missing
    assert r.category_label("sexual/minors") is True
    assert r.category_label("harassment") is False
    assert r.category_label("violence") is False
    assert r.category_label("hate") is None  # H missing
    assert r.category_label("self-harm") is None  # SH missing
    # Categories openai-moderation never labels are negatives, as in every other dataset.
    assert r.category_label("privacy") is False
    # Other datasets keep other source labels: missing keys mean nothing there.
    assert row("xstest-1", "t", False, source_label={"label": "safe"}).category_label("hate") is False
