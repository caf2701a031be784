"""Data quality: the data contract as a Great Expectations suite, each bad input in plain words."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _monitoring import FEATURES, policy, split

from modelsteward.monitoring import check_quality, expectations_for
from modelsteward.policy import parse_policy

CONTRACT = policy().data_contract


def _current() -> pd.DataFrame:
    return split()[1]


def test_the_suite_is_derived_from_the_contract() -> None:
    kinds = [(e.expectation_type, getattr(e, "column", None)) for e in expectations_for(CONTRACT)]
    assert ("expect_table_row_count_to_be_between", None) in kinds
    assert ("expect_table_columns_to_match_set", None) in kinds
    for name in FEATURES:
        for kind in (
            "expect_column_to_exist",
            "expect_column_values_to_be_in_type_list",
            "expect_column_values_to_not_be_null",
            "expect_column_values_to_be_between",
        ):
            assert (kind, name) in kinds


def test_a_clean_batch_passes_and_nothing_is_written_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = check_quality(_current(), CONTRACT)
    assert result.passed, result.summary()
    assert result.rows == 285 and result.expectations >= 20 and result.failures == ()
    assert os.listdir(tmp_path) == []


def _messages(frame: pd.DataFrame, contract=CONTRACT) -> list[str]:
    result = check_quality(frame, contract)
    assert not result.passed
    return [f.message for f in result.failures]


def test_empty_batch() -> None:
    messages = _messages(_current().iloc[0:0])
    assert "the batch is empty: expected at least 1 row, found 0" in messages


def test_missing_and_extra_columns() -> None:
    frame = _current().drop(columns=["worst_area"]).assign(surprise=1)
    messages = _messages(frame)
    assert "column 'worst_area' is missing (the data contract requires it)" in messages
    assert (
        "columns do not match the data contract: missing column(s) worst_area; "
        "unexpected column(s) surprise (not in the data contract)"
    ) in messages


def test_wrong_type_is_one_clear_failure() -> None:
    frame = _current().assign(mean_radius=lambda f: f["mean_radius"].astype(str))
    messages = _messages(frame)
    assert messages == ["column 'mean_radius': expected type float, found dtype object"]


def test_nulls_in_a_non_nullable_column() -> None:
    frame = _current()
    frame.loc[:9, "mean_texture"] = np.nan
    messages = _messages(frame)
    assert messages == [
        "column 'mean_texture': 10 value(s) (3.51%) are null; the contract says it is not nullable"
    ]


def test_all_null_column_fails_even_when_nullable() -> None:
    data = policy().model_dump(exclude={"source", "digest"})
    columns = [dict(c) for c in data["data_contract"]["columns"]]
    columns[0]["nullable"] = True
    data["data_contract"]["columns"] = columns
    contract = parse_policy(data).data_contract
    frame = _current().assign(mean_radius=np.nan)
    assert _messages(frame, contract) == ["column 'mean_radius': every value is null"]
    assert check_quality(_current(), contract).passed


def test_values_out_of_range_and_not_allowed() -> None:
    data = policy().model_dump(exclude={"source", "digest"})
    data["data_contract"]["columns"] = [
        *data["data_contract"]["columns"],
        {"name": "site", "type": "category", "allowed": ["a", "b"]},
    ]
    contract = parse_policy(data).data_contract
    frame = _current().assign(site=["a", "b", "c"] * 95)
    frame.loc[:2, "mean_smoothness"] = [1.5, -0.1, 7.0]
    messages = _messages(frame, contract)
    assert messages == [
        "column 'mean_smoothness': 3 value(s) (1.05%) outside [0.0, 1.0], e.g. 1.5, -0.1, 7.0",
        "column 'site': 95 value(s) (33.33%) not in the allowed set ['a', 'b'], e.g. 'c'",
    ]


def test_categorical_dtype_and_integer_categories_fit() -> None:
    data = policy().model_dump(exclude={"source", "digest"})
    data["data_contract"]["columns"] = [
        *data["data_contract"]["columns"],
        {"name": "site", "type": "category", "allowed": ["a", "b"]},
        {"name": "card_present", "type": "int", "allowed": [0, 1]},
    ]
    contract = parse_policy(data).data_contract
    frame = _current().assign(
        site=pd.Categorical(["a", "b"] * 142 + ["a"]), card_present=[0, 1] * 142 + [1]
    )
    assert check_quality(frame, contract).passed


def test_failures_are_json_serialisable() -> None:
    frame = _current().assign(mean_radius=np.nan)
    result = check_quality(frame, CONTRACT)
    again = type(result).model_validate_json(result.model_dump_json())
    assert again == result


def test_datetime_columns_naive_and_timezone_aware() -> None:
    data = policy().model_dump(exclude={"source", "digest"})
    data["data_contract"]["columns"] = [
        *data["data_contract"]["columns"],
        {"name": "seen_at", "type": "datetime"},
    ]
    contract = parse_policy(data).data_contract
    stamps = pd.date_range("2026-01-01", periods=285, freq="h")
    assert check_quality(_current().assign(seen_at=stamps), contract).passed
    assert check_quality(_current().assign(seen_at=stamps.tz_localize("UTC")), contract).passed
    wrong = _messages(_current().assign(seen_at=stamps.astype(str)), contract)
    assert wrong == ["column 'seen_at': expected type datetime, found dtype object"]
