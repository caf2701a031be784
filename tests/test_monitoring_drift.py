"""Drift: Evidently's test choice and scores, computed fast, equal to its preset."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from _monitoring import FEATURES, mixed, policy, shifted, split
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from modelsteward.errors import PolicyError
from modelsteward.monitoring import column_drift, drift_report_html, evaluate_drift
from modelsteward.monitoring.stattests import (
    CATEGORICAL,
    NUMERICAL,
    choose_stattest,
    distinct_upto,
    wasserstein_distance,
)
from modelsteward.policy import parse_policy


@pytest.mark.parametrize(
    ("n", "m"), [(1, 1), (1, 7), (5, 3), (100, 100), (1000, 999), (997, 1013), (4096, 333)]
)
def test_wasserstein_equals_scipy(n: int, m: int) -> None:
    rng = np.random.default_rng(n * 7919 + m)
    u, v = rng.normal(size=n), rng.standard_t(3, size=m) + 0.3
    assert wasserstein_distance(u, v) == pytest.approx(stats.wasserstein_distance(u, v), rel=1e-10)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(-50, 50), min_size=1, max_size=60),
    st.lists(st.integers(-50, 50), min_size=1, max_size=60),
)
def test_wasserstein_equals_scipy_with_ties(u: list[int], v: list[int]) -> None:
    ours = wasserstein_distance(np.array(u, float), np.array(v, float))
    assert ours == pytest.approx(stats.wasserstein_distance(u, v), rel=1e-9, abs=1e-12)


def test_wasserstein_refuses_an_empty_sample() -> None:
    with pytest.raises(ValueError, match="at least one value"):
        wasserstein_distance(np.array([]), np.array([1.0]))


@pytest.mark.parametrize("rows", [50, 1000, 1001, 3000])
@pytest.mark.parametrize("column", ["x", "y", "few", "flag", "colour"])
def test_choice_follows_evidently(rows: int, column: str) -> None:
    from evidently.legacy.calculations.stattests.registry import _get_default_stattest
    from evidently.legacy.core import ColumnType

    ref, cur = mixed(rows, 1)[column], mixed(rows, 2, shift=0.5)[column]
    kind = CATEGORICAL if column == "colour" else NUMERICAL
    for k in (kind, CATEGORICAL) if kind == NUMERICAL else (kind,):
        ours = choose_stattest(ref, cur, k)
        assert ours is _get_default_stattest(ref, cur, ColumnType(k))


def test_distinct_upto_is_exact_for_few_values_and_capped_otherwise() -> None:
    few = pd.Series([1, 2, 3] * 1000 + [4])  # the fourth value only appears at the end
    assert distinct_upto(few, pd.Series([5])) == 5
    many = pd.Series(np.arange(5000.0))
    assert distinct_upto(many, many) == 6


def test_no_drift_on_a_random_split_of_real_data() -> None:
    reference, current = split()
    result = evaluate_drift(reference, current, policy().data_contract)
    assert result.evaluated and result.evaluated_columns == len(FEATURES)
    assert result.drifted_columns == 0 and result.drift_share == 0.0
    assert result.dataset_drift is False
    assert result.prediction is not None and result.prediction.drifted is False
    assert {c.stattest for c in result.columns} == {"ks"}  # reference <= 1000 rows: K-S


def test_drift_detected_on_the_shifted_columns_only() -> None:
    reference, current = split()
    moved = ["mean_radius", "worst_area"]
    result = evaluate_drift(reference, shifted(current, moved), policy().data_contract)
    assert {c.column for c in result.columns if c.drifted} == set(moved)
    assert result.drift_share == pytest.approx(2 / 5)
    assert all(c.score is not None and c.score < 1e-6 for c in result.columns if c.drifted)


def test_large_numeric_columns_use_normed_wasserstein() -> None:
    contract = parse_policy(
        {
            **policy().model_dump(exclude={"data_contract"}),
            "data_contract": {
                "columns": [
                    {"name": "x", "type": "float"},
                    {"name": "few", "type": "int"},
                    {"name": "colour", "type": "category"},
                ]
            },
        }
    ).data_contract
    result = evaluate_drift(mixed(3000, 1), mixed(2500, 2, shift=0.5), contract, workers=1)
    tests = {c.column: (c.stattest, c.threshold, c.drifted) for c in result.columns}
    assert tests == {
        "x": ("wasserstein", 0.1, True),
        "few": ("jensenshannon", 0.1, True),
        "colour": ("jensenshannon", 0.1, True),
    }


def _preset_verdicts(
    reference: pd.DataFrame, current: pd.DataFrame, num: list[str], cat: list[str], **preset
) -> dict[str, tuple[str, float, float, bool]]:
    """column -> (display name, score, threshold, drifted) from Evidently's DataDriftPreset."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(numerical_columns=num, categorical_columns=cat)
    snapshot = Report([DataDriftPreset(**preset)], include_tests=True).run(
        current_data=Dataset.from_pandas(current, data_definition=definition),
        reference_data=Dataset.from_pandas(reference, data_definition=definition),
    )
    data = snapshot.dict()
    by_metric = {}
    for metric in data["metrics"]:
        config = metric["config"]
        if config["type"].endswith("ValueDrift"):
            by_metric[metric["id"]] = (config["column"], config["method"], metric["value"])
    found = {}
    for test in data["tests"]:
        metric_id = test["metric_config"]["metric_id"]
        if metric_id in by_metric:
            column, method, score = by_metric[metric_id]
            threshold = next(
                m["config"]["threshold"] for m in data["metrics"] if m["id"] == metric_id
            )
            found[column] = (method, score, threshold, test["status"] == "FAIL")
    share = next(
        m["value"]["share"] for m in data["metrics"] if "DriftedColumnsCount" in m["metric_name"]
    )
    found["__share__"] = ("", share, 0.0, False)
    return found


def _mixed_contract(**monitoring):
    return parse_policy(
        {
            **policy().model_dump(exclude={"data_contract", "monitoring"}),
            "data_contract": {
                "columns": [
                    {"name": "x", "type": "float"},
                    {"name": "y", "type": "float"},
                    {"name": "few", "type": "int"},
                    {"name": "flag", "type": "int"},
                    {"name": "colour", "type": "category"},
                ]
            },
            "monitoring": monitoring,
        }
    )


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # Evidently's legacy share on infinities
@pytest.mark.parametrize(
    ("ref_rows", "cur_rows", "shift", "with_inf"),
    [
        (3000, 2500, 0.0, False),
        (3000, 2500, 0.3, False),
        (3000, 2500, 0.3, True),
        (800, 900, 0.0, True),
        (800, 900, 0.3, False),
    ],
)
def test_verdicts_and_scores_equal_evidently_preset(
    ref_rows: int, cur_rows: int, shift: float, with_inf: bool
) -> None:
    reference, current = mixed(ref_rows, 11), mixed(cur_rows, 12, shift=shift)
    reference.loc[::97, "y"] = np.nan  # Evidently drops nulls and infinities; so do we
    if with_inf:
        current.loc[::89, "x"] = np.inf
    ours = evaluate_drift(reference, current, _mixed_contract().data_contract)
    theirs = _preset_verdicts(reference, current, ["x", "y", "few", "flag"], ["colour"])
    preset_share = theirs.pop("__share__")[1]
    assert set(theirs) == {c.column for c in ours.columns}
    for column in ours.columns:
        method, score, threshold, drifted = theirs[column.column]
        assert column.stattest_display == method, column.column
        assert column.score == pytest.approx(score, rel=1e-9, abs=1e-12), column.column
        assert column.threshold == threshold
        assert column.drifted is drifted, column.column
    failed_tests = sum(1 for entry in theirs.values() if entry[3])
    assert ours.drift_share == pytest.approx(failed_tests / len(theirs))
    if not with_inf:
        # the preset's DriftedColumnsCount (legacy DatasetDriftMetric) drops NaN but not
        # infinities, so with an infinity it scores that column NaN and "not drifted",
        # contradicting its own ValueDrift test; our share follows the ValueDrift tests
        assert ours.drift_share == pytest.approx(preset_share)
    if shift:
        assert ours.drifted_columns >= 3
    else:
        assert ours.drifted_columns == 0


def test_policy_override_equals_evidently_preset_with_that_method() -> None:
    reference, current = mixed(2000, 21), mixed(1500, 22, shift=0.1)
    monitoring = _mixed_contract(stattest="psi", stattest_threshold=0.05).monitoring
    ours = evaluate_drift(reference, current, _mixed_contract().data_contract, monitoring)
    theirs = _preset_verdicts(
        reference, current, ["x", "y", "few", "flag"], ["colour"], method="psi", threshold=0.05
    )
    theirs.pop("__share__")
    for column in ours.columns:
        method, score, threshold, drifted = theirs[column.column]
        assert column.stattest == method == "psi" and column.stattest_display == "PSI"
        assert column.threshold == threshold == 0.05
        assert column.score == pytest.approx(score, rel=1e-9) and column.drifted is drifted


def test_unknown_stattest_in_the_policy_is_a_policy_error() -> None:
    reference, current = split()
    monitoring = policy(stattest="no-such-test").monitoring
    with pytest.raises(PolicyError, match=r"monitoring.stattest: No stattest found of name"):
        evaluate_drift(reference, current, policy().data_contract, monitoring)


def test_a_column_without_values_is_not_evaluated_never_no_drift() -> None:
    reference, current = split()
    current = current.assign(mean_radius=np.nan)
    result = column_drift("mean_radius", reference["mean_radius"], current["mean_radius"], "num")
    assert result.drifted is None and result.score is None
    assert "no non-null values in the current data" in (result.reason or "")
    whole = evaluate_drift(reference, current, policy().data_contract)
    assert whole.evaluated_columns == 4 and whole.column("mean_radius").drifted is None


def test_no_testable_column_means_drift_not_evaluated() -> None:
    reference, current = split()
    current = current.assign(**{name: np.nan for name in FEATURES})
    result = evaluate_drift(reference, current, policy().data_contract)
    assert result.evaluated is False and result.drift_share is None
    assert result.dataset_drift is None
    assert "no feature column could be tested" in (result.reason or "")


def test_html_report_on_a_documented_sample(tmp_path) -> None:
    reference, current = mixed(1200, 31), mixed(1100, 32, shift=0.4)
    contract = _mixed_contract().data_contract
    path = drift_report_html(
        reference, current, contract, tmp_path / "r" / "drift.html", sample_rows=500
    )
    html = path.read_text(encoding="utf-8")
    assert path == tmp_path / "r" / "drift.html"
    assert "seeded random sample of 500 of 1,200 reference rows" in html
    assert "Drifted Columns" in html and "colour" in html and len(html) > 10_000


def _edge_cases(rows: int) -> dict[str, tuple[pd.Series, pd.Series, str]]:
    rng = np.random.default_rng(rows)
    nullable = pd.Series(rng.integers(0, 50, rows)).astype("Int64")
    nullable[::7] = pd.NA
    return {
        "nullable-int": (nullable, pd.Series(rng.integers(0, 50, rows)).astype("Int64"), NUMERICAL),
        "bool": (pd.Series(rng.random(rows) < 0.3), pd.Series(rng.random(rows) < 0.5), CATEGORICAL),
        "new-category": (
            pd.Series(pd.Categorical(rng.choice(list("abc"), rows))),
            pd.Series(pd.Categorical(rng.choice(list("abcd"), rows))),
            CATEGORICAL,
        ),
        "constant": (pd.Series(["x"] * rows), pd.Series(["x"] * rows), CATEGORICAL),
        "constant-number": (pd.Series(np.ones(rows)), pd.Series(np.ones(rows)), NUMERICAL),
    }


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # chi-square on a category never seen
@pytest.mark.parametrize("rows", [400, 2500])
@pytest.mark.parametrize(
    "case", ["nullable-int", "bool", "new-category", "constant", "constant-number"]
)
def test_edge_dtypes_follow_evidently(rows: int, case: str) -> None:
    from evidently.legacy.calculations.stattests.registry import get_stattest
    from evidently.legacy.core import ColumnType

    reference, current, kind = _edge_cases(rows)[case]
    ours = column_drift(case, reference, current, kind)
    ref, cur = reference.dropna(), current.dropna()
    test = get_stattest(ref, cur, ColumnType(kind), None)
    theirs = test(ref, cur, ColumnType(kind), None)
    assert (ours.stattest, ours.threshold) == (test.name, test.default_threshold)
    assert ours.score == pytest.approx(theirs.drift_score, rel=1e-9, abs=1e-12)
    assert ours.drifted is bool(theirs.drifted)


def test_a_column_missing_from_the_reference_is_reported() -> None:
    reference, current = split()
    result = evaluate_drift(reference.drop(columns=["worst_area"]), current, policy().data_contract)
    assert result.evaluated and result.evaluated_columns == 4
    assert result.reason == "columns missing from the data: worst_area"
